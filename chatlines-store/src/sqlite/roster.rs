//! The operator roster of each line: eligibility, load, and the picks of
//! round robin and least loaded (index seeks, run inside the transaction of
//! the assignment).

use super::lines::live_version;
use super::rows::DbResult;
use chatlines_core::machine::RosterQuestion;
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
    // An operator set away stays ineligible.
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO roster (line, user, eligible, load) VALUES (?1, ?2, 1, 0)
             ON CONFLICT (line, user) DO UPDATE SET eligible = 1 - away",
        )
        .db()?;
    for user in eligible {
        upsert.execute(params![line.0, user.as_str()]).db()?;
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
         ON CONFLICT (line, user) DO UPDATE SET eligible = excluded.eligible,
             no_answer = 0, away = 0"
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
    conn.prepare_cached(
        "SELECT user, eligible, load, no_answer, away FROM roster WHERE line = ?1 ORDER BY user",
    )
    .db()?
    .query_map([line.0], |r| {
        let load: i64 = r.get(2)?;
        let no_answer: i64 = r.get(3)?;
        Ok(RosterEntry::new(
            UserId::new(r.get::<_, String>(0)?),
            r.get(1)?,
            u32::try_from(load).unwrap_or(u32::MAX),
        )
        .with_no_answer(u32::try_from(no_answer).unwrap_or(u32::MAX), r.get(4)?))
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

/// Sets an operator's consecutive lapses on a line (creating an
/// ineligible entry when there is none) and, with `set_away`, sets them
/// away and ineligible.
pub(crate) fn set_no_answer(
    conn: &Connection,
    line: LineId,
    user: &UserId,
    count: u32,
    set_away: bool,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO roster (line, user, eligible, load, no_answer, away)
         VALUES (?1, ?2, 0, 0, ?3, ?4)
         ON CONFLICT (line, user) DO UPDATE SET no_answer = excluded.no_answer,
             away = max(roster.away, excluded.away),
             eligible = CASE WHEN excluded.away = 1 THEN 0 ELSE roster.eligible END",
    )
    .db()?
    .execute(params![line.0, user.as_str(), i64::from(count), set_away])
    .db()?;
    Ok(())
}

/// An operator's consecutive lapses on a line (0 without an entry).
pub(crate) fn no_answer(conn: &Connection, line: LineId, user: &UserId) -> Result<u32, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT no_answer FROM roster WHERE line = ?1 AND user = ?2")
        .db()?
        .query_row(params![line.0, user.as_str()], |r| r.get(0))
        .optional()
        .db()?;
    Ok(n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// The answer to a roster question of core's machine.
pub(crate) fn answer(
    conn: &Connection,
    line: LineId,
    question: &RosterQuestion,
) -> Result<Option<UserId>, StoreError> {
    match question {
        RosterQuestion::NextAfterCursor { excluding } if excluding.is_empty() => {
            next_after_cursor(conn, line)
        }
        RosterQuestion::NextAfterCursor { excluding } => {
            next_after_cursor_excluding(conn, line, excluding)
        }
        RosterQuestion::LeastLoaded {
            capacity,
            excluding,
        } if excluding.is_empty() => pick_least_loaded(conn, line, *capacity),
        RosterQuestion::LeastLoaded {
            capacity,
            excluding,
        } => least_loaded_excluding(conn, line, *capacity, excluding),
        // Non-exhaustive: a question this store cannot answer is refused,
        // never answered "nobody".
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Backend(
            format!("line {line}: this store cannot answer the roster question {other:?}").into(),
        )),
    }
}

fn cursor_of(conn: &Connection, line: LineId) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT rr_cursor FROM lines WHERE id = ?1")
        .db()?
        .query_row([line.0], |r| r.get(0))
        .optional()
        .db()?
        .flatten())
}

/// Round robin with exclusions: the first of the next `excluding.len() + 1`
/// eligible users after the cursor, then from the start, that is not
/// excluded (two index range reads).
fn next_after_cursor_excluding(
    conn: &Connection,
    line: LineId,
    excluding: &[UserId],
) -> Result<Option<UserId>, StoreError> {
    let n = i64::try_from(excluding.len().saturating_add(1)).unwrap_or(i64::MAX);
    let free = |u: &String| !excluding.iter().any(|e| e.as_str() == u);
    if let Some(c) = cursor_of(conn, line)? {
        let after: Vec<String> = conn
            .prepare_cached(
                "SELECT user FROM roster WHERE line = ?1 AND eligible = 1 AND user > ?2
                 ORDER BY user LIMIT ?3",
            )
            .db()?
            .query_map(params![line.0, c, n], |r| r.get(0))
            .db()?
            .collect::<Result<_, _>>()
            .db()?;
        if let Some(u) = after.into_iter().find(free) {
            return Ok(Some(UserId::new(u)));
        }
    }
    let first: Vec<String> = conn
        .prepare_cached(
            "SELECT user FROM roster WHERE line = ?1 AND eligible = 1 ORDER BY user LIMIT ?2",
        )
        .db()?
        .query_map(params![line.0, n], |r| r.get(0))
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    Ok(first.into_iter().find(free).map(UserId::new))
}

/// Least loaded with exclusions: the first not excluded of the
/// `excluding.len() + 1` eligible users with the smallest (load, user),
/// if below `capacity`.
fn least_loaded_excluding(
    conn: &Connection,
    line: LineId,
    capacity: u32,
    excluding: &[UserId],
) -> Result<Option<UserId>, StoreError> {
    let n = i64::try_from(excluding.len().saturating_add(1)).unwrap_or(i64::MAX);
    let picks: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT user, load FROM roster WHERE line = ?1 AND eligible = 1
             ORDER BY load, user LIMIT ?2",
        )
        .db()?
        .query_map(params![line.0, n], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    Ok(picks
        .into_iter()
        .find(|(u, _)| !excluding.iter().any(|e| e.as_str() == u))
        .filter(|(_, load)| *load < i64::from(capacity))
        .map(|(u, _)| UserId::new(u)))
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
