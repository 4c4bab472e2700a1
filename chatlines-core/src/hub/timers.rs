//! Firing due timers: where the passage of time becomes session changes.

use super::Hub;
use crate::error::Error;
use crate::error::StoreError;
use crate::ids::SessionId;
use crate::session::{RouteReason, SessionStatus};
use crate::timer::{ClaimedTimer, FireOutcome, TimerKind};
use chrono::{DateTime, Utc};

/// What one [`Hub::run_due`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DueReport {
    /// Timers claimed.
    pub claimed: usize,
    /// Timers whose effect was written.
    pub fired: usize,
    /// Timers made stale by a later change: deleted, no effect.
    pub stale: usize,
    /// Timers another hub fired, or a transition replaced, meanwhile.
    pub gone: usize,
    /// Timers that failed; each stays leased and is claimed again when its
    /// lease ends.
    pub failures: Vec<TimerFailure>,
}

impl DueReport {
    /// Whether as many timers were claimed as asked for: more may be due,
    /// so call [`Hub::run_due`] again now.
    pub fn full(&self, limit: usize) -> bool {
        limit > 0 && self.claimed >= limit
    }
}

/// One timer that could not be fired.
#[derive(Debug)]
#[non_exhaustive]
pub struct TimerFailure {
    /// The session.
    pub session: SessionId,
    /// The timer's kind.
    pub kind: TimerKind,
    /// What went wrong.
    pub error: Error,
}

/// Whether a fired timer of this kind never needs the hub afterwards: an
/// offer timeout (the session stays offered), the inactivity warning (its
/// message is written with it) and the service-level clocks (the
/// session's state is kept). Such timers fire together with the ones
/// after them.
fn quiet(kind: TimerKind) -> bool {
    matches!(kind, TimerKind::OfferTimeout | TimerKind::InactivityWarning)
        || crate::sla::SlaTarget::of_timer(kind).is_some()
}

impl Hub {
    async fn drain_released(&self, line: crate::ids::LineId) -> Result<(), Error> {
        if let Some(line) = self.inner.store.line(line).await? {
            self.drain_line(&line).await?;
        }
        Ok(())
    }

    /// Fires up to `limit` timers due at `now`: claims them with a lease
    /// ([`HubConfig::timer_lease`](crate::HubConfig::timer_lease)) and
    /// fires each through the store (see [`TimerStore`](crate::TimerStore)),
    /// so that however many hubs call it, each timer has one effect. A
    /// timer that fails is counted in the report and retried after its
    /// lease; it never stops the others. Call it periodically (a worker:
    /// `chatlines_store::timers::TimerWorker`), again at once while
    /// [`DueReport::full`].
    ///
    /// # Errors
    ///
    /// Only when the claim itself fails (the store unavailable): nothing was
    /// fired then.
    pub async fn run_due(&self, now: DateTime<Utc>, limit: usize) -> Result<DueReport, Error> {
        let store = &self.inner.store;
        let lease = chrono::Duration::from_std(self.inner.config.timer_lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        let until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = store.claim_timers(now, until, limit).await?;
        let mut report = DueReport {
            claimed: claimed.len(),
            ..DueReport::default()
        };
        let mut rest = claimed.as_slice();
        while !rest.is_empty() {
            // A run of timers fired together: up to and including the first
            // whose effect may need the hub (routing, a drain, a message),
            // so that follow-up comes before any later timer fires.
            let end = rest
                .iter()
                .position(|t| !quiet(t.timer.kind))
                .map_or(rest.len(), |i| i + 1);
            let (run, tail) = rest.split_at(end);
            rest = tail;
            let mut outcomes = store.fire_timers(run, now).await.into_iter();
            for timer in run {
                let outcome = outcomes.next().unwrap_or_else(|| {
                    Err(StoreError::Backend(
                        "the store gave no outcome for the timer".into(),
                    ))
                });
                self.after_fire(&mut report, timer, outcome).await;
            }
        }
        Ok(report)
    }

    /// What the hub does after a timer fired: the report, and the
    /// follow-up its effect needs.
    async fn after_fire(
        &self,
        report: &mut DueReport,
        timer: &ClaimedTimer,
        outcome: Result<FireOutcome, StoreError>,
    ) {
        match outcome {
            Ok(FireOutcome::Fired(session)) => {
                report.fired += 1;
                if timer.timer.kind == TimerKind::HoursOpen {
                    self.route_at_opening(&session).await;
                }
                if matches!(session.reason, RouteReason::Closed { .. }) && !session.is_open() {
                    // Closed by the line: the operator's slot is free.
                    if let Err(e) = self.drain_released(session.line).await {
                        tracing::warn!(error = %e, "draining after an inactivity close failed");
                    }
                }
                // An absent operator's session went back to the
                // queue: route it now (a crash here leaves it queued
                // for the next drain).
                if session.status == SessionStatus::Queued
                    && matches!(
                        session.reason,
                        RouteReason::OperatorAbsent { .. } | RouteReason::HandedOver { .. }
                    )
                {
                    if let Err(e) = self.route_session(session, None).await {
                        tracing::warn!(error = %e, "routing a returned session failed");
                    }
                } else if (matches!(session.reason, RouteReason::WrapUp { .. })
                    && !session.is_open())
                    || timer.timer.kind == TimerKind::AcceptTimeout
                {
                    // A slot was released (a wrap-up ended, or the
                    // operator who let the session lapse holds one
                    // session less): a queued session may go.
                    if let Err(e) = self.drain_released(session.line).await {
                        tracing::warn!(error = %e, "draining after a wrap-up failed");
                    }
                }
            }
            Ok(FireOutcome::Stale) => report.stale += 1,
            Ok(_) => report.gone += 1,
            Err(e) => {
                tracing::warn!(
                    session = %timer.timer.session,
                    kind = %timer.timer.kind,
                    error = %e,
                    "timer failed; it is retried after its lease"
                );
                report.failures.push(TimerFailure {
                    session: timer.timer.session,
                    kind: timer.timer.kind,
                    error: e.into(),
                });
            }
        }
    }

    /// A line opened: its queued sessions are routed, oldest first (those
    /// whose own opening timers fire later find them routed: stale). A
    /// failure leaves them queued for the next drain.
    async fn route_at_opening(&self, session: &crate::session::Session) {
        let line = match self.inner.store.line(session.line).await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(line = %session.line, error = %e, "routing at the opening failed");
                return;
            }
        };
        if let Err(e) = self.drain_line(&line).await {
            tracing::warn!(line = %line.id, error = %e, "routing at the opening failed");
        }
    }
}
