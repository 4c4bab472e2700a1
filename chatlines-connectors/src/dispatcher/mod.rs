//! The outbox dispatcher (feature `dispatcher`): a background worker that
//! delivers outbox entries through the connectors.
//!
//! Each round it claims a batch of due entries with a lease
//! ([`OutboxStore::claim_outbox`]), sends each through its source's connector,
//! and records the outcome ([`OutboxStore::finish_outbox`]): `Sent` with the
//! messenger's id, `Retry` at a back-off time (or when the messenger said
//! to, for rate limits), or `Failed` on a permanent error or after
//! `max_attempts`. It publishes [`Event::DeliverySucceeded`] and
//! [`Event::DeliveryFailed`].
//!
//! Several dispatchers (threads, processes, hosts) may run over one store:
//! the lease guarantees that an entry is sent by one of them at a time.
//! Within a round, the entries of one chat are sent one after another in
//! the order the store returned them, different chats in parallel, within
//! per-chat and per-source rate limits. Retries, and several dispatchers
//! sharing a chat's entries, can reorder messages of a chat.

mod backoff;
mod limits;

pub use backoff::Backoff;
pub use limits::{KindLimits, Rate, RateLimits};

use crate::config::duration_ms;
use crate::registry::Messengers;
use chatlines_core::{
    Clock, DeliveryOutcome, MessageStore, OutboundMessage, OutboxEntry, OutboxStatus, OutboxStore,
    SendError, SourceStore, StoreError, SystemClock,
};
use futures::StreamExt;
use limits::Limiters;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tunables of a [`Dispatcher`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// How long a claim lasts (default 60 s). A dispatcher that dies
    /// mid-send leaves the entry to others after this.
    #[serde(with = "duration_ms")]
    pub lease: Duration,
    /// Entries claimed per round (default 32).
    pub batch: usize,
    /// Wait between rounds when there was nothing (more) to do (default 250 ms).
    #[serde(with = "duration_ms")]
    pub poll_interval: Duration,
    /// Attempts before giving up (default 8).
    pub max_attempts: u32,
    /// Back-off between attempts.
    pub backoff: Backoff,
    /// Chats sent to in parallel (default 16).
    pub concurrency: usize,
    /// Retry sends whose outcome is unknown (timeout after sending), at the
    /// risk of a duplicate (default true).
    pub retry_uncertain: bool,
    /// Per-kind override of `retry_uncertain`.
    pub retry_uncertain_for: HashMap<String, bool>,
    /// Client-side rate limits.
    pub limits: RateLimits,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 32,
            poll_interval: Duration::from_millis(250),
            max_attempts: 8,
            backoff: Backoff::default(),
            concurrency: 16,
            retry_uncertain: true,
            retry_uncertain_for: HashMap::new(),
            limits: RateLimits::default(),
        }
    }
}

impl DispatcherConfig {
    /// Sets the back-off.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the attempt limit.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the rate limits.
    pub fn with_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the lease length.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the batch size.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Whether to retry uncertain sends of one kind.
    pub fn with_retry_uncertain(mut self, kind: impl Into<String>, retry: bool) -> Self {
        self.retry_uncertain_for.insert(kind.into(), retry);
        self
    }

    fn retries_uncertain(&self, kind: &str) -> bool {
        self.retry_uncertain_for
            .get(kind)
            .copied()
            .unwrap_or(self.retry_uncertain)
    }
}

/// What the dispatcher reads and writes: the outbox, the messages it sends
/// and the sources they go through. Implemented for every type that
/// implements the three, so any store (also an `Arc<dyn Store>`) is one.
pub trait DeliveryStore: OutboxStore + MessageStore + SourceStore {}

impl<T: OutboxStore + MessageStore + SourceStore + ?Sized> DeliveryStore for T {}

/// Delivers outbox entries; see the [module docs](self).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn DeliveryStore>,
    messengers: Messengers,
    clock: Arc<dyn Clock>,
    config: DispatcherConfig,
    limiters: Limiters,
    stopping: AtomicBool,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.inner.config)
            .field("messengers", &self.inner.messengers)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Dispatcher`].
pub struct DispatcherBuilder {
    store: Arc<dyn DeliveryStore>,
    messengers: Messengers,
    clock: Arc<dyn Clock>,
    config: DispatcherConfig,
}

impl DispatcherBuilder {
    /// The clock (default: system time). Due times and back-off are
    /// computed from it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tunables.
    pub fn config(mut self, config: DispatcherConfig) -> Self {
        self.config = config;
        self
    }

    /// Finishes the dispatcher.
    pub fn build(self) -> Dispatcher {
        let limiters = Limiters::new(&self.config.limits);
        Dispatcher {
            inner: Arc::new(Inner {
                store: self.store,
                messengers: self.messengers,
                clock: self.clock,
                config: self.config,
                limiters,
                stopping: AtomicBool::new(false),
            }),
        }
    }
}

/// A running dispatcher; stop it with [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct DispatcherHandle {
    dispatcher: Dispatcher,
    wake: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatcherHandle {
    /// Stops claiming, lets sends in flight finish, releases claimed entries
    /// not yet attempted (they become due again at once, counted as an
    /// attempt), and waits for all of it.
    pub async fn shutdown(self) {
        self.dispatcher.inner.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "dispatcher task ended abnormally");
        }
    }

    /// Wakes the dispatcher for an immediate round (e.g. after a reply).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Dispatcher {
    /// Starts building a dispatcher over a store (any [`DeliveryStore`]:
    /// every store, an `Arc<dyn Store>` included) and the connectors.
    pub fn builder<S>(store: S, messengers: Messengers) -> DispatcherBuilder
    where
        S: DeliveryStore + 'static,
    {
        DispatcherBuilder {
            store: Arc::new(store),
            messengers,
            clock: Arc::new(SystemClock),
            config: DispatcherConfig::default(),
        }
    }

    /// Runs rounds in a background task until [`DispatcherHandle::shutdown`].
    /// Needs a Tokio runtime.
    pub fn spawn(self) -> DispatcherHandle {
        let wake = Arc::new(tokio::sync::Notify::new());
        let this = self.clone();
        let woken = wake.clone();
        let task = tokio::spawn(async move { this.run(woken).await });
        DispatcherHandle {
            dispatcher: self,
            wake,
            task,
        }
    }

    async fn run(&self, wake: Arc<tokio::sync::Notify>) {
        let config = &self.inner.config;
        while !self.stopping() {
            let claimed = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox claim failed; retrying after the poll interval");
                    0
                }
            };
            if claimed >= config.batch {
                continue;
            }
            if self.stopping() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = wake.notified() => {}
            }
        }
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// One round: claims up to `batch` due entries and delivers them.
    /// Returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let lease = chrono::Duration::from_std(inner.config.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let entries = inner
            .store
            .claim_outbox(now, now + lease, inner.config.batch)
            .await?;
        let claimed = entries.len();
        if claimed == 0 {
            return Ok(0);
        }
        // Time left for local rate-limit waits before the lease is at risk.
        let deadline = Instant::now() + inner.config.lease / 2;
        let mut chats: Vec<Vec<OutboxEntry>> = Vec::new();
        let mut index: HashMap<(chatlines_core::SourceId, String), usize> = HashMap::new();
        for e in entries {
            let key = (e.source, e.address.clone());
            match index.get(&key) {
                Some(&i) => chats[i].push(e),
                None => {
                    index.insert(key, chats.len());
                    chats.push(vec![e]);
                }
            }
        }
        futures::stream::iter(chats)
            .for_each_concurrent(inner.config.concurrency.max(1), |chat| async move {
                for entry in chat {
                    self.deliver(entry, deadline).await;
                }
            })
            .await;
        Ok(claimed)
    }

    async fn deliver(&self, entry: OutboxEntry, deadline: Instant) {
        let inner = &self.inner;
        let Some(lease) = entry.lease else {
            tracing::warn!(entry = %entry.id, "claimed entry without a lease; skipped");
            return;
        };
        let outcome = if self.stopping() {
            DeliveryOutcome::Retry {
                at: inner.clock.now(),
                error: "dispatcher stopped before sending; released".to_owned(),
            }
        } else {
            self.attempt(&entry, deadline).await
        };
        match inner
            .store
            .finish_outbox(entry.id, lease.token, outcome, inner.clock.now())
            .await
        {
            // The store logs the delivery events with the outcome.
            Ok(done) => {
                if let OutboxStatus::Failed { error } = done.status {
                    tracing::warn!(entry = %done.id, %error, "delivery failed for good");
                }
            }
            Err(e) => {
                tracing::warn!(entry = %entry.id, error = %e, "cannot record the delivery outcome")
            }
        }
    }

    async fn attempt(&self, entry: &OutboxEntry, deadline: Instant) -> DeliveryOutcome {
        let inner = &self.inner;
        let config = &inner.config;
        let attempt = entry.attempts.saturating_add(1);
        let retry_in = |wait: Duration, error: String| DeliveryOutcome::Retry {
            at: inner.clock.now()
                + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1)),
            error,
        };
        let give_up = |error: String| {
            if attempt >= config.max_attempts {
                DeliveryOutcome::Failed {
                    error: format!("gave up after {attempt} attempts: {error}"),
                }
            } else {
                retry_in(config.backoff.delay(attempt), error)
            }
        };
        let message = match inner.store.message(entry.message).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return DeliveryOutcome::Failed {
                    error: format!("message {} no longer exists", entry.message),
                }
            }
            Err(e) => return give_up(format!("cannot read the message: {e}")),
        };
        let source = match inner.store.source(entry.source).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return DeliveryOutcome::Failed {
                    error: format!("source {} is no longer bound", entry.source),
                }
            }
            Err(e) => return give_up(format!("cannot read the source: {e}")),
        };
        let Some(messenger) = inner.messengers.get(entry.source) else {
            return give_up(format!(
                "no connector registered for source {}",
                entry.source
            ));
        };
        let kind = messenger.kind().to_owned();
        if let Err(wait) = inner
            .limiters
            .acquire(&kind, entry.source, &entry.address, deadline)
            .await
        {
            return retry_in(wait, "held back by the local rate limit".to_owned());
        }
        let sent = messenger
            .send(
                OutboundMessage::new(&source, &entry.address, &message.body)
                    .with_message(message.id),
            )
            .await;
        match sent {
            Ok(external_id) => DeliveryOutcome::Sent { external_id },
            Err(SendError::Permanent(e)) => DeliveryOutcome::Failed { error: e },
            Err(e @ SendError::Uncertain(_)) if !config.retries_uncertain(&kind) => {
                DeliveryOutcome::Failed {
                    error: format!("{e}; not retried, to avoid a duplicate"),
                }
            }
            Err(SendError::RateLimited { retry_after }) if attempt < config.max_attempts => {
                retry_in(retry_after, format!("rate limited by {kind}"))
            }
            Err(e) => give_up(e.to_string()),
        }
    }
}
