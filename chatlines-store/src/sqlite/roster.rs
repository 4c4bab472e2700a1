//! The operator roster of each line: eligibility, load, and the picks of
//! round robin and least loaded (index seeks, run inside the transaction of
//! the assignment).

use super::lines::live_version;
use super::rows::DbResult;
use chatlines_core::{LineId, RosterEntry, StoreError, UserId};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn replace(
    conn: &Connection,
    line: LineId,
    eligible: &[UserId],
) -> Result<(), StoreError> {
    if live_version(conn, line)?.is_none() {
        return Ok(());
    }
    conn.prepare_cached("UPDATE roster SET eligible = 0 WHERE line = ?1 AND eligible = 1")
        .db()?
        .execute([line.0])
        .db()?;
    for user in eligible {
        set_eligible(conn, line, user, true)?;
    }
    Ok(())
}

pub(crate) fn set_eligible(
    conn: &Connection,
    line: LineId,
    user: &UserId,
    eligible: bool,
) -> Result<(), StoreError> {
    if live_version(conn, line)?.is_none() {
        return Ok(());
    }
    // Ineligible never creates an entry.
    let sql = if eligible {
        "INSERT INTO roster (line, user, eligible, load) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (line, user) DO UPDATE SET eligible = excluded.eligible"
    } else {
        "UPDATE roster SET eligible = ?3 WHERE line = ?1 AND user = ?2 AND eligible <> ?3"
    };
    conn.prepare_cached(sql)
        .db()?
        .execute(params![line.0, user.as_str(), eligible])
        .db()?;
    Ok(())
}

pub(crate) fn list(conn: &Connection, line: LineId) -> Result<Vec<RosterEntry>, StoreError> {
    conn.prepare_cached("SELECT user, eligible, load FROM roster WHERE line = ?1 ORDER BY user")
        .db()?
        .query_map([line.0], |r| {
            let load: i64 = r.get(2)?;
            Ok(RosterEntry::new(
                UserId::new(r.get::<_, String>(0)?),
                r.get(1)?,
                u32::try_from(load).unwrap_or(u32::MAX),
            ))
        })
        .db()?
        .collect::<Result<_, _>>()
        .db()
}

/// One more open session for `user` on `line` (creating an ineligible
/// entry if the user has none).
pub(crate) fn add_load(conn: &Connection, line: LineId, user: &UserId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO roster (line, user, eligible, load) VALUES (?1, ?2, 0, 1)
         ON CONFLICT (line, user) DO UPDATE SET load = load + 1",
    )
    .db()?
    .execute(params![line.0, user.as_str()])
    .db()?;
    Ok(())
}

/// One open session less for `user` on `line` (never below zero).
pub(crate) fn sub_load(conn: &Connection, line: LineId, user: &UserId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE roster SET load = load - 1 WHERE line = ?1 AND user = ?2 AND load > 0",
    )
    .db()?
    .execute(params![line.0, user.as_str()])
    .db()?;
    Ok(())
}

/// Round robin's question: the first eligible user after the line's cursor
/// (wrapping). Two index seeks; the cursor moves only when core assigns.
pub(crate) fn next_after_cursor(
    conn: &Connection,
    line: LineId,
) -> Result<Option<UserId>, StoreError> {
    let cursor: Option<String> = conn
        .prepare_cached("SELECT rr_cursor FROM lines WHERE id = ?1")
        .db()?
        .query_row([line.0], |r| r.get(0))
        .optional()
        .db()?
        .flatten();
    let mut picked: Option<String> = match &cursor {
        Some(c) => conn
            .prepare_cached(
                "SELECT user FROM roster WHERE line = ?1 AND eligible = 1 AND user > ?2
                 ORDER BY user LIMIT 1",
            )
            .db()?
            .query_row(params![line.0, c], |r| r.get(0))
            .optional()
            .db()?,
        None => None,
    };
    if picked.is_none() {
        picked = conn
            .prepare_cached(
                "SELECT user FROM roster WHERE line = ?1 AND eligible = 1 ORDER BY user LIMIT 1",
            )
            .db()?
            .query_row([line.0], |r| r.get(0))
            .optional()
            .db()?;
    }
    Ok(picked.map(UserId::new))
}

/// Moves the line's round-robin cursor.
pub(crate) fn set_cursor(conn: &Connection, line: LineId, user: &UserId) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE lines SET rr_cursor = ?2 WHERE id = ?1")
        .db()?
        .execute(params![line.0, user.as_str()])
        .db()?;
    Ok(())
}

/// Least loaded: the eligible user with the smallest (load, user) whose
/// load is below `capacity`.
pub(crate) fn pick_least_loaded(
    conn: &Connection,
    line: LineId,
    capacity: u32,
) -> Result<Option<UserId>, StoreError> {
    conn.prepare_cached(
        "SELECT user FROM roster WHERE line = ?1 AND eligible = 1 AND load < ?2
         ORDER BY load, user LIMIT 1",
    )
    .db()?
    .query_row(params![line.0, i64::from(capacity)], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .db()
    .map(|u| u.map(UserId::new))
}
