//! Appending and reading messages.

use super::error::Fail;
use super::locks::lock_session;
use super::log::EventRows;
use super::rows::{self, big, limit, ns};
use super::PostgresStore;
use chatlines_core::machine;
use chatlines_core::{
    Cursor, Direction, Message, MessageId, MessagePage, NewOutbound, Session, SessionId,
};
use tokio_postgres::types::Json;

impl PostgresStore {
    pub(super) async fn append_outbound_once(&self, new: &NewOutbound) -> Result<Message, Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let session = lock_session(&tx, self.writer, new.session).await?;
        let (message, events) = write_outbound(&tx, &session, new).await?;
        EventRows::of(events, new.now)?.append(&tx).await?;
        self.commit(tx).await?;
        Ok(message)
    }

    pub(super) async fn message_once(&self, id: MessageId) -> Result<Option<Message>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1",
            rows::MESSAGE_COLUMNS
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&id.as_uuid()])
            .await?
            .as_ref()
            .map(rows::message)
            .transpose()
    }

    pub(super) async fn messages_once(
        &self,
        session: SessionId,
        cursor: Cursor,
        n: usize,
    ) -> Result<MessagePage, Fail> {
        let client = self.client().await?;
        let cols = rows::MESSAGE_COLUMNS;
        let (sql, seq, newest_first) = match cursor {
            Cursor::Start => (
                format!("SELECT {cols} FROM messages WHERE session = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
                0,
                false,
            ),
            Cursor::After(seq) => (
                format!("SELECT {cols} FROM messages WHERE session = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
                seq,
                false,
            ),
            Cursor::Before(seq) => (
                format!("SELECT {cols} FROM messages WHERE session = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"),
                seq,
                true,
            ),
            Cursor::End => (
                format!("SELECT {cols} FROM messages WHERE session = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"),
                u64::MAX,
                true,
            ),
        };
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let stmt = client.prepare_cached(&sql).await?;
        let mut page = client
            .query(&stmt, &[&session.as_uuid(), &seq, &limit(n)])
            .await?
            .iter()
            .map(rows::message)
            .collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            page.reverse();
        }
        Ok(page)
    }
}

/// Writes an outbound message into `session` (locked, as stored) inside
/// `tx`: the message, the session's last seq, the reply's timers and SLA
/// follow-up, the outbox entry. Returns the message and the events to
/// append (the caller appends them and commits).
pub(super) async fn write_outbound(
    tx: &impl deadpool_postgres::GenericClient,
    session: &Session,
    new: &NewOutbound,
) -> Result<(Message, Vec<chatlines_core::Event>), Fail> {
    let now = ns(new.now)?;
    machine::check_new_outbound(session, new)?;
    let seq = session.last_seq.saturating_add(1);
    let message = Message::new(
        new.message_id,
        session.id,
        session.line,
        session.contact,
        seq,
        Direction::Outbound,
        new.author.clone(),
        new.body.clone(),
        None,
        new.now,
    );
    let stmt = tx
        .prepare_cached(
            "INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                 ext_source, ext_id, created_ns)
             VALUES ($1, $2, $3, $4, $5, 'outbound', $6, $7, NULL, NULL, $8)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &message.id.as_uuid(),
            &session.id.as_uuid(),
            &session.line.as_uuid(),
            &session.contact.as_uuid(),
            &big(seq)?,
            &Json(&message.author),
            &Json(&message.body),
            &now,
        ],
    )
    .await?;
    let stmt = tx
        .prepare_cached("UPDATE sessions SET last_seq = $2, updated_ns = $3 WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&session.id.as_uuid(), &big(seq)?, &now])
        .await?;
    if matches!(message.author, chatlines_core::Author::Operator { .. }) {
        let settings = super::timers::settings(tx, session.line).await?;
        let plan = machine::reply_timers(session, &message.author, new.now, &settings);
        super::timers::write_plan(tx, &[session.id], &plan.cancel, &plan.arm).await?;
    }
    if let Some(entry) = &new.outbox {
        let lease_token = entry.lease.map(|l| l.token);
        let lease_until = entry.lease.map(|l| ns(l.until)).transpose()?;
        let (status, sent, failed) = super::outbox::status_columns(&entry.status);
        tx.execute(
            "INSERT INTO outbox (id, message, session, source, address, status,
                 sent_external_id, failed_error, attempts, next_attempt_ns, lease_token,
                 lease_until_ns, last_error, created_ns)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &entry.id.as_uuid(),
                &message.id.as_uuid(),
                &session.id.as_uuid(),
                &entry.source.as_uuid(),
                &entry.address,
                &status,
                &sent,
                &failed,
                &i32::try_from(entry.attempts).unwrap_or(i32::MAX),
                &ns(entry.next_attempt_at)?,
                &lease_token,
                &lease_until,
                &entry.last_error,
                &ns(entry.created_at)?,
            ],
        )
        .await?;
    }
    let mut events = machine::outbound_events(&message);
    let mut current = session.clone();
    current.last_seq = seq;
    current.updated_at = new.now;
    if let Some(change) = machine::outbound_follow_up(&current, &message.author, new.now) {
        super::sessions::write_changeset(tx, &current, &change).await?;
        events.extend(change.events);
    }
    Ok((message, events))
}

/// Writes a changeset's notice (a message from the line to the client,
/// `machine::notice_outbound`) inside `tx`, after the change; returns its
/// events.
pub(super) async fn write_notice(
    tx: &impl deadpool_postgres::GenericClient,
    c: &chatlines_core::machine::Changeset,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<chatlines_core::Event>, Fail> {
    let Some(body) = c.notice.clone().filter(|_| c.session.is_open()) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {} FROM contacts WHERE id = $1",
        rows::CONTACT_COLUMNS
    );
    let stmt = tx.prepare_cached(&sql).await?;
    let row = tx
        .query_opt(&stmt, &[&c.session.contact.as_uuid()])
        .await?
        .ok_or_else(|| {
            Fail::Store(chatlines_core::StoreError::NotFound {
                what: "contact",
                id: c.session.contact.to_string(),
            })
        })?;
    let contact = rows::contact(&row)?;
    let new = machine::notice_outbound(&c.session, &contact, body, now);
    let (_, events) = write_outbound(tx, &c.session, &new).await?;
    Ok(events)
}
