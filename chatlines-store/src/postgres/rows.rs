//! Converting between rows and domain records.

use super::error::Fail;
use chatlines_core::{
    AccountLink, Author, Body, Contact, ContactKey, Direction, ExternalRef, Lease, Line,
    LineConfig, Message, OutboxEntry, OutboxStatus, RequestRecord, RosterEntry, RouteReason,
    Session, SessionStatus, Source, StoreError, UserId,
};
use chrono::{DateTime, Utc};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Nanoseconds since the Unix epoch (how timestamps are stored, exactly).
pub(crate) fn ns(t: DateTime<Utc>) -> Result<i64, StoreError> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        StoreError::Backend(
            format!("timestamp {t} is outside 1677..2262 and cannot be stored").into(),
        )
    })
}

/// A time as a query bound: [`ns`], with times outside the stored range
/// clamped to its ends (nothing stored lies beyond them).
pub(crate) fn ns_bound(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The inverse of [`ns`].
pub(crate) fn time(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// A `u64` (version, seq) as a column value.
pub(crate) fn big(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("value {v} exceeds i64").into()))
}

/// A column value as `u64` (never negative by construction).
pub(crate) fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A `limit` as a `LIMIT` parameter.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The stable text form of a contact key (its unique column).
pub(crate) fn contact_key(key: &ContactKey) -> Result<String, Fail> {
    Ok(serde_json::to_string(key)?)
}

pub(crate) const LINE_COLUMNS: &str = "id, version, config, created_ns, updated_ns";

pub(crate) fn line(row: &Row) -> Result<Line, Fail> {
    let Json(config): Json<LineConfig> = row.try_get("config")?;
    Ok(Line::new(
        row.try_get::<_, uuid::Uuid>("id")?.into(),
        unsigned(row.try_get("version")?),
        config,
        time(row.try_get("created_ns")?),
        time(row.try_get("updated_ns")?),
    ))
}

pub(crate) const SOURCE_COLUMNS: &str = "id, line, kind, display_name, config_ref, created_ns";

pub(crate) fn source(row: &Row) -> Result<Source, Fail> {
    Ok(Source::new(
        row.try_get::<_, uuid::Uuid>("id")?.into(),
        row.try_get::<_, uuid::Uuid>("line")?.into(),
        row.try_get::<_, String>("kind")?,
        row.try_get::<_, String>("display_name")?,
        row.try_get::<_, String>("config_ref")?,
        time(row.try_get("created_ns")?),
    ))
}

pub(crate) const CONTACT_COLUMNS: &str = "id, key, display_name, reply_address, created_ns";

pub(crate) fn contact(row: &Row) -> Result<Contact, Fail> {
    contact_from(
        row.try_get("id")?,
        row.try_get("key")?,
        row.try_get("display_name")?,
        row.try_get("reply_address")?,
        row.try_get("created_ns")?,
    )
}

pub(crate) fn contact_from(
    id: uuid::Uuid,
    key: &str,
    display_name: String,
    reply_address: Option<String>,
    created_ns: i64,
) -> Result<Contact, Fail> {
    let key: ContactKey = serde_json::from_str(key)?;
    Ok(Contact::new(
        id.into(),
        key,
        display_name,
        reply_address,
        time(created_ns),
    ))
}

pub(crate) const SESSION_COLUMNS: &str = "id, line, contact, status, operator, reason, version, \
     last_seq, opened_ns, updated_ns, closed_ns, sla, priority";

pub(crate) fn session(row: &Row) -> Result<Session, Fail> {
    session_from(
        row.try_get("id")?,
        row.try_get("line")?,
        row.try_get("contact")?,
        SessionParts {
            status: row.try_get("status")?,
            operator: row.try_get("operator")?,
            reason: row.try_get("reason")?,
            version: row.try_get("version")?,
            last_seq: row.try_get("last_seq")?,
            opened_ns: row.try_get("opened_ns")?,
            updated_ns: row.try_get("updated_ns")?,
            closed_ns: row.try_get("closed_ns")?,
            sla: row.try_get("sla")?,
            priority: row.try_get("priority")?,
        },
    )
}

/// The stored columns of a session besides its ids.
pub(crate) struct SessionParts<'a> {
    pub status: &'a str,
    pub operator: Option<String>,
    pub reason: Json<RouteReason>,
    pub version: i64,
    pub last_seq: i64,
    pub opened_ns: i64,
    pub updated_ns: i64,
    pub closed_ns: Option<i64>,
    /// The SLA clocks (`None` where the query does not read them).
    pub sla: Option<Json<chatlines_core::SessionSla>>,
    /// The priority's rank (0 low … 3 urgent).
    pub priority: i16,
}

pub(crate) fn session_from(
    id: uuid::Uuid,
    line: uuid::Uuid,
    contact: uuid::Uuid,
    p: SessionParts<'_>,
) -> Result<Session, Fail> {
    let status = match (p.status, p.operator) {
        ("queued", _) => SessionStatus::Queued,
        ("bot", _) => SessionStatus::Bot,
        ("offered", _) => SessionStatus::Offered,
        ("assigned", Some(op)) => SessionStatus::Assigned {
            operator: UserId::new(op),
        },
        ("closed", _) => SessionStatus::Closed,
        (other, _) => {
            return Err(Fail::Store(StoreError::Unusable(format!(
                "session {id} has an unknown status {other:?}"
            ))))
        }
    };
    let mut s = Session::opened(id.into(), line.into(), contact.into(), time(p.opened_ns));
    s.status = status;
    s.reason = p.reason.0;
    s.version = unsigned(p.version);
    s.last_seq = unsigned(p.last_seq);
    s.updated_at = time(p.updated_ns);
    s.closed_at = p.closed_ns.map(time);
    s.sla = p.sla.map(|j| Box::new(j.0));
    s.priority = u8::try_from(p.priority)
        .ok()
        .and_then(chatlines_core::Priority::from_rank)
        .ok_or_else(|| {
            Fail::Store(StoreError::Unusable(format!(
                "session {id} has an unknown priority rank {}",
                p.priority
            )))
        })?;
    Ok(s)
}

/// The status column and operator column of a status.
pub(crate) fn status_columns(status: &SessionStatus) -> (&'static str, Option<&str>) {
    (status.name(), status.operator().map(UserId::as_str))
}

pub(crate) const SLA_BREACH_COLUMNS: &str =
    "session, line, contact, target, due_ns, breached_ns, operator";

pub(crate) fn sla_breach(row: &Row) -> Result<chatlines_core::SlaBreach, Fail> {
    let target: &str = row.try_get("target")?;
    let target = chatlines_core::SlaTarget::from_name(target).ok_or_else(|| {
        Fail::Store(StoreError::Unusable(format!(
            "an SLA breach has an unknown target {target:?}"
        )))
    })?;
    Ok(chatlines_core::SlaBreach::new(
        row.try_get::<_, uuid::Uuid>("session")?.into(),
        row.try_get::<_, uuid::Uuid>("line")?.into(),
        row.try_get::<_, uuid::Uuid>("contact")?.into(),
        target,
        time(row.try_get("due_ns")?),
        time(row.try_get("breached_ns")?),
        row.try_get::<_, Option<String>>("operator")?
            .map(UserId::new),
    ))
}

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, session, line, contact, seq, direction, author, body, \
     ext_source, ext_id, created_ns, sent_ns";

pub(crate) fn message(row: &Row) -> Result<Message, Fail> {
    message_from(MessageParts {
        id: row.try_get("id")?,
        session: row.try_get("session")?,
        line: row.try_get("line")?,
        contact: row.try_get("contact")?,
        seq: row.try_get("seq")?,
        direction: row.try_get("direction")?,
        author: row.try_get("author")?,
        body: row.try_get("body")?,
        ext_source: row.try_get("ext_source")?,
        ext_id: row.try_get("ext_id")?,
        created_ns: row.try_get("created_ns")?,
        sent_ns: row.try_get("sent_ns")?,
    })
}

/// The stored columns of a message.
pub(crate) struct MessageParts<'a> {
    pub id: uuid::Uuid,
    pub session: uuid::Uuid,
    pub line: uuid::Uuid,
    pub contact: uuid::Uuid,
    pub seq: i64,
    pub direction: &'a str,
    pub author: Json<Author>,
    pub body: Json<Body>,
    pub ext_source: Option<uuid::Uuid>,
    pub ext_id: Option<String>,
    pub created_ns: i64,
    pub sent_ns: Option<i64>,
}

pub(crate) fn message_from(p: MessageParts<'_>) -> Result<Message, Fail> {
    let direction = match p.direction {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        other => {
            return Err(Fail::Store(StoreError::Unusable(format!(
                "message {} has an unknown direction {other:?}",
                p.id
            ))))
        }
    };
    let external = match (p.ext_source, p.ext_id) {
        (Some(source), Some(message_id)) => Some(ExternalRef {
            source: source.into(),
            message_id,
        }),
        _ => None,
    };
    Ok(Message::new(
        p.id.into(),
        p.session.into(),
        p.line.into(),
        p.contact.into(),
        unsigned(p.seq),
        direction,
        p.author.0,
        p.body.0,
        external,
        time(p.created_ns),
    )
    .with_sent_at(p.sent_ns.map(time)))
}

pub(crate) fn roster_entry(row: &Row) -> Result<RosterEntry, Fail> {
    Ok(RosterEntry::new(
        UserId::new(row.try_get::<_, String>("user_id")?),
        row.try_get("eligible")?,
        u32::try_from(row.try_get::<_, i32>("load")?).unwrap_or(0),
    )
    .with_no_answer(
        u32::try_from(row.try_get::<_, i32>("no_answer")?).unwrap_or(0),
        row.try_get("away")?,
    ))
}

pub(crate) const LINK_COLUMNS: &str = "line, contact, app, item, linked_by, linked_ns";

pub(crate) fn account_link(row: &Row) -> Result<AccountLink, Fail> {
    Ok(AccountLink::new(
        row.try_get::<_, uuid::Uuid>("line")?.into(),
        row.try_get::<_, uuid::Uuid>("contact")?.into(),
        row.try_get::<_, String>("app")?.into(),
        row.try_get::<_, String>("item")?.into(),
        row.try_get::<_, Option<String>>("linked_by")?
            .map(UserId::new),
        time(row.try_get("linked_ns")?),
    ))
}

pub(crate) const REQUEST_COLUMNS: &str = "id, session, app, item, created_by, created_ns";

pub(crate) fn request(row: &Row) -> Result<RequestRecord, Fail> {
    Ok(RequestRecord::new(
        row.try_get::<_, uuid::Uuid>("id")?.into(),
        row.try_get::<_, uuid::Uuid>("session")?.into(),
        row.try_get::<_, String>("app")?.into(),
        row.try_get::<_, String>("item")?.into(),
        UserId::new(row.try_get::<_, String>("created_by")?),
        time(row.try_get("created_ns")?),
    ))
}

pub(crate) const OUTBOX_COLUMNS: &str = "id, message, session, source, address, status, \
     sent_external_id, failed_error, attempts, next_attempt_ns, lease_token, lease_until_ns, \
     last_error, created_ns, sent_substitute";

pub(crate) fn outbox(row: &Row) -> Result<OutboxEntry, Fail> {
    let id: uuid::Uuid = row.try_get("id")?;
    let status = match row.try_get::<_, &str>("status")? {
        "pending" => OutboxStatus::Pending,
        "sent" => OutboxStatus::Sent {
            external_id: row
                .try_get::<_, Option<String>>("sent_external_id")?
                .unwrap_or_default(),
            substitute: row.try_get::<_, Option<String>>("sent_substitute")?,
        },
        "failed" => OutboxStatus::Failed {
            error: row
                .try_get::<_, Option<String>>("failed_error")?
                .unwrap_or_default(),
        },
        other => {
            return Err(Fail::Store(StoreError::Unusable(format!(
                "outbox entry {id} has an unknown status {other:?}"
            ))))
        }
    };
    let lease = match (
        row.try_get::<_, Option<uuid::Uuid>>("lease_token")?,
        row.try_get::<_, Option<i64>>("lease_until_ns")?,
    ) {
        (Some(token), Some(until)) => Some(Lease {
            token,
            until: time(until),
        }),
        _ => None,
    };
    let mut e = OutboxEntry::pending(
        id.into(),
        row.try_get::<_, uuid::Uuid>("message")?.into(),
        row.try_get::<_, uuid::Uuid>("session")?.into(),
        row.try_get::<_, uuid::Uuid>("source")?.into(),
        row.try_get::<_, String>("address")?,
        time(row.try_get("created_ns")?),
    );
    e.status = status;
    e.attempts = u32::try_from(row.try_get::<_, i32>("attempts")?).unwrap_or(0);
    e.next_attempt_at = time(row.try_get("next_attempt_ns")?);
    e.lease = lease;
    e.last_error = row.try_get("last_error")?;
    Ok(e)
}
