//! Where one claimed entry is sent and its outcome decided and recorded.

use super::fit::fit;
use super::health::{DispatcherHealth, InFlight};
use super::Dispatcher;
use chatlines_core::{
    DeliveryOutcome, OutboundMessage, OutboxEntry, OutboxStatus, SendError, StoreError,
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// The text of a caught panic.
pub(super) fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl Dispatcher {
    /// Claims up to `n` due entries (each the head of its chat).
    pub(super) async fn claim(&self, n: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let lease_until = chrono::Duration::from_std(inner.config.lease)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| {
                StoreError::Backend(
                    format!(
                        "the lease of {:?} from {now} is out of the range of times",
                        inner.config.lease
                    )
                    .into(),
                )
            })?;
        inner.store.claim_outbox(now, lease_until, n).await
    }

    /// `wait` from now, capped at `max_delay`; `None` when that time
    /// cannot be represented.
    fn after(&self, wait: Duration) -> Option<DateTime<Utc>> {
        let wait = wait.min(self.inner.config.max_delay);
        let now = self.inner.clock.now();
        chrono::Duration::from_std(wait)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
    }

    /// Retry after `wait` (capped), or fail when no retry time exists.
    fn retry_in(&self, wait: Duration, error: String) -> DeliveryOutcome {
        match self.after(wait) {
            Some(at) => DeliveryOutcome::Retry { at, error },
            None => DeliveryOutcome::Failed {
                error: format!("{error}; no retry time can be computed"),
            },
        }
    }

    /// Retry with back-off after attempt `attempt` failed, or give up when
    /// it was the last.
    fn retry_or_give_up(&self, attempt: u32, error: String) -> DeliveryOutcome {
        let config = &self.inner.config;
        if attempt >= config.max_attempts {
            DeliveryOutcome::Failed {
                error: format!("gave up after {attempt} attempts: {error}"),
            }
        } else {
            self.retry_in(config.backoff.delay(attempt), error)
        }
    }

    /// Sends one claimed entry and records the outcome. Never panics and
    /// never returns an error: what goes wrong is recorded on the entry,
    /// in the health and in the log.
    pub(super) async fn deliver(&self, entry: OutboxEntry) {
        let inner = &self.inner;
        let Some(lease) = entry.lease else {
            tracing::warn!(entry = %entry.id, "claimed entry without a lease; skipped");
            return;
        };
        let _in_flight = InFlight::start(&inner.health);
        let attempt = entry.attempts.saturating_add(1);
        let outcome = if self.stopping() {
            DeliveryOutcome::Deferred {
                until: inner.clock.now(),
            }
        } else {
            match AssertUnwindSafe(self.attempt(&entry, attempt))
                .catch_unwind()
                .await
            {
                Ok(outcome) => outcome,
                Err(panic) => {
                    let text = panic_text(&*panic);
                    tracing::error!(entry = %entry.id, panic = %text, "a send panicked; the entry is released for a retry");
                    inner
                        .health
                        .send_modify(|h| h.panics = h.panics.saturating_add(1));
                    self.retry_or_give_up(attempt, format!("the send panicked: {text}"))
                }
            }
        };
        let now = inner.clock.now();
        // What the outcome adds to the health, taken before the store has it.
        let counted: fn(&mut DispatcherHealth) = match &outcome {
            DeliveryOutcome::Sent { .. } => |h| h.sent = h.sent.saturating_add(1),
            DeliveryOutcome::Retry { .. } => |h| h.retried = h.retried.saturating_add(1),
            DeliveryOutcome::Failed { .. } => |h| h.failed = h.failed.saturating_add(1),
            _ => |h| h.deferred = h.deferred.saturating_add(1),
        };
        let error = match &outcome {
            DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::Failed { error } => {
                Some(error.clone())
            }
            _ => None,
        };
        let sent = matches!(outcome, DeliveryOutcome::Sent { .. });
        let recorded = inner
            .store
            .finish_outbox(entry.id, lease.token, outcome, now)
            .await;
        // Health follows what was recorded: a receiver that sees an entry
        // counted as sent finds it sent in the store.
        inner.health.send_modify(|h| {
            counted(h);
            if sent {
                h.last_success = Some(now);
            }
            if let Some(error) = error {
                h.error(now, error);
            }
        });
        match recorded {
            // The store logs the delivery events with the outcome.
            Ok(done) => {
                if let OutboxStatus::Failed { error } = done.status {
                    tracing::warn!(entry = %done.id, %error, "delivery failed for good");
                }
            }
            Err(e) => {
                // The lease expires and the next claim counts this as an
                // attempt, so an entry whose outcome can never be written
                // still ends at `max_attempts`.
                tracing::warn!(entry = %entry.id, error = %e, "cannot record the delivery outcome");
                inner.health.send_modify(|h| {
                    h.error(
                        now,
                        format!("cannot record the outcome of {}: {e}", entry.id),
                    );
                });
            }
        }
    }

    async fn attempt(&self, entry: &OutboxEntry, attempt: u32) -> DeliveryOutcome {
        let inner = &self.inner;
        let config = &inner.config;
        if entry.attempts >= config.max_attempts {
            // Earlier claims expired without an outcome.
            return DeliveryOutcome::Failed {
                error: format!(
                    "gave up after {} attempts: {}",
                    entry.attempts,
                    entry.last_error.as_deref().unwrap_or("no outcome recorded")
                ),
            };
        }
        let message = match inner.store.message(entry.message).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return DeliveryOutcome::Failed {
                    error: format!("message {} no longer exists", entry.message),
                }
            }
            Err(e) => {
                return self.retry_or_give_up(attempt, format!("cannot read the message: {e}"))
            }
        };
        let source = match inner.store.source(entry.source).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return DeliveryOutcome::Failed {
                    error: format!("source {} is no longer bound", entry.source),
                }
            }
            Err(e) => {
                return self.retry_or_give_up(attempt, format!("cannot read the source: {e}"))
            }
        };
        let Some(messenger) = inner.messengers.get(entry.source) else {
            return self.retry_or_give_up(
                attempt,
                format!("no connector registered for source {}", entry.source),
            );
        };
        // The client's name, for connectors that fill it in (a template).
        let contact = if messenger.uses_contact_name() {
            match inner.store.contact(message.contact).await {
                Ok(c) => c,
                Err(e) => {
                    return self.retry_or_give_up(attempt, format!("cannot read the client: {e}"))
                }
            }
        } else {
            None
        };
        let kind = messenger.kind();
        let body = match fit(
            &message.body,
            &messenger.capabilities(),
            config.attachments_as_links,
        ) {
            Ok(body) => body,
            Err(why) => {
                return DeliveryOutcome::Failed {
                    error: format!("{kind}: {why}"),
                }
            }
        };
        let deadline = Instant::now() + config.max_local_wait.min(config.lease / 2);
        if let Err(wait) = inner
            .limiters
            .acquire(kind, entry.source, &entry.address, deadline)
            .await
        {
            return match self.after(wait) {
                Some(until) => DeliveryOutcome::Deferred { until },
                None => DeliveryOutcome::Failed {
                    error: "held back by the local rate limit past any representable time"
                        .to_owned(),
                },
            };
        }
        let mut outbound =
            OutboundMessage::new(&source, &entry.address, &body).with_message(message.id);
        if let Some(c) = &contact {
            outbound = outbound.with_contact_name(&c.display_name);
        }
        let sent = messenger.send_with_receipt(outbound).await;
        match sent {
            Ok(receipt) => DeliveryOutcome::from(receipt),
            Err(SendError::Permanent(e)) => DeliveryOutcome::Failed { error: e },
            Err(e @ SendError::Uncertain(_)) if !config.retries_uncertain(kind) => {
                DeliveryOutcome::Failed {
                    error: format!("{e}; not retried, to avoid a duplicate"),
                }
            }
            Err(SendError::RateLimited { retry_after }) if attempt < config.max_attempts => {
                if retry_after > config.max_delay {
                    tracing::warn!(
                        entry = %entry.id, asked = ?retry_after, cap = ?config.max_delay,
                        "{kind} asked to wait longer than the maximum delay; waiting the maximum"
                    );
                }
                self.retry_in(retry_after, format!("rate limited by {kind}"))
            }
            Err(e) => self.retry_or_give_up(attempt, e.to_string()),
        }
    }
}
