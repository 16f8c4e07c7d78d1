//! What a SQL query's scalar functions make counts against its memory.
//!
//! DataFusion's memory pool sees what operators hold (sorts, joins, aggregates, the
//! result), not the values an expression computes: `repeat('x', 1000000000)`, or
//! `s || s` doubling a string through a chain of common table expressions, allocated
//! gigabytes the pool never heard of, enough to get the server killed. Every scalar
//! function of a query's context is wrapped ([`bound`]): before it runs, the bytes
//! it may produce, where its arguments bound them (see [`Bounded::estimate`]), are
//! reserved from the query's pool; after it ran, what it produced is. Either over the
//! pool's limit fails the query with `query-memory-limit exceeded`. The `||` operator
//! becomes a function call ([`ConcatOperator`]) so that it is counted too.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, AsArray as _};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode as _};
use datafusion::common::{DFSchema, DataFusionError, ExprSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Documentation, Expr, ExprSchemable as _, LogicalPlan, Operator,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// `builder` (a copy of `base`) with every scalar function of `base` replaced by one
/// whose results count against `pool` (`None`: no memory limit; then only strings too
/// long for their type are refused before they are built), and `||` turned into
/// [`ConcatOperator`].
pub(crate) fn bound(
    builder: SessionStateBuilder,
    base: &SessionState,
    pool: Option<Arc<dyn MemoryPool>>,
) -> SessionStateBuilder {
    let functions = base
        .scalar_functions()
        .values()
        .map(|f| Arc::new(Bounded::wrap(f.clone(), pool.clone())))
        .collect();
    let concat = Arc::new(Bounded::wrap(
        Arc::new(ScalarUDF::new_from_impl(ConcatOperator::new())),
        pool,
    ));
    builder
        .with_scalar_functions(functions)
        .with_analyzer_rule(Arc::new(ConcatAsFunction { concat }))
}

fn is_bounded(function: &ScalarUDF) -> bool {
    let any: &dyn Any = function.inner().as_ref();
    any.is::<Bounded>()
}

/// A scalar function whose results are reserved from a query's memory pool.
#[derive(Debug)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    pool: Option<Arc<dyn MemoryPool>>,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        let same_pool = match (&self.pool, &other.pool) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.inner == other.inner && same_pool
    }
}

impl Eq for Bounded {}

impl Hash for Bounded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl Bounded {
    fn wrap(inner: Arc<ScalarUDF>, pool: Option<Arc<dyn MemoryPool>>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Bounded { inner, pool })
    }

    /// The most bytes of text the call may produce, for the functions that make more
    /// than their arguments hold (`repeat`, padding, replacing) or as much as all of
    /// them (concatenation); 0 for the others, whose output is counted once made. Rows
    /// with a null argument count as empty.
    fn estimate(&self, args: &[ColumnarValue], rows: usize) -> u64 {
        let text = |i: usize| args.get(i).map(PerRow::lengths);
        let number = |i: usize| args.get(i).map(PerRow::counts);
        let rows_of = |f: &dyn Fn(usize) -> u64| (0..rows).map(f).fold(0u64, u64::saturating_add);
        match self.inner.name() {
            "repeat" => match (text(0), number(1)) {
                (Some(s), Some(n)) => rows_of(&|r| s.get(r).saturating_mul(n.get(r))),
                _ => 0,
            },
            "lpad" | "rpad" => match (text(0), number(1)) {
                (Some(s), Some(n)) => {
                    // Characters of the fill take up to four bytes.
                    let fill_bytes = if args.len() > 2 { 4 } else { 1 };
                    rows_of(&|r| s.get(r).saturating_add(n.get(r).saturating_mul(fill_bytes)))
                }
                _ => 0,
            },
            "replace" => match (text(0), text(1), text(2)) {
                (Some(s), Some(from), Some(to)) => rows_of(&|r| {
                    let (s, from, to) = (s.get(r), from.get(r), to.get(r));
                    // An empty pattern matches before every character and at the end.
                    let matches = s.checked_div(from).unwrap_or(s + 1);
                    s.saturating_add(matches.saturating_mul(to.saturating_sub(from)))
                }),
                _ => 0,
            },
            "regexp_replace" => match (text(0), args.get(2)) {
                (Some(s), Some(replacement)) => {
                    let to = PerRow::lengths(replacement);
                    let refs = references(replacement);
                    // An empty match can come before every byte; what the references
                    // copy comes out of the matched text, at most the whole string
                    // each.
                    rows_of(&|r| {
                        let s = s.get(r);
                        s.saturating_add((s + 1).saturating_mul(to.get(r)))
                            .saturating_add(s.saturating_mul(refs))
                    })
                }
                _ => 0,
            },
            "translate" => text(0).map_or(0, |s| rows_of(&|r| s.get(r).saturating_mul(4))),
            "concat" | "concat_ws" | "overlay" | CONCAT_OPERATOR => {
                let all: Vec<PerRow<'_>> = args.iter().map(PerRow::lengths).collect();
                let ws = self.inner.name() == "concat_ws";
                rows_of(&|r| {
                    let sum = all.iter().map(|l| l.get(r)).fold(0u64, u64::saturating_add);
                    // concat_ws puts its separator between the others.
                    let separators = if ws && all.len() > 2 {
                        all[0].get(r).saturating_mul(all.len() as u64 - 2)
                    } else {
                        0
                    };
                    sum.saturating_add(separators)
                })
            }
            _ => 0,
        }
    }
}

/// How many `$` and `\` (capture references) a replacement holds, the most of any row.
fn references(replacement: &ColumnarValue) -> u64 {
    let count = |s: &str| s.bytes().filter(|b| matches!(b, b'$' | b'\\')).count() as u64;
    match replacement {
        ColumnarValue::Scalar(s) => s.try_as_str().flatten().map_or(0, count),
        ColumnarValue::Array(a) => (0..a.len())
            .filter_map(|row| row_text(a.as_ref(), row))
            .map(count)
            .max()
            .unwrap_or(0),
    }
}

/// The text of row `row` of a string array; `None` for a null or another type.
fn row_text(a: &dyn Array, row: usize) -> Option<&str> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(a.as_string_view().value(row)),
        _ => None,
    }
}

/// A number for each row of an argument: its value's byte length
/// ([`PerRow::lengths`]) or, for an integer, its value ([`PerRow::counts`]). A null
/// row counts 0.
enum PerRow<'a> {
    Same(u64),
    Each(&'a dyn Array, fn(&dyn Array, usize) -> u64),
}

impl<'a> PerRow<'a> {
    fn lengths(value: &'a ColumnarValue) -> PerRow<'a> {
        match value {
            ColumnarValue::Scalar(s) => PerRow::Same(scalar_len(s)),
            ColumnarValue::Array(a) => PerRow::Each(a.as_ref(), value_len),
        }
    }

    /// Negative counts count 0.
    fn counts(value: &'a ColumnarValue) -> PerRow<'a> {
        match value {
            ColumnarValue::Scalar(s) => PerRow::Same(match s {
                ScalarValue::Int64(Some(n)) => (*n).max(0) as u64,
                ScalarValue::Int32(Some(n)) => (*n).max(0) as u64,
                ScalarValue::UInt64(Some(n)) => *n,
                _ => 0,
            }),
            ColumnarValue::Array(a) => PerRow::Each(a.as_ref(), integer),
        }
    }

    fn get(&self, row: usize) -> u64 {
        match self {
            PerRow::Same(n) => *n,
            PerRow::Each(a, _) if a.is_null(row) => 0,
            PerRow::Each(a, read) => read(*a, row),
        }
    }
}

/// The byte length of row `row` of a string or binary array.
fn value_len(a: &dyn Array, row: usize) -> u64 {
    if let Some(text) = row_text(a, row) {
        return text.len() as u64;
    }
    (match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(row).len(),
        DataType::LargeBinary => a.as_binary::<i64>().value(row).len(),
        DataType::BinaryView => a.as_binary_view().value(row).len(),
        // Numbers and the like print in a few dozen bytes.
        _ => 32,
    }) as u64
}

/// Row `row` of an integer array, negative as 0.
fn integer(a: &dyn Array, row: usize) -> u64 {
    use arrow::datatypes::{Int32Type, Int64Type, UInt64Type};
    match a.data_type() {
        DataType::Int64 => a.as_primitive::<Int64Type>().value(row).max(0) as u64,
        DataType::Int32 => a.as_primitive::<Int32Type>().value(row).max(0) as u64,
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(row),
        _ => 0,
    }
}

fn scalar_len(s: &ScalarValue) -> u64 {
    match s {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            v.as_ref().map_or(0, |v| v.len() as u64)
        }
        ScalarValue::Binary(v) | ScalarValue::LargeBinary(v) | ScalarValue::BinaryView(v) => {
            v.as_ref().map_or(0, |v| v.len() as u64)
        }
        ScalarValue::Null => 0,
        _ => 32,
    }
}

/// The bytes a function's result holds.
fn result_bytes(value: &ColumnarValue) -> usize {
    match value {
        ColumnarValue::Array(a) => a.get_array_memory_size(),
        ColumnarValue::Scalar(s) => s.size(),
    }
}

/// The error of a result that does not fit: DataFusion's, so that the query reports
/// `query-memory-limit exceeded` as for any other allocation over the pool.
fn too_large(function: &str, bytes: u64, why: &str) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!("{function}() would produce {bytes} bytes, {why}"))
}

/// The most bytes a function may make out of constant arguments (a batch of 8,192
/// rows repeating it holds 512 MiB).
pub(crate) const MAX_CONSTANT_BYTES: usize = 64 << 10;

fn too_large_constant(function: &str, bytes: u64) -> DataFusionError {
    DataFusionError::Plan(format!(
        "{function}() would make a value of {bytes} bytes out of constants; such a value \
         may hold at most {MAX_CONSTANT_BYTES} bytes"
    ))
}

/// Outputs of these types hold at most `i32::MAX` bytes of values (32-bit offsets);
/// past it, the kernels that build them fail or panic.
fn small_offsets(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Binary)
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.inner().display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.inner.name();
        // A value made of constants (one value, whatever the rows) becomes a literal of
        // the plan, copied as the plan is optimized, and is repeated on every row a
        // projection gives it to.
        let constant = !args.args.is_empty()
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if constant { 1 } else { args.number_rows };
        let estimate = self.estimate(&args.args, rows);
        if constant && estimate > MAX_CONSTANT_BYTES as u64 {
            return Err(too_large_constant(name, estimate));
        }
        if small_offsets(args.return_field.data_type()) && estimate > i32::MAX as u64 {
            return Err(too_large(
                name,
                estimate,
                "more than a string of this type holds (2 GiB)",
            ));
        }
        let reservation = self
            .pool
            .as_ref()
            .map(|pool| MemoryConsumer::new(format!("{name}()")).register(pool));
        if let Some(reservation) = &reservation {
            reservation
                .try_grow(usize::try_from(estimate).unwrap_or(usize::MAX))
                .map_err(|_| too_large(name, estimate, "over --query-memory-limit"))?;
        }
        let result = self.inner.invoke_with_args(args)?;
        let made = result_bytes(&result);
        if constant && made > MAX_CONSTANT_BYTES {
            return Err(too_large_constant(name, made as u64));
        }
        if let Some(reservation) = &reservation {
            reservation
                .try_resize(made)
                .map_err(|_| too_large(name, made as u64, "over --query-memory-limit"))?;
        }
        Ok(result)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let updated = self.inner.inner().with_updated_config(config)?;
        Some(Bounded::wrap(Arc::new(updated), self.pool.clone()))
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // A simplified call may name other functions (concat's merges its literals
        // into a new concat): those are wrapped too.
        Ok(match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                ExprSimplifyResult::Simplified(self.bound_calls(expr)?)
            }
            original => original,
        })
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<datafusion::logical_expr::preimage::PreimageResult> {
        self.inner.inner().preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<datafusion::logical_expr::StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn placement(
        &self,
        args: &[datafusion::logical_expr::ExpressionPlacement],
    ) -> datafusion::logical_expr::ExpressionPlacement {
        self.inner.inner().placement(args)
    }
}

impl Bounded {
    /// `expr` with every function it calls counted against this one's pool.
    fn bound_calls(&self, expr: Expr) -> Result<Expr> {
        Ok(expr
            .transform_up(|e| match e {
                Expr::ScalarFunction(f) if !is_bounded(&f.func) => {
                    let func = Arc::new(Bounded::wrap(f.func, self.pool.clone()));
                    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args: f.args,
                    })))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data)
    }
}

/// The name of [`ConcatOperator`].
const CONCAT_OPERATOR: &str = "sluice_string_concat";

/// `a || b` as a function: null when either is, else the two strings one after the
/// other, in their (coerced, common) type; named as the operator is, so that a column
/// or a group key `a || b` keeps its name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConcatOperator {
    signature: Signature,
}

impl ConcatOperator {
    fn new() -> ConcatOperator {
        ConcatOperator {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        CONCAT_OPERATOR
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(operator_form(args).schema_name().to_string())
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        Ok(operator_form(args).to_string())
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [left, right] = arrays.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "{CONCAT_OPERATOR} takes two arguments"
            )));
        };
        let joined = arrow::compute::kernels::concat_elements::concat_elements_dyn(
            left.as_ref(),
            right.as_ref(),
        )?;
        Ok(if scalars {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&joined, 0)?)
        } else {
            ColumnarValue::Array(joined)
        })
    }
}

/// `args[0] || args[1]`, for the name of a call of [`ConcatOperator`].
fn operator_form(args: &[Expr]) -> Expr {
    let arg = |i: usize| {
        Box::new(
            args.get(i)
                .cloned()
                .unwrap_or(Expr::Literal(ScalarValue::Null, None)),
        )
    };
    Expr::BinaryExpr(BinaryExpr::new(arg(0), Operator::StringConcat, arg(1)))
}

/// The analyzer rule turning `a || b` on strings (after type coercion gave both sides
/// one type) into a call of the counted [`ConcatOperator`].
#[derive(Debug)]
struct ConcatAsFunction {
    concat: Arc<ScalarUDF>,
}

impl AnalyzerRule for ConcatAsFunction {
    fn name(&self) -> &str {
        "sluice_string_concat_as_function"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let rewritten = plan.transform_up_with_subqueries(|node| {
            let schema = input_schema(&node);
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::StringConcat,
                        right,
                    }) if is_string(&left, &schema) && is_string(&right, &schema) => {
                        Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                            func: self.concat.clone(),
                            args: vec![*left, *right],
                        })))
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })?;
        Ok(rewritten.data)
    }
}

/// The columns a plan node's expressions may name: its inputs' (a scan's own).
fn input_schema(node: &LogicalPlan) -> DFSchema {
    let inputs = node.inputs();
    let Some((first, rest)) = inputs.split_first() else {
        return node.schema().as_ref().clone();
    };
    let mut schema = first.schema().as_ref().clone();
    for input in rest {
        schema.merge(input.schema());
    }
    schema
}

/// Whether `e` is a string of one of the types `||` joins.
fn is_string(e: &Expr, schema: &DFSchema) -> bool {
    matches!(
        e.get_type(schema),
        Ok(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
    )
}
