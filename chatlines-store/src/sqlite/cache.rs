//! A read-through cache of lines and sources by id.
//!
//! Every ingest reads its source and the source's line, and most hub calls
//! read a line: served from here, they skip a hop to a reader thread.
//!
//! Changes made through the store are seen at once: a write to lines or
//! sources empties the cache when it starts and again when it ends, and a
//! read that overlapped a write (started before it ended) is not cached, so
//! no entry older than the last such write survives it. Changes another
//! process makes to the same file, and a write whose caller stopped
//! waiting before it committed, are seen once an entry is older than the
//! cache's age limit ([`SqliteConfig::config_cache_ttl`](super::SqliteConfig::config_cache_ttl)).

use chatlines_core::{Line, LineId, Source, SourceId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a reader must hand back to cache what it read: the cache's
/// generation when the read started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ticket(u64);

pub(super) struct ConfigCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped when a write of lines or sources starts and when it ends.
    generation: u64,
    /// Writes of lines or sources under way.
    writing: usize,
    lines: HashMap<LineId, Entry<Arc<Line>>>,
    sources: HashMap<SourceId, Entry<Source>>,
}

struct Entry<T> {
    value: Option<T>,
    at: Instant,
}

impl State {
    fn forget(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.lines.clear();
        self.sources.clear();
    }
}

impl ConfigCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached).
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached line (`Ok(None)`: known not to exist), or the ticket to
    /// cache it with once read (none while a write is under way).
    pub(super) fn line(&self, id: LineId) -> Result<Option<Arc<Line>>, Option<Ticket>> {
        self.line_at(id, Instant::now())
    }

    fn line_at(&self, id: LineId, now: Instant) -> Result<Option<Arc<Line>>, Option<Ticket>> {
        let state = self.lock();
        fresh(&state.lines, &id, self.ttl, now).ok_or_else(|| self.ticket(&state))
    }

    /// The cached source, or the ticket to cache it with once read.
    pub(super) fn source(&self, id: SourceId) -> Result<Option<Source>, Option<Ticket>> {
        let state = self.lock();
        fresh(&state.sources, &id, self.ttl, Instant::now()).ok_or_else(|| self.ticket(&state))
    }

    fn ticket(&self, state: &State) -> Option<Ticket> {
        (!self.ttl.is_zero() && state.writing == 0).then_some(Ticket(state.generation))
    }

    /// Caches a line read since `ticket` was given, unless a write of
    /// lines or sources started meanwhile.
    pub(super) fn put_line(&self, ticket: Ticket, id: LineId, line: &Option<Arc<Line>>) {
        let mut state = self.lock();
        if state.writing == 0 && state.generation == ticket.0 {
            state.lines.insert(id, Entry::new(line.clone()));
        }
    }

    /// Caches a source read since `ticket` was given, unless a write of
    /// lines or sources started meanwhile.
    pub(super) fn put_source(&self, ticket: Ticket, id: SourceId, source: &Option<Source>) {
        let mut state = self.lock();
        if state.writing == 0 && state.generation == ticket.0 {
            state.sources.insert(id, Entry::new(source.clone()));
        }
    }

    /// Marks a write of lines or sources under way until the guard is
    /// dropped (after the write committed or failed).
    pub(super) fn writing(&self) -> Writing<'_> {
        let mut state = self.lock();
        state.writing = state.writing.saturating_add(1);
        state.forget();
        Writing(self)
    }
}

impl<T> Entry<T> {
    fn new(value: Option<T>) -> Self {
        Self {
            value,
            at: Instant::now(),
        }
    }
}

/// The entry for `key` if it is younger than `ttl` at `now`.
fn fresh<K: Hash + Eq, T: Clone>(
    map: &HashMap<K, Entry<T>>,
    key: &K,
    ttl: Duration,
    now: Instant,
) -> Option<Option<T>> {
    map.get(key)
        .filter(|e| now.saturating_duration_since(e.at) < ttl)
        .map(|e| e.value.clone())
}

/// A write of lines or sources under way; see [`ConfigCache::writing`].
pub(super) struct Writing<'a>(&'a ConfigCache);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.writing = state.writing.saturating_sub(1);
        state.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatlines_core::LineConfig;
    use chrono::Utc;

    fn line() -> Line {
        Line::new(
            LineId::from_uuid(uuid::Uuid::new_v4()),
            1,
            LineConfig::new("l"),
            Utc::now(),
            Utc::now(),
        )
    }

    #[test]
    fn a_read_is_served_until_a_write_starts() {
        let cache = ConfigCache::new(Duration::from_secs(60));
        let l = line();
        let ticket = cache.line(l.id).expect_err("empty").expect("ticket");
        cache.put_line(ticket, l.id, &Some(Arc::new(l.clone())));
        assert_eq!(cache.line(l.id), Ok(Some(Arc::new(l.clone()))));
        let writing = cache.writing();
        assert_eq!(cache.line(l.id), Err(None), "no ticket while writing");
        drop(writing);
        assert!(matches!(cache.line(l.id), Err(Some(_))));
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_cached() {
        let cache = ConfigCache::new(Duration::from_secs(60));
        let l = line();
        let ticket = cache.line(l.id).expect_err("empty").expect("ticket");
        drop(cache.writing());
        cache.put_line(ticket, l.id, &Some(Arc::new(l.clone())));
        assert!(cache.line(l.id).is_err(), "stale read dropped");
    }

    #[test]
    fn entries_expire_and_a_zero_age_caches_nothing() {
        let cache = ConfigCache::new(Duration::ZERO);
        let l = line();
        assert_eq!(cache.line(l.id), Err(None));
        let cache = ConfigCache::new(Duration::from_secs(1));
        let ticket = cache.line(l.id).expect_err("empty").expect("ticket");
        cache.put_line(ticket, l.id, &None);
        assert_eq!(cache.line(l.id), Ok(None), "known missing");
        let later = Instant::now() + Duration::from_secs(2);
        assert!(cache.line_at(l.id, later).is_err(), "expired");
    }
}
