//! SQL `GROUP BY` and `DISTINCT` on tag columns grouped by their text.
//!
//! Tags reach DataFusion as `Dictionary(Int32, Utf8)`. DataFusion 55 has no grouping of
//! its own for dictionary keys: it turns every row of such a key into its row format
//! (`GroupValuesRows`), which took 45 % of `GROUP BY hostname` over a million series.
//! A plain `Utf8` key gets its grouping by bytes instead, and several plain keys its
//! column-wise grouping.
//!
//! The row format is not always the slower: it hashes a dictionary's values once a
//! batch, not once a row. Over 2M rows of 1,000, 20,000 and 100,000 series a cast to
//! `Utf8` made `GROUP BY hostname` no faster, and with 1,000 series 15–35 ms slower
//! (hashing every row's text); with a million series it made it 2.4–2.8× faster. So only an
//! aggregate over a table of many series ([`MANY_SERIES`] in one of its files or
//! buffered partitions, as [`Storage::most_series_in_a_source`] tells) is rewritten.
//!
//! [`GroupKeysByValue`] groups on the dictionary's values (a cast of the key) and casts
//! the groups it found back, in a projection above the aggregate, so the plan's schema,
//! and what a client receives, are unchanged: a dictionary column stays one (changing
//! the aggregate's output type is what DataFusion once tried and undid, as it broke
//! `UNION`s). The cast back handles one value a group, not a row.
//!
//! [`Storage::most_series_in_a_source`]: sluice_storage::Storage::most_series_in_a_source

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection, cast};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::sync::Arc;

use crate::provider::StorageTable;

/// Series in one source of a table from which its tags are grouped by their text.
const MANY_SERIES: u64 = 200_000;

/// Whether a table `plan` reads has [`MANY_SERIES`] in one of its sources.
fn reads_many_series(plan: &LogicalPlan) -> bool {
    let mut many = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(table) = provider.downcast_ref::<StorageTable>()
            && table.most_series_in_a_source() >= MANY_SERIES
        {
            many = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    many
}

/// The logical optimizer rule; see the [module](self) docs.
#[derive(Debug, Default)]
pub(crate) struct GroupKeysByValue;

impl OptimizerRule for GroupKeysByValue {
    fn name(&self) -> &str {
        "group_keys_by_value"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = plan else {
            return Ok(Transformed::no(plan));
        };
        // The value type of each dictionary key. Grouping sets (ROLLUP, CUBE) are left
        // as they are: their keys come wrapped, with an id of the set beside them.
        let mut values = Vec::with_capacity(aggregate.group_expr.len());
        for key in &aggregate.group_expr {
            if matches!(key, Expr::GroupingSet(_)) {
                return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
            }
            values.push(match key.get_type(aggregate.input.schema())? {
                DataType::Dictionary(_, value) => Some(*value),
                _ => None,
            });
        }
        if values.iter().all(Option::is_none) || !reads_many_series(&aggregate.input) {
            return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
        }
        let Aggregate {
            input,
            group_expr,
            aggr_expr,
            schema,
            ..
        } = aggregate;
        // The aggregate's fields: its keys first, then its aggregates.
        let field = |i: usize| {
            let (qualifier, field) = schema.qualified_field(i);
            (
                qualifier.cloned(),
                field.name().clone(),
                field.data_type().clone(),
            )
        };
        let keys = group_expr
            .into_iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (key, value))| match value {
                Some(value) => {
                    let (qualifier, name, _) = field(i);
                    cast(key, value.clone()).alias_qualified(qualifier, name)
                }
                None => key,
            })
            .collect();
        let width = schema.fields().len();
        let grouped = Aggregate::try_new(input, keys, aggr_expr)?;
        // Every field as the aggregate had it: each cast key cast back to its dictionary.
        let outputs = (0..width)
            .map(|i| {
                let (qualifier, name, data_type) = field(i);
                let column = Expr::Column(Column::new(qualifier.clone(), name.clone()));
                match values.get(i) {
                    Some(Some(_)) => cast(column, data_type).alias_qualified(qualifier, name),
                    _ => column,
                }
            })
            .collect();
        let projection = Projection::try_new(outputs, Arc::new(LogicalPlan::Aggregate(grouped)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}
