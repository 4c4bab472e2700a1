//! The advisory locks that order session writers (see the
//! [module docs](super)).

use super::error::Fail;
use super::rows;
use chatlines_core::{LineId, Session, SessionId, StoreError};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// Takes the schema's writer lock (shared), the lines' locks (shared) and
/// then the contacts' locks, each in key order (migration 0003).
pub(super) const LOCK_SESSIONS: &str = "SELECT chatlines_lock_sessions($1, $2, $3)";

/// Takes the schema's writer lock (shared).
const LOCK_WRITER: &str = "SELECT pg_advisory_xact_lock_shared(1702261875, $1)";

/// The writer-lock key of a schema: a stable 31-bit hash of its name (FNV-1a),
/// so every instance and every build computes the same key.
pub(super) fn writer_key(schema: &str) -> i32 {
    let hash = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    i32::try_from(hash & 0x7fff_ffff).unwrap_or(0)
}

/// Takes the schema's writer lock: what every transaction that appends
/// events does before its first write (the session writers take it with
/// their other locks).
pub(super) async fn lock_writer(client: &impl GenericClient, writer: i32) -> Result<(), Fail> {
    let stmt = client.prepare_cached(LOCK_WRITER).await?;
    client.execute(&stmt, &[&writer]).await?;
    Ok(())
}

/// Takes a line's lock exclusively: waits for every session writer on the
/// line and keeps new ones out until the transaction ends.
const LOCK_LINE: &str = "SELECT pg_advisory_xact_lock(1818847858, hashtext($1::uuid::text))";

/// Takes the session locks of `lines` and `contact_keys` in the global
/// order. Call it before the transaction's first write.
pub(super) async fn lock_sessions(
    client: &impl GenericClient,
    writer: i32,
    lines: &[Uuid],
    contact_keys: &[&str],
) -> Result<(), Fail> {
    let stmt = client.prepare_cached(LOCK_SESSIONS).await?;
    client
        .execute(&stmt, &[&writer, &lines, &contact_keys])
        .await?;
    Ok(())
}

/// Takes the writer lock and then a line's lock exclusively. Call it
/// before the transaction's first write.
pub(super) async fn lock_line(
    client: &impl GenericClient,
    writer: i32,
    line: Uuid,
) -> Result<(), Fail> {
    lock_writer(client, writer).await?;
    let stmt = client.prepare_cached(LOCK_LINE).await?;
    client.execute(&stmt, &[&line]).await?;
    Ok(())
}

/// Locks a session for a change: reads its line and contact (which never
/// change) without locking anything, takes their locks, then reads the
/// session as it is now, row-locked. `NotFound` if there is no such
/// session.
pub(super) async fn lock_session(
    client: &impl GenericClient,
    writer: i32,
    id: SessionId,
) -> Result<Session, Fail> {
    lock_session_keys(client, writer, id).await?;
    locked_session(client, id).await
}

/// The first half of [`lock_session`]: takes the locks of the session's
/// line and contact and returns its line, so that the caller can read the
/// session ([`locked_session`]) together with what else the change needs,
/// in one round trip. `NotFound` if there is no such session.
pub(super) async fn lock_session_keys(
    client: &impl GenericClient,
    writer: i32,
    id: SessionId,
) -> Result<LineId, Fail> {
    let stmt = client
        .prepare_cached(
            "SELECT s.line, c.key FROM sessions s JOIN contacts c ON c.id = s.contact
             WHERE s.id = $1",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&id.as_uuid()])
        .await?
        .ok_or_else(|| session_not_found(id))?;
    let line: Uuid = row.try_get(0)?;
    let key: &str = row.try_get(1)?;
    lock_sessions(client, writer, &[line], &[key]).await?;
    Ok(LineId(line))
}

/// The second half of [`lock_session`]: the session, whose locks the
/// transaction holds, as it is now, row-locked.
pub(super) async fn locked_session(
    client: &impl GenericClient,
    id: SessionId,
) -> Result<Session, Fail> {
    let sql = format!(
        "SELECT {} FROM sessions WHERE id = $1 FOR UPDATE",
        rows::SESSION_COLUMNS
    );
    let stmt = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&stmt, &[&id.as_uuid()])
        .await?
        .ok_or_else(|| session_not_found(id))?;
    rows::session(&row)
}

fn session_not_found(id: SessionId) -> Fail {
    Fail::Store(StoreError::NotFound {
        what: "session",
        id: id.to_string(),
    })
}
