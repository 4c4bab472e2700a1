//! The event log and its consumers' cursors.

use super::state::State;
use chatlines_core::{EventPosition, LoggedEvent};
use chrono::{DateTime, Utc};

impl State {
    pub(super) fn events_after(&self, after: EventPosition, limit: usize) -> Vec<LoggedEvent> {
        // Positions are consecutive from the front's: find the start by
        // binary search.
        let start = self.events.partition_point(|e| e.position <= after);
        self.events.range(start..).take(limit).cloned().collect()
    }

    pub(super) fn save_consumer(&mut self, consumer: &str, position: EventPosition) {
        let slot = self
            .consumers
            .entry(consumer.to_owned())
            .or_insert(EventPosition::START);
        *slot = (*slot).max(position);
    }

    pub(super) fn prune_events(&mut self, before: DateTime<Utc>, limit: usize) -> u64 {
        let passed = self.consumers.values().min().copied();
        let mut pruned = 0;
        while pruned < limit {
            match self.events.front() {
                Some(e) if e.at < before && passed.is_none_or(|p| e.position <= p) => {
                    self.events.pop_front();
                    pruned += 1;
                }
                _ => break,
            }
        }
        pruned as u64
    }
}
