//! The background worker: `concurrency` lanes in one task, each claiming
//! the next due entry as soon as it finished one; a panic outside a send
//! restarts only the lane it happened in.

use super::deliver::panic_text;
use super::Dispatcher;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What one claim-and-deliver step of a lane did.
enum Step {
    /// An entry was claimed and its outcome recorded.
    Delivered,
    /// Nothing was due.
    Idle,
    /// The claim failed.
    ClaimFailed,
    /// The step panicked outside a send (where a panic is caught and the
    /// entry released); the lane goes on after a back-off.
    Panicked,
}

/// What the lanes of one running worker share.
struct Lanes {
    /// The handle's wake-ups (a new reply, shutdown).
    wake: Arc<Notify>,
    /// Whether an idle lane already polls on the timer: only one does, the
    /// others wait for a wake-up, so an idle dispatcher claims once per
    /// poll interval however many lanes it has.
    poller: AtomicBool,
}

impl Lanes {
    fn new(wake: Arc<Notify>) -> Self {
        Self {
            wake,
            poller: AtomicBool::new(false),
        }
    }
}

impl Dispatcher {
    /// Runs `concurrency` lanes until shutdown and waits for them all.
    ///
    /// The lanes share this one task and are polled only when woken; a
    /// lane that finished an entry claims the next one at once. The HTTP
    /// connections the sends use are tasks of their own (the client's), so
    /// the sockets' work still spreads over the runtime's threads. Lanes
    /// spawned as tasks of their own were measured slower on two cores:
    /// every answer then woke a lane on another thread. One task still
    /// delivers far more per second than a messenger takes from one
    /// account.
    pub(super) async fn supervise(&self, wake: Arc<Notify>) {
        let inner = &self.inner;
        inner.health.send_modify(|h| h.running = true);
        let lanes = Lanes::new(wake);
        let mut running: FuturesUnordered<_> = (0..inner.config.concurrency.max(1))
            .map(|_| self.supervised_lane(&lanes))
            .collect();
        while running.next().await.is_some() {}
        inner.health.send_modify(|h| h.running = false);
    }

    /// Runs a lane until shutdown; a panic that escapes it (a step's own
    /// panics are caught inside) is logged and counted, and the lane
    /// starts again after the restart back-off.
    async fn supervised_lane(&self, lanes: &Lanes) {
        let mut panics: u32 = 0;
        loop {
            match AssertUnwindSafe(self.lane(lanes)).catch_unwind().await {
                Ok(()) => return,
                Err(panic) => {
                    self.lane_panicked(&*panic);
                    if self.stopping() {
                        lanes.wake.notify_one();
                        return;
                    }
                    panics = panics.saturating_add(1);
                    tokio::time::sleep(self.inner.config.restart_backoff.delay(panics)).await;
                }
            }
        }
    }

    /// Claims and delivers one entry at a time until shutdown. An idle lane
    /// waits for a wake-up, or (when it is the one polling) the poll
    /// interval; claim failures and panics pause it with a back-off.
    async fn lane(&self, lanes: &Lanes) {
        let config = &self.inner.config;
        let mut claim_failures: u32 = 0;
        let mut panics: u32 = 0;
        let mut was_idle = true;
        loop {
            if self.stopping() {
                // Pass the stop on to the next waiting lane.
                lanes.wake.notify_one();
                return;
            }
            let step = match AssertUnwindSafe(self.step()).catch_unwind().await {
                Ok(step) => step,
                Err(panic) => {
                    self.lane_panicked(&*panic);
                    Step::Panicked
                }
            };
            let pause = match step {
                Step::Delivered => {
                    claim_failures = 0;
                    panics = 0;
                    if was_idle {
                        // More may be due than this lane alone takes:
                        // bring in another waiting lane.
                        was_idle = false;
                        lanes.wake.notify_one();
                    }
                    continue;
                }
                Step::Idle => {
                    claim_failures = 0;
                    None
                }
                Step::ClaimFailed => {
                    claim_failures = claim_failures.saturating_add(1);
                    Some(
                        config
                            .backoff
                            .delay(claim_failures)
                            .max(config.poll_interval),
                    )
                }
                Step::Panicked => {
                    panics = panics.saturating_add(1);
                    Some(config.restart_backoff.delay(panics))
                }
            };
            was_idle = true;
            if self.stopping() {
                lanes.wake.notify_one();
                return;
            }
            self.wait(lanes, pause).await;
        }
    }

    /// Waits for a wake-up, or for `pause` when given; an idle lane
    /// without a pause waits for the poll interval too when no other lane
    /// polls. A wake-up sent while no lane waited is kept (`notify_one`
    /// stores it), so one sent while this lane claimed is not lost.
    async fn wait(&self, lanes: &Lanes, pause: Option<Duration>) {
        let woken = lanes.wake.notified();
        let polling = pause.is_none()
            && lanes
                .poller
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        match pause.or(polling.then_some(self.inner.config.poll_interval)) {
            Some(pause) => {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = woken => {}
                }
            }
            None => woken.await,
        }
        if polling {
            lanes.poller.store(false, Ordering::Release);
        }
    }

    /// Claims one due entry (the head of its chat) and delivers it.
    async fn step(&self) -> Step {
        match self.claim(1).await {
            Ok(entries) => match entries.into_iter().next() {
                Some(entry) => {
                    self.deliver(entry).await;
                    Step::Delivered
                }
                None => Step::Idle,
            },
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed; retrying after a back-off");
                let now = self.inner.clock.now();
                self.inner
                    .health
                    .send_modify(|h| h.error(now, format!("outbox claim failed: {e}")));
                Step::ClaimFailed
            }
        }
    }

    /// A panic outside a send (in a store call, say): logged and counted
    /// as a restart. An entry it held is retried after its lease, and the
    /// next claim counts that as an attempt.
    fn lane_panicked(&self, panic: &(dyn std::any::Any + Send)) {
        let text = panic_text(panic);
        let now = self.inner.clock.now();
        let mut restarts = 0;
        self.inner.health.send_modify(|h| {
            h.restarts = h.restarts.saturating_add(1);
            restarts = h.restarts;
            h.error(now, format!("the worker panicked: {text}"));
        });
        tracing::error!(panic = %text, restarts, "a dispatcher lane panicked; restarting it");
    }
}
