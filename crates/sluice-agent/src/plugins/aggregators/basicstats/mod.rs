//! `aggregators.basicstats`: count, min, max, mean, variance, sum, diff and rate of each
//! numeric field per series over the period, as `<field>_<stat>`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metric::{Metric, SeriesKey, as_f64};
use crate::plugins::{Accumulator, Aggregator};

/// The statistics basicstats can compute.
pub const STATS: &[&str] = &[
    "count",
    "min",
    "max",
    "mean",
    "stdev",
    "s2",
    "sum",
    "diff",
    "non_negative_diff",
    "rate",
    "non_negative_rate",
    "interval",
    "last",
];

/// `[[aggregators.basicstats]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicStatsConfig {
    /// Which statistics to push. Default: `["count", "min", "max", "mean", "stdev", "s2"]`.
    pub stats: Vec<String>,
}

impl Default for BasicStatsConfig {
    fn default() -> Self {
        BasicStatsConfig {
            stats: ["count", "min", "max", "mean", "stdev", "s2"]
                .map(String::from)
                .to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
struct Running {
    count: f64,
    min: f64,
    max: f64,
    sum: f64,
    mean: f64,
    m2: f64,
    first: f64,
    last: f64,
    first_time: i64,
    last_time: i64,
}

impl Running {
    fn new(v: f64, time: i64) -> Running {
        Running {
            count: 1.0,
            min: v,
            max: v,
            sum: v,
            mean: v,
            m2: 0.0,
            first: v,
            last: v,
            first_time: time,
            last_time: time,
        }
    }

    fn add(&mut self, v: f64, time: i64) {
        // Welford's algorithm keeps the variance stable.
        self.count += 1.0;
        let delta = v - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (v - self.mean);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.last = v;
        self.last_time = time;
    }
}

/// The `basicstats` aggregator.
#[derive(Debug)]
pub struct BasicStats {
    stats: Vec<String>,
    series: BTreeMap<SeriesKey, BTreeMap<String, Running>>,
}

impl BasicStats {
    /// A basicstats aggregator.
    ///
    /// # Errors
    /// A message naming an unknown statistic.
    pub fn new(config: BasicStatsConfig) -> Result<BasicStats, String> {
        if let Some(bad) = config.stats.iter().find(|s| !STATS.contains(&s.as_str())) {
            return Err(format!(
                "`stats`: unknown statistic {bad:?} (known: {})",
                STATS.join(", ")
            ));
        }
        Ok(BasicStats {
            stats: config.stats,
            series: BTreeMap::new(),
        })
    }
}

impl Aggregator for BasicStats {
    fn add(&mut self, metric: &Metric) {
        let fields = self.series.entry(metric.series_key()).or_default();
        for (key, value) in &metric.fields {
            let Some(v) = as_f64(value) else { continue };
            match fields.get_mut(key) {
                Some(r) => r.add(v, metric.time),
                None => {
                    fields.insert(key.clone(), Running::new(v, metric.time));
                }
            }
        }
    }

    fn push(&mut self, acc: &mut Accumulator) {
        for ((name, tags), fields) in &self.series {
            let mut m = Metric::new(name.clone(), acc.time());
            m.tags = tags.iter().cloned().collect();
            for (key, r) in fields {
                let seconds = (r.last_time - r.first_time) as f64 / 1e9;
                let diff = r.last - r.first;
                for stat in &self.stats {
                    let value = match stat.as_str() {
                        "count" => Some(r.count),
                        "min" => Some(r.min),
                        "max" => Some(r.max),
                        "mean" => Some(r.mean),
                        "sum" => Some(r.sum),
                        "last" => Some(r.last),
                        "s2" => (r.count > 1.0).then(|| r.m2 / (r.count - 1.0)),
                        "stdev" => (r.count > 1.0).then(|| (r.m2 / (r.count - 1.0)).sqrt()),
                        "diff" => Some(diff),
                        "non_negative_diff" => (diff >= 0.0).then_some(diff),
                        "rate" => (seconds > 0.0).then(|| diff / seconds),
                        "non_negative_rate" => {
                            (seconds > 0.0 && diff >= 0.0).then(|| diff / seconds)
                        }
                        "interval" => Some((r.last_time - r.first_time) as f64),
                        _ => None,
                    };
                    if let Some(v) = value {
                        if stat == "interval" {
                            m.set_field(format!("{key}_{stat}"), v as i64);
                        } else {
                            m.set_field(format!("{key}_{stat}"), v);
                        }
                    }
                }
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
    fn every_statistic_matches_a_hand_computation() {
        let config = BasicStatsConfig {
            stats: STATS.iter().map(|s| s.to_string()).collect(),
        };
        let mut agg = BasicStats::new(config).unwrap();
        for (i, v) in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].iter().enumerate() {
            agg.add(
                &Metric::new("m", i as i64 * 1_000_000_000)
                    .with_tag("t", "a")
                    .with_field("v", *v)
                    .with_field("s", "text"),
            );
        }
        agg.add(
            &Metric::new("m", 0)
                .with_tag("t", "b")
                .with_field("v", 10i64),
        );
        let mut acc = Accumulator::new(99);
        agg.push(&mut acc);
        let a = &acc.metrics()[0];
        let f = |k: &str| match a.field(k) {
            Some(FieldValue::Float(v)) => *v,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(f("v_count"), 8.0);
        assert_eq!(f("v_min"), 2.0);
        assert_eq!(f("v_max"), 9.0);
        assert_eq!(f("v_mean"), 5.0);
        assert_eq!(f("v_sum"), 40.0);
        assert!((f("v_s2") - 32.0 / 7.0).abs() < 1e-12);
        assert!((f("v_stdev") - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(f("v_diff"), 7.0);
        assert_eq!(f("v_non_negative_diff"), 7.0);
        assert_eq!(f("v_rate"), 1.0);
        assert_eq!(
            a.field("v_interval"),
            Some(&FieldValue::Integer(7_000_000_000))
        );
        assert!(a.field("s_count").is_none());
        assert_eq!(a.time, 99);
        let b = &acc.metrics()[1];
        assert_eq!(b.tags["t"], "b");
        assert!(b.field("v_stdev").is_none(), "one value has no variance");
        agg.reset();
        let mut acc = Accumulator::new(100);
        agg.push(&mut acc);
        assert!(acc.metrics().is_empty());
    }

    #[test]
    fn unknown_statistics_are_rejected() {
        assert!(
            BasicStats::new(BasicStatsConfig {
                stats: vec!["median".into()]
            })
            .is_err()
        );
    }
}
