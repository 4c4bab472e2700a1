//! Lines and their sources.

use super::rows::{self, int, to_json, ts, DbResult, LINE_COLS, SOURCE_COLS};
use super::{events, sessions};
use chatlines_core::machine;
use chatlines_core::{Line, LineId, Source, SourceId, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// The version of a live (not deleted) line, if any.
pub(crate) fn live_version(conn: &Connection, id: LineId) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached("SELECT version FROM lines WHERE id = ?1 AND deleted_at IS NULL")
        .db()?
        .query_row([id.0], |r| rows::count(r, 0))
        .optional()
        .db()
}

fn line_not_found(id: LineId) -> StoreError {
    StoreError::NotFound {
        what: "line",
        id: id.to_string(),
    }
}

fn check_version(id: LineId, found: Option<u64>, expected: u64) -> Result<(), StoreError> {
    match found {
        None => Err(line_not_found(id)),
        Some(actual) if actual != expected => Err(StoreError::Conflict {
            what: "line",
            id: id.to_string(),
            expected,
            actual,
        }),
        Some(_) => Ok(()),
    }
}

pub(crate) fn insert(conn: &Connection, line: &Line) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM lines WHERE id = ?1")
        .db()?
        .exists([line.id.0])
        .db()?;
    if exists {
        return Err(StoreError::AlreadyExists {
            what: "line",
            id: line.id.to_string(),
        });
    }
    conn.prepare_cached(
        "INSERT INTO lines (id, version, config, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        line.id.0,
        int(line.version),
        to_json(&line.config)?,
        ts(line.created_at)?,
        ts(line.updated_at)?
    ])
    .db()?;
    events::log(conn, &machine::line_created(line), line.created_at)
}

pub(crate) fn update(conn: &Connection, line: &Line, expected: u64) -> Result<(), StoreError> {
    check_version(line.id, live_version(conn, line.id)?, expected)?;
    let changed = conn
        .prepare_cached(
            "UPDATE lines SET version = ?2, config = ?3, updated_at = ?4
             WHERE id = ?1 AND version = ?5 AND deleted_at IS NULL",
        )
        .db()?
        .execute(params![
            line.id.0,
            int(expected.saturating_add(1)),
            to_json(&line.config)?,
            ts(line.updated_at)?,
            int(expected)
        ])
        .db()?;
    if changed != 1 {
        return Err(line_not_found(line.id));
    }
    let mut stored = line.clone();
    stored.version = expected.saturating_add(1);
    events::log(conn, &machine::line_updated(&stored), line.updated_at)
}

pub(crate) fn delete(
    conn: &Connection,
    id: LineId,
    expected: u64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    check_version(id, live_version(conn, id)?, expected)?;
    let at = now;
    let now = ts(now)?;
    conn.prepare_cached(
        "UPDATE lines SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND version = ?3",
    )
    .db()?
    .execute(params![id.0, now, int(expected)])
    .db()?;
    conn.prepare_cached("DELETE FROM sources WHERE line = ?1")
        .db()?
        .execute([id.0])
        .db()?;
    let open = sessions::open_of_line(conn, id)?;
    let (closes, events) = machine::line_deleted(id, &open, at);
    for close in closes {
        let expected = close.session.version.saturating_sub(1);
        sessions::write_changeset(conn, close, expected, at)?;
    }
    events::log(conn, &events, at)?;
    conn.prepare_cached("DELETE FROM roster WHERE line = ?1")
        .db()?
        .execute([id.0])
        .db()?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: LineId) -> Result<Option<Line>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {LINE_COLS} FROM lines WHERE id = ?1 AND deleted_at IS NULL"
    ))
    .db()?
    .query_row([id.0], rows::line)
    .optional()
    .db()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Line>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {LINE_COLS} FROM lines WHERE deleted_at IS NULL ORDER BY created_at, rowid"
    ))
    .db()?
    .query_map([], rows::line)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

pub(crate) fn insert_source(conn: &Connection, source: &Source) -> Result<(), StoreError> {
    if live_version(conn, source.line)?.is_none() {
        return Err(line_not_found(source.line));
    }
    let exists = conn
        .prepare_cached("SELECT 1 FROM sources WHERE id = ?1")
        .db()?
        .exists([source.id.0])
        .db()?;
    if exists {
        return Err(StoreError::AlreadyExists {
            what: "source",
            id: source.id.to_string(),
        });
    }
    conn.prepare_cached(&format!(
        "INSERT INTO sources ({SOURCE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))
    .db()?
    .execute(params![
        source.id.0,
        source.line.0,
        source.kind,
        source.display_name,
        source.config_ref,
        ts(source.created_at)?
    ])
    .db()?;
    events::log(conn, &machine::source_bound(source), source.created_at)
}

pub(crate) fn delete_source(
    conn: &Connection,
    id: SourceId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(stored) = source(conn, id)? else {
        return Err(StoreError::NotFound {
            what: "source",
            id: id.to_string(),
        });
    };
    conn.prepare_cached("DELETE FROM sources WHERE id = ?1")
        .db()?
        .execute([id.0])
        .db()?;
    events::log(conn, &machine::source_unbound(&stored), now)
}

pub(crate) fn source(conn: &Connection, id: SourceId) -> Result<Option<Source>, StoreError> {
    conn.prepare_cached(&format!("SELECT {SOURCE_COLS} FROM sources WHERE id = ?1"))
        .db()?
        .query_row([id.0], rows::source)
        .optional()
        .db()
}

pub(crate) fn sources(conn: &Connection) -> Result<Vec<Source>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SOURCE_COLS} FROM sources ORDER BY created_at, rowid"
    ))
    .db()?
    .query_map([], rows::source)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}
