//! Timers: armed and cancelled with session changes, claimed by due time.

use super::state::State;
use chatlines_core::machine::{self, Changeset};
use chatlines_core::{
    ClaimedTimer, FireOutcome, SessionId, StoreError, Timer, TimerKind, TimerSettings,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A stored timer and its lease (token, until).
#[derive(Clone, Debug)]
pub(super) struct TimerRow {
    pub(super) timer: Timer,
    pub(super) lease: Option<(Uuid, DateTime<Utc>)>,
}

/// The order timers are claimed in: due time, then session and kind.
pub(super) type TimerDueKey = (DateTime<Utc>, SessionId, TimerKind);

impl State {
    /// The line's timer settings (the default when the line is gone).
    pub(super) fn timer_settings(&self, line: chatlines_core::LineId) -> TimerSettings {
        self.lines
            .get(&line)
            .map(|r| r.value.config.timers.clone())
            .unwrap_or_default()
    }

    /// The line's routing rule and timer settings (the defaults when the
    /// line is gone).
    pub(super) fn line_timing(
        &self,
        line: chatlines_core::LineId,
    ) -> (chatlines_core::RoutingRule, TimerSettings) {
        self.lines
            .get(&line)
            .map(|r| {
                (
                    r.value.config.employees.rule.clone(),
                    r.value.config.timers.clone(),
                )
            })
            .unwrap_or_default()
    }

    /// Writes a changeset's timers: its cancels, the move of the kept ones
    /// to the new version, then its arms. Call before the session is
    /// written (the kept timers are those at its stored version).
    pub(super) fn write_timers(&mut self, c: &Changeset) {
        let id = c.session.id;
        self.write_timer_plan(id, &c.cancel, &[]);
        if c.keep_timers {
            if let Some(old) = self.sessions.get(&id).map(|r| r.value.version) {
                for kind in TimerKind::ALL {
                    if let Some(row) = self.timers.get_mut(&(id, kind)) {
                        if row.timer.armed_version == old {
                            row.timer.armed_version = c.session.version;
                        }
                    }
                }
            }
        }
        self.write_timer_plan(id, &[], &c.arm);
    }

    /// Writes the timers of a message (or a changeset): the cancels of
    /// `session`, then the arms.
    pub(super) fn write_timer_plan(
        &mut self,
        session: SessionId,
        cancel: &[TimerKind],
        arm: &[chatlines_core::Timer],
    ) {
        for kind in cancel {
            self.remove_timer(session, *kind);
        }
        for timer in arm {
            self.remove_timer(timer.session, timer.kind);
            self.timer_due
                .insert((timer.due_at, timer.session, timer.kind));
            self.timers.insert(
                (timer.session, timer.kind),
                TimerRow {
                    timer: timer.clone(),
                    lease: None,
                },
            );
        }
    }

    fn remove_timer(&mut self, session: SessionId, kind: TimerKind) {
        if let Some(row) = self.timers.remove(&(session, kind)) {
            self.timer_due.remove(&(row.timer.due_at, session, kind));
        }
    }

    pub(super) fn due_timers(&self, now: DateTime<Utc>) -> u64 {
        let due = self
            .timer_due
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .count();
        u64::try_from(due).unwrap_or(u64::MAX)
    }

    pub(super) fn claim_timers(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<ClaimedTimer> {
        let due: Vec<(SessionId, TimerKind)> = self
            .timer_due
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .map(|(_, s, k)| (*s, *k))
            .filter(|key| {
                self.timers
                    .get(key)
                    .is_some_and(|r| r.lease.is_none_or(|(_, until)| until <= now))
            })
            .take(limit)
            .collect();
        let mut claimed = Vec::with_capacity(due.len());
        for key in due {
            if let Some(row) = self.timers.get_mut(&key) {
                let token = Uuid::new_v4();
                row.lease = Some((token, lease_until));
                claimed.push(ClaimedTimer::new(row.timer.clone(), token, lease_until));
            }
        }
        claimed
    }

    pub(super) fn fire_timer(
        &mut self,
        claimed: &ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError> {
        let key = (claimed.timer.session, claimed.timer.kind);
        let held = self
            .timers
            .get(&key)
            .is_some_and(|r| r.lease.is_some_and(|(token, _)| token == claimed.token));
        let Some(session) = self.sessions.get(&key.0).map(|r| r.value.clone()) else {
            return Ok(FireOutcome::Gone);
        };
        if !held {
            return Ok(FireOutcome::Gone);
        }
        let Some(row) = self.timers.get(&key) else {
            return Ok(FireOutcome::Gone);
        };
        let timer = row.timer.clone();
        let (rule, settings) = self.line_timing(session.line);
        let question = machine::fire_question(&session, &timer, &rule, &settings);
        let next = question
            .route
            .as_ref()
            .and_then(|q| self.answer(session.line, q));
        let lapses = question.lapses_of.as_ref().map_or(0, |user| {
            self.rosters
                .get(&session.line)
                .and_then(|r| r.slot(user))
                .map_or(0, |slot| slot.no_answer)
        });
        let answer = machine::FireAnswer::new(next, lapses);
        match machine::fire(&session, &timer, now, &rule, &settings, &answer)? {
            Some(changeset) => Ok(FireOutcome::Fired(self.write_changeset(changeset, now))),
            None => {
                self.remove_timer(key.0, key.1);
                Ok(FireOutcome::Stale)
            }
        }
    }

    pub(super) fn session_timers(&self, session: SessionId) -> Vec<Timer> {
        TimerKind::ALL
            .iter()
            .filter_map(|k| self.timers.get(&(session, *k)).map(|r| r.timer.clone()))
            .collect()
    }
}
