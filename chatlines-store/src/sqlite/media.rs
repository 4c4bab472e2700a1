//! The media queue: fetch jobs written with their message (inside
//! `append_inbound`), claimed under a lease, finished by the lease holder
//! together with the message's attachment and the events.

use super::rows::{self, to_json, ts, DbResult};
use super::{events, messages};
use chatlines_core::machine;
use chatlines_core::{Lease, MediaJob, MediaJobStatus, MediaOutcome, MessageId, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

/// Columns read by [`job`].
const COLS: &str = "message, idx, session, source, remote, state, attempts, next_attempt_at, \
     lease_token, lease_until, last_error, created_at";

/// A `media_jobs` row.
fn job(row: &Row<'_>) -> rusqlite::Result<MediaJob> {
    let index: i64 = row.get(1)?;
    let mut j = MediaJob::pending(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(2)?.into(),
        u32::try_from(index).unwrap_or(u32::MAX),
        row.get::<_, Uuid>(3)?.into(),
        row.get::<_, String>(4)?,
        rows::time(row.get(11)?),
    );
    let state: String = row.get(5)?;
    j.status = MediaJobStatus::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            Type::Text,
            format!("unknown media job state {state:?}").into(),
        )
    })?;
    let attempts: i64 = row.get(6)?;
    j.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    j.next_attempt_at = rows::time(row.get(7)?);
    j.lease = match (
        row.get::<_, Option<Uuid>>(8)?,
        row.get::<_, Option<i64>>(9)?,
    ) {
        (Some(token), Some(until)) => Some(Lease {
            token,
            until: rows::time(until),
        }),
        _ => None,
    };
    j.last_error = row.get(10)?;
    Ok(j)
}

/// Writes the jobs of a stored message (in `append_inbound`'s transaction).
pub(crate) fn insert(conn: &Connection, jobs: &[MediaJob]) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "INSERT INTO media_jobs ({COLS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))
        .db()?;
    for j in jobs {
        stmt.execute(params![
            j.message.0,
            i64::from(j.index),
            j.session.0,
            j.source.0,
            j.remote,
            j.status.as_str(),
            i64::from(j.attempts),
            ts(j.next_attempt_at)?,
            j.lease.map(|l| l.token),
            j.lease.map(|l| ts(l.until)).transpose()?,
            j.last_error,
            ts(j.created_at)?
        ])
        .db()?;
    }
    Ok(())
}

fn get(conn: &Connection, message: MessageId, index: u32) -> Result<Option<MediaJob>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM media_jobs WHERE message = ?1 AND idx = ?2"
    ))
    .db()?
    .query_row(params![message.0, i64::from(index)], job)
    .optional()
    .db()
}

pub(crate) fn for_message(
    conn: &Connection,
    message: MessageId,
) -> Result<Vec<MediaJob>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLS} FROM media_jobs WHERE message = ?1 ORDER BY idx"
    ))
    .db()?
    .query_map([message.0], job)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}

pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: usize,
) -> Result<Vec<MediaJob>, StoreError> {
    let mut due: Vec<MediaJob> = conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM media_jobs
             WHERE state = 'pending' AND next_attempt_at <= ?1
               AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY next_attempt_at, created_at, rowid LIMIT ?2"
        ))
        .db()?
        .query_map(params![ts(now)?, rows::limit(max)], job)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let until = ts(lease_until)?;
    let mut lease = conn
        .prepare_cached(
            "UPDATE media_jobs SET lease_token = ?3, lease_until = ?4
             WHERE message = ?1 AND idx = ?2",
        )
        .db()?;
    for j in &mut due {
        let token = Uuid::new_v4();
        lease
            .execute(params![j.message.0, i64::from(j.index), token, until])
            .db()?;
        j.lease = Some(Lease {
            token,
            until: lease_until,
        });
    }
    Ok(due)
}

pub(crate) fn finish(
    conn: &Connection,
    message: MessageId,
    index: u32,
    token: Uuid,
    outcome: MediaOutcome,
    now: DateTime<Utc>,
) -> Result<MediaJob, StoreError> {
    let before = get(conn, message, index)?.ok_or_else(|| StoreError::NotFound {
        what: "media job",
        id: format!("{message}/{index}"),
    })?;
    let stored = messages::get(conn, message)?;
    let decided = machine::finish_media(&before, token, stored.as_ref(), outcome)?;
    let j = &decided.job;
    conn.prepare_cached(
        "UPDATE media_jobs SET state = ?3, attempts = ?4, next_attempt_at = ?5,
             lease_token = NULL, lease_until = NULL, last_error = ?6
         WHERE message = ?1 AND idx = ?2",
    )
    .db()?
    .execute(params![
        message.0,
        i64::from(index),
        j.status.as_str(),
        i64::from(j.attempts),
        ts(j.next_attempt_at)?,
        j.last_error
    ])
    .db()?;
    if let Some(updated) = &decided.message {
        conn.prepare_cached("UPDATE messages SET body = ?2 WHERE id = ?1")
            .db()?
            .execute(params![updated.id.0, to_json(&updated.body)?])
            .db()?;
    }
    events::log(conn, &decided.events, now)?;
    Ok(decided.job)
}
