//! Exponential back-off with jitter.

use crate::config::duration_ms;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long to wait before the next attempt after a retryable failure.
///
/// Attempt `n` (counting from 1) waits `d = min(max, base · 2^(n-1))`; with
/// jitter the wait is drawn uniformly from `[d/2, d]` ("equal jitter"), so
/// many entries failing together do not retry in lockstep, yet every wait
/// is at least half the nominal one.
///
/// ```
/// use chatlines_connectors::dispatcher::Backoff;
/// use std::time::Duration;
/// let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).without_jitter();
/// assert_eq!(b.delay(1), Duration::from_secs(1));
/// assert_eq!(b.delay(4), Duration::from_secs(8));
/// assert_eq!(b.delay(30), Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Backoff {
    /// The first wait (default 2 s).
    #[serde(with = "duration_ms")]
    pub base: Duration,
    /// The longest wait (default 10 min).
    #[serde(with = "duration_ms")]
    pub max: Duration,
    /// Randomise within `[d/2, d]` (default on).
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max: Duration::from_secs(600),
            jitter: true,
        }
    }
}

impl Backoff {
    /// Back-off from `base` doubling up to `max`, with jitter.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: true,
        }
    }

    /// Turns jitter off (exact, predictable waits).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait after attempt `attempt` (1 = the first attempt) failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let nominal = self
            .base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        if !self.jitter || nominal.is_zero() {
            return nominal;
        }
        let half = nominal / 2;
        let spread = u64::try_from((nominal - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_within_jitter_bounds() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 1..40 {
            let nominal = b.without_jitter().delay(attempt);
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(
                    d >= nominal / 2 && d <= nominal,
                    "{attempt}: {d:?} vs {nominal:?}"
                );
            }
        }
        assert_eq!(b.without_jitter().delay(3), Duration::from_millis(400));
        assert_eq!(b.without_jitter().delay(u32::MAX), Duration::from_secs(5));
    }
}
