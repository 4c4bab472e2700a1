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
//! * Entering *assigned* by a rule ([`RouteReason::is_rule_assignment`])
//!   on a line with an accept timeout arms [`TimerKind::AcceptTimeout`];
//!   a change of operator, a reason not from a rule, or
//!   [`Transition::Accept`](crate::Transition::Accept) cancels it.
//! * A due accept timeout on a session still assigned at the armed
//!   version moves it on by the line's rule, excluding the operators who
//!   let it lapse — round robin and least loaded ask the store the
//!   [`FireQuestion`] first (the next operator, and the lapsing
//!   operator's consecutive lapses), responsible and first come offer
//!   it — records [`RouteReason::NotAccepted`], logs
//!   [`SessionNotAccepted`](Event::SessionNotAccepted) and the routing
//!   event, and counts the lapse against the operator: at the line's
//!   `max_no_answer` they are set away
//!   ([`OperatorAway`](Event::OperatorAway)).
//! * An absent operator ([`Transition::OperatorAway`](crate::Transition::OperatorAway))
//!   arms [`TimerKind::OfflineGrace`]; their return or any change of the
//!   session cancels or outdates it; when due, the session is queued with
//!   [`RouteReason::OperatorAbsent`] (the hub routes it).
//! * Entering the bot state ([`Transition::ToBot`](crate::Transition::ToBot))
//!   on a line with a bot timeout arms [`TimerKind::BotTimeout`]; leaving
//!   it cancels it. When due on a session still with the bot at the armed
//!   version, the session is handed over
//!   ([`HandOverReason::Timeout`](crate::HandOverReason::Timeout)) and
//!   queued for the hub to route.
//! * Closing an assigned session on a line with wrap-up keeps the
//!   operator's load and arms [`TimerKind::WrapUp`] on the closed session
//!   (armed after the close's cancels); when due it releases the load
//!   once, whatever the setting is by then.
//! * Inactivity ([`inactivity`](super::inactivity)): the first routing of
//!   a new or reopened session arms [`TimerKind::NeverAnswered`]; an
//!   operator's message arms [`TimerKind::InactivityWarning`] and
//!   [`TimerKind::Inactivity`] and cancels it; a client's message cancels
//!   the two; closing cancels all three.

use super::{load_changes, status_event, Changeset, NoAnswerChange, RosterQuestion};
use crate::error::StoreError;
use crate::events::Event;
use crate::ids::UserId;
use crate::line::RoutingRule;
use crate::session::{RouteReason, Session, SessionStatus};
use crate::timer::{Timer, TimerKind, TimerSettings};
use chrono::{DateTime, Utc};

/// What a store must look up (inside the firing unit, from its roster
/// index) before [`fire`] can decide a due timer: see [`fire_question`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FireQuestion {
    /// The roster question of a re-route, if any.
    pub route: Option<RosterQuestion>,
    /// The operator whose consecutive lapses on the session's line
    /// ([`RosterEntry::no_answer`](crate::RosterEntry::no_answer), 0 without
    /// an entry) the store reads.
    pub lapses_of: Option<UserId>,
}

/// The store's answers to a [`FireQuestion`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FireAnswer {
    /// The answer to `route` (`None`: nobody qualifies, or no question).
    pub next: Option<UserId>,
    /// The consecutive lapses of `lapses_of` (0 when not asked).
    pub lapses: u32,
}

impl FireAnswer {
    /// The answers.
    pub fn new(next: Option<UserId>, lapses: u32) -> Self {
        Self { next, lapses }
    }
}

/// What the store must look up before [`fire`] can decide `timer` on the
/// session as stored, under the line's `rule` and `settings`: nothing
/// (the default) unless it is a current accept timeout.
pub fn fire_question(
    current: &Session,
    timer: &Timer,
    rule: &RoutingRule,
    settings: &TimerSettings,
) -> FireQuestion {
    let Some(operator) = lapsing(current, timer, settings) else {
        return FireQuestion::default();
    };
    let excluding = lapsed_after(current, operator);
    let route = match rule {
        RoutingRule::RoundRobin => Some(RosterQuestion::NextAfterCursor { excluding }),
        RoutingRule::LeastLoaded { capacity } => Some(RosterQuestion::LeastLoaded {
            capacity: *capacity,
            excluding,
        }),
        _ => None,
    };
    FireQuestion {
        route,
        lapses_of: Some(operator.clone()),
    }
}

/// The operator of a current accept timeout: the session is open,
/// assigned by a rule, at the armed version, and the setting is on.
fn lapsing<'a>(s: &'a Session, timer: &Timer, settings: &TimerSettings) -> Option<&'a UserId> {
    let current = s.is_open() && s.version == timer.armed_version && s.id == timer.session;
    if !current || timer.kind != TimerKind::AcceptTimeout || settings.accept_timeout().is_none() {
        return None;
    }
    s.operator().filter(|_| s.reason.is_rule_assignment())
}

/// The operators who let the session lapse, `operator` last.
fn lapsed_after(s: &Session, operator: &UserId) -> Vec<UserId> {
    let mut lapsed = s.reason.excluded().to_vec();
    if !lapsed.contains(operator) {
        lapsed.push(operator.clone());
    }
    lapsed
}

/// The timers a transition from `before` to `after` arms and cancels.
pub(super) fn plan(
    before: &Session,
    after: &Session,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> (Vec<Timer>, Vec<TimerKind>) {
    let mut arm = Vec::new();
    let mut cancel = Vec::new();
    // A timer of `kind` one `period` from now, at the session's new
    // version (none when the setting is off or the time overflows).
    let after_period = |kind: TimerKind, period: Option<chrono::Duration>| {
        period
            .and_then(|t| now.checked_add_signed(t))
            .map(|due| Timer::new(after.id, after.line, kind, due, after.version))
    };
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
    if let Some(due) = super::inactivity::routed(before, after, now, settings) {
        arm.push(Timer::new(
            after.id,
            after.line,
            TimerKind::NeverAnswered,
            due,
            after.version,
        ));
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
    let was_with_bot = before.status == SessionStatus::Bot;
    let with_bot = after.status == SessionStatus::Bot;
    if was_with_bot && !with_bot && after.is_open() {
        cancel.push(TimerKind::BotTimeout);
    }
    if with_bot && !was_with_bot {
        arm.extend(after_period(TimerKind::BotTimeout, settings.bot_timeout()));
    }
    let operator_kept = before.operator().is_some()
        && after.operator() == before.operator()
        && after.reason.is_rule_assignment();
    if before.operator().is_some() && after.is_open() && !operator_kept {
        cancel.push(TimerKind::AcceptTimeout);
    }
    let newly_assigned = after.operator().is_some() && after.operator() != before.operator();
    if before.operator().is_some() && after.is_open() && after.operator() != before.operator() {
        cancel.push(TimerKind::OfflineGrace);
    }
    if newly_assigned && after.reason.is_rule_assignment() {
        arm.extend(after_period(
            TimerKind::AcceptTimeout,
            settings.accept_timeout(),
        ));
    }
    if offered && !was_offered {
        arm.extend(after_period(
            TimerKind::OfferTimeout,
            settings.offer_timeout(),
        ));
    }
    (arm, cancel)
}

/// The grace timer of a session whose operator became absent, due one
/// grace period after `now`, at the session's (new) version.
pub(super) fn offline_grace(
    session: &Session,
    now: DateTime<Utc>,
    settings: &TimerSettings,
) -> Result<Timer, StoreError> {
    let due = settings
        .offline_grace()
        .and_then(|g| now.checked_add_signed(g))
        .ok_or_else(|| StoreError::InvalidState {
            session: session.id,
            state: session.status.state(),
            action: "wait for an absent operator on a line without an offline grace period",
        })?;
    Ok(Timer::new(
        session.id,
        session.line,
        TimerKind::OfflineGrace,
        due,
        session.version,
    ))
}

/// Decides what the due `timer` does to its session as stored: the
/// [`Changeset`] to write (which re-arms or cancels the timer), or `None`
/// when the timer is stale — the session is closed, changed since the
/// timer was armed (`armed_version` is not its version), is no longer in
/// the state the timer is about, or the line's setting is off. A store
/// deletes a stale timer and writes nothing else. `rule` and `settings`
/// are the line's (read in the firing unit; the defaults when the line is
/// gone), `answer` the store's answers to [`fire_question`].
///
/// ```
/// use chatlines_core::machine::{self, fire};
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
/// let rule = RoutingRule::FirstCome;
/// let none = machine::FireAnswer::default();
/// let change = fire(&session, &timer, now, &rule, &settings, &none)
///     .unwrap()
///     .expect("due and current");
/// assert_eq!(change.events[0].name(), "session_unanswered");
/// assert_eq!(change.arm[0].due_at, now + chrono::Duration::seconds(60));
/// // Armed at an older version: stale.
/// let old = Timer::new(session.id, session.line, TimerKind::OfferTimeout, now, 0);
/// assert!(fire(&session, &old, now, &rule, &settings, &none).unwrap().is_none());
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
    rule: &RoutingRule,
    settings: &TimerSettings,
    answer: &FireAnswer,
) -> Result<Option<Changeset>, StoreError> {
    let s = current;
    if let Some(target) = crate::sla::SlaTarget::of_timer(timer.kind) {
        // Service-level clocks keep the session's version: their timers
        // are current while the clock they were armed for runs.
        return Ok(super::sla::fire(s, timer, target, now, settings));
    }
    if s.id != timer.session {
        return Ok(None);
    }
    if TimerKind::MESSAGE_KINDS.contains(&timer.kind) {
        // Current by construction: messages re-arm or cancel them.
        return Ok(super::inactivity::fire(s, timer, now, settings));
    }
    if s.version != timer.armed_version {
        return Ok(None);
    }
    if timer.kind == TimerKind::WrapUp {
        return Ok(wrap_up_ended(s, timer, now));
    }
    if !s.is_open() {
        return Ok(None);
    }
    match timer.kind {
        TimerKind::OfferTimeout => Ok(offer_lapsed(s, timer, now, settings)),
        TimerKind::HoursOpen => Ok(hours_opened(s, timer, now)),
        TimerKind::AcceptTimeout => Ok(accept_lapsed(s, timer, now, rule, settings, answer)),
        TimerKind::OfflineGrace => Ok(grace_ended(s, now, settings)),
        TimerKind::BotTimeout => Ok(bot_timed_out(s, now, settings)),
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
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
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
        no_answer: Vec::new(),
        keep_timers: false,
        notice: None,
        events: vec![event],
        breaches: Vec::new(),
    })
}

/// The grace period of an absent operator ended: the session returns to
/// the queue (the hub routes it next).
fn grace_ended(s: &Session, now: DateTime<Utc>, settings: &TimerSettings) -> Option<Changeset> {
    let operator = s.operator()?.clone();
    settings.offline_grace()?;
    let mut next = s.clone();
    next.status = SessionStatus::Queued;
    next.reason = RouteReason::OperatorAbsent {
        operator,
        availability: crate::directory::Availability::Absent,
    };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    let (arm, cancel) = plan(s, &next, now, settings);
    Some(Changeset {
        loads: load_changes(s.operator(), next.operator()),
        events: vec![status_event(&next)],
        session: next,
        cursor: None,
        arm,
        cancel,
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
    })
}

/// A session was with the bot for the line's bot timeout: handed over
/// to the routing rule (the hub routes it next). A session no longer with
/// the bot, or a line whose timeout was turned off, is stale.
fn bot_timed_out(s: &Session, now: DateTime<Utc>, settings: &TimerSettings) -> Option<Changeset> {
    if s.status != SessionStatus::Bot {
        return None;
    }
    settings.bot_timeout()?;
    let reason = crate::session::HandOverReason::Timeout;
    let mut next = s.clone();
    next.status = SessionStatus::Queued;
    next.reason = RouteReason::HandedOver {
        handover: reason.clone(),
    };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    let (arm, cancel) = plan(s, &next, now, settings);
    Some(Changeset {
        loads: Vec::new(),
        events: vec![Event::SessionHandedOver {
            session: s.id,
            line: s.line,
            contact: s.contact,
            version: next.version,
            reason,
        }],
        session: next,
        cursor: None,
        arm,
        cancel,
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
    })
}

/// The wrap-up after a closed session ended: the operator's slot is
/// released (whatever the setting is now, so a load never leaks).
fn wrap_up_ended(s: &Session, timer: &Timer, now: DateTime<Utc>) -> Option<Changeset> {
    let RouteReason::WrapUp { operator, .. } = &s.reason else {
        return None;
    };
    if s.is_open() || timer.kind != TimerKind::WrapUp {
        return None;
    }
    let mut next = s.clone();
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    Some(Changeset {
        loads: vec![super::LoadChange::new(operator.clone(), -1)],
        events: vec![Event::WrapUpEnded {
            session: s.id,
            line: s.line,
            operator: operator.clone(),
        }],
        session: next,
        cursor: None,
        arm: Vec::new(),
        cancel: vec![TimerKind::WrapUp],
        no_answer: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
    })
}

fn accept_lapsed(
    s: &Session,
    timer: &Timer,
    now: DateTime<Utc>,
    rule: &RoutingRule,
    settings: &TimerSettings,
    answer: &FireAnswer,
) -> Option<Changeset> {
    let operator = lapsing(s, timer, settings)?;
    let lapsed = lapsed_after(s, operator);
    // An answer among those excluded is no answer.
    let next = answer.next.as_ref().filter(|u| !lapsed.contains(u));
    let (status, cursor) = match (rule, next) {
        (RoutingRule::RoundRobin, Some(user)) => (
            SessionStatus::Assigned {
                operator: user.clone(),
            },
            Some(user.clone()),
        ),
        (RoutingRule::LeastLoaded { .. }, Some(user)) => (
            SessionStatus::Assigned {
                operator: user.clone(),
            },
            None,
        ),
        (RoutingRule::RoundRobin | RoutingRule::LeastLoaded { .. }, None) => {
            (SessionStatus::Queued, None)
        }
        // Responsible (whose fallback is first come), first come, and
        // rules of later versions: offered to the line.
        _ => (SessionStatus::Offered, None),
    };
    let mut next = s.clone();
    next.status = status;
    next.reason = RouteReason::NotAccepted { lapsed };
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    let count = answer.lapses.saturating_add(1);
    let away = settings.max_no_answer.is_some_and(|max| count >= max);
    let mut events = vec![
        Event::SessionNotAccepted {
            session: s.id,
            line: s.line,
            contact: s.contact,
            operator: operator.clone(),
            version: next.version,
            lapses: count,
        },
        status_event(&next),
    ];
    if away {
        events.push(Event::OperatorAway {
            line: s.line,
            user: operator.clone(),
            lapses: count,
        });
    }
    let (arm, cancel) = plan(s, &next, now, settings);
    Some(Changeset {
        loads: load_changes(s.operator(), next.operator()),
        session: next,
        cursor,
        arm,
        cancel,
        no_answer: vec![NoAnswerChange::new(operator.clone(), count, away)],
        keep_timers: false,
        notice: None,
        events,
        breaches: Vec::new(),
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

    fn fire_fc(
        s: &Session,
        t: &Timer,
        now: DateTime<Utc>,
        settings: &TimerSettings,
    ) -> Result<Option<Changeset>, StoreError> {
        fire(
            s,
            t,
            now,
            &RoutingRule::FirstCome,
            settings,
            &FireAnswer::default(),
        )
    }

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
            ..TimerSettings::default()
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
    fn the_bot_timeout_arms_on_entry_fires_once_and_goes_stale_when_off() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let s = queued(now);
        let to_bot = Transition::ToBot {
            expected_version: 1,
        };
        let off = decide(&s, &to_bot, now, None, &TimerSettings::default()).expect("decided");
        assert_eq!(off.session.status, SessionStatus::Bot);
        assert!(off.arm.is_empty());
        let on = TimerSettings {
            bot_timeout_secs: Some(60),
            ..TimerSettings::default()
        };
        let c = decide(&s, &to_bot, now, None, &on).expect("decided");
        assert_eq!(c.arm.len(), 1);
        assert_eq!(c.arm[0].kind, TimerKind::BotTimeout);
        let due = c.arm[0].due_at;
        assert_eq!(due, now + chrono::Duration::seconds(60));
        let fired = fire_fc(&c.session, &c.arm[0], due, &on)
            .expect("decided")
            .expect("current");
        assert_eq!(fired.session.status, SessionStatus::Queued);
        assert_eq!(
            fired.session.reason,
            RouteReason::HandedOver {
                handover: crate::session::HandOverReason::Timeout
            }
        );
        assert!(fired.cancel.contains(&TimerKind::BotTimeout));
        assert!(fire_fc(&fired.session, &c.arm[0], due, &on)
            .expect("decided")
            .is_none());
        assert!(
            fire_fc(&c.session, &c.arm[0], due, &TimerSettings::default())
                .expect("decided")
                .is_none()
        );
    }

    #[test]
    fn lapses_count_and_the_period_repeats() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let c = decide(&queued(t0), &offer(), t0, None, &on(30)).expect("decided");
        let t1 = c.arm[0].due_at;
        let first = fire_fc(&c.session, &c.arm[0], t1, &on(30))
            .expect("decided")
            .expect("decided");
        let second_due = first.arm[0].due_at;
        assert_eq!(second_due, t1 + chrono::Duration::seconds(30));
        let second = fire_fc(&first.session, &first.arm[0], second_due, &on(30))
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
        assert!(fire_fc(&second.session, &c.arm[0], second_due, &on(30))
            .expect("decided")
            .is_none());
        // Turned off meanwhile: stale.
        assert!(fire_fc(
            &first.session,
            &first.arm[0],
            second_due,
            &TimerSettings::default()
        )
        .expect("decided")
        .is_none());
    }
}
