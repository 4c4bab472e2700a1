//! Session transitions and the routing roster.

use super::state::{SessionKey, State};
use chatlines_core::machine::{self, Changeset, RosterQuestion};
use chatlines_core::{
    LineId, RosterEntry, Session, SessionId, SessionOverview, SessionState, SlaTarget, StoreError,
    Transition, UserId,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::ops::Bound;

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
            Some(q) => self.answer(line, &q),
            None => None,
        };
        let settings = self.timer_settings(line);
        let changeset = machine::decide(session, &change, now, answer.as_ref(), &settings)?;
        Ok(self.write_changeset(changeset, now))
    }

    /// The answer to a roster question, from the line's roster indexes.
    pub(super) fn answer(&self, line: LineId, question: &RosterQuestion) -> Option<UserId> {
        let roster = self.rosters.get(&line)?;
        match question {
            RosterQuestion::NextAfterCursor { excluding } => {
                roster.next_after(self.cursors.get(&line), excluding)
            }
            RosterQuestion::LeastLoaded {
                capacity,
                excluding,
            } => roster.least_loaded(*capacity, excluding),
            // Non-exhaustive: a question this store does not know finds
            // nobody.
            #[allow(unreachable_patterns)]
            _ => None,
        }
        .cloned()
    }

    /// Writes what core decided: loads, lapses, cursor, timers, the
    /// session (re-indexed) and the events.
    pub(super) fn write_changeset(&mut self, c: Changeset, now: DateTime<Utc>) -> Session {
        self.write_timers(&c);
        let line = c.session.line;
        let id = c.session.id;
        for load in &c.loads {
            self.adjust_load(line, &load.user, load.delta > 0);
        }
        for mark in &c.no_answer {
            self.rosters
                .entry(line)
                .or_default()
                .update(&mark.user, |slot| {
                    slot.no_answer = mark.count;
                    if mark.set_away {
                        slot.away = true;
                        slot.eligible = false;
                    }
                });
            if mark.set_away {
                self.track_eligible(line, &mark.user, false);
            }
        }
        if let Some(user) = c.cursor {
            self.cursors.insert(line, user);
        }
        for b in &c.breaches {
            self.sla_breaches
                .insert((b.line, b.due_at, b.session, b.target), b.clone());
        }
        self.index_status(id, false);
        if let Some(row) = self.sessions.get_mut(&id) {
            row.value = c.session.clone();
        }
        self.index_status(id, true);
        let key = (line, c.session.contact);
        // A closed session written again (wrap-up) leaves the client's
        // newer open session alone.
        if !c.session.is_open() && self.open.get(&key) == Some(&id) {
            self.open.remove(&key);
        }
        self.log(c.events, now);
        if let Some(body) = c.notice.filter(|_| c.session.is_open()) {
            self.write_notice(&c.session, body, now);
        }
        c.session
    }

    /// Writes a changeset's notice: a message from the line to the client
    /// (`machine::notice_outbound`), right after the change.
    fn write_notice(&mut self, session: &Session, body: chatlines_core::Body, now: DateTime<Utc>) {
        let Some(contact) = self.contacts.get(&session.contact) else {
            tracing::warn!(session = %session.id, "notice not written: the session's contact is missing");
            return;
        };
        let new = machine::notice_outbound(session, contact, body, now);
        if let Err(e) = self.append_outbound(new) {
            tracing::warn!(session = %session.id, error = %e, "notice not written");
        }
    }

    // ----- roster -----

    pub(super) fn replace_roster(&mut self, line: LineId, eligible: &[UserId]) {
        if !self.lines.contains_key(&line) {
            return;
        }
        let roster = self.rosters.entry(line).or_default();
        let before: Vec<UserId> = roster.eligible_users().cloned().collect();
        roster.clear_eligible();
        let mut now_eligible = Vec::with_capacity(eligible.len());
        for user in eligible {
            roster.update(user, |slot| slot.eligible = !slot.away);
            if roster.is_eligible(user) {
                now_eligible.push(user.clone());
            }
        }
        for user in &before {
            self.track_eligible(line, user, false);
        }
        for user in &now_eligible {
            self.track_eligible(line, user, true);
        }
    }

    pub(super) fn set_eligible(&mut self, line: LineId, user: &UserId, eligible: bool) {
        if !self.lines.contains_key(&line) {
            return;
        }
        let roster = self.rosters.entry(line).or_default();
        if !eligible && !roster.contains(user) {
            return;
        }
        roster.update(user, |slot| {
            slot.eligible = eligible;
            if eligible {
                slot.no_answer = 0;
                slot.away = false;
            }
        });
        self.track_eligible(line, user, eligible);
    }

    /// Sessions of the index `set` after the session `after` (all when
    /// `None`, none when `after` is unknown), in index order.
    fn keys_after<'a>(
        &self,
        set: Option<&'a BTreeSet<SessionKey>>,
        after: Option<SessionId>,
    ) -> Box<dyn Iterator<Item = &'a SessionKey> + 'a> {
        let Some(set) = set else {
            return Box::new(std::iter::empty());
        };
        match after {
            None => Box::new(set.iter()),
            Some(id) => match self.session_key(id) {
                Some(key) => Box::new(set.range((Bound::Excluded(key), Bound::Unbounded))),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    fn sessions_of(&self, keys: impl IntoIterator<Item = SessionKey>) -> Vec<Session> {
        keys.into_iter()
            .filter_map(|(_, _, id)| self.sessions.get(&id).map(|r| r.value.clone()))
            .collect()
    }

    pub(super) fn assigned_after(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Vec<Session> {
        let keys: Vec<SessionKey> = self
            .keys_after(self.assigned.get(operator), after)
            .take(limit)
            .copied()
            .collect();
        self.sessions_of(keys)
    }

    pub(super) fn offered_to(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Vec<Session> {
        // Serving order (highest priority, then oldest), from the position
        // of `after` in it; an unknown `after` gives nothing.
        let after_key = match after {
            None => None,
            Some(id) => match self.sessions.get(&id) {
                Some(r) => Some((
                    std::cmp::Reverse(r.value.priority.rank()),
                    (r.value.opened_at, r.seq, id),
                )),
                None => return Vec::new(),
            },
        };
        let mut keys: Vec<super::state::ServingKey> = Vec::new();
        for line in self.eligible_lines.get(operator).into_iter().flatten() {
            let Some(set) = self.offered_serving.get(line) else {
                continue;
            };
            match &after_key {
                None => keys.extend(set.iter().take(limit).copied()),
                Some(k) => keys.extend(
                    set.range((Bound::Excluded(*k), Bound::Unbounded))
                        .take(limit)
                        .copied(),
                ),
            }
        }
        keys.sort_unstable();
        keys.truncate(limit);
        self.sessions_of(keys.into_iter().map(|(_, key)| key))
    }

    pub(super) fn line_sessions(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        limit: usize,
    ) -> Vec<SessionOverview> {
        let index = match state {
            None | Some(SessionState::Assigned | SessionState::Bot) => self.open_by_line.get(&line),
            Some(SessionState::Queued) => self.queued.get(&line),
            Some(SessionState::Offered) => self.offered.get(&line),
            Some(SessionState::Closed) => None,
        };
        self.keys_after(index, after)
            .filter_map(|(_, _, id)| self.sessions.get(id).map(|r| &r.value))
            .filter(|s| state.is_none_or(|want| s.status.state() == want))
            .take(limit)
            .map(|s| {
                let t = self.times.get(&s.id).copied().unwrap_or_default();
                SessionOverview::new(s.clone(), t.waiting_since, t.last_in, t.last_out)
            })
            .collect()
    }

    pub(super) fn sla_breaches(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<chatlines_core::SlaBreach> {
        if until <= from {
            return Vec::new();
        }
        let low = (
            line,
            from,
            SessionId(uuid::Uuid::nil()),
            SlaTarget::FirstResponse,
        );
        self.sla_breaches
            .range((Bound::Included(low), Bound::Unbounded))
            .take_while(|((l, due, _, _), _)| *l == line && *due < until)
            .take(limit)
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub(super) fn roster(&self, line: LineId) -> Vec<RosterEntry> {
        self.rosters
            .get(&line)
            .map(|r| {
                r.slots()
                    .map(|(user, slot)| {
                        RosterEntry::new(user.clone(), slot.eligible, slot.load)
                            .with_no_answer(slot.no_answer, slot.away)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
