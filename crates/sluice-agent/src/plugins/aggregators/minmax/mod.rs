//! `aggregators.minmax`: the minimum and maximum of each numeric field per series over
//! the period, as `<field>_min` and `<field>_max`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metric::{Metric, SeriesKey, as_f64};
use crate::plugins::{Accumulator, Aggregator};

/// `[[aggregators.minmax]]` (no options besides the common ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinMaxConfig {}

/// The `minmax` aggregator.
#[derive(Debug, Default)]
pub struct MinMax {
    series: BTreeMap<SeriesKey, BTreeMap<String, (f64, f64)>>,
}

impl Aggregator for MinMax {
    fn add(&mut self, metric: &Metric) {
        let fields = self.series.entry(metric.series_key()).or_default();
        for (key, value) in &metric.fields {
            let Some(v) = as_f64(value) else { continue };
            let e = fields.entry(key.clone()).or_insert((v, v));
            e.0 = e.0.min(v);
            e.1 = e.1.max(v);
        }
    }

    fn push(&mut self, acc: &mut Accumulator) {
        for ((name, tags), fields) in &self.series {
            let mut m = Metric::new(name.clone(), acc.time());
            m.tags = tags.iter().cloned().collect();
            for (key, (min, max)) in fields {
                m.set_field(format!("{key}_min"), *min);
                m.set_field(format!("{key}_max"), *max);
            }
            if !m.fields.is_empty() {
                acc.add(m);
            }
        }
    }

    fn reset(&mut self) {
        self.series.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn min_and_max_are_kept_per_series_and_field() {
        let mut agg = MinMax::default();
        for v in [3i64, -1, 8] {
            agg.add(&Metric::new("m", 0).with_field("v", v));
        }
        let mut acc = Accumulator::new(1);
        agg.push(&mut acc);
        assert_eq!(
            acc.metrics()[0].field("v_min"),
            Some(&FieldValue::Float(-1.0))
        );
        assert_eq!(
            acc.metrics()[0].field("v_max"),
            Some(&FieldValue::Float(8.0))
        );
    }
}
