//! Session transitions and the routing roster.

use super::state::{not_found, State};
use chatlines_core::{
    LineId, RosterEntry, RoutePlan, RouteReason, Session, SessionId, SessionStatus, StoreError,
    Transition, UserId,
};
use chrono::{DateTime, Utc};

/// What a transition does to the session and to operators' loads.
struct Outcome {
    status: SessionStatus,
    reason: RouteReason,
    /// Advance the line's round-robin cursor to this user.
    cursor: Option<UserId>,
}

fn invalid(session: &Session, action: &'static str) -> StoreError {
    StoreError::InvalidState {
        session: session.id,
        state: session.status.name(),
        action,
    }
}

fn assigned(operator: UserId, reason: RouteReason) -> Outcome {
    Outcome {
        status: SessionStatus::Assigned { operator },
        reason,
        cursor: None,
    }
}

fn queued(reason: RouteReason) -> Outcome {
    Outcome {
        status: SessionStatus::Queued,
        reason,
        cursor: None,
    }
}

impl State {
    pub(super) fn transition(
        &mut self,
        id: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let session = self.session_ref(id)?;
        let outcome = self.plan_outcome(session, change)?;
        let line = session.line;
        let before = session.operator().cloned();
        let after = outcome.status.operator().cloned();
        if before != after {
            if let Some(op) = &before {
                self.adjust_load(line, op, false);
            }
            if let Some(op) = &after {
                self.adjust_load(line, op, true);
            }
        }
        if let Some(user) = outcome.cursor {
            self.cursors.insert(line, user);
        }
        self.index_status(id, false);
        let closing = outcome.status == SessionStatus::Closed;
        let row = self
            .sessions
            .get_mut(&id)
            .ok_or_else(|| not_found("session", id))?;
        let s = &mut row.value;
        s.status = outcome.status;
        s.reason = outcome.reason;
        s.version = s.version.saturating_add(1);
        s.updated_at = now;
        if closing {
            s.closed_at = Some(now);
        }
        let session = s.clone();
        self.index_status(id, true);
        if closing {
            self.open.remove(&(session.line, session.contact));
        }
        Ok(session)
    }

    /// Decides what a transition does, or why it may not happen.
    fn plan_outcome(&self, s: &Session, change: Transition) -> Result<Outcome, StoreError> {
        match change {
            Transition::Route {
                expected_version,
                plan,
            } => {
                if s.version != expected_version || s.status != SessionStatus::Queued {
                    return Err(StoreError::Conflict {
                        what: "session",
                        id: s.id.to_string(),
                        expected: expected_version,
                        actual: s.version,
                    });
                }
                self.route(s.line, plan)
            }
            Transition::Take { operator } => match &s.status {
                SessionStatus::Queued | SessionStatus::Offered => {
                    Ok(assigned(operator, RouteReason::Taken))
                }
                SessionStatus::Assigned { operator: by } => Err(StoreError::AlreadyTaken {
                    session: s.id,
                    by: Some(by.clone()),
                }),
                SessionStatus::Closed => Err(invalid(s, "take")),
            },
            Transition::Assign { operator, by } => {
                if !s.is_open() {
                    return Err(invalid(s, "assign"));
                }
                Ok(assigned(operator, RouteReason::AssignedBySupervisor { by }))
            }
            Transition::Transfer { from, to } => {
                if s.operator() != Some(&from) {
                    return Err(invalid(
                        s,
                        "transfer from an operator it is not assigned to",
                    ));
                }
                Ok(match to {
                    Some(to) => assigned(to, RouteReason::Transferred { by: from }),
                    None => queued(RouteReason::Returned { by: from }),
                })
            }
            Transition::Close { by_operator } => {
                if !s.is_open() {
                    return Err(invalid(s, "close"));
                }
                if let Some(op) = &by_operator {
                    if s.operator() != Some(op) {
                        return Err(invalid(s, "close for an operator it is not assigned to"));
                    }
                }
                Ok(Outcome {
                    status: SessionStatus::Closed,
                    reason: s.reason.clone(),
                    cursor: None,
                })
            }
            // `Transition` is non-exhaustive: a variant this store does not
            // know cannot be carried out.
            #[allow(unreachable_patterns)]
            _ => Err(invalid(s, "apply an unsupported transition")),
        }
    }

    /// Carries out a routing plan against the line's roster.
    fn route(&self, line: LineId, plan: RoutePlan) -> Result<Outcome, StoreError> {
        let none_free = || queued(RouteReason::NoOperatorAvailable);
        let roster = self.rosters.get(&line);
        Ok(match plan {
            RoutePlan::Assign { operator, reason } => assigned(operator, reason),
            RoutePlan::Offer { reason } => Outcome {
                status: SessionStatus::Offered,
                reason,
                cursor: None,
            },
            RoutePlan::Queue { reason } => queued(reason),
            RoutePlan::RoundRobin => {
                match roster.and_then(|r| r.next_after(self.cursors.get(&line))) {
                    Some(user) => Outcome {
                        cursor: Some(user.clone()),
                        ..assigned(user.clone(), RouteReason::RoundRobin)
                    },
                    None => none_free(),
                }
            }
            RoutePlan::LeastLoaded { capacity } => roster
                .and_then(|r| r.least_loaded(capacity))
                .map_or_else(none_free, |user| {
                    assigned(user.clone(), RouteReason::LeastLoaded)
                }),
            // `RoutePlan` is non-exhaustive: refuse a plan this store does
            // not know rather than guess.
            #[allow(unreachable_patterns)]
            other => {
                return Err(StoreError::Backend(
                    format!("unsupported routing plan {other:?}").into(),
                ))
            }
        })
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
