//! The event log: every change's events, durable and ordered, and the named
//! cursors of its consumers.

use crate::error::StoreError;
use crate::events::{EventPosition, LoggedEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Reading the event log, and the durable cursors of its consumers. Part of
/// [`Store`](crate::Store); see the [module contract](crate::store).
///
/// * **Written with the change.** Events are appended by the calls of the
///   other traits, in the same atomic unit as their change: an
///   acknowledged change's events are in the log.
/// * **No event is missed.** [`events_after`](Self::events_after) returns
///   only events no later-committing change can precede: a reader that
///   resumes after the last position it read sees every event committed
///   since, exactly once, in positions that only grow.
/// * **Valid order.** Two changes of one session appear in the order they
///   were made (the session's version grows along the log).
#[async_trait]
pub trait EventLogStore: Send + Sync {
    /// Up to `limit` events after `after`, in log order.
    async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// The position a named consumer has read up to (`None` if it never
    /// saved one).
    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventPosition>, StoreError>;

    /// Saves (and registers) a named consumer's position. A position before
    /// the one saved is ignored: a cursor never moves back.
    async fn save_consumer_position(
        &self,
        consumer: &str,
        position: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets a consumer, so its position no longer holds back pruning.
    async fn remove_consumer(&self, consumer: &str) -> Result<(), StoreError>;

    /// Deletes up to `limit` events older than `before` that every
    /// registered consumer has passed; returns how many. Writers are never
    /// blocked by it. A store may keep the newest event (SQLite does, so
    /// that no position is ever handed out twice).
    async fn prune_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: EventLogStore + ?Sized> EventLogStore for $ptr<S> {
            async fn events_after(
                &self,
                after: EventPosition,
                limit: usize,
            ) -> Result<Vec<LoggedEvent>, StoreError> {
                (**self).events_after(after, limit).await
            }
            async fn consumer_position(
                &self,
                c: &str,
            ) -> Result<Option<EventPosition>, StoreError> {
                (**self).consumer_position(c).await
            }
            async fn save_consumer_position(
                &self,
                c: &str,
                p: EventPosition,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                (**self).save_consumer_position(c, p, now).await
            }
            async fn remove_consumer(&self, c: &str) -> Result<(), StoreError> {
                (**self).remove_consumer(c).await
            }
            async fn prune_events(
                &self,
                before: DateTime<Utc>,
                n: usize,
            ) -> Result<u64, StoreError> {
                (**self).prune_events(before, n).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
