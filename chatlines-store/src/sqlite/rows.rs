//! Conversions between rows and domain records, and from SQLite errors to
//! [`StoreError`].
//!
//! Ids are stored as 16-byte blobs, times as nanoseconds since the Unix epoch
//! (exact round trip of a `DateTime<Utc>`), complex values as JSON text.

use chatlines_core::{
    AccountLink, Author, Body, Contact, ContactKey, Direction, ExternalRef, Lease, Line, Message,
    OutboxEntry, OutboxStatus, RequestRecord, RouteReason, Session, SessionStatus, Source,
    StoreError, UserId,
};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{ErrorCode, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// A time as stored: nanoseconds since the epoch.
pub(crate) fn ts(t: DateTime<Utc>) -> Result<i64, StoreError> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        StoreError::Backend(
            format!("time {t} is outside the range the SQLite store keeps (years 1678 to 2261)")
                .into(),
        )
    })
}

/// A time as a query bound: [`ts`], with times outside the stored range
/// clamped to its ends (nothing stored lies beyond them).
pub(crate) fn ts_bound(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A stored time.
pub(crate) fn time(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// Serializes a value stored as a JSON column.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Reads a JSON column.
pub(crate) fn json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text = row.get_ref(idx)?.as_str()?;
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Reads a stored count (never negative) as `u64`.
pub(crate) fn count(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, Box::new(e)))
}

/// A `u64` as stored.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A page size as stored.
pub(crate) fn limit(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn stored_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(time(row.get(idx)?))
}

fn stored_time_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(time))
}

fn bad(idx: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, what.into())
}

/// Columns read by [`line`].
pub(crate) const LINE_COLS: &str = "id, version, config, created_at, updated_at";

/// A `lines` row.
pub(crate) fn line(row: &Row<'_>) -> rusqlite::Result<Line> {
    Ok(Line::new(
        row.get::<_, Uuid>(0)?.into(),
        count(row, 1)?,
        json(row, 2)?,
        stored_time(row, 3)?,
        stored_time(row, 4)?,
    ))
}

/// Columns read by [`source`].
pub(crate) const SOURCE_COLS: &str = "id, line, kind, display_name, config_ref, created_at";

/// A `sources` row.
pub(crate) fn source(row: &Row<'_>) -> rusqlite::Result<Source> {
    Ok(Source::new(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, String>(2)?,
        row.get::<_, String>(3)?,
        row.get::<_, String>(4)?,
        stored_time(row, 5)?,
    ))
}

/// The stored form of a contact's identity (unique in `contacts.key`).
pub(crate) fn contact_key(key: &ContactKey) -> Result<String, StoreError> {
    to_json(key)
}

/// Columns read by [`contact`].
pub(crate) const CONTACT_COLS: &str = "id, key, display_name, reply_address, created_at";

/// A `contacts` row.
pub(crate) fn contact(row: &Row<'_>) -> rusqlite::Result<Contact> {
    contact_at(row, 0)
}

/// A `contacts` row whose [`CONTACT_COLS`] start at column `at`.
pub(crate) fn contact_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Contact> {
    Ok(Contact::new(
        row.get::<_, Uuid>(at)?.into(),
        json(row, at + 1)?,
        row.get::<_, String>(at + 2)?,
        row.get::<_, Option<String>>(at + 3)?,
        stored_time(row, at + 4)?,
    ))
}

/// How many columns [`SESSION_COLS`] names.
pub(crate) const SESSION_COL_COUNT: usize = 13;

/// `cols` (a comma-separated column list) qualified by `table`.
pub(crate) fn qualified(cols: &str, table: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Columns read by [`session`].
pub(crate) const SESSION_COLS: &str =
    "id, line, contact, status, operator, reason, version, last_seq, opened_at, updated_at, closed_at, sla, priority";

/// The stored `(status, operator)` of a session status.
pub(crate) fn status_cols(status: &SessionStatus) -> (&'static str, Option<&str>) {
    (status.name(), status.operator().map(UserId::as_str))
}

/// A `sessions` row.
pub(crate) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    let status: String = row.get(3)?;
    let operator: Option<String> = row.get(4)?;
    let status = match (status.as_str(), operator) {
        ("queued", _) => SessionStatus::Queued,
        ("bot", _) => SessionStatus::Bot,
        ("offered", _) => SessionStatus::Offered,
        ("assigned", Some(op)) => SessionStatus::Assigned {
            operator: UserId::new(op),
        },
        ("closed", _) => SessionStatus::Closed,
        (other, _) => return Err(bad(3, format!("unknown session status {other:?}"))),
    };
    let mut s = Session::opened(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, Uuid>(2)?.into(),
        stored_time(row, 8)?,
    );
    s.status = status;
    s.reason = json::<RouteReason>(row, 5)?;
    s.version = count(row, 6)?;
    s.last_seq = count(row, 7)?;
    s.updated_at = stored_time(row, 9)?;
    s.closed_at = stored_time_opt(row, 10)?;
    s.sla =
        match row.get_ref(11)?.as_str_or_null()? {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(11, Type::Text, Box::new(e))
            })?),
            None => None,
        };
    let rank: i64 = row.get(12)?;
    s.priority = u8::try_from(rank)
        .ok()
        .and_then(chatlines_core::Priority::from_rank)
        .ok_or_else(|| bad(12, format!("unknown priority rank {rank}")))?;
    Ok(s)
}

/// Columns read by [`sla_breach`].
pub(crate) const SLA_BREACH_COLS: &str =
    "session, line, contact, target, due_at, breached_at, operator";

/// A `sla_breaches` row.
pub(crate) fn sla_breach(row: &Row<'_>) -> rusqlite::Result<chatlines_core::SlaBreach> {
    let target: String = row.get(3)?;
    let target = chatlines_core::SlaTarget::from_name(&target)
        .ok_or_else(|| bad(3, format!("unknown SLA target {target:?}")))?;
    Ok(chatlines_core::SlaBreach::new(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, Uuid>(2)?.into(),
        target,
        stored_time(row, 4)?,
        stored_time(row, 5)?,
        row.get::<_, Option<String>>(6)?.map(UserId::new),
    ))
}

/// Columns read by [`message`].
pub(crate) const MESSAGE_COLS: &str =
    "id, session, line, contact, seq, direction, author, body, source_id, external_message_id, created_at, \
     sent_at";

/// The stored form of a direction.
pub(crate) fn direction_col(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// A `messages` row.
pub(crate) fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let direction = match row.get::<_, String>(5)?.as_str() {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        other => return Err(bad(5, format!("unknown direction {other:?}"))),
    };
    let external = match (
        row.get::<_, Option<Uuid>>(8)?,
        row.get::<_, Option<String>>(9)?,
    ) {
        (Some(source), Some(message_id)) => Some(ExternalRef {
            source: source.into(),
            message_id,
        }),
        _ => None,
    };
    Ok(Message::new(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, Uuid>(2)?.into(),
        row.get::<_, Uuid>(3)?.into(),
        count(row, 4)?,
        direction,
        json::<Author>(row, 6)?,
        json::<Body>(row, 7)?,
        external,
        stored_time(row, 10)?,
    )
    .with_sent_at(stored_time_opt(row, 11)?))
}

/// Columns read by [`outbox`].
pub(crate) const OUTBOX_COLS: &str = "id, message, session, source, address, status, attempts, \
     next_attempt_at, lease_token, lease_until, last_error, created_at";

/// The stored state name of an outbox status (indexed; details in JSON).
pub(crate) fn outbox_state(status: &OutboxStatus) -> &'static str {
    match status {
        OutboxStatus::Pending => "pending",
        OutboxStatus::Sent { .. } => "sent",
        _ => "failed",
    }
}

/// An `outbox` row.
pub(crate) fn outbox(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let mut e = OutboxEntry::pending(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, Uuid>(2)?.into(),
        row.get::<_, Uuid>(3)?.into(),
        row.get::<_, String>(4)?,
        stored_time(row, 11)?,
    );
    e.status = json(row, 5)?;
    let attempts: i64 = row.get(6)?;
    e.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    e.next_attempt_at = stored_time(row, 7)?;
    e.lease = match (row.get::<_, Option<Uuid>>(8)?, stored_time_opt(row, 9)?) {
        (Some(token), Some(until)) => Some(Lease { token, until }),
        _ => None,
    };
    e.last_error = row.get(10)?;
    Ok(e)
}

/// Columns read by [`account_link`].
pub(crate) const LINK_COLS: &str = "line, contact, app, item, linked_by, linked_at";

/// An `account_links` row.
pub(crate) fn account_link(row: &Row<'_>) -> rusqlite::Result<AccountLink> {
    Ok(AccountLink::new(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, String>(2)?.into(),
        row.get::<_, String>(3)?.into(),
        row.get::<_, Option<String>>(4)?.map(UserId::new),
        stored_time(row, 5)?,
    ))
}

/// Columns read by [`request`].
pub(crate) const REQUEST_COLS: &str = "id, session, app, item, created_by, created_at";

/// A `requests` row.
pub(crate) fn request(row: &Row<'_>) -> rusqlite::Result<RequestRecord> {
    Ok(RequestRecord::new(
        row.get::<_, Uuid>(0)?.into(),
        row.get::<_, Uuid>(1)?.into(),
        row.get::<_, String>(2)?.into(),
        row.get::<_, String>(3)?.into(),
        row.get::<_, String>(4)?.into(),
        stored_time(row, 5)?,
    ))
}

/// Maps a SQLite error to a [`StoreError`] that says what to do.
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!(
                "the SQLite database is locked by another connection or process ({e}); \
                 retry, or stop the other process using the file"
            ))
        }
        Some(ErrorCode::NotADatabase) => StoreError::Unusable(format!(
            "the file is not a SQLite database ({e}); point the store at a chatlines database \
             or a new file"
        )),
        Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::PermissionDenied) => StoreError::Unusable(format!(
            "the SQLite database cannot be opened for writing ({e}); check the path and its \
                 permissions"
        )),
        Some(ErrorCode::DiskFull) | Some(ErrorCode::SystemIoFailure) => StoreError::Unavailable(
            format!("the SQLite database could not be written ({e}); free disk space and retry"),
        ),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// `rusqlite` results as store results.
pub(crate) trait DbResult<T> {
    /// Maps the error with [`db_err`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(db_err)
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;

    #[test]
    fn session_col_count_matches_the_list() {
        assert_eq!(SESSION_COLS.split(',').count(), SESSION_COL_COUNT);
        assert_eq!(qualified("id, key", "c"), "c.id, c.key");
    }
}
