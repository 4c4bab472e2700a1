//! Sessions: lookups, lists and the transitions (a conditional
//! `UPDATE … WHERE version = ?` with the roster bookkeeping in the same
//! transaction).

use super::rows::{
    self, int, limit, status_cols, to_json, ts, DbResult, SESSION_COLS, SESSION_COL_COUNT,
};
use super::{events, roster};
use chatlines_core::machine::{self, Changeset};
use chatlines_core::{
    ContactId, LineId, Session, SessionId, SessionOverview, SessionState, StoreError, Transition,
    UserId,
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

/// The open sessions of a line.
pub(crate) fn open_of_line(conn: &Connection, line: LineId) -> Result<Vec<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE line = ?1 AND status <> 'closed'"
    ))
    .db()?
    .query_map([line.0], rows::session)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// The contact's latest session on the line (by opening).
pub(crate) fn latest(
    conn: &Connection,
    line: LineId,
    contact: ContactId,
) -> Result<Option<Session>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE line = ?1 AND contact = ?2
         ORDER BY opened_at DESC, rowid DESC LIMIT 1"
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

/// Queued (`"queued"`) or offered (`"offered"`) sessions of a line in
/// serving order: highest priority, then oldest (the `sessions_serving`
/// index); on a line with priority aging by the queue key
/// ([`queue_key`](chatlines_core::priority::queue_key)), a sort of the
/// line's waiting sessions of that status.
pub(crate) fn waiting(
    conn: &Connection,
    line: LineId,
    status: &'static str,
    max: usize,
) -> Result<Vec<Session>, StoreError> {
    let aging = super::timers::settings(conn, line)?.priority_aging();
    let step = aging.and_then(|a| a.num_nanoseconds());
    let order = if step.is_some() {
        "opened_at - priority * ?4, opened_at, rowid"
    } else {
        "priority DESC, opened_at, rowid"
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SESSION_COLS} FROM sessions
             WHERE line = ?1 AND status = ?2 AND status IN ('queued', 'offered')
             ORDER BY {order} LIMIT ?3"
        ))
        .db()?;
    let found: Vec<Session> = match step {
        Some(step) => stmt
            .query_map(params![line.0, status, limit(max), step], rows::session)
            .db()?
            .collect::<Result<_, _>>()
            .db()?,
        None => stmt
            .query_map(params![line.0, status, limit(max)], rows::session)
            .db()?
            .collect::<Result<_, _>>()
            .db()?,
    };
    Ok(found)
}

/// Lines with queued sessions after `after`, by id (the partial index
/// `sessions_queued`).
pub(crate) fn queued_lines(
    conn: &Connection,
    after: Option<LineId>,
    max: usize,
) -> Result<Vec<LineId>, StoreError> {
    conn.prepare_cached(
        "SELECT DISTINCT line FROM sessions INDEXED BY sessions_queued
         WHERE status = 'queued' AND (?1 IS NULL OR line > ?1)
         ORDER BY line LIMIT ?2",
    )
    .db()?
    .query_map(params![after.map(|a| a.0), limit(max)], |row| {
        row.get(0).map(LineId)
    })
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// `AND (opened_at, rowid)` of `alias` after those of the session bound to
/// `?param` (no row when that session is unknown).
fn after_clause(alias: &str, param: u8) -> String {
    format!(
        "AND ({alias}.opened_at, {alias}.rowid) > \
         (SELECT a.opened_at, a.rowid FROM sessions a WHERE a.id = ?{param})"
    )
}

pub(crate) fn assigned(
    conn: &Connection,
    operator: &UserId,
    after: Option<SessionId>,
    max: usize,
) -> Result<Vec<Session>, StoreError> {
    let cols = rows::qualified(SESSION_COLS, "s");
    let tail = if after.is_some() {
        after_clause("s", 3)
    } else {
        "AND ?3 IS NULL".to_owned()
    };
    conn.prepare_cached(&format!(
        "SELECT {cols} FROM sessions s WHERE s.operator = ?1 AND s.status = 'assigned' {tail}
         ORDER BY s.opened_at, s.rowid LIMIT ?2"
    ))
    .db()?
    .query_map(
        params![operator.as_str(), limit(max), after.map(|a| a.0)],
        rows::session,
    )
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// Offered sessions of every line the operator is eligible on, highest
/// priority first, then oldest: one query joining the operator's roster
/// entries (`roster_by_user`) to each line's waiting sessions
/// (`sessions_serving`), sorted (the lines' offers merge).
pub(crate) fn offered_to(
    conn: &Connection,
    operator: &UserId,
    after: Option<SessionId>,
    max: usize,
) -> Result<Vec<Session>, StoreError> {
    let cols = rows::qualified(SESSION_COLS, "s");
    let tail = if after.is_some() {
        "AND (-s.priority, s.opened_at, s.rowid) > \
         (SELECT -a.priority, a.opened_at, a.rowid FROM sessions a WHERE a.id = ?3)"
            .to_owned()
    } else {
        "AND ?3 IS NULL".to_owned()
    };
    conn.prepare_cached(&format!(
        "SELECT {cols} FROM roster r
         JOIN sessions s ON s.line = r.line AND s.status = 'offered'
             AND s.status IN ('queued', 'offered')
         WHERE r.user = ?1 AND r.eligible = 1 {tail}
         ORDER BY s.priority DESC, s.opened_at, s.rowid LIMIT ?2"
    ))
    .db()?
    .query_map(
        params![operator.as_str(), limit(max), after.map(|a| a.0)],
        rows::session,
    )
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// A line's open sessions with their message times: the last operator
/// message is a seek on `messages_outbound`; the first client message
/// after it, and the last client message, are seeks on `(session, seq)`
/// (the latter reads back over the operator messages that end the
/// session, if any).
pub(crate) fn of_line(
    conn: &Connection,
    line: LineId,
    state: Option<SessionState>,
    after: Option<SessionId>,
    max: usize,
) -> Result<Vec<SessionOverview>, StoreError> {
    if state == Some(SessionState::Closed) {
        return Ok(Vec::new());
    }
    let cols = rows::qualified(SESSION_COLS, "s");
    let tail = if after.is_some() {
        after_clause("s", 3)
    } else {
        "AND ?3 IS NULL".to_owned()
    };
    let last = |direction: &str| {
        format!(
            "(SELECT m.created_at FROM messages m
              WHERE m.session = s.id AND m.direction = '{direction}'
              ORDER BY m.seq DESC LIMIT 1)"
        )
    };
    let (last_in, last_out) = (last("inbound"), last("outbound"));
    let waiting = "(SELECT m.created_at FROM messages m
          WHERE m.session = s.id AND m.direction = 'inbound'
            AND m.seq > coalesce((SELECT max(o.seq) FROM messages o
                                  WHERE o.session = s.id AND o.direction = 'outbound'), 0)
          ORDER BY m.seq LIMIT 1)";
    conn.prepare_cached(&format!(
        "SELECT {cols}, {waiting}, {last_in}, {last_out} FROM sessions s
         WHERE s.line = ?1 AND s.status <> 'closed' AND (?4 IS NULL OR s.status = ?4) {tail}
         ORDER BY s.opened_at, s.rowid LIMIT ?2"
    ))
    .db()?
    .query_map(
        params![
            line.0,
            limit(max),
            after.map(|a| a.0),
            state.map(SessionState::name)
        ],
        |r| {
            let at = |i: usize| r.get::<_, Option<i64>>(i).map(|t| t.map(rows::time));
            Ok(SessionOverview::new(
                rows::session(r)?,
                at(SESSION_COL_COUNT)?,
                at(SESSION_COL_COUNT + 1)?,
                at(SESSION_COL_COUNT + 2)?,
            ))
        },
    )
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// Up to `limit` SLA breaches of a line due in `[from, until)`.
pub(crate) fn sla_breaches(
    conn: &Connection,
    line: LineId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    n: usize,
) -> Result<Vec<chatlines_core::SlaBreach>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM sla_breaches
         WHERE line = ?1 AND due_at >= ?2 AND due_at < ?3
         ORDER BY due_at, session, target LIMIT ?4",
        rows::SLA_BREACH_COLS
    ))
    .db()?
    .query_map(
        params![
            line.0,
            rows::ts_bound(from),
            rows::ts_bound(until),
            limit(n)
        ],
        rows::sla_breach,
    )
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

/// Stores a freshly opened session.
pub(crate) fn insert(conn: &Connection, s: &Session) -> Result<(), StoreError> {
    let (status, operator) = status_cols(&s.status);
    conn.prepare_cached(&format!(
        "INSERT INTO sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
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
        s.closed_at.map(ts).transpose()?,
        s.sla.as_ref().map(to_json).transpose()?,
        s.priority.rank()
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

/// Applies a transition through core's machine; returns the session after
/// it.
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
    let answer = match machine::roster_question(&s, &change) {
        Some(q) => roster::answer(conn, s.line, &q)?,
        None => None,
    };
    let settings = super::timers::settings(conn, s.line)?;
    let changeset = machine::decide(&s, &change, now, answer.as_ref(), &settings)?;
    write_changeset(conn, changeset, s.version, now)
}

/// Writes what core decided, guarded by the version it was decided on.
pub(crate) fn write_changeset(
    conn: &Connection,
    c: Changeset,
    expected: u64,
    now: DateTime<Utc>,
) -> Result<Session, StoreError> {
    let line = c.session.line;
    for load in &c.loads {
        if load.delta > 0 {
            roster::add_load(conn, line, &load.user)?;
        } else {
            roster::sub_load(conn, line, &load.user)?;
        }
    }
    for mark in &c.no_answer {
        roster::set_no_answer(conn, line, &mark.user, mark.count, mark.set_away)?;
    }
    if let Some(user) = &c.cursor {
        roster::set_cursor(conn, line, user)?;
    }
    save(conn, &c.session, expected)?;
    super::timers::write(conn, &c, expected)?;
    for b in &c.breaches {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO sla_breaches
                 (session, target, due_at, line, contact, breached_at, operator)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .db()?
        .execute(params![
            b.session.0,
            b.target.name(),
            ts(b.due_at)?,
            b.line.0,
            b.contact.0,
            ts(b.breached_at)?,
            b.operator.as_ref().map(UserId::as_str)
        ])
        .db()?;
    }
    events::log(conn, &c.events, now)?;
    if let Some(body) = c.notice.filter(|_| c.session.is_open()) {
        // A message from the line to the client, with the change.
        let contact = super::messages::contact(conn, c.session.contact)?.ok_or_else(|| {
            StoreError::NotFound {
                what: "contact",
                id: c.session.contact.to_string(),
            }
        })?;
        let new = machine::notice_outbound(&c.session, &contact, body, now);
        super::messages::append_outbound(conn, new)?;
    }
    Ok(c.session)
}

/// Writes a transition, guarded by the version it was computed from.
fn save(conn: &Connection, s: &Session, expected: u64) -> Result<(), StoreError> {
    let (status, operator) = status_cols(&s.status);
    let changed = conn
        .prepare_cached(
            "UPDATE sessions SET status = ?2, operator = ?3, reason = ?4, version = ?5,
                 updated_at = ?6, closed_at = ?7, sla = ?9, priority = ?10
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
            int(expected),
            s.sla.as_ref().map(to_json).transpose()?,
            s.priority.rank()
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
