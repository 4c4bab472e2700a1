//! Time and identifiers, injected so tests are deterministic.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// A source of time and fresh ids.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// A fresh, unique id.
    fn new_id(&self) -> Uuid;
}

/// The system clock and time-ordered (v7) UUIDs: ids of records created
/// later sort later, so database indexes on them grow at one end instead of
/// touching a random page per insert.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A clock for tests: time starts at a fixed instant and advances one
/// millisecond per call; ids count up from 1.
#[derive(Debug)]
pub struct ManualClock {
    start: DateTime<Utc>,
    ticks: AtomicU64,
    ids: AtomicU64,
}

impl ManualClock {
    /// A clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            ticks: AtomicU64::new(0),
            ids: AtomicU64::new(0),
        }
    }
}

impl ManualClock {
    /// Moves the clock forward by `by`, in whole milliseconds (nothing for
    /// a negative duration): how a test lets time pass without sleeping.
    ///
    /// ```
    /// use chatlines_core::{Clock, ManualClock};
    /// let clock = ManualClock::default();
    /// let before = clock.now();
    /// clock.advance(chrono::Duration::minutes(5));
    /// assert!(clock.now() - before > chrono::Duration::minutes(5));
    /// ```
    pub fn advance(&self, by: chrono::Duration) {
        let ms = u64::try_from(by.num_milliseconds()).unwrap_or(0);
        self.ticks.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(DateTime::<Utc>::UNIX_EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let t = self.ticks.fetch_add(1, Ordering::Relaxed);
        let ms = i64::try_from(t).unwrap_or(i64::MAX);
        self.start + chrono::Duration::milliseconds(ms)
    }
    fn new_id(&self) -> Uuid {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        Uuid::from_u128(u128::from(n))
    }
}
