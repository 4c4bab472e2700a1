//! Where a transition arms and cancels timers, and where a due timer
//! becomes a change of its session.
//!
//! * Entering *offered* on a line with an offer timeout arms
//!   [`TimerKind::OfferTimeout`] at `now + T`, at the session's new version.
//! * Leaving *offered* cancels it; closing cancels every kind. Cancels do
//!   not depend on the settings, so turning a setting off never leaves a
//!   timer of a closed session behind (one armed before the change fires
//!   as stale).
//! * [`fire`] decides what a due timer does: on a session still offered at
//!   the version the timer was armed at, it logs
//!   [`SessionUnanswered`](Event::SessionUnanswered), records the lapse in
//!   the session's reason (naming the overflow group, if any) and re-arms
//!   the timer one period later; anything else is stale.
//! * Waiting outside working hours ([`RouteReason::OffHours`] with an
//!   opening time) arms [`TimerKind::HoursOpen`] at the opening; leaving
//!   that wait cancels it. When it fires on a session still waiting, the
//!   session is queued again as new ([`RouteReason::New`]) for the hub to
//!   route (it drains the line, oldest first).

use super::Changeset;
use crate::error::StoreError;
use crate::events::Event;
use crate::session::{RouteReason, Session, SessionStatus};
use crate::timer::{Timer, TimerKind, TimerSettings};
use chrono::{DateTime, Utc};

/// The timers a transition from `before` to `after` arms and cancels.
pub(super) fn plan(
    before: &Session,
    after: &Session,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> (Vec<Timer>, Vec<TimerKind>) {
    let mut arm = Vec::new();
    let mut cancel = Vec::new();
    let was_offered = before.status == SessionStatus::Offered;
    let offered = after.status == SessionStatus::Offered;
    if !after.is_open() {
        cancel.extend(TimerKind::ALL);
    } else if was_offered && !offered {
        cancel.push(TimerKind::OfferTimeout);
    }
    let opening = |s: &Session| match &s.reason {
        RouteReason::OffHours { opens_at, .. } => *opens_at,
        _ => None,
    };
    if after.is_open() && opening(before).is_some() && opening(after) != opening(before) {
        cancel.push(TimerKind::HoursOpen);
    }
    if let Some(due) = opening(after).filter(|_| opening(before) != opening(after)) {
        arm.push(Timer::new(
            after.id,
            after.line,
            TimerKind::HoursOpen,
            due,
            after.version,
        ));
    }
    if offered && !was_offered {
        if let Some(due) = settings
            .offer_timeout()
            .and_then(|t| now.checked_add_signed(t))
        {
            arm.push(Timer::new(
                after.id,
                after.line,
                TimerKind::OfferTimeout,
                due,
                after.version,
            ));
        }
    }
    (arm, cancel)
}

/// Decides what the due `timer` does to its session as stored: the
/// [`Changeset`] to write (which re-arms or cancels the timer), or `None`
/// when the timer is stale — the session is closed, changed since the
/// timer was armed (`armed_version` is not its version), is no longer in
/// the state the timer is about, or the line's setting is off. A store
/// deletes a stale timer and writes nothing else.
///
/// ```
/// use chatlines_core::machine::fire;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let mut session = Session::opened(
///     SessionId(uuid::Uuid::now_v7()),
///     LineId(uuid::Uuid::now_v7()),
///     ContactId(uuid::Uuid::now_v7()),
///     now,
/// );
/// session.status = SessionStatus::Offered;
/// let settings = LineConfig::new("Desk")
///     .offer_timeout(std::time::Duration::from_secs(60))
///     .timers;
/// let timer = Timer::new(session.id, session.line, TimerKind::OfferTimeout, now, session.version);
/// let change = fire(&session, &timer, now, &settings).unwrap().expect("due and current");
/// assert_eq!(change.events[0].name(), "session_unanswered");
/// assert_eq!(change.arm[0].due_at, now + chrono::Duration::seconds(60));
/// // Armed at an older version: stale.
/// let old = Timer::new(session.id, session.line, TimerKind::OfferTimeout, now, 0);
/// assert!(fire(&session, &old, now, &settings).unwrap().is_none());
/// ```
///
/// # Errors
///
/// [`StoreError::Backend`] for a timer kind this build cannot fire (kinds
/// are non-exhaustive); nothing is written then.
pub fn fire(
    current: &Session,
    timer: &Timer,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Result<Option<Changeset>, StoreError> {
    let s = current;
    if !s.is_open() || s.version != timer.armed_version || s.id != timer.session {
        return Ok(None);
    }
    match timer.kind {
        TimerKind::OfferTimeout => Ok(offer_lapsed(s, timer, now, settings)),
        TimerKind::HoursOpen => Ok(hours_opened(s, timer, now)),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Backend(
            format!("session {}: cannot fire a timer of kind {other}", s.id).into(),
        )),
    }
}

/// The opening a waiting session was armed for: queued again as new,
/// for the hub to route. A session no longer waiting is stale.
fn hours_opened(s: &Session, timer: &Timer, now: DateTime<Utc>) -> Option<Changeset> {
    match &s.reason {
        RouteReason::OffHours { opens_at, .. } if *opens_at == Some(timer.due_at) => {}
        _ => return None,
    }
    let mut next = s.clone();
    next.status = SessionStatus::Queued;
    next.reason = RouteReason::New;
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    let version = next.version;
    Some(Changeset {
        session: next,
        loads: Vec::new(),
        cursor: None,
        arm: Vec::new(),
        // The opening is done; an offer to the off-hours group ends with it.
        cancel: vec![TimerKind::HoursOpen, TimerKind::OfferTimeout],
        events: vec![Event::SessionQueued {
            session: s.id,
            line: s.line,
            contact: s.contact,
            version,
            reason: RouteReason::New,
        }],
    })
}

fn offer_lapsed(
    s: &Session,
    timer: &Timer,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Option<Changeset> {
    if s.status != SessionStatus::Offered {
        return None;
    }
    let period = settings.offer_timeout()?;
    let (since, lapses) = match &s.reason {
        RouteReason::Unanswered { since, lapses, .. } => (*since, lapses.saturating_add(1)),
        _ => (s.updated_at, 1),
    };
    let overflow = settings.overflow.clone();
    let mut next = s.clone();
    next.reason = RouteReason::Unanswered {
        since,
        lapses,
        overflow: overflow.clone(),
    };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    // One period after the lapse that fired; after a long pause (no hub
    // ran), one period from now rather than a burst of missed periods.
    let due = timer
        .due_at
        .checked_add_signed(period)
        .filter(|d| *d > now)
        .or_else(|| now.checked_add_signed(period))?;
    let event = Event::SessionUnanswered {
        session: s.id,
        line: s.line,
        contact: s.contact,
        version: next.version,
        offered_since: since,
        lapses,
        overflow,
    };
    let rearm = Timer::new(s.id, s.line, TimerKind::OfferTimeout, due, next.version);
    Some(Changeset {
        session: next,
        loads: Vec::new(),
        cursor: None,
        arm: vec![rearm],
        cancel: Vec::new(),
        events: vec![event],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, LineId, SessionId, UserId};
    use crate::machine::decide;
    use crate::routing::RoutePlan;
    use crate::store::Transition;
    use uuid::Uuid;

    fn queued(now: DateTime<Utc>) -> Session {
        Session::opened(
            SessionId(Uuid::from_u128(1)),
            LineId(Uuid::from_u128(2)),
            ContactId(Uuid::from_u128(3)),
            now,
        )
    }

    fn on(secs: u64) -> TimerSettings {
        TimerSettings {
            offer_timeout_secs: Some(secs),
            overflow: Some("seniors".into()),
        }
    }

    fn offer() -> Transition {
        Transition::Route {
            expected_version: 1,
            plan: RoutePlan::Offer {
                reason: RouteReason::FirstCome,
            },
        }
    }

    #[test]
    fn offering_arms_only_when_the_setting_is_on() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let s = queued(now);
        let off = decide(&s, &offer(), now, None, &TimerSettings::default()).expect("decided");
        assert!(off.arm.is_empty() && off.cancel.is_empty());
        let c = decide(&s, &offer(), now, None, &on(30)).expect("decided");
        assert_eq!(c.arm.len(), 1);
        assert_eq!(c.arm[0].due_at, now + chrono::Duration::seconds(30));
        assert_eq!(c.arm[0].armed_version, c.session.version);
    }

    #[test]
    fn taking_and_closing_cancel() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let offered = decide(&queued(now), &offer(), now, None, &on(30))
            .expect("decided")
            .session;
        let take = Transition::Take {
            operator: UserId::new("ann"),
        };
        let taken = decide(&offered, &take, now, None, &TimerSettings::default()).expect("decided");
        assert_eq!(taken.cancel, vec![TimerKind::OfferTimeout]);
        let close = Transition::Close { by_operator: None };
        let closed = decide(&taken.session, &close, now, None, &on(30)).expect("decided");
        assert_eq!(closed.cancel, TimerKind::ALL.to_vec());
    }

    #[test]
    fn lapses_count_and_the_period_repeats() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let c = decide(&queued(t0), &offer(), t0, None, &on(30)).expect("decided");
        let t1 = c.arm[0].due_at;
        let first = fire(&c.session, &c.arm[0], t1, &on(30))
            .expect("decided")
            .expect("decided");
        let second_due = first.arm[0].due_at;
        assert_eq!(second_due, t1 + chrono::Duration::seconds(30));
        let second = fire(&first.session, &first.arm[0], second_due, &on(30))
            .expect("decided")
            .expect("decided");
        match &second.events[0] {
            Event::SessionUnanswered {
                lapses,
                offered_since,
                overflow,
                ..
            } => {
                assert_eq!(*lapses, 2);
                assert_eq!(*offered_since, t0);
                assert_eq!(overflow.as_ref().map(|g| g.as_str()), Some("seniors"));
            }
            other => panic!("unexpected {other:?}"),
        }
        // The first timer, fired again after the second lapse, is stale.
        assert!(fire(&second.session, &c.arm[0], second_due, &on(30))
            .expect("decided")
            .is_none());
        // Turned off meanwhile: stale.
        assert!(fire(
            &first.session,
            &first.arm[0],
            second_due,
            &TimerSettings::default()
        )
        .expect("decided")
        .is_none());
    }
}
