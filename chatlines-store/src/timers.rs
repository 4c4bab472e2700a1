//! [`TimerWorker`]: a background task (Tokio) that calls
//! [`Hub::run_due`] until shut down (feature `timers`).
//!
//! Every `interval` (or at once when woken, or while a run claimed a full
//! batch) it fires what is due at the clock's now. Any number of hubs may
//! run one over the same store: each timer still has one effect. A failed
//! run (the store unavailable) is logged, recorded in its [`TimerHealth`]
//! and retried at the next interval; a timer that fails stays leased and is
//! retried after its lease.
//!
//! ```no_run
//! # async fn demo(hub: chatlines_core::Hub) {
//! use chatlines_store::timers::TimerWorker;
//! let worker = TimerWorker::new(hub)
//!     .interval(std::time::Duration::from_secs(1))
//!     .spawn();
//! // ...
//! worker.shutdown().await;
//! # }
//! ```

use chatlines_core::{Clock, Hub, SystemClock};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// What a [`TimerWorker`] reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerHealth {
    /// Completed runs of [`Hub::run_due`].
    pub runs: u64,
    /// Timers fired since the worker started.
    pub fired: u64,
    /// Stale timers removed since the worker started.
    pub stale: u64,
    /// Timers that failed, and runs whose claim failed.
    pub failures: u64,
    /// The last failure, cleared by the next run without one.
    pub last_error: Option<String>,
}

/// A worker that fires due timers; see the [module docs](self).
#[must_use = "a worker does nothing until spawned"]
pub struct TimerWorker {
    hub: Hub,
    clock: Arc<dyn Clock>,
    interval: Duration,
    batch: usize,
}

impl std::fmt::Debug for TimerWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWorker")
            .field("interval", &self.interval)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl TimerWorker {
    /// A worker firing `hub`'s due timers every second, 100 per claim, on
    /// system time.
    pub fn new(hub: Hub) -> Self {
        Self {
            hub,
            clock: Arc::new(SystemClock),
            interval: Duration::from_secs(1),
            batch: 100,
        }
    }

    /// How long the worker waits between runs when nothing more is due
    /// (default 1 s): a timer fires at most this late.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How many timers one run claims (default 100; at least 1).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The clock whose now is passed to [`Hub::run_due`] (default: system
    /// time); use the hub's clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the worker on the current Tokio runtime.
    pub fn spawn(self) -> TimerHandle {
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (health_tx, health_rx) = watch::channel(TimerHealth::default());
        let task = tokio::spawn(self.run(wake.clone(), stop_rx, health_tx));
        TimerHandle {
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
        health: watch::Sender<TimerHealth>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            let more = match self.hub.run_due(self.clock.now(), self.batch).await {
                Ok(report) => {
                    let last_error = report.failures.last().map(|f| f.error.to_string());
                    health.send_modify(|h| {
                        h.runs += 1;
                        h.fired += report.fired as u64;
                        h.stale += report.stale as u64;
                        h.failures += report.failures.len() as u64;
                        h.last_error = last_error;
                    });
                    report.full(self.batch)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "timers: claiming due timers failed; retrying");
                    health.send_modify(|h| {
                        h.runs += 1;
                        h.failures += 1;
                        h.last_error = Some(e.to_string());
                    });
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// A running [`TimerWorker`].
#[derive(Debug)]
pub struct TimerHandle {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    health: watch::Receiver<TimerHealth>,
    task: JoinHandle<()>,
}

impl TimerHandle {
    /// Wakes the worker to run now (after a clock jump, in tests).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What the worker reports now.
    pub fn health(&self) -> TimerHealth {
        self.health.borrow().clone()
    }

    /// A receiver that changes with every run (to wait on).
    pub fn watch_health(&self) -> watch::Receiver<TimerHealth> {
        self.health.clone()
    }

    /// Stops the worker after the run in progress, and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "timer worker ended abnormally");
        }
    }
}
