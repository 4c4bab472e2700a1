//! The outbox dispatcher (feature `dispatcher`): a background worker that
//! delivers outbox entries through the connectors.
//!
//! It claims due entries with a lease ([`OutboxStore::claim_outbox`]),
//! sends each through its source's connector, and records the outcome
//! ([`OutboxStore::finish_outbox`]): `Sent` with the messenger's id,
//! `Retry` at a back-off time (or when the messenger said to, for rate
//! limits, capped at [`DispatcherConfig::max_delay`]), `Failed` on a
//! permanent error or after `max_attempts`, or `Deferred` when a local rate
//! limit holds it back (not an attempt). It publishes
//! [`Event::DeliverySucceeded`](chatlines_core::Event::DeliverySucceeded)
//! and [`Event::DeliveryFailed`](chatlines_core::Event::DeliveryFailed).
//!
//! # Order
//!
//! The store claims only the head of each chat (its oldest pending entry),
//! so a chat's next reply is not sent while an earlier one is leased or
//! waiting for a retry; other chats keep flowing. This holds however many
//! dispatchers (tasks, processes, hosts) share the store: replies to one
//! chat reach the messenger in the order they were written.
//!
//! # Duplicates
//!
//! Delivery is at least once. When a send's outcome is unknown (a timeout
//! after the request left, a lost answer) the entry is retried (see
//! [`DispatcherConfig::retry_uncertain`]), so the messenger may receive it
//! twice. Connectors pass the stored message's id to messengers that take
//! an idempotency key (the generic webhook sends it as `Idempotency-Key`
//! and in the body's `id`); others (Telegram, WhatsApp) have none, and a
//! lost answer can show the client a reply twice.
//!
//! # It keeps going
//!
//! No answer of a messenger or the store ends the worker: server-given
//! delays are capped, times are computed with checked arithmetic, a panic
//! inside one send releases that entry as a retry (counted as an attempt),
//! and a panic elsewhere in the worker (a store call, say) restarts the
//! lane it happened in after a back-off
//! ([`DispatcherConfig::restart_backoff`]). [`Dispatcher::health`] shows the
//! last success, the last error, restarts and entries in flight.
//!
//! # What the messenger can carry
//!
//! Before sending, a reply is checked against the connector's
//! [`Capabilities`](chatlines_core::Capabilities): attachments a messenger
//! cannot carry become links in the text when they have a web address (and
//! [`DispatcherConfig::attachments_as_links`] is on), and a reply that
//! cannot fit (attachments without an address, a text over the messenger's
//! length limit, nothing to send) fails at once with a reason saying so,
//! never sent to fail.

mod backoff;
mod deliver;
mod fit;
mod health;
mod limits;
mod worker;

pub use backoff::Backoff;
pub use health::DispatcherHealth;
pub use limits::{KindLimits, Rate, RateLimits};

use crate::config::duration_ms;
use crate::registry::Messengers;
use chatlines_core::{Clock, MessageStore, OutboxStore, SourceStore, StoreError, SystemClock};
use limits::Limiters;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Tunables of a [`Dispatcher`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// How long a claim lasts (default 60 s). A dispatcher that dies
    /// mid-send leaves the entry to others after this; the expired claim
    /// counts as an attempt.
    #[serde(with = "duration_ms")]
    pub lease: Duration,
    /// Entries claimed at most by one [`Dispatcher::run_once`] (default
    /// 32). The background worker's lanes claim one entry at a time, each
    /// as soon as it finished the one before.
    pub batch: usize,
    /// Wait between claims when there was nothing (more) to do (default 250 ms).
    #[serde(with = "duration_ms")]
    pub poll_interval: Duration,
    /// Attempts before giving up (default 8).
    pub max_attempts: u32,
    /// Back-off between attempts.
    pub backoff: Backoff,
    /// The longest wait before a retry, whatever a messenger asks for in a
    /// rate-limit answer (default 1 hour).
    #[serde(with = "duration_ms")]
    pub max_delay: Duration,
    /// The longest a send waits for a local rate limit before the entry is
    /// deferred instead, freeing its place (default 1 s).
    #[serde(with = "duration_ms")]
    pub max_local_wait: Duration,
    /// Entries sent at once (default 16): the background worker runs this
    /// many lanes. Each entry is the head of its chat, so these are
    /// different chats.
    pub concurrency: usize,
    /// Retry sends whose outcome is unknown (timeout after sending), at the
    /// risk of a duplicate (default true).
    pub retry_uncertain: bool,
    /// Per-kind override of `retry_uncertain`.
    pub retry_uncertain_for: HashMap<String, bool>,
    /// Send attachments a messenger cannot carry as links in the text when
    /// they have a web address (default true); otherwise such a reply fails.
    pub attachments_as_links: bool,
    /// Back-off before a lane of the worker goes on after a panic outside
    /// a send.
    pub restart_backoff: Backoff,
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
            max_delay: Duration::from_secs(3600),
            max_local_wait: Duration::from_secs(1),
            concurrency: 16,
            retry_uncertain: true,
            retry_uncertain_for: HashMap::new(),
            attachments_as_links: true,
            restart_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
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

    /// Sets how many entries are sent at once.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets the cap on any wait before a retry.
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Sets the longest wait for a local rate limit before deferring.
    pub fn with_max_local_wait(mut self, max: Duration) -> Self {
        self.max_local_wait = max;
        self
    }

    /// Sets the back-off before a lane goes on after a panic.
    pub fn with_restart_backoff(mut self, backoff: Backoff) -> Self {
        self.restart_backoff = backoff;
        self
    }

    /// Whether attachments a messenger cannot carry become links.
    pub fn with_attachments_as_links(mut self, on: bool) -> Self {
        self.attachments_as_links = on;
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
///
/// ```
/// use chatlines_connectors::dispatcher::{Dispatcher, DispatcherConfig};
/// use chatlines_connectors::Messengers;
/// use chatlines_store::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dispatcher = Dispatcher::builder(MemoryStore::new(), Messengers::new())
///     .config(DispatcherConfig::default())
///     .build();
/// let health = dispatcher.health();
/// let handle = dispatcher.spawn();
/// // Replies written through the Hub are delivered in the background.
/// handle.shutdown().await;
/// assert!(!health.borrow().running);
/// # }
/// ```
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
    health: watch::Sender<DispatcherHealth>,
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
#[must_use]
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
                health: watch::Sender::new(DispatcherHealth::default()),
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
    /// not yet attempted (they become due again at once, not counted as an
    /// attempt), and waits for all of it.
    pub async fn shutdown(self) {
        self.dispatcher.inner.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "dispatcher task ended abnormally");
        }
    }

    /// Wakes the dispatcher for an immediate claim (e.g. after a reply).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The dispatcher's health; see [`Dispatcher::health`].
    pub fn health(&self) -> watch::Receiver<DispatcherHealth> {
        self.dispatcher.health()
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

    /// Runs the worker in a background task until
    /// [`DispatcherHandle::shutdown`], restarting a lane after a panic. Needs a
    /// Tokio runtime. Spawn a dispatcher once at a time: a second worker of
    /// the same dispatcher shares its shutdown switch.
    pub fn spawn(self) -> DispatcherHandle {
        // A dispatcher shut down before may be spawned again.
        self.inner.stopping.store(false, Ordering::SeqCst);
        let wake = Arc::new(tokio::sync::Notify::new());
        let this = self.clone();
        let woken = wake.clone();
        let task = tokio::spawn(async move { this.supervise(woken).await });
        DispatcherHandle {
            dispatcher: self,
            wake,
            task,
        }
    }

    /// The dispatcher's health, updated as it works: last success, last
    /// error, restarts, entries in flight, counts of outcomes.
    pub fn health(&self) -> watch::Receiver<DispatcherHealth> {
        self.inner.health.subscribe()
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// One round: claims up to `batch` due entries (each the head of its
    /// chat) and delivers them, `concurrency` at a time. Returns how many
    /// were claimed.
    ///
    /// # Errors
    ///
    /// The claim's error; the outcome of each entry is recorded (or
    /// logged when it cannot be), never returned.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let entries = self.claim(self.inner.config.batch).await?;
        let claimed = entries.len();
        let concurrency = self.inner.config.concurrency.max(1);
        futures::StreamExt::for_each_concurrent(
            futures::stream::iter(entries),
            concurrency,
            |entry| self.deliver(entry),
        )
        .await;
        Ok(claimed)
    }
}
