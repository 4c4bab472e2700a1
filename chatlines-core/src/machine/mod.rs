//! The session state machine: where every session change is decided, and
//! the events every store call logs.
//!
//! A store never decides a change. For a session transition it locks the
//! session, asks [`roster_question`] what it must look up (the next eligible
//! operator after the round-robin cursor, or the least loaded one below a
//! capacity), answers from an index inside the same atomic unit, and calls
//! [`decide`]; then it writes the returned [`Changeset`] — the next session,
//! the load changes, the cursor, the timers to arm and cancel and the
//! events — in that unit. A due timer is fired the same way through
//! [`fire`] (see [`timers`]). For every
//! other call it logs the events the functions below compute. Memory,
//! SQLite and PostgreSQL differ only in how they lock and write.
//!
//! ```
//! use chatlines_core::machine::{decide, roster_question};
//! use chatlines_core::*;
//! let now = chrono::Utc::now();
//! let session = Session::opened(
//!     SessionId(uuid::Uuid::now_v7()),
//!     LineId(uuid::Uuid::now_v7()),
//!     ContactId(uuid::Uuid::now_v7()),
//!     now,
//! );
//! let take = Transition::Take { operator: UserId::new("ann") };
//! assert!(roster_question(&session, &take).is_none());
//! let settings = TimerSettings::default();
//! let change = decide(&session, &take, now, None, &settings).unwrap();
//! assert_eq!(change.session.operator(), Some(&UserId::new("ann")));
//! assert_eq!(change.session.version, 2);
//! assert_eq!(change.loads, vec![LoadChange::new(UserId::new("ann"), 1)]);
//! // A second take loses.
//! assert!(matches!(
//!     decide(&change.session, &take, now, None, &settings),
//!     Err(StoreError::AlreadyTaken { .. })
//! ));
//! ```

pub use crate::media::{finish_media, media_jobs, MediaFinished};
pub use inactivity::{client_wrote_cancels, reopen, reply_timers, TimerPlan};
pub use timers::{fire, fire_question, FireAnswer, FireQuestion};

pub mod inactivity;
pub mod sla;
pub mod timers;

use crate::apps::{AccountLink, RequestRecord};
use crate::directory::Availability;
use crate::error::StoreError;
use crate::events::Event;
use crate::ids::UserId;
use crate::line::Line;
use crate::message::{Direction, Message};
use crate::messenger::DeliveryStatus;
use crate::outbox::{OutboxEntry, OutboxStatus};
use crate::priority::{Priority, PriorityCause};
use crate::routing::RoutePlan;
use crate::session::{RouteReason, Session, SessionStatus};
use crate::source::Source;
use crate::store::{Appended, NewOutbound, Transition};
use crate::timer::{Timer, TimerKind, TimerSettings};
use crate::update::{DeliveryState, MessageChange, MessageState, MessageUpdate, Revision};
use chrono::{DateTime, Utc};

/// What a store must look up in the line's roster, inside the transaction,
/// before core can decide a routing transition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RosterQuestion {
    /// The first eligible operator after the line's round-robin cursor, in
    /// user-id order, wrapping to the first eligible one (an index seek),
    /// never one of `excluding`.
    NextAfterCursor {
        /// Operators never to answer (those who let the session lapse,
        /// see [`RouteReason::NotAccepted`]); usually empty.
        excluding: Vec<UserId>,
    },
    /// The eligible operator with the lowest load below `capacity`, ties by
    /// user id (an index seek), never one of `excluding`.
    LeastLoaded {
        /// Loads must be below this.
        capacity: u32,
        /// Operators never to answer; usually empty.
        excluding: Vec<UserId>,
    },
}

/// One operator's consecutive lapses of the accept timeout on the
/// session's line, as a [`Changeset`] sets them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct NoAnswerChange {
    /// The operator.
    pub user: UserId,
    /// Their consecutive lapses from now on (0 when they accepted).
    pub count: u32,
    /// Set them away on the line: ineligible until their availability
    /// changes or a supervisor resets them.
    pub set_away: bool,
}

impl NoAnswerChange {
    /// A change of an operator's consecutive lapses.
    pub fn new(user: UserId, count: u32, set_away: bool) -> Self {
        Self {
            user,
            count,
            set_away,
        }
    }
}

/// One operator's load change on the session's line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadChange {
    /// The operator.
    pub user: UserId,
    /// +1 (assigned) or −1 (unassigned); loads never go below zero.
    pub delta: i32,
}

impl LoadChange {
    /// A load change.
    pub fn new(user: UserId, delta: i32) -> Self {
        Self { user, delta }
    }
}

/// What a transition does: a store writes all of it in one atomic unit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a changeset changes nothing until the store writes it"]
#[non_exhaustive]
pub struct Changeset {
    /// The session after the change (version incremented). Write it guarded
    /// by the version it was computed from.
    pub session: Session,
    /// Load changes on the session's line, ordered by user id (the order to
    /// lock roster rows in).
    pub loads: Vec<LoadChange>,
    /// Move the line's round-robin cursor to this operator.
    pub cursor: Option<UserId>,
    /// Timers to arm (each replaces the session's timer of its kind).
    pub arm: Vec<Timer>,
    /// Timer kinds of the session to cancel (before arming `arm`).
    pub cancel: Vec<TimerKind>,
    /// Consecutive-lapse changes of operators on the session's line (see
    /// [`NoAnswerChange`]).
    pub no_answer: Vec<NoAnswerChange>,
    /// The session's timers armed at the version this was computed from
    /// stay current: move them to the new version (after `cancel`, before
    /// `arm`). Set by changes that leave what the timers are about alone
    /// (a [priority](crate::priority) change), so that the version guard
    /// does not make them stale.
    pub keep_timers: bool,
    /// The events to log.
    pub events: Vec<Event>,
    /// Service-level breaches to keep for reports (see
    /// [`sla`](crate::sla)).
    pub breaches: Vec<crate::sla::SlaBreach>,
    /// A message from the line to the client, written with the change
    /// (after it, only when the session stays open): stored as the
    /// session's next message by [`Author::System`](crate::Author::System),
    /// with its outbox entry when the client writes from a messenger
    /// ([`notice_outbound`]), and logged as `MessageOut` after the change's
    /// events. The inactivity warning and the off-hours reply
    /// ([`Transition::WithNotice`]).
    pub notice: Option<crate::message::Body>,
}

/// What the store must look up before [`decide`] can decide `change` on
/// `current`; `None` when nothing (also when the change will be refused).
pub fn roster_question(current: &Session, change: &Transition) -> Option<RosterQuestion> {
    match change {
        Transition::WithNotice { change, .. } => roster_question(current, change),
        Transition::Route {
            expected_version,
            plan,
        } if current.version == *expected_version && current.status == SessionStatus::Queued => {
            let excluding = current.reason.excluded().to_vec();
            match plan {
                RoutePlan::RoundRobin => Some(RosterQuestion::NextAfterCursor { excluding }),
                RoutePlan::LeastLoaded { capacity } => Some(RosterQuestion::LeastLoaded {
                    capacity: *capacity,
                    excluding,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn invalid(s: &Session, action: &'static str) -> StoreError {
    StoreError::InvalidState {
        session: s.id,
        state: s.status.state(),
        action,
    }
}

/// Decides `change` on the session as stored: the [`Changeset`] to write,
/// or the typed refusal (nothing to write). `answer` is the store's answer
/// to [`roster_question`] (`None`: nobody qualifies, or no question);
/// `settings` are the timer settings of the session's line (the store
/// reads them in the same unit; the default when the line is gone), from
/// which the timers to arm and cancel follow (see [`timers`]).
///
/// Refusals: a routing plan computed from another version, or for a session
/// no longer queued, is [`StoreError::Conflict`]; a take of an assigned
/// session is [`StoreError::AlreadyTaken`]; anything else the state does not
/// allow is [`StoreError::InvalidState`] with the session's state.
pub fn decide(
    current: &Session,
    change: &Transition,
    now: DateTime<Utc>,
    answer: Option<&UserId>,
    settings: &TimerSettings,
) -> Result<Changeset, StoreError> {
    let s = current;
    if let Transition::WithNotice { change, notice } = change {
        let mut c = decide(s, change, now, answer, settings)?;
        if c.session.is_open() {
            c.notice = Some(notice.clone());
        }
        return Ok(c);
    }
    if let Transition::Sla { change } = change {
        return sla::decide(s, change, now);
    }
    if let Transition::SetPriority { priority, cause } = change {
        return priority_change(s, *priority, cause.clone());
    }
    let (status, reason, cursor) = match change {
        Transition::SetPriority { .. } => return Err(invalid(s, "set the priority")),
        Transition::Route {
            expected_version,
            plan,
        } => {
            if s.version != *expected_version || s.status != SessionStatus::Queued {
                return Err(StoreError::Conflict {
                    what: "session",
                    id: s.id.to_string(),
                    expected: *expected_version,
                    actual: s.version,
                });
            }
            route(s, plan, answer)?
        }
        Transition::Take { operator } => match &s.status {
            SessionStatus::Queued | SessionStatus::Offered => (
                SessionStatus::Assigned {
                    operator: operator.clone(),
                },
                RouteReason::Taken,
                None,
            ),
            SessionStatus::Assigned { operator: by } => {
                return Err(StoreError::AlreadyTaken {
                    session: s.id,
                    by: Some(by.clone()),
                })
            }
            SessionStatus::Closed => return Err(invalid(s, "take")),
            SessionStatus::Bot => return Err(invalid(s, "take a session with the bot")),
        },
        Transition::ToBot { expected_version } => {
            if s.version != *expected_version || s.status != SessionStatus::Queued {
                return Err(StoreError::Conflict {
                    what: "session",
                    id: s.id.to_string(),
                    expected: *expected_version,
                    actual: s.version,
                });
            }
            (SessionStatus::Bot, RouteReason::BotStage, None)
        }
        Transition::HandOver { reason } => {
            if s.status != SessionStatus::Bot {
                return Err(invalid(s, "hand over a session not with the bot"));
            }
            (
                SessionStatus::Queued,
                RouteReason::HandedOver {
                    handover: reason.clone(),
                },
                None,
            )
        }
        Transition::Assign { operator, by } => {
            if !s.is_open() {
                return Err(invalid(s, "assign"));
            }
            (
                SessionStatus::Assigned {
                    operator: operator.clone(),
                },
                RouteReason::AssignedBySupervisor { by: by.clone() },
                None,
            )
        }
        Transition::Transfer { from, to } => {
            if s.operator() != Some(from) {
                return Err(invalid(
                    s,
                    "transfer from an operator it is not assigned to",
                ));
            }
            (
                SessionStatus::Assigned {
                    operator: to.clone(),
                },
                RouteReason::Transferred { by: from.clone() },
                None,
            )
        }
        Transition::Return { from } => {
            if s.operator() != Some(from) {
                return Err(invalid(
                    s,
                    "return to the queue for an operator it is not assigned to",
                ));
            }
            (
                SessionStatus::Queued,
                RouteReason::Returned { by: from.clone() },
                None,
            )
        }
        Transition::Accept { operator } => {
            if s.operator() != Some(operator) {
                return Err(invalid(s, "accept for an operator it is not assigned to"));
            }
            (s.status.clone(), s.reason.clone(), None)
        }
        Transition::OperatorAway {
            operator,
            availability,
            at_once,
        } => {
            if s.operator() != Some(operator) || *availability == Availability::Present {
                return Err(invalid(
                    s,
                    "operator away for a session not theirs, or present",
                ));
            }
            let grace = settings.offline_grace();
            let now_ = *at_once
                || *availability == Availability::Blocked
                || grace.is_some_and(|g| g <= chrono::Duration::zero());
            if now_ {
                (
                    SessionStatus::Queued,
                    RouteReason::OperatorAbsent {
                        operator: operator.clone(),
                        availability: *availability,
                    },
                    None,
                )
            } else if grace.is_some() {
                (s.status.clone(), s.reason.clone(), None)
            } else {
                return Err(invalid(
                    s,
                    "wait for an absent operator on a line without an offline grace period",
                ));
            }
        }
        Transition::OperatorBack { operator } => {
            if s.operator() != Some(operator) {
                return Err(invalid(s, "operator back for a session not theirs"));
            }
            (s.status.clone(), s.reason.clone(), None)
        }
        Transition::Close { by_operator } => {
            if !s.is_open() {
                return Err(invalid(s, "close"));
            }
            if let Some(op) = by_operator {
                if s.operator() != Some(op) {
                    return Err(invalid(s, "close for an operator it is not assigned to"));
                }
            }
            (SessionStatus::Closed, s.reason.clone(), None)
        }
        Transition::Sla { .. } => return Err(invalid(s, "move SLA clocks")),
        // Decided above, around the change it carries.
        Transition::WithNotice { .. } => return Err(invalid(s, "write a notice")),
    };

    let mut next = s.clone();
    next.status = status;
    next.reason = reason;
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    if next.status == SessionStatus::Closed {
        next.closed_at = Some(now);
        sla::stop_all(&mut next, now);
    }
    let mut loads = load_changes(s.operator(), next.operator());
    let mut events = transition_events(s, &next, change);
    let (mut arm, mut cancel) = timers::plan(s, &next, now, settings);
    if matches!(change, Transition::Close { .. }) && settings.reopen().is_some() {
        // Whom a reopened session goes back to.
        next.reason = RouteReason::Closed {
            cause: crate::session::CloseReason::Closed,
            operator: s.operator().cloned(),
        };
    }
    if let (Transition::Close { .. }, Some(operator)) = (change, s.operator()) {
        // Wrap-up: the operator's slot stays taken until the timer fires.
        if let Some(until) = settings.wrap_up().and_then(|w| now.checked_add_signed(w)) {
            next.reason = RouteReason::WrapUp {
                operator: operator.clone(),
                until,
            };
            loads.clear();
            arm.push(Timer::new(
                next.id,
                next.line,
                TimerKind::WrapUp,
                until,
                next.version,
            ));
        }
    }
    // Accepting, and an operator leaving within the grace period or coming
    // back, leave the session where it was: the timers armed at its
    // version (the accept timeout, the grace period) stay current.
    let keep_timers = next.is_open()
        && next.status == s.status
        && matches!(
            change,
            Transition::Accept { .. }
                | Transition::OperatorAway { .. }
                | Transition::OperatorBack { .. }
        );
    let mut no_answer = Vec::new();
    match change {
        Transition::Accept { operator } => {
            cancel.push(TimerKind::AcceptTimeout);
            no_answer.push(NoAnswerChange::new(operator.clone(), 0, false));
        }
        Transition::OperatorAway { operator, .. } if next.operator().is_some() => {
            let grace = timers::offline_grace(&next, now, settings)?;
            events = vec![Event::SessionOperatorAbsent {
                session: next.id,
                line: next.line,
                contact: next.contact,
                operator: operator.clone(),
                version: next.version,
                returns_at: grace.due_at,
            }];
            arm.push(grace);
        }
        Transition::OperatorBack { operator } => {
            cancel.push(TimerKind::OfflineGrace);
            events = vec![Event::SessionOperatorBack {
                session: next.id,
                line: next.line,
                contact: next.contact,
                operator: operator.clone(),
                version: next.version,
            }];
        }
        _ => {}
    }
    Ok(Changeset {
        session: next,
        loads,
        cursor,
        arm,
        cancel,
        no_answer,
        keep_timers,
        events,
        breaches: Vec::new(),
        notice: None,
    })
}

/// A priority change of an open session: the session with its new
/// priority and version (status, reason and `updated_at` kept), its timers
/// kept current, and [`Event::SessionPriorityChanged`].
fn priority_change(
    s: &Session,
    priority: Priority,
    cause: PriorityCause,
) -> Result<Changeset, StoreError> {
    if !s.is_open() {
        return Err(invalid(s, "set the priority"));
    }
    let mut next = s.clone();
    next.priority = priority;
    next.version = s.version.saturating_add(1);
    let event = Event::SessionPriorityChanged {
        session: next.id,
        line: next.line,
        contact: next.contact,
        from: s.priority,
        to: priority,
        cause,
        version: next.version,
    };
    Ok(Changeset {
        session: next,
        loads: Vec::new(),
        cursor: None,
        arm: Vec::new(),
        cancel: Vec::new(),
        no_answer: Vec::new(),
        keep_timers: true,
        notice: None,
        events: vec![event],
        breaches: Vec::new(),
    })
}

impl Changeset {
    /// Whether writing this changes nothing of `before`: the same session,
    /// no roster change, no timer, no event, no breach.
    pub fn is_noop(&self, before: &Session) -> bool {
        self.session == *before
            && self.loads.is_empty()
            && self.cursor.is_none()
            && self.arm.is_empty()
            && self.cancel.is_empty()
            && self.no_answer.is_empty()
            && self.events.is_empty()
            && self.breaches.is_empty()
    }
}

/// Raises an open session's priority to `to` — the hook for a handler
/// that escalates a session (an SLA breach: `cause`
/// [`PriorityCause::SlaBreach`]), to call inside the atomic unit that
/// handles it and write with the rest of its changes. `None` when the
/// session is closed or its priority is already `to` or higher (a
/// priority is never lowered this way).
///
/// ```
/// use chatlines_core::machine::raise_priority;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let session = Session::opened(
///     SessionId(uuid::Uuid::now_v7()),
///     LineId(uuid::Uuid::now_v7()),
///     ContactId(uuid::Uuid::now_v7()),
///     now,
/// );
/// let raised = raise_priority(&session, Priority::High, PriorityCause::SlaBreach)
///     .expect("raised");
/// assert_eq!(raised.session.priority, Priority::High);
/// assert!(raised.keep_timers);
/// assert!(raise_priority(&raised.session, Priority::Normal, PriorityCause::SlaBreach).is_none());
/// ```
pub fn raise_priority(current: &Session, to: Priority, cause: PriorityCause) -> Option<Changeset> {
    if current.priority >= to {
        return None;
    }
    priority_change(current, to, cause).ok()
}

type Outcome = (SessionStatus, RouteReason, Option<UserId>);

fn route(s: &Session, plan: &RoutePlan, answer: Option<&UserId>) -> Result<Outcome, StoreError> {
    let assigned = |operator: &UserId, reason: RouteReason, cursor: Option<UserId>| {
        let status = SessionStatus::Assigned {
            operator: operator.clone(),
        };
        (status, reason, cursor)
    };
    // A session moved on after lapses keeps its reason (and so its
    // exclusions) while it waits and when a rule assigns it.
    let moved_on = !s.reason.excluded().is_empty();
    let rule_reason = |reason: RouteReason| {
        if moved_on {
            s.reason.clone()
        } else {
            reason
        }
    };
    let nobody = || {
        (
            SessionStatus::Queued,
            rule_reason(RouteReason::NoOperatorAvailable),
            None,
        )
    };
    Ok(match plan {
        RoutePlan::Assign { operator, reason } => assigned(operator, reason.clone(), None),
        RoutePlan::Offer { reason } => (SessionStatus::Offered, reason.clone(), None),
        RoutePlan::Queue { reason } => (SessionStatus::Queued, reason.clone(), None),
        RoutePlan::RoundRobin => match answer {
            Some(user) => assigned(
                user,
                rule_reason(RouteReason::RoundRobin),
                Some(user.clone()),
            ),
            None => nobody(),
        },
        RoutePlan::LeastLoaded { .. } => match answer {
            Some(user) => assigned(user, rule_reason(RouteReason::LeastLoaded), None),
            None => nobody(),
        },
        #[allow(unreachable_patterns)]
        other => {
            return Err(StoreError::Backend(
                format!("session {}: unsupported routing plan {other:?}", s.id).into(),
            ))
        }
    })
}

/// Load changes when the assigned operator changes from `before` to
/// `after`, ordered by user id.
fn load_changes(before: Option<&UserId>, after: Option<&UserId>) -> Vec<LoadChange> {
    if before == after {
        return Vec::new();
    }
    let mut loads: Vec<LoadChange> = before
        .map(|u| LoadChange::new(u.clone(), -1))
        .into_iter()
        .chain(after.map(|u| LoadChange::new(u.clone(), 1)))
        .collect();
    loads.sort();
    loads
}

fn transition_events(before: &Session, after: &Session, change: &Transition) -> Vec<Event> {
    let (session, line, contact, version) = (after.id, after.line, after.contact, after.version);
    let event = match (change, &after.status) {
        (Transition::HandOver { reason }, _) => Event::SessionHandedOver {
            session,
            line,
            contact,
            version,
            reason: reason.clone(),
        },
        (Transition::Accept { operator }, _) => Event::SessionAccepted {
            session,
            line,
            contact,
            operator: operator.clone(),
            version,
        },
        (Transition::Transfer { from, to }, _) => Event::SessionTransferred {
            session,
            line,
            contact,
            from: from.clone(),
            to: Some(to.clone()),
            version,
        },
        (Transition::Return { from }, _) => Event::SessionTransferred {
            session,
            line,
            contact,
            from: from.clone(),
            to: None,
            version,
        },
        (_, SessionStatus::Closed) => Event::SessionClosed {
            session,
            line,
            contact,
            operator: before.operator().cloned(),
            version,
        },
        _ => status_event(after),
    };
    vec![event]
}

/// The event of a session that entered `after`'s open status by routing:
/// assigned, offered or queued (closed reads as queued: never asked).
pub(crate) fn status_event(after: &Session) -> Event {
    let (session, line, contact, version) = (after.id, after.line, after.contact, after.version);
    match &after.status {
        SessionStatus::Assigned { operator } => Event::SessionAssigned {
            session,
            line,
            contact,
            operator: operator.clone(),
            version,
            reason: after.reason.clone(),
        },
        SessionStatus::Offered => Event::SessionOffered {
            session,
            line,
            contact,
            version,
            reason: after.reason.clone(),
        },
        SessionStatus::Bot => Event::SessionWithBot {
            session,
            line,
            contact,
            version,
        },
        SessionStatus::Queued | SessionStatus::Closed => Event::SessionQueued {
            session,
            line,
            contact,
            version,
            reason: after.reason.clone(),
        },
    }
}

/// The events of [`append_inbound`](crate::MessageStore::append_inbound):
/// `SessionOpened` when it opened the session, then `MessageIn`; none for
/// a duplicate.
pub fn inbound_events(appended: &Appended) -> Vec<Event> {
    if appended.duplicate {
        return Vec::new();
    }
    let m = &appended.message;
    let mut events = Vec::with_capacity(2);
    if appended.opened {
        events.push(Event::SessionOpened {
            session: appended.session.id,
            line: appended.session.line,
            contact: appended.session.contact,
        });
    }
    events.push(Event::MessageIn {
        session: m.session,
        line: m.line,
        contact: m.contact,
        message: m.id,
        seq: m.seq,
    });
    events
}

/// What a client's message does to its session besides being stored,
/// written by [`append_inbound`](crate::MessageStore::append_inbound) in
/// the same atomic call, after the message and its events: the priority
/// of a session the message `opened`
/// ([`InboundFollowUp::opening_priority`](crate::InboundFollowUp::opening_priority)),
/// then the start of the line's service-level clocks counted from `now`
/// ([`InboundFollowUp::sla`](crate::InboundFollowUp::sla), see [`sla`](crate::sla)).
/// `None` when neither changes anything (a duplicate is never asked).
///
/// ```
/// use chatlines_core::machine::inbound_follow_up;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let line = LineId(uuid::Uuid::now_v7());
/// let session = Session::opened(SessionId(uuid::Uuid::now_v7()), line, ContactId(uuid::Uuid::now_v7()), now);
/// let key = ContactKey::Internal { user: UserId::new("carl") };
/// let new = NewInbound::new(line, key, "Carl", Body::text("hi"), now)
///     .with_opening_priority(Priority::High, PriorityCause::Host);
/// let change = inbound_follow_up(&session, true, &new.follow_up, now).expect("a change");
/// assert_eq!(change.session.priority, Priority::High);
/// // A message that continues a session leaves its priority alone.
/// assert!(inbound_follow_up(&session, false, &new.follow_up, now).is_none());
/// ```
pub fn inbound_follow_up(
    session: &Session,
    opened: bool,
    follow_up: &crate::store::InboundFollowUp,
    now: DateTime<Utc>,
) -> Option<Changeset> {
    if !session.is_open() {
        return None;
    }
    let mut change = match &follow_up.opening_priority {
        Some((priority, cause)) if opened && *priority != session.priority => {
            priority_change(session, *priority, cause.clone()).ok()
        }
        _ => None,
    };
    if let Some(dues) = follow_up.sla {
        let base = change.as_ref().map_or(session, |c| &c.session);
        let clocks = sla::decide(
            base,
            &crate::sla::SlaChange::ClientWrote { at: now, dues },
            now,
        )
        .ok()
        .filter(|c| !c.is_noop(base));
        change = match (change, clocks) {
            (Some(mut c), Some(clocks)) => {
                c.session = clocks.session;
                c.cancel.extend(clocks.cancel);
                c.arm.extend(clocks.arm);
                c.events.extend(clocks.events);
                Some(c)
            }
            (c, clocks) => c.or(clocks),
        };
    }
    change
}

/// What an operator's message does to its session besides being stored,
/// written by [`append_outbound`](crate::MessageStore::append_outbound) in
/// the same atomic call: it stops the running first- and next-response
/// clocks ([`SlaChange::OperatorReplied`](crate::sla::SlaChange::OperatorReplied)).
/// `None` for other authors, sessions without clocks, or when no clock
/// runs.
pub fn outbound_follow_up(
    session: &Session,
    author: &crate::message::Author,
    now: DateTime<Utc>,
) -> Option<Changeset> {
    if !matches!(author, crate::message::Author::Operator { .. })
        || session.sla.is_none()
        || !session.is_open()
    {
        return None;
    }
    sla::decide(session, &crate::sla::SlaChange::OperatorReplied, now)
        .ok()
        .filter(|c| !c.is_noop(session))
}

/// The message a store writes for a changeset's
/// [`notice`](Changeset::notice): by [`Author::System`](crate::Author::System)
/// into `session`, with a fresh time-ordered id, and an outbox entry to
/// the contact's reply address when the client writes from a messenger.
pub fn notice_outbound(
    session: &Session,
    contact: &crate::contact::Contact,
    body: crate::message::Body,
    now: DateTime<Utc>,
) -> NewOutbound {
    let mut new = NewOutbound::new(session.id, crate::message::Author::System, body, now);
    if let (crate::contact::ContactKey::External { source, .. }, Some(address)) =
        (&contact.key, contact.reply_address())
    {
        new.outbox = Some(OutboxEntry::pending(
            crate::ids::OutboxId(uuid::Uuid::now_v7()),
            new.message_id,
            session.id,
            *source,
            address,
            now,
        ));
    }
    new
}

/// The events of [`append_outbound`](crate::MessageStore::append_outbound).
pub fn outbound_events(message: &Message) -> Vec<Event> {
    vec![Event::MessageOut {
        session: message.session,
        line: message.line,
        contact: message.contact,
        message: message.id,
        seq: message.seq,
        author: message.author.clone(),
    }]
}

/// The events of [`finish_outbox`](crate::OutboxStore::finish_outbox), from
/// the entry after the change: delivered or given up; none for a retry.
pub fn delivery_events(entry: &OutboxEntry) -> Vec<Event> {
    match &entry.status {
        OutboxStatus::Sent { substitute, .. } => vec![Event::DeliverySucceeded {
            entry: entry.id,
            message: entry.message,
            session: entry.session,
            substitute: substitute.clone(),
        }],
        OutboxStatus::Failed { error } => vec![Event::DeliveryFailed {
            entry: entry.id,
            message: entry.message,
            session: entry.session,
            error: error.clone(),
        }],
        _ => Vec::new(),
    }
}

/// The events of [`insert_line`](crate::LineStore::insert_line).
pub fn line_created(line: &Line) -> Vec<Event> {
    vec![Event::LineCreated { line: line.id }]
}

/// The events of [`update_line`](crate::LineStore::update_line).
pub fn line_updated(line: &Line) -> Vec<Event> {
    vec![Event::LineUpdated {
        line: line.id,
        version: line.version,
    }]
}

/// Closes the open sessions of a line being deleted: the changesets to
/// write (each session's close, through [`decide`], without events) and the
/// events to log (every close's, then `LineDeleted`).
/// Refused closes (sessions closed meanwhile) are skipped.
pub fn line_deleted<'a>(
    line: crate::ids::LineId,
    open_sessions: impl IntoIterator<Item = &'a Session>,
    now: DateTime<Utc>,
) -> (Vec<Changeset>, Vec<Event>) {
    let close = Transition::Close { by_operator: None };
    let mut closes: Vec<Changeset> = open_sessions
        .into_iter()
        .filter_map(|s| decide(s, &close, now, None, &TimerSettings::default()).ok())
        .collect();
    // Each close's events move into the one list, in order.
    let mut events: Vec<Event> = closes
        .iter_mut()
        .flat_map(|c| std::mem::take(&mut c.events))
        .collect();
    events.push(Event::LineDeleted { line });
    (closes, events)
}

/// The events of [`insert_source`](crate::SourceStore::insert_source).
pub fn source_bound(source: &Source) -> Vec<Event> {
    vec![Event::SourceBound {
        source: source.id,
        line: source.line,
    }]
}

/// The events of [`delete_source`](crate::SourceStore::delete_source), from
/// the source as it was.
pub fn source_unbound(source: &Source) -> Vec<Event> {
    vec![Event::SourceUnbound {
        source: source.id,
        line: source.line,
    }]
}

/// The events of [`put_account_link`](crate::AppLinkStore::put_account_link).
pub fn account_linked(link: &AccountLink) -> Vec<Event> {
    vec![Event::AccountLinked {
        line: link.line,
        contact: link.contact,
        app: link.app.clone(),
        item: link.item.clone(),
    }]
}

/// The events of [`insert_request`](crate::AppLinkStore::insert_request).
pub fn request_registered(request: &RequestRecord) -> Vec<Event> {
    vec![Event::RequestRegistered {
        session: request.session,
        request: request.id,
        app: request.app.clone(),
        item: request.item.clone(),
    }]
}

/// Whether an operator's (or the system's) message may be appended to the
/// session as stored: it must be open and, with `require_operator`,
/// assigned to that operator.
pub fn check_outbound(
    session: &Session,
    require_operator: Option<&UserId>,
) -> Result<(), StoreError> {
    if !session.is_open() {
        return Err(invalid(session, "reply"));
    }
    if let Some(required) = require_operator {
        if session.operator() != Some(required) {
            return Err(invalid(
                session,
                "reply as an operator it is not assigned to",
            ));
        }
    }
    Ok(())
}

/// Whether a message may be appended to the session as stored, as
/// [`append_outbound`](crate::MessageStore::append_outbound) asks: see
/// [`check_outbound`]; a bot's message ([`Author::Bot`](crate::Author::Bot))
/// needs the session still with the bot, so a late answer never lands in
/// a session handed over meanwhile.
pub fn check_new_outbound(
    session: &Session,
    new: &crate::store::NewOutbound,
) -> Result<(), StoreError> {
    check_outbound(session, new.require_operator.as_ref())?;
    if new.author == crate::message::Author::Bot && session.status != SessionStatus::Bot {
        return Err(invalid(
            session,
            "reply as the bot in a session not with it",
        ));
    }
    Ok(())
}

/// The rank of a delivery status on the way sent → delivered → read; a
/// status never moves to a lower rank. Failed is terminal.
fn delivery_rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Read => 3,
        DeliveryStatus::Failed => 4,
    }
}

/// Whether a delivery status may replace the recorded one: statuses only
/// move forward (sent → delivered → read), whatever order the messenger's
/// reports arrive in; failed may follow only sent (a delivered message did
/// not fail), and nothing follows failed.
fn delivery_advances(current: Option<&DeliveryState>, next: DeliveryStatus) -> bool {
    let Some(current) = current else {
        return true;
    };
    match (current.status, next) {
        (DeliveryStatus::Failed, _) => false,
        (DeliveryStatus::Sent, DeliveryStatus::Failed) => true,
        (_, DeliveryStatus::Failed) => false,
        (now, next) => delivery_rank(next) > delivery_rank(now),
    }
}

/// Decides what a messenger's update does to `message` (as stored, with
/// its `state`): the state to write and the events to log, or `None` when
/// nothing changes (then the store writes nothing).
///
/// * An edit of an inbound message that is not revoked and does not read
///   that way already adds a [`Revision`] (`MessageEdited`).
/// * A revoke marks an inbound message revoked once (`MessageRevoked`).
/// * A reaction on any message sets or clears the person's emoji
///   (`MessageReacted`), never a message of its own.
/// * A delivery status of an outbound message is kept when it moves the
///   message forward ([`DeliveryStatusChanged`](Event::DeliveryStatusChanged)).
///
/// ```
/// use chatlines_core::machine::message_update;
/// use chatlines_core::*;
/// let now = chrono::Utc::now();
/// let id = |n| uuid::Uuid::from_u128(n);
/// let message = Message::new(
///     MessageId(id(1)), SessionId(id(2)), LineId(id(3)), ContactId(id(4)), 2,
///     Direction::Outbound, Author::System, Body::text("hi"), None, now,
/// );
/// let read = MessageUpdate::new(
///     SourceId::from_uuid(id(5)), "wamid.1",
///     MessageChange::Delivery { status: DeliveryStatus::Read, error: None }, now,
/// );
/// let (state, events) = message_update(&message, &MessageState::default(), &read).unwrap();
/// assert_eq!(state.delivery.as_ref().unwrap().status, DeliveryStatus::Read);
/// assert_eq!(events.len(), 1);
/// // A late "delivered" does not move it back.
/// let late = MessageUpdate::new(
///     SourceId::from_uuid(id(5)), "wamid.1",
///     MessageChange::Delivery { status: DeliveryStatus::Delivered, error: None }, now,
/// );
/// assert!(message_update(&message, &state, &late).is_none());
/// ```
pub fn message_update(
    message: &Message,
    state: &MessageState,
    update: &MessageUpdate,
) -> Option<(MessageState, Vec<Event>)> {
    let m = message;
    let at = update.happened_at();
    let by_other = update.author.is_some_and(|a| a != m.contact);
    let mut next = state.clone();
    let event = match &update.change {
        MessageChange::Edited { body } => {
            if m.direction != Direction::Inbound
                || by_other
                || state.revoked_at.is_some()
                || state.current_body(&m.body) == body
            {
                return None;
            }
            let revision = u32::try_from(state.revisions.len())
                .ok()
                .and_then(|n| n.checked_add(1))?;
            next.revisions.push(Revision {
                revision,
                body: body.clone(),
                at,
            });
            Event::MessageEdited {
                session: m.session,
                line: m.line,
                contact: m.contact,
                message: m.id,
                seq: m.seq,
                revision,
            }
        }
        MessageChange::Revoked => {
            if m.direction != Direction::Inbound || by_other || state.revoked_at.is_some() {
                return None;
            }
            next.revoked_at = Some(at);
            Event::MessageRevoked {
                session: m.session,
                line: m.line,
                contact: m.contact,
                message: m.id,
                seq: m.seq,
            }
        }
        MessageChange::Reacted { by, emoji } => {
            let changed = match emoji {
                Some(e) => next.reactions.insert(by.clone(), e.clone()).as_ref() != Some(e),
                None => next.reactions.remove(by).is_some(),
            };
            if !changed {
                return None;
            }
            Event::MessageReacted {
                session: m.session,
                line: m.line,
                contact: m.contact,
                message: m.id,
                seq: m.seq,
                by: by.clone(),
                emoji: emoji.clone(),
            }
        }
        MessageChange::Delivery { status, error } => {
            if m.direction != Direction::Outbound
                || !delivery_advances(state.delivery.as_ref(), *status)
            {
                return None;
            }
            let error = if *status == DeliveryStatus::Failed {
                error.clone()
            } else {
                None
            };
            next.delivery = Some(DeliveryState {
                status: *status,
                error: error.clone(),
                at,
            });
            Event::DeliveryStatusChanged {
                session: m.session,
                line: m.line,
                contact: m.contact,
                message: m.id,
                seq: m.seq,
                status: *status,
                error,
            }
        }
    };
    Some((next, vec![event]))
}
