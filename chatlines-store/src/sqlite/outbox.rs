//! The outbox: entries written with their message, claimed under a lease,
//! finished by the lease holder.

use super::events;
use super::rows::{self, outbox_state, to_json, ts, DbResult, OUTBOX_COLS};
use chatlines_core::machine;
use chatlines_core::{DeliveryOutcome, Lease, MessageId, OutboxEntry, OutboxId, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

pub(crate) fn insert(conn: &Connection, e: &OutboxEntry) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM outbox WHERE id = ?1")
        .db()?
        .exists([e.id.0])
        .db()?;
    if exists {
        return Err(StoreError::AlreadyExists {
            what: "outbox entry",
            id: e.id.to_string(),
        });
    }
    conn.prepare_cached(&format!(
        "INSERT INTO outbox (state, {OUTBOX_COLS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))
    .db()?
    .execute(params![
        outbox_state(&e.status),
        e.id.0,
        e.message.0,
        e.session.0,
        e.source.0,
        e.address,
        to_json(&e.status)?,
        i64::from(e.attempts),
        ts(e.next_attempt_at)?,
        e.lease.map(|l| l.token),
        e.lease.map(|l| ts(l.until)).transpose()?,
        e.last_error,
        ts(e.created_at)?
    ])
    .db()?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
    conn.prepare_cached(&format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id = ?1"))
        .db()?
        .query_row([id.0], rows::outbox)
        .optional()
        .db()
}

pub(crate) fn for_message(
    conn: &Connection,
    message: MessageId,
) -> Result<Option<OutboxEntry>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE message = ?1"
    ))
    .db()?
    .query_row([message.0], rows::outbox)
    .optional()
    .db()
}

/// How many entries are pending (counted on the partial index of
/// pending entries).
pub(crate) fn pending(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: usize,
) -> Result<Vec<OutboxEntry>, StoreError> {
    // Only a chat's head: no older pending entry of the same chat
    // (`outbox_chat_pending` answers that with one seek).
    let due: Vec<OutboxEntry> = conn
        .prepare_cached(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
               AND (o.lease_until IS NULL OR o.lease_until <= ?1)
               AND NOT EXISTS (
                   SELECT 1 FROM outbox p
                   WHERE p.state = 'pending' AND p.source = o.source
                     AND p.address = o.address AND p.rowid < o.rowid)
             ORDER BY o.next_attempt_at, o.created_at, o.rowid LIMIT ?2"
        ))
        .db()?
        .query_map(params![ts(now)?, rows::limit(max)], rows::outbox)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let mut lease = conn
        .prepare_cached(
            "UPDATE outbox SET lease_token = ?2, lease_until = ?3, attempts = ?4,
                 last_error = ?5
             WHERE id = ?1",
        )
        .db()?;
    let until = ts(lease_until)?;
    let mut claimed = Vec::with_capacity(due.len());
    for e in due {
        let e = e.claimed(Lease {
            token: Uuid::new_v4(),
            until: lease_until,
        });
        lease
            .execute(params![
                e.id.0,
                e.lease.map(|l| l.token),
                until,
                i64::from(e.attempts),
                e.last_error
            ])
            .db()?;
        claimed.push(e);
    }
    Ok(claimed)
}

pub(crate) fn finish(
    conn: &Connection,
    id: OutboxId,
    token: Uuid,
    outcome: DeliveryOutcome,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, StoreError> {
    let stored = get(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "outbox entry",
        id: id.to_string(),
    })?;
    let e = stored.finished(token, outcome)?;
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, status = ?3, attempts = ?4, next_attempt_at = ?5,
             lease_token = NULL, lease_until = NULL, last_error = ?6
         WHERE id = ?1 AND lease_token = ?7",
    )
    .db()?
    .execute(params![
        e.id.0,
        outbox_state(&e.status),
        to_json(&e.status)?,
        i64::from(e.attempts),
        ts(e.next_attempt_at)?,
        e.last_error,
        token
    ])
    .db()?;
    events::log(conn, &machine::delivery_events(&e), now)?;
    Ok(e)
}
