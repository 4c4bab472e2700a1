//! Inactivity and reopening: the timers messages arm and cancel, what
//! they do when due, and the reopening of a closed session by its
//! client's message.
//!
//! * An operator's message ([`Author::Operator`]) on a line with
//!   inactivity arms [`TimerKind::Inactivity`] one inactivity time later
//!   and, with a warning, [`TimerKind::InactivityWarning`] that long
//!   before it; it cancels [`TimerKind::NeverAnswered`] (see
//!   [`reply_timers`]). Messages from the line ([`Author::System`], such as
//!   the warning itself) change nothing.
//! * A client's message cancels the warning and the close
//!   ([`client_wrote_cancels`]), whatever the settings.
//! * The first routing of a new or reopened session (not a wait outside
//!   working hours) arms [`TimerKind::NeverAnswered`] one inactivity time
//!   later.
//! * Closing cancels all three (with every other kind).
//!
//! These timers follow messages, not transitions: each message re-arms
//! or cancels them in its own atomic unit, so a stored timer is the
//! current one (a re-armed or cancelled timer loses its claim:
//! [`FireOutcome::Gone`](crate::FireOutcome::Gone)). A transition that
//! keeps the session open (accepted, transferred) does not outdate them,
//! so they are not guarded by the session's version; [`fire`](super::fire) checks the
//! session's state instead: open, still assigned to an operator for the
//! warning and the close, and the setting still on — otherwise stale.
//!
//! When due:
//!
//! * the warning logs [`SessionInactivityWarning`](Event::SessionInactivityWarning)
//!   and writes the line's warning text to the client as a message from
//!   the line, in the same change ([`Changeset::notice`]);
//! * the close closes the session with [`CloseReason::Inactive`]
//!   ([`SessionInactive`](Event::SessionInactive) with `closed`, then
//!   [`SessionClosed`](Event::SessionClosed)), releasing the operator's
//!   slot at once (no wrap-up: nobody closed it);
//! * a never-answered session escalates
//!   ([`SessionInactive`](Event::SessionInactive) without `closed`; it
//!   stays open) or closes with [`CloseReason::NeverAnswered`], as the
//!   line says ([`NeverAnswered`]).
//!
//! A client writing within the line's reopen window after a close reopens
//! the session ([`reopen`]): the store asks it in the ingest unit when the
//! client has no open session, writes the returned change (queued with
//! [`RouteReason::Reopened`]) and appends the message to that session;
//! the hub gives it back to its operator if present, else routes it by
//! the line's rule.

use super::{load_changes, Changeset, LoadChange};
use crate::events::Event;
use crate::message::Author;
use crate::session::{CloseReason, RouteReason, Session, SessionStatus};
use crate::store::Transition;
use crate::timer::{NeverAnswered, Timer, TimerKind, TimerSettings};
use chrono::{DateTime, Utc};

/// Timers to arm and cancel for one session, outside a transition (a
/// message): a store cancels `cancel`, then arms `arm` (each replacing
/// the session's timer of its kind), in the message's atomic unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerPlan {
    /// Timers to arm.
    pub arm: Vec<Timer>,
    /// Kinds of the session's timers to cancel first.
    pub cancel: Vec<TimerKind>,
}

impl TimerPlan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.arm.is_empty() && self.cancel.is_empty()
    }
}

/// The timer kinds a client's message cancels (the warning and the close
/// of inactivity), on any line: cancels do not depend on the settings.
pub fn client_wrote_cancels() -> &'static [TimerKind] {
    &[TimerKind::InactivityWarning, TimerKind::Inactivity]
}

/// The timers an outbound message by `author` in `session` (open, as
/// stored) arms and cancels under the line's `settings`: empty unless it
/// is an operator's message on a line with inactivity.
///
/// ```
/// use chatlines_core::machine::reply_timers;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let s = Session::opened(
///     SessionId(uuid::Uuid::now_v7()),
///     LineId(uuid::Uuid::now_v7()),
///     ContactId(uuid::Uuid::now_v7()),
///     now,
/// );
/// let ann = Author::Operator { user: UserId::new("ann") };
/// assert!(reply_timers(&s, &ann, now, &TimerSettings::default()).is_empty());
/// let settings = LineConfig::new("Desk")
///     .inactivity(std::time::Duration::from_secs(600))
///     .inactivity_warning(std::time::Duration::from_secs(60), "Still there?")
///     .timers;
/// let plan = reply_timers(&s, &ann, now, &settings);
/// assert_eq!(plan.arm.len(), 2);
/// assert_eq!(plan.cancel, vec![TimerKind::NeverAnswered]);
/// assert!(reply_timers(&s, &Author::System, now, &settings).is_empty());
/// ```
pub fn reply_timers(
    session: &Session,
    author: &Author,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> TimerPlan {
    let mut plan = TimerPlan::default();
    if !matches!(author, Author::Operator { .. }) || !session.is_open() {
        return plan;
    }
    let Some(close_at) = settings
        .inactivity()
        .and_then(|t| now.checked_add_signed(t))
    else {
        return plan;
    };
    let timer = |kind, due| Timer::new(session.id, session.line, kind, due, session.version);
    plan.cancel.push(TimerKind::NeverAnswered);
    match settings
        .inactivity_warning()
        .and_then(|(before, _)| close_at.checked_sub_signed(before))
    {
        Some(warn_at) => plan.arm.push(timer(TimerKind::InactivityWarning, warn_at)),
        None => plan.cancel.push(TimerKind::InactivityWarning),
    }
    plan.arm.push(timer(TimerKind::Inactivity, close_at));
    plan
}

/// When the never-answered timer of a transition from `before` to
/// `after` is due: at the first routing of a new or reopened session
/// (not into a wait outside working hours) on a line with inactivity.
pub(super) fn routed(
    before: &Session,
    after: &Session,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Option<DateTime<Utc>> {
    let waiting = |s: &Session| {
        s.status == SessionStatus::Queued
            && matches!(s.reason, RouteReason::New | RouteReason::Reopened { .. })
    };
    if !waiting(before) || waiting(after) || !after.is_open() {
        return None;
    }
    if matches!(after.reason, RouteReason::OffHours { .. }) {
        return None;
    }
    settings
        .inactivity()
        .and_then(|t| now.checked_add_signed(t))
}

/// Decides a due inactivity timer (a kind of
/// [`TimerKind::MESSAGE_KINDS`]) on the session as stored; `None` when
/// stale (see the [module docs](self)).
pub(super) fn fire(
    s: &Session,
    timer: &Timer,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Option<Changeset> {
    if !s.is_open() || s.id != timer.session {
        return None;
    }
    settings.inactivity()?;
    match timer.kind {
        TimerKind::InactivityWarning => {
            let operator = s.operator()?.clone();
            let (before, text) = settings.inactivity_warning()?;
            let mut next = s.clone();
            next.version = s.version.saturating_add(1);
            next.updated_at = now;
            let closes_at = timer.due_at.checked_add_signed(before)?;
            Some(Changeset {
                events: vec![Event::SessionInactivityWarning {
                    session: s.id,
                    line: s.line,
                    contact: s.contact,
                    operator: Some(operator),
                    closes_at,
                    version: next.version,
                }],
                session: next,
                loads: Vec::new(),
                cursor: None,
                arm: Vec::new(),
                cancel: vec![TimerKind::InactivityWarning],
                no_answer: Vec::new(),
                breaches: Vec::new(),
                // The session stays as it was: an offer or accept timeout
                // armed at its version stays current.
                keep_timers: true,
                notice: Some(crate::message::Body::text(text)),
            })
        }
        TimerKind::Inactivity => {
            s.operator()?;
            Some(close(s, now, CloseReason::Inactive))
        }
        TimerKind::NeverAnswered => match settings.never_answered {
            NeverAnswered::Close => Some(close(s, now, CloseReason::NeverAnswered)),
            // Escalate, and the variants of later versions.
            _ => {
                let mut next = s.clone();
                next.version = s.version.saturating_add(1);
                next.updated_at = now;
                Some(Changeset {
                    events: vec![Event::SessionInactive {
                        session: s.id,
                        line: s.line,
                        contact: s.contact,
                        operator: s.operator().cloned(),
                        reason: CloseReason::NeverAnswered,
                        closed: false,
                        version: next.version,
                    }],
                    session: next,
                    loads: Vec::new(),
                    cursor: None,
                    arm: Vec::new(),
                    cancel: vec![TimerKind::NeverAnswered],
                    no_answer: Vec::new(),
                    breaches: Vec::new(),
                    // It stays open as it was: an offer or accept timeout
                    // armed at its version stays current.
                    keep_timers: true,
                    notice: None,
                })
            }
        },
        _ => None,
    }
}

/// The close of an open session by the line, for `cause`: as a close by
/// nobody, without wrap-up, recording the cause and the operator.
fn close(s: &Session, now: DateTime<Utc>, cause: CloseReason) -> Changeset {
    let operator = s.operator().cloned();
    let mut next = s.clone();
    next.status = SessionStatus::Closed;
    next.reason = RouteReason::Closed {
        cause,
        operator: operator.clone(),
    };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    next.closed_at = Some(now);
    let closed = super::transition_events(s, &next, &Transition::Close { by_operator: None });
    let mut events = vec![Event::SessionInactive {
        session: s.id,
        line: s.line,
        contact: s.contact,
        operator: operator.clone(),
        reason: cause,
        closed: true,
        version: next.version,
    }];
    events.extend(closed);
    Changeset {
        loads: load_changes(operator.as_ref(), None),
        session: next,
        cursor: None,
        arm: Vec::new(),
        cancel: TimerKind::ALL.to_vec(),
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
        events,
    }
}

/// Decides whether a client's message reopens `latest`, their latest
/// session on the line (the store asks when they have no open session
/// there): the [`Changeset`] to write before appending the message to it,
/// or `None` (a new session opens). `pending` are the kinds of the
/// session's stored timers: a wrap-up still holding the operator's slot
/// is ended (the slot released, its timer cancelled).
///
/// It reopens when the line has a reopen window and the session was
/// closed within it (at most `reopen_secs` before `now`): queued with
/// [`RouteReason::Reopened`] naming the operator it had, logging
/// [`SessionReopened`](Event::SessionReopened).
///
/// ```
/// use chatlines_core::machine::reopen;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let mut s = Session::opened(
///     SessionId(uuid::Uuid::now_v7()),
///     LineId(uuid::Uuid::now_v7()),
///     ContactId(uuid::Uuid::now_v7()),
///     now,
/// );
/// s.status = SessionStatus::Closed;
/// s.closed_at = Some(now);
/// let on = LineConfig::new("Desk").reopen(std::time::Duration::from_secs(60)).timers;
/// let later = now + chrono::Duration::seconds(30);
/// let change = reopen(&s, &[], later, &on).expect("within the window");
/// assert_eq!(change.session.status, SessionStatus::Queued);
/// assert_eq!(change.events[0].name(), "session_reopened");
/// let too_late = now + chrono::Duration::seconds(61);
/// assert!(reopen(&s, &[], too_late, &on).is_none());
/// assert!(reopen(&s, &[], later, &TimerSettings::default()).is_none());
/// ```
pub fn reopen(
    latest: &Session,
    pending: &[TimerKind],
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Option<Changeset> {
    let s = latest;
    let window = settings.reopen()?;
    let closed_at = s.closed_at?;
    if s.is_open() || closed_at > now || closed_at.checked_add_signed(window)? < now {
        return None;
    }
    let (operator, held) = match &s.reason {
        RouteReason::WrapUp { operator, .. } => {
            (Some(operator.clone()), pending.contains(&TimerKind::WrapUp))
        }
        RouteReason::Closed { operator, .. } => (operator.clone(), false),
        _ => (None, false),
    };
    let mut next = s.clone();
    next.status = SessionStatus::Queued;
    next.reason = RouteReason::Reopened {
        operator: operator.clone(),
    };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    next.closed_at = None;
    let (loads, cancel) = match (&operator, held) {
        (Some(user), true) => (
            vec![LoadChange::new(user.clone(), -1)],
            vec![TimerKind::WrapUp],
        ),
        _ => (Vec::new(), Vec::new()),
    };
    Some(Changeset {
        events: vec![Event::SessionReopened {
            session: s.id,
            line: s.line,
            contact: s.contact,
            operator,
            version: next.version,
        }],
        session: next,
        loads,
        cursor: None,
        arm: Vec::new(),
        cancel,
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
    })
}
