//! [`RelayWorker`]: a background task (Tokio) that runs a core
//! [`Relay`] — delivering the event log to a sink from a durable cursor —
//! and prunes the log, until shut down (feature `relay`).
//!
//! The worker never dies from one bad answer: a failed pump (the store
//! unavailable, the sink refusing an event, even a panicking sink) is
//! logged, recorded in its [`RelayHealth`], and retried with back-off from
//! the same event.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<chatlines_store::SqliteStore>) {
//! use chatlines_core::{NoEvents, RelayConfig};
//! use chatlines_store::relay::RelayWorker;
//! let worker = RelayWorker::new(store, std::sync::Arc::new(NoEvents), RelayConfig::new("ui"))
//!     .spawn();
//! // After a write, or on a PostgreSQL NOTIFY:
//! worker.wake();
//! worker.shutdown().await;
//! # }
//! ```

use chatlines_core::{Clock, EventLogStore, EventSink, Relay, RelayConfig, SystemClock};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// What a [`RelayWorker`] reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayHealth {
    /// Events delivered since the worker started.
    pub delivered: u64,
    /// Pumps that failed since the worker started.
    pub failures: u64,
    /// The last failure, cleared by the next successful pump.
    pub last_error: Option<String>,
    /// Events pruned since the worker started.
    pub pruned: u64,
}

/// A worker that runs a [`Relay`] and prunes the log; see the
/// [module docs](self).
#[must_use = "a worker does nothing until spawned"]
pub struct RelayWorker {
    log: Arc<dyn EventLogStore>,
    relay: Relay,
    clock: Arc<dyn Clock>,
    idle: Duration,
    max_backoff: Duration,
    retention: Option<Duration>,
    prune_every: Duration,
}

impl std::fmt::Debug for RelayWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayWorker")
            .field("relay", &self.relay)
            .field("idle", &self.idle)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl RelayWorker {
    /// A worker delivering `log` to `sink` under `config`'s consumer.
    pub fn new(log: Arc<dyn EventLogStore>, sink: Arc<dyn EventSink>, config: RelayConfig) -> Self {
        Self {
            relay: Relay::new(log.clone(), sink, config),
            log,
            clock: Arc::new(SystemClock),
            idle: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            retention: None,
            prune_every: Duration::from_secs(60),
        }
    }

    /// How long the worker waits for a [`wake`](RelayHandle::wake) before
    /// looking at the log again when it is caught up (default 1 s).
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The longest back-off after failed pumps (default 30 s).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Prunes events older than `retention` that every consumer has passed,
    /// every `every` (default: no pruning).
    pub fn retention(mut self, retention: Duration, every: Duration) -> Self {
        self.retention = Some(retention);
        self.prune_every = every;
        self
    }

    /// The clock for cursor stamps and retention (default: system time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.relay = self.relay.clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Starts the worker on the current Tokio runtime.
    pub fn spawn(self) -> RelayHandle {
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (health_tx, health_rx) = watch::channel(RelayHealth::default());
        let task = tokio::spawn(self.run(wake.clone(), stop_rx, health_tx));
        RelayHandle {
            wake,
            stop: stop_tx,
            health: health_rx,
            task,
        }
    }

    async fn run(
        self,
        wake: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
        health: watch::Sender<RelayHealth>,
    ) {
        let mut backoff = Duration::ZERO;
        let mut last_prune = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            if let Some(retention) = self.retention {
                if last_prune.elapsed() >= self.prune_every {
                    last_prune = tokio::time::Instant::now();
                    self.prune(retention, &health).await;
                }
            }
            let pumped = AssertUnwindSafe(self.relay.pump()).catch_unwind().await;
            let wait = match pumped {
                Ok(Ok(n)) => {
                    backoff = Duration::ZERO;
                    health.send_modify(|h| {
                        h.delivered += n as u64;
                        h.last_error = None;
                    });
                    if n > 0 {
                        continue;
                    }
                    self.idle
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "event relay: pump failed; retrying");
                    backoff = next_backoff(backoff, self.max_backoff);
                    health.send_modify(|h| {
                        h.failures += 1;
                        h.last_error = Some(e.to_string());
                    });
                    backoff
                }
                Err(_) => {
                    tracing::error!("event relay: the sink panicked; retrying the event");
                    backoff = next_backoff(backoff, self.max_backoff);
                    health.send_modify(|h| {
                        h.failures += 1;
                        h.last_error = Some("the sink panicked".to_owned());
                    });
                    backoff
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn prune(&self, retention: Duration, health: &watch::Sender<RelayHealth>) {
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            return;
        };
        let Some(before) = self.clock.now().checked_sub_signed(retention) else {
            return;
        };
        loop {
            match self.log.prune_events(before, 1000).await {
                Ok(0) => return,
                Ok(n) => health.send_modify(|h| h.pruned += n),
                Err(e) => {
                    tracing::warn!(error = %e, "event log: pruning failed");
                    return;
                }
            }
        }
    }
}

fn next_backoff(current: Duration, max: Duration) -> Duration {
    let next = if current.is_zero() {
        Duration::from_millis(50)
    } else {
        current.saturating_mul(2)
    };
    next.min(max)
}

/// A running [`RelayWorker`].
#[derive(Debug)]
pub struct RelayHandle {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    health: watch::Receiver<RelayHealth>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    /// Wakes the worker to look at the log now (after a write, on a NOTIFY).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What the worker reports now.
    pub fn health(&self) -> RelayHealth {
        self.health.borrow().clone()
    }

    /// A receiver that changes with every health update (to wait on).
    pub fn watch_health(&self) -> watch::Receiver<RelayHealth> {
        self.health.clone()
    }

    /// Stops the worker after the pump in progress, and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "event relay worker ended abnormally");
        }
    }
}
