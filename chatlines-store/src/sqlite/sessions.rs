//! Sessions: lookups, lists and the transitions (a conditional
//! `UPDATE … WHERE version = ?` with the roster bookkeeping in the same
//! transaction).

use super::roster;
use super::rows::{self, int, limit, status_cols, to_json, ts, DbResult, SESSION_COLS};
use chatlines_core::{
    ContactId, LineId, RoutePlan, RouteReason, Session, SessionId, SessionStatus, StoreError,
    Transition, UserId,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn get(conn: &Connection, id: SessionId) -> Result<Option<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"
    ))
    .db()?
    .query_row([id.0], rows::session)
    .optional()
    .db()
}

pub(crate) fn open(
    conn: &Connection,
    line: LineId,
    contact: ContactId,
) -> Result<Option<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions
         WHERE line = ?1 AND contact = ?2 AND status <> 'closed'"
    ))
    .db()?
    .query_row(params![line.0, contact.0], rows::session)
    .optional()
    .db()
}

pub(crate) fn of_contact(
    conn: &Connection,
    line: LineId,
    contact: ContactId,
) -> Result<Vec<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE line = ?1 AND contact = ?2
         ORDER BY opened_at, rowid"
    ))
    .db()?
    .query_map(params![line.0, contact.0], rows::session)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// Queued (`"queued"`) or offered (`"offered"`) sessions of a line, oldest first.
pub(crate) fn waiting(
    conn: &Connection,
    line: LineId,
    status: &'static str,
    max: usize,
) -> Result<Vec<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions
         WHERE line = ?1 AND status = ?2 AND status IN ('queued', 'offered')
         ORDER BY opened_at, rowid LIMIT ?3"
    ))
    .db()?
    .query_map(params![line.0, status, limit(max)], rows::session)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

pub(crate) fn assigned(conn: &Connection, operator: &UserId) -> Result<Vec<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE operator = ?1 AND status = 'assigned'
         ORDER BY opened_at, rowid"
    ))
    .db()?
    .query_map([operator.as_str()], rows::session)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// Stores a freshly opened session.
pub(crate) fn insert(conn: &Connection, s: &Session) -> Result<(), StoreError> {
    let (status, operator) = status_cols(&s.status);
    conn.prepare_cached(&format!(
        "INSERT INTO sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))
    .db()?
    .execute(params![
        s.id.0,
        s.line.0,
        s.contact.0,
        status,
        operator,
        to_json(&s.reason)?,
        int(s.version),
        int(s.last_seq),
        ts(s.opened_at)?,
        ts(s.updated_at)?,
        s.closed_at.map(ts).transpose()?
    ])
    .db()?;
    Ok(())
}

/// Records the sequence number of a newly appended message.
pub(crate) fn set_last_seq(conn: &Connection, id: SessionId, seq: u64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sessions SET last_seq = ?2 WHERE id = ?1")
        .db()?
        .execute(params![id.0, int(seq)])
        .db()?;
    Ok(())
}

fn invalid(s: &Session, action: &'static str) -> StoreError {
    StoreError::InvalidState {
        session: s.id,
        state: s.status.name(),
        action,
    }
}

/// Applies a transition; returns the session after it.
pub(crate) fn transition(
    conn: &Connection,
    id: SessionId,
    change: Transition,
    now: DateTime<Utc>,
) -> Result<Session, StoreError> {
    let s = get(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "session",
        id: id.to_string(),
    })?;
    let mut next = s.clone();
    match change {
        Transition::Route {
            expected_version,
            plan,
        } => {
            // A session that is no longer queued was routed (or taken)
            // since the router looked: the router's view is stale.
            if s.version != expected_version || s.status != SessionStatus::Queued {
                return Err(StoreError::Conflict {
                    what: "session",
                    id: id.to_string(),
                    expected: expected_version,
                    actual: s.version,
                });
            }
            route(conn, &mut next, plan)?;
        }
        Transition::Take { operator } => match &s.status {
            SessionStatus::Closed => return Err(invalid(&s, "take")),
            SessionStatus::Assigned { operator: by } => {
                return Err(StoreError::AlreadyTaken {
                    session: id,
                    by: Some(by.clone()),
                })
            }
            _ => {
                roster::add_load(conn, s.line, &operator)?;
                next.status = SessionStatus::Assigned { operator };
                next.reason = RouteReason::Taken;
            }
        },
        Transition::Assign { operator, by } => {
            match &s.status {
                SessionStatus::Closed => return Err(invalid(&s, "assign")),
                SessionStatus::Assigned { operator: previous } => {
                    roster::sub_load(conn, s.line, previous)?;
                }
                _ => {}
            }
            roster::add_load(conn, s.line, &operator)?;
            next.status = SessionStatus::Assigned { operator };
            next.reason = RouteReason::AssignedBySupervisor { by };
        }
        Transition::Transfer { from, to } => {
            if s.operator() != Some(&from) {
                return Err(invalid(&s, "transfer"));
            }
            roster::sub_load(conn, s.line, &from)?;
            match to {
                Some(to) => {
                    roster::add_load(conn, s.line, &to)?;
                    next.status = SessionStatus::Assigned { operator: to };
                    next.reason = RouteReason::Transferred { by: from };
                }
                None => {
                    next.status = SessionStatus::Queued;
                    next.reason = RouteReason::Returned { by: from };
                }
            }
        }
        Transition::Close { by_operator } => {
            if !s.is_open() {
                return Err(invalid(&s, "close"));
            }
            if let Some(o) = &by_operator {
                if s.operator() != Some(o) {
                    return Err(invalid(&s, "close"));
                }
            }
            if let Some(previous) = s.operator() {
                roster::sub_load(conn, s.line, previous)?;
            }
            next.status = SessionStatus::Closed;
            next.closed_at = Some(now);
        }
        other => {
            return Err(StoreError::Backend(
                format!("this SQLite store does not know the transition {other:?}").into(),
            ))
        }
    }
    next.version = s.version.saturating_add(1);
    next.updated_at = now;
    save(conn, &next, s.version)?;
    Ok(next)
}

fn route(conn: &Connection, next: &mut Session, plan: RoutePlan) -> Result<(), StoreError> {
    let queued = |next: &mut Session| {
        next.status = SessionStatus::Queued;
        next.reason = RouteReason::NoOperatorAvailable;
    };
    match plan {
        RoutePlan::Assign { operator, reason } => {
            roster::add_load(conn, next.line, &operator)?;
            next.status = SessionStatus::Assigned { operator };
            next.reason = reason;
        }
        RoutePlan::Offer { reason } => {
            next.status = SessionStatus::Offered;
            next.reason = reason;
        }
        RoutePlan::Queue { reason } => {
            next.status = SessionStatus::Queued;
            next.reason = reason;
        }
        RoutePlan::RoundRobin => match roster::pick_round_robin(conn, next.line)? {
            Some(operator) => {
                roster::add_load(conn, next.line, &operator)?;
                next.status = SessionStatus::Assigned { operator };
                next.reason = RouteReason::RoundRobin;
            }
            None => queued(next),
        },
        RoutePlan::LeastLoaded { capacity } => {
            match roster::pick_least_loaded(conn, next.line, capacity)? {
                Some(operator) => {
                    roster::add_load(conn, next.line, &operator)?;
                    next.status = SessionStatus::Assigned { operator };
                    next.reason = RouteReason::LeastLoaded;
                }
                None => queued(next),
            }
        }
        other => {
            return Err(StoreError::Backend(
                format!("this SQLite store does not know the route plan {other:?}").into(),
            ))
        }
    }
    Ok(())
}

/// Writes a transition, guarded by the version it was computed from.
fn save(conn: &Connection, s: &Session, expected: u64) -> Result<(), StoreError> {
    let (status, operator) = status_cols(&s.status);
    let changed = conn
        .prepare_cached(
            "UPDATE sessions SET status = ?2, operator = ?3, reason = ?4, version = ?5,
                 updated_at = ?6, closed_at = ?7
             WHERE id = ?1 AND version = ?8",
        )
        .db()?
        .execute(params![
            s.id.0,
            status,
            operator,
            to_json(&s.reason)?,
            int(s.version),
            ts(s.updated_at)?,
            s.closed_at.map(ts).transpose()?,
            int(expected)
        ])
        .db()?;
    if changed != 1 {
        let actual = get(conn, s.id)?.map_or(0, |s| s.version);
        return Err(StoreError::Conflict {
            what: "session",
            id: s.id.to_string(),
            expected,
            actual,
        });
    }
    Ok(())
}
