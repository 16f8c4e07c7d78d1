//! Latency summaries from exact samples (a sorted vector, nearest-rank percentiles).

use serde::Serialize;

/// Request latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Fastest sample.
    pub min_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile (nearest rank).
    pub p90_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Slowest sample.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarises latencies given in nanoseconds (sorted in place); all zero when empty.
    pub fn from_nanos(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p of all samples at or below it.
            let r = (p * samples.len() as f64).ceil() as usize;
            samples[r.clamp(1, samples.len()) - 1]
        };
        let sum: u128 = samples.iter().map(|s| u128::from(*s)).sum();
        Self {
            count: samples.len() as u64,
            min_ms: ms(samples[0]),
            mean_ms: (sum as f64 / samples.len() as f64) / 1e6,
            p50_ms: ms(rank(0.50)),
            p90_ms: ms(rank(0.90)),
            p99_ms: ms(rank(0.99)),
            max_ms: ms(samples[samples.len() - 1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_one_hundred() {
        let mut samples: Vec<u64> = (1..=100).rev().map(|ms| ms * 1_000_000).collect();
        let s = LatencySummary::from_nanos(&mut samples);
        assert_eq!(s.count, 100);
        assert_eq!(
            (s.min_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_all_zero() {
        let s = LatencySummary::from_nanos(&mut [2_500_000]);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (2.5, 2.5, 2.5));
        assert_eq!(
            LatencySummary::from_nanos(&mut []),
            LatencySummary::default()
        );
    }
}
