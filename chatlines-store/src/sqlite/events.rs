//! The event log: appended by every write in its own transaction, read by
//! position. One writer commits in order, so the positions readers see
//! only grow and never skip a later commit.

use super::rows::{int, limit, time, to_json, ts, DbResult};
use chatlines_core::{Event, EventId, EventPosition, LoggedEvent, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// Appends events (in the caller's transaction).
pub(crate) fn log(
    conn: &Connection,
    events: &[Event],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = ts(at)?;
    let mut insert = conn
        .prepare_cached("INSERT INTO events (id, at, body) VALUES (?1, ?2, ?3)")
        .db()?;
    for event in events {
        insert
            .execute(params![uuid::Uuid::now_v7(), at, to_json(event)?])
            .db()?;
    }
    Ok(())
}

fn position(p: EventPosition) -> i64 {
    int(p.seq)
}

/// Up to `max` events after `after`, in log order. Each event's body is
/// kept as stored (JSON text) and decoded only when a reader asks for it
/// ([`LoggedEvent::event`]).
pub(crate) fn after(
    conn: &Connection,
    after: EventPosition,
    max: usize,
) -> Result<Vec<LoggedEvent>, StoreError> {
    // Single-writer positions have no transaction part; a position from
    // another store kind (tx > 0) is past every event here.
    if after.tx > 0 || max == 0 {
        return Ok(Vec::new());
    }
    let mut page = conn
        .prepare_cached(
            "SELECT position, id, at, body FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
        )
        .db()?;
    let mut rows = page.query(params![position(after), limit(max)]).db()?;
    let mut events = Vec::with_capacity(max.min(PREALLOCATE));
    while let Some(row) = rows.next().db()? {
        let seq: i64 = row.get(0).db()?;
        let body = row.get_ref(3).db()?.as_str().map_err(|e| {
            StoreError::Backend(
                format!("event at position {seq}: its body is not text: {e}").into(),
            )
        })?;
        events.push(LoggedEvent::from_json(
            EventId(row.get(1).db()?),
            EventPosition::new(0, u64::try_from(seq).unwrap_or(0)),
            time(row.get(2).db()?),
            body,
        ));
    }
    Ok(events)
}

/// Events a page reserves room for up front (a larger page grows).
const PREALLOCATE: usize = 1024;

pub(crate) fn consumer(conn: &Connection, name: &str) -> Result<Option<EventPosition>, StoreError> {
    conn.prepare_cached("SELECT position FROM event_consumers WHERE name = ?1")
        .db()?
        .query_row([name], |row| row.get::<_, i64>(0))
        .optional()
        .db()
        .map(|p| p.map(|p| EventPosition::new(0, u64::try_from(p).unwrap_or(0))))
}

pub(crate) fn save_consumer(
    conn: &Connection,
    name: &str,
    at: EventPosition,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO event_consumers (name, position, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position),
             updated_at = excluded.updated_at",
    )
    .db()?
    .execute(params![name, position(at), ts(now)?])
    .db()?;
    Ok(())
}

pub(crate) fn remove_consumer(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM event_consumers WHERE name = ?1")
        .db()?
        .execute([name])
        .db()?;
    Ok(())
}

/// Deletes up to `max` of the oldest events that are older than `before`
/// and that every consumer has passed, never the newest one. Reads `max` rows from the front
/// of the log, so it costs O(max) whatever the log's size.
pub(crate) fn prune(
    conn: &Connection,
    before: DateTime<Utc>,
    max: usize,
) -> Result<u64, StoreError> {
    let before = ts(before)?;
    let passed: Option<i64> = conn
        .prepare_cached("SELECT min(position) FROM event_consumers")
        .db()?
        .query_row([], |row| row.get(0))
        .db()?;
    // The newest event stays, so that the next position (one past the
    // largest stored) is never one handed out before.
    let newest: Option<i64> = conn
        .prepare_cached("SELECT max(position) FROM events")
        .db()?
        .query_row([], |row| row.get(0))
        .db()?;
    let Some(newest) = newest else {
        return Ok(0);
    };
    let bound = passed.unwrap_or(i64::MAX).min(newest - 1);
    let mut front = conn
        .prepare_cached(
            "SELECT position, at FROM events WHERE position <= ?1 ORDER BY position LIMIT ?2",
        )
        .db()?;
    let rows = front
        .query_map(params![bound, limit(max)], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .db()?;
    let mut cut = None;
    for row in rows {
        let (position, at) = row.db()?;
        if at >= before {
            break;
        }
        cut = Some(position);
    }
    let Some(cut) = cut else {
        return Ok(0);
    };
    let n = conn
        .prepare_cached("DELETE FROM events WHERE position <= ?1")
        .db()?
        .execute([cut])
        .db()?;
    Ok(n as u64)
}
