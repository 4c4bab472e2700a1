//! Session transitions and the routing roster.

use super::state::State;
use chatlines_core::machine::{self, Changeset, RosterQuestion};
use chatlines_core::{LineId, RosterEntry, Session, SessionId, StoreError, Transition, UserId};
use chrono::{DateTime, Utc};

impl State {
    pub(super) fn transition(
        &mut self,
        id: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let session = self.session_ref(id)?;
        let line = session.line;
        let answer = match machine::roster_question(session, &change) {
            Some(RosterQuestion::NextAfterCursor) => self
                .rosters
                .get(&line)
                .and_then(|r| r.next_after(self.cursors.get(&line)))
                .cloned(),
            Some(RosterQuestion::LeastLoaded { capacity }) => self
                .rosters
                .get(&line)
                .and_then(|r| r.least_loaded(capacity))
                .cloned(),
            _ => None,
        };
        let changeset = machine::decide(session, &change, now, answer.as_ref())?;
        Ok(self.write_changeset(changeset, now))
    }

    /// Writes what core decided: loads, cursor, the session (re-indexed) and
    /// the events.
    pub(super) fn write_changeset(&mut self, c: Changeset, now: DateTime<Utc>) -> Session {
        let line = c.session.line;
        let id = c.session.id;
        for load in &c.loads {
            self.adjust_load(line, &load.user, load.delta > 0);
        }
        if let Some(user) = c.cursor {
            self.cursors.insert(line, user);
        }
        self.index_status(id, false);
        if let Some(row) = self.sessions.get_mut(&id) {
            row.value = c.session.clone();
        }
        self.index_status(id, true);
        if !c.session.is_open() {
            self.open.remove(&(line, c.session.contact));
        }
        self.log(c.events, now);
        c.session
    }

    // ----- roster -----

    pub(super) fn replace_roster(&mut self, line: LineId, eligible: &[UserId]) {
        if !self.lines.contains_key(&line) {
            return;
        }
        let roster = self.rosters.entry(line).or_default();
        roster.clear_eligible();
        for user in eligible {
            roster.update(user, |slot| slot.eligible = true);
        }
    }

    pub(super) fn set_eligible(&mut self, line: LineId, user: &UserId, eligible: bool) {
        if !self.lines.contains_key(&line) {
            return;
        }
        self.rosters
            .entry(line)
            .or_default()
            .update(user, |slot| slot.eligible = eligible);
    }

    pub(super) fn roster(&self, line: LineId) -> Vec<RosterEntry> {
        self.rosters
            .get(&line)
            .map(|r| {
                r.slots()
                    .map(|(user, slot)| RosterEntry::new(user.clone(), slot.eligible, slot.load))
                    .collect()
            })
            .unwrap_or_default()
    }
}
