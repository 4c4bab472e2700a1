//! The outbox: entries written with their message, claimed under a lease,
//! finished by the lease holder.

use super::events;
use super::rows::{self, outbox_state, to_json, ts, DbResult, OUTBOX_COLS};
use chatlines_core::machine;
use chatlines_core::{
    DeliveryOutcome, Lease, MessageId, OutboxEntry, OutboxId, OutboxStatus, StoreError,
};
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

pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: usize,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut due: Vec<OutboxEntry> = conn
        .prepare_cached(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox
             WHERE state = 'pending' AND next_attempt_at <= ?1
               AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY next_attempt_at, created_at, rowid LIMIT ?2"
        ))
        .db()?
        .query_map(params![ts(now)?, rows::limit(max)], rows::outbox)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let until = ts(lease_until)?;
    let mut lease = conn
        .prepare_cached("UPDATE outbox SET lease_token = ?2, lease_until = ?3 WHERE id = ?1")
        .db()?;
    for e in &mut due {
        let token = Uuid::new_v4();
        lease.execute(params![e.id.0, token, until]).db()?;
        e.lease = Some(Lease {
            token,
            until: lease_until,
        });
    }
    Ok(due)
}

pub(crate) fn finish(
    conn: &Connection,
    id: OutboxId,
    token: Uuid,
    outcome: DeliveryOutcome,
    now: DateTime<Utc>,
) -> Result<OutboxEntry, StoreError> {
    let mut e = get(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "outbox entry",
        id: id.to_string(),
    })?;
    if e.lease.map(|l| l.token) != Some(token) {
        return Err(StoreError::Conflict {
            what: "outbox lease",
            id: id.to_string(),
            expected: 0,
            actual: 0,
        });
    }
    match outcome {
        DeliveryOutcome::Sent { external_id } => e.status = OutboxStatus::Sent { external_id },
        DeliveryOutcome::Failed { error } => {
            e.status = OutboxStatus::Failed {
                error: error.clone(),
            };
            e.last_error = Some(error);
        }
        DeliveryOutcome::Retry { at, error } => {
            e.status = OutboxStatus::Pending;
            e.next_attempt_at = at;
            e.last_error = Some(error);
        }
        other => {
            return Err(StoreError::Backend(
                format!("this SQLite store does not know the delivery outcome {other:?}").into(),
            ))
        }
    }
    e.attempts = e.attempts.saturating_add(1);
    e.lease = None;
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
