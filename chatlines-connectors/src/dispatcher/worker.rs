//! The background worker: claims as places free up, sends in parallel, and
//! is restarted after a panic.

use super::deliver::panic_text;
use super::Dispatcher;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::Notify;

impl Dispatcher {
    /// Runs [`work`](Self::work) until shutdown; a panic that escapes it
    /// (from a store call, say) is logged, counted in the health and
    /// followed by a restart after a back-off.
    pub(super) async fn supervise(&self, wake: Arc<Notify>) {
        let inner = &self.inner;
        inner.health.send_modify(|h| h.running = true);
        let mut restarts: u32 = 0;
        loop {
            match AssertUnwindSafe(self.work(&wake)).catch_unwind().await {
                Ok(()) => break,
                Err(panic) => {
                    restarts = restarts.saturating_add(1);
                    let text = panic_text(&*panic);
                    tracing::error!(panic = %text, restarts, "the dispatcher worker panicked; restarting");
                    let now = inner.clock.now();
                    inner.health.send_modify(|h| {
                        h.restarts = restarts;
                        h.error(now, format!("the worker panicked: {text}"));
                    });
                    if self.stopping() {
                        break;
                    }
                    let pause = inner.config.restart_backoff.delay(restarts);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = wake.notified() => {}
                    }
                    if self.stopping() {
                        break;
                    }
                }
            }
        }
        inner.health.send_modify(|h| h.running = false);
    }

    /// Keeps up to `concurrency` entries in flight: claims as many as
    /// there are free places whenever one frees up, the poll interval
    /// passes or the handle wakes it. Each claimed entry is the head of
    /// its chat, so a chat's next entry is claimed only after its head is
    /// finished.
    ///
    /// Each entry is delivered in a task of its own, so that the sends
    /// (reading the reply, encoding, signing, recording the outcome) run
    /// on every thread of the runtime rather than all in this one task.
    /// A delivery task outlives this loop if the loop panics: it still
    /// records its entry's outcome.
    async fn work(&self, wake: &Notify) {
        let config = &self.inner.config;
        let concurrency = config.concurrency.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut claim_now = true;
        let mut claim_failures: u32 = 0;
        loop {
            let stopping = self.stopping();
            if stopping && in_flight.is_empty() {
                return;
            }
            let free = concurrency.saturating_sub(in_flight.len());
            if claim_now && !stopping && free > 0 {
                claim_now = false;
                let want = free.min(config.batch.max(1));
                match self.claim(want).await {
                    Ok(entries) => {
                        claim_failures = 0;
                        // A full answer: more may be due at once.
                        claim_now = entries.len() == want;
                        in_flight.extend(entries.into_iter().map(|e| {
                            let this = self.clone();
                            tokio::spawn(async move { this.deliver(e).await })
                        }));
                    }
                    Err(e) => {
                        claim_failures = claim_failures.saturating_add(1);
                        tracing::warn!(error = %e, "outbox claim failed; retrying after a back-off");
                        let now = self.inner.clock.now();
                        self.inner
                            .health
                            .send_modify(|h| h.error(now, format!("outbox claim failed: {e}")));
                        let pause = config
                            .backoff
                            .delay(claim_failures)
                            .max(config.poll_interval);
                        if in_flight.is_empty() {
                            tokio::select! {
                                _ = tokio::time::sleep(pause) => {}
                                _ = wake.notified() => {}
                            }
                            claim_now = true;
                            continue;
                        }
                    }
                }
                if claim_now && in_flight.len() < concurrency {
                    continue;
                }
            }
            // With every place taken, only a finished send frees one: no
            // poll timer is armed (and dropped) per finished entry then.
            let poll = !stopping && in_flight.len() < concurrency;
            tokio::select! {
                Some(joined) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Err(e) = joined {
                        self.delivery_task_failed(e);
                    }
                    // A chat's head finished: its next entry may be due.
                    claim_now = true;
                }
                _ = tokio::time::sleep(config.poll_interval), if poll => {
                    claim_now = true;
                }
                _ = wake.notified() => {
                    claim_now = true;
                }
            }
        }
    }

    /// A delivery task ended without finishing: it panicked outside the
    /// send (where a panic is caught and the entry released), say in a
    /// store call, or the runtime is shutting down. The entry's lease
    /// expires and the next claim counts it as an attempt.
    fn delivery_task_failed(&self, e: tokio::task::JoinError) {
        let panicked = e.is_panic();
        let text = match e.try_into_panic() {
            Ok(panic) => format!("a delivery task panicked: {}", panic_text(&*panic)),
            Err(e) => format!("a delivery task was cancelled: {e}"),
        };
        tracing::error!(error = %text, "a delivery ended without an outcome; the entry is retried after its lease");
        let now = self.inner.clock.now();
        self.inner.health.send_modify(|h| {
            if panicked {
                h.panics = h.panics.saturating_add(1);
            }
            h.error(now, text);
        });
    }
}
