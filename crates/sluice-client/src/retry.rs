//! When to try a failed request again: exponential backoff with jitter, capped in count
//! and total time, and `Retry-After` honoured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How failed requests are retried. The defaults are those of the official InfluxDB
/// v2 client libraries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryOptions {
    /// The delay before the first retry when the server sent no `Retry-After`.
    /// Default: 5 s.
    pub retry_interval: Duration,
    /// How many times a request is retried after its first attempt; 0 turns retries
    /// off. Default: 5.
    pub max_retries: u32,
    /// The longest delay between two attempts. Default: 125 s.
    pub max_retry_delay: Duration,
    /// The longest time from a request's first attempt to its last. Default: 180 s.
    pub max_retry_time: Duration,
    /// The base of the exponential backoff: retry `n` (from 1) waits a random time in
    /// `[retry_interval·base^(n-1), retry_interval·base^n)`. Default: 2.
    pub exponential_base: u32,
    /// A random delay of up to this much is added to a server's `Retry-After`, so that
    /// many clients told to wait do not all come back at the same instant. Default: 0.
    pub retry_after_jitter: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            retry_interval: Duration::from_secs(5),
            max_retries: 5,
            max_retry_delay: Duration::from_secs(125),
            max_retry_time: Duration::from_secs(180),
            exponential_base: 2,
            retry_after_jitter: Duration::ZERO,
        }
    }
}

impl RetryOptions {
    /// The delay before retry number `retry` (1 for the first retry), given the server's
    /// `Retry-After` if it sent one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return (after + self.retry_after_jitter.mul_f64(random_unit()))
                .min(self.max_retry_delay.max(after));
        }
        let base = f64::from(self.exponential_base.max(1));
        let low = self.retry_interval.as_secs_f64() * base.powi(retry.saturating_sub(1) as i32);
        let high = low * base;
        let secs = low + (high - low) * random_unit();
        let capped = secs.min(self.max_retry_delay.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_retry_delay)
    }
}

/// A uniform random number in `[0, 1)`, good enough for jitter and random names, not for
/// secrets (splitmix64 over a process-wide counter seeded from the clock).
pub fn random_unit() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    if seed == 0 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        STATE.store(now | 1, Ordering::Relaxed);
        seed = now;
    }
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_its_range() {
        let options = RetryOptions::default();
        for retry in 1..=4 {
            let low = 5.0 * 2f64.powi(retry as i32 - 1);
            for _ in 0..50 {
                let d = options.delay(retry, None).as_secs_f64();
                assert!(d >= low && d < low * 2.0, "retry {retry}: {d}");
            }
        }
    }

    #[test]
    fn backoff_is_capped_at_max_retry_delay() {
        let options = RetryOptions::default();
        assert_eq!(options.delay(10, None), Duration::from_secs(125));
    }

    #[test]
    fn retry_after_is_used_as_given_without_jitter() {
        let options = RetryOptions::default();
        assert_eq!(
            options.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn random_unit_stays_in_range_and_varies() {
        let values: Vec<f64> = (0..100).map(|_| random_unit()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
    }
}
