//! Where service-level clocks start, stop, warn and breach (see
//! [`sla`](crate::sla)).
//!
//! * [`SlaChange::ClientWrote`] on a session without clocks starts the
//!   first-response and resolution clocks the line has targets for; on a
//!   session whose operator replied since the last such start
//!   ([`SessionSla::answered`]) it starts a next-response clock.
//! * [`SlaChange::OperatorReplied`] stops the running first- and
//!   next-response clocks (cancelling their timers) and marks the session
//!   answered.
//! * A close stops every running clock; the close cancels every timer.
//! * Each running clock has one timer of its target's kind, due at the
//!   clock's [`next_alarm`](crate::SlaClock::next_alarm): at the warning
//!   it logs [`SlaWarning`](Event::SlaWarning) and is re-armed at the due
//!   time; at the due time it logs [`SlaBreached`](Event::SlaBreached) and
//!   keeps a [`SlaBreach`]. A timer whose clock stopped, restarted or
//!   moved on is stale.
//!
//! None of this changes the session's version or `updated_at`.

use super::Changeset;
use crate::error::StoreError;
use crate::events::Event;
use crate::session::Session;
use crate::sla::{SessionSla, SlaBreach, SlaChange, SlaClock, SlaState, SlaTarget};
use crate::timer::Timer;
use chrono::{DateTime, Utc};

fn changeset(next: Session) -> Changeset {
    Changeset {
        session: next,
        loads: Vec::new(),
        cursor: None,
        arm: Vec::new(),
        cancel: Vec::new(),
        no_answer: Vec::new(),
        events: Vec::new(),
        breaches: Vec::new(),
        keep_timers: false,
        notice: None,
    }
}

fn alarm(s: &Session, target: SlaTarget, clock: &SlaClock) -> Option<Timer> {
    clock
        .next_alarm()
        .map(|due| Timer::new(s.id, s.line, target.timer_kind(), due, s.version))
}

/// Decides a [`Transition::Sla`](crate::Transition::Sla).
pub(super) fn decide(
    s: &Session,
    change: &SlaChange,
    now: DateTime<Utc>,
) -> Result<Changeset, StoreError> {
    if !s.is_open() {
        return Err(StoreError::InvalidState {
            session: s.id,
            state: s.status.state(),
            action: "move SLA clocks",
        });
    }
    let mut next = s.clone();
    let mut started: Vec<SlaTarget> = Vec::new();
    let mut stopped: Vec<SlaTarget> = Vec::new();
    match change {
        SlaChange::ClientWrote { at, dues } => match &mut next.sla {
            None => {
                let mut sla = SessionSla::default();
                for target in [SlaTarget::FirstResponse, SlaTarget::Resolution] {
                    if let Some(due) = dues.of(target) {
                        *sla.clock_mut(target) = Some(SlaClock::start(*at, due));
                        started.push(target);
                    }
                }
                next.sla = Some(Box::new(sla));
            }
            Some(sla) if sla.answered => {
                sla.answered = false;
                if let Some(due) = dues.next_response {
                    sla.next_response = Some(SlaClock::start(*at, due));
                    started.push(SlaTarget::NextResponse);
                }
            }
            Some(_) => {}
        },
        SlaChange::OperatorReplied => {
            if let Some(sla) = &mut next.sla {
                sla.answered = true;
                for target in [SlaTarget::FirstResponse, SlaTarget::NextResponse] {
                    if let Some(clock) = sla.clock_mut(target).as_mut().filter(|c| c.is_running()) {
                        stopped.push(target);
                        clock.stopped_at = Some(now.max(clock.started_at));
                    }
                }
            }
        }
    }
    let arm: Vec<Timer> = match next.sla.as_deref() {
        Some(sla) => started
            .into_iter()
            .filter_map(|target| sla.clock(target).and_then(|clock| alarm(s, target, clock)))
            .collect(),
        None => Vec::new(),
    };
    let mut c = changeset(next);
    c.cancel = stopped.into_iter().map(SlaTarget::timer_kind).collect();
    c.arm = arm;
    Ok(c)
}

/// Stops every running clock of a session being closed at `now`.
pub(super) fn stop_all(s: &mut Session, now: DateTime<Utc>) {
    if let Some(sla) = &mut s.sla {
        for target in SlaTarget::ALL {
            if let Some(clock) = sla.clock_mut(target).as_mut().filter(|c| c.is_running()) {
                clock.stopped_at = Some(now);
            }
        }
    }
}

/// Decides a due service-level timer: a warning, a breach, or `None`
/// (stale) when the clock it was armed for no longer runs toward it.
pub(super) fn fire(
    s: &Session,
    timer: &Timer,
    target: SlaTarget,
    now: DateTime<Utc>,
    settings: &crate::timer::TimerSettings,
) -> Option<Changeset> {
    if s.id != timer.session || !s.is_open() {
        return None;
    }
    let clock = *s.sla.as_ref()?.clock(target)?;
    if clock.next_alarm() != Some(timer.due_at) {
        return None;
    }
    let breach = timer.due_at >= clock.due_at;
    let mut next = s.clone();
    let sla = next.sla.as_mut()?;
    let slot = sla.clock_mut(target).as_mut()?;
    slot.state = if breach {
        SlaState::Breached
    } else {
        SlaState::Warning
    };
    let updated = *slot;
    let (session, line, contact) = (s.id, s.line, s.contact);
    let operator = s.operator().cloned();
    let due_at = clock.due_at;
    let mut c = changeset(next);
    if breach {
        c.events.push(Event::SlaBreached {
            session,
            line,
            contact,
            target,
            due_at,
            operator: operator.clone(),
        });
        c.breaches.push(SlaBreach::new(
            session, line, contact, target, due_at, now, operator,
        ));
        c.cancel.push(target.timer_kind());
        if let Some(raised) = settings.sla_breach_priority.and_then(|to| {
            super::raise_priority(&c.session, to, crate::priority::PriorityCause::SlaBreach)
        }) {
            // One change: the breach and the raise (the session's timers
            // move to its new version with it).
            c.session = raised.session;
            c.keep_timers = true;
            c.events.extend(raised.events);
        }
    } else {
        c.events.push(Event::SlaWarning {
            session,
            line,
            contact,
            target,
            due_at,
            operator,
        });
        match alarm(s, target, &updated) {
            Some(t) => c.arm.push(t),
            None => c.cancel.push(target.timer_kind()),
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, LineId, SessionId};
    use crate::sla::{SlaDue, SlaDues};
    use uuid::Uuid;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(secs)
    }

    fn opened() -> Session {
        Session::opened(
            SessionId(Uuid::from_u128(1)),
            LineId(Uuid::from_u128(2)),
            ContactId(Uuid::from_u128(3)),
            at(0),
        )
    }

    fn wrote(secs: i64) -> SlaChange {
        let dues = SlaDues {
            first_response: Some(SlaDue::new(Some(at(secs + 8)), at(secs + 10))),
            ..SlaDues::default()
        };
        SlaChange::ClientWrote { at: at(secs), dues }
    }

    #[test]
    fn a_timer_not_at_the_clocks_next_alarm_is_stale() {
        let s = opened();
        let c = decide(&s, &wrote(0), at(0)).expect("decided");
        assert_eq!(c.session.version, s.version, "no version change");
        let timer = c.arm[0].clone();
        assert_eq!(timer.due_at, at(8));
        let target = SlaTarget::FirstResponse;
        // Due at the warning: a warning, re-armed at the due time.
        let warned = fire(&c.session, &timer, target, at(8), &Default::default()).expect("current");
        assert_eq!(warned.arm[0].due_at, at(10));
        assert_eq!(warned.events[0].name(), "sla_warning");
        // The same warning timer again, after the warning: stale.
        assert!(fire(&warned.session, &timer, target, at(9), &Default::default()).is_none());
        // Answered before the due time: the due timer is stale.
        let replied = decide(&warned.session, &SlaChange::OperatorReplied, at(9)).expect("ok");
        assert_eq!(
            replied.cancel,
            vec![crate::timer::TimerKind::SlaFirstResponse]
        );
        assert!(fire(
            &replied.session,
            &warned.arm[0],
            target,
            at(10),
            &Default::default()
        )
        .is_none());
        assert!(replied.breaches.is_empty());
    }
}
