//! What the host can see of a running dispatcher.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of a [`Dispatcher`](super::Dispatcher), published on a
/// `tokio::sync::watch` channel ([`Dispatcher::health`](super::Dispatcher::health)):
/// a host shows it on a status page or alerts on it (no success for long,
/// restarts growing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DispatcherHealth {
    /// Whether the background worker is running (between
    /// [`spawn`](super::Dispatcher::spawn) and the end of
    /// [`shutdown`](super::DispatcherHandle::shutdown)).
    pub running: bool,
    /// When a message was last accepted by a messenger.
    pub last_success: Option<DateTime<Utc>>,
    /// The last error seen: a failed send, a store call that failed, a
    /// panic caught.
    pub last_error: Option<String>,
    /// When `last_error` was seen.
    pub last_error_at: Option<DateTime<Utc>>,
    /// How often a lane of the worker was restarted after a panic outside
    /// a send.
    pub restarts: u32,
    /// Entries claimed and not yet finished (a change of this gauge alone
    /// does not wake receivers; outcomes do).
    pub in_flight: usize,
    /// Entries delivered.
    pub sent: u64,
    /// Entries given up (a permanent error, a refusal, the attempt limit).
    pub failed: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Entries held back on this side (local rate limit, shutdown) without
    /// counting an attempt.
    pub deferred: u64,
    /// Panics caught inside a send (each released its entry as a retry).
    pub panics: u64,
}

impl DispatcherHealth {
    pub(super) fn error(&mut self, at: DateTime<Utc>, error: impl Into<String>) {
        self.last_error = Some(error.into());
        self.last_error_at = Some(at);
    }
}

/// Decrements `in_flight` when an entry's delivery ends, however it ends
/// (also when its future is dropped).
pub(super) struct InFlight<'a>(pub(super) &'a tokio::sync::watch::Sender<DispatcherHealth>);

impl<'a> InFlight<'a> {
    pub(super) fn start(health: &'a tokio::sync::watch::Sender<DispatcherHealth>) -> Self {
        // The gauge changes without waking receivers: they are woken by
        // outcomes, and read the gauge as it is then.
        health.send_if_modified(|h| {
            h.in_flight = h.in_flight.saturating_add(1);
            false
        });
        Self(health)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_if_modified(|h| {
            h.in_flight = h.in_flight.saturating_sub(1);
            false
        });
    }
}
