//! The relay: delivers the event log to an [`EventSink`] at least once, in
//! log order, resuming from a durable named cursor.
//!
//! The relay has no runtime of its own: call [`Relay::pump`] when woken (a
//! NOTIFY, a timer, after a write), or use the ready-made worker of
//! `chatlines-store` (`RelayWorker`).

use crate::clock::{Clock, SystemClock};
use crate::error::{BoxError, StoreError};
use crate::events::{EventPosition, EventSink, LoggedEvent};
use crate::ids::EventId;
use crate::store::EventLogStore;
use std::sync::Arc;

/// Settings of a [`Relay`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// The consumer's name: its cursor in the store. Each consumer (each
    /// sink) needs its own name; two relays with one name share a cursor.
    pub consumer: String,
    /// How many events one [`pump`](Relay::pump) reads and delivers at most.
    pub batch: usize,
}

impl RelayConfig {
    /// A consumer named `consumer`, delivering up to 500 events a pump.
    pub fn new(consumer: impl Into<String>) -> Self {
        Self {
            consumer: consumer.into(),
            batch: 500,
        }
    }

    /// Sets how many events one pump delivers at most (at least 1).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }
}

/// Why a [`Relay::pump`] stopped early. Events before the failing one were
/// delivered and their position saved; the next pump starts at the failing
/// event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Reading the log or saving the cursor failed.
    #[error("event relay: {0}")]
    Store(#[from] StoreError),
    /// The sink refused an event; it is delivered again on the next pump.
    #[error("event relay: the sink refused event {event} at {position}: {source}")]
    Sink {
        /// The refused event.
        event: EventId,
        /// Its position.
        position: EventPosition,
        /// The sink's error.
        #[source]
        source: BoxError,
    },
}

impl RelayError {
    /// Whether pumping again may succeed (a store that is temporarily
    /// unavailable, or any sink error).
    pub fn is_retryable(&self) -> bool {
        match self {
            RelayError::Store(e) => e.is_retryable(),
            RelayError::Sink { .. } => true,
        }
    }
}

/// Delivers the event log to one sink, at least once and in order, with a
/// durable named cursor.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn chatlines_core::Store>) -> Result<(), chatlines_core::relay::RelayError> {
/// use chatlines_core::{NoEvents, Relay, RelayConfig};
/// let relay = Relay::new(store, std::sync::Arc::new(NoEvents), RelayConfig::new("ui"));
/// while relay.pump().await? > 0 {}
/// # Ok(()) }
/// ```
pub struct Relay {
    log: Arc<dyn EventLogStore>,
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    config: RelayConfig,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay from `log` to `sink` under `config`'s consumer name.
    pub fn new(log: Arc<dyn EventLogStore>, sink: Arc<dyn EventSink>, config: RelayConfig) -> Self {
        Self {
            log,
            sink,
            clock: Arc::new(SystemClock),
            config,
        }
    }

    /// The clock stamping saved cursors (default: system time).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The position this relay's consumer has delivered up to.
    pub async fn position(&self) -> Result<EventPosition, StoreError> {
        Ok(self
            .log
            .consumer_position(&self.config.consumer)
            .await?
            .unwrap_or(EventPosition::START))
    }

    /// Delivers the next page of events after the consumer's cursor and
    /// saves the cursor; returns how many were delivered (0: caught up).
    pub async fn pump(&self) -> Result<usize, RelayError> {
        let after = self.position().await?;
        Ok(self.deliver_after(after).await?.0)
    }

    /// Pumps until caught up; returns how many events were delivered. The
    /// cursor is read once and saved after every page, before anything of
    /// the next page is delivered; the next page is read while the cursor
    /// is being saved.
    pub async fn catch_up(&self) -> Result<usize, RelayError> {
        let mut after = self.position().await?;
        let mut page = self.log.events_after(after, self.config.batch).await?;
        let mut total = 0;
        while !page.is_empty() {
            let delivered = self.deliver(&page).await;
            total += delivered.count;
            if let Some(failure) = delivered.failure {
                if let Some(last) = delivered.last {
                    self.save(last).await?;
                }
                return Err(self.stopped(failure));
            }
            let Some(last) = delivered.last else {
                break;
            };
            after = last;
            // The read is started first: a store that hands it to a thread
            // of its own while it saves on the calling one (SQLite with
            // concurrent reads) saves while the page is fetched.
            let (next, saved) = futures::join!(
                self.log.events_after(after, self.config.batch),
                self.save(last)
            );
            saved?;
            page = next?;
        }
        Ok(total)
    }

    /// Delivers the page after `after` and saves the cursor; returns how
    /// many were delivered and the position of the last one.
    async fn deliver_after(
        &self,
        after: EventPosition,
    ) -> Result<(usize, EventPosition), RelayError> {
        let page = self.log.events_after(after, self.config.batch).await?;
        let delivered = self.deliver(&page).await;
        if let Some(position) = delivered.last {
            self.save(position).await?;
        }
        match delivered.failure {
            Some(failure) => Err(self.stopped(failure)),
            None => Ok((delivered.count, delivered.last.unwrap_or(after))),
        }
    }

    /// Hands `page` to the sink in order, up to the first event it refuses.
    async fn deliver(&self, page: &[LoggedEvent]) -> Delivered {
        let mut delivered = Delivered {
            count: 0,
            last: None,
            failure: None,
        };
        for event in page {
            match self.sink.publish(event).await {
                Ok(()) => {
                    delivered.last = Some(event.position);
                    delivered.count += 1;
                }
                Err(source) => {
                    delivered.failure = Some(RelayError::Sink {
                        event: event.id,
                        position: event.position,
                        source,
                    });
                    break;
                }
            }
        }
        delivered
    }

    /// Saves the consumer's cursor at `position`.
    async fn save(&self, position: EventPosition) -> Result<(), StoreError> {
        self.log
            .save_consumer_position(&self.config.consumer, position, self.clock.now())
            .await
    }

    /// Logs why delivery stopped.
    fn stopped(&self, error: RelayError) -> RelayError {
        tracing::warn!(consumer = %self.config.consumer, %error, "event delivery stopped");
        error
    }
}

/// What one page's delivery did.
struct Delivered {
    /// How many events the sink took.
    count: usize,
    /// The position of the last one it took.
    last: Option<EventPosition>,
    /// Why it stopped before the page's end.
    failure: Option<RelayError>,
}
