//! Messenger updates to stored messages: find the message by the
//! messenger's id, ask core what changes, write the state and the events.

use super::events;
use super::messages;
use super::rows::{db_err, json, to_json, DbResult};
use chatlines_core::machine;
use chatlines_core::{MessageId, MessageState, MessageUpdate, StoreError, UpdateOutcome};
use rusqlite::{params, Connection, OptionalExtension};

/// The message `update` names: an ingested message with that external id,
/// else an outbound message sent through the source with that id.
fn find(conn: &Connection, update: &MessageUpdate) -> Result<Option<MessageId>, StoreError> {
    let inbound: Option<MessageId> = conn
        .prepare_cached("SELECT id FROM messages WHERE source_id = ?1 AND external_message_id = ?2")
        .db()?
        .query_row(params![update.source.0, update.external_message_id], |r| {
            r.get(0).map(MessageId)
        })
        .optional()
        .db()?;
    if inbound.is_some() {
        return Ok(inbound);
    }
    conn.prepare_cached(
        "SELECT message FROM outbox
         WHERE source = ?1 AND json_extract(status, '$.external_id') = ?2 AND state = 'sent'",
    )
    .db()?
    .query_row(params![update.source.0, update.external_message_id], |r| {
        r.get(0).map(MessageId)
    })
    .optional()
    .db()
}

pub(crate) fn state(conn: &Connection, id: MessageId) -> Result<MessageState, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM message_states WHERE message = ?1")
        .db()?
        .query_row([id.0], |r| json(r, 0))
        .optional()
        .db()?
        .unwrap_or_default())
}

pub(crate) fn update_message(
    conn: &Connection,
    update: MessageUpdate,
) -> Result<UpdateOutcome, StoreError> {
    let Some(id) = find(conn, &update)? else {
        return Ok(UpdateOutcome::UnknownMessage);
    };
    let Some(message) = messages::get(conn, id)? else {
        return Ok(UpdateOutcome::UnknownMessage);
    };
    let current = state(conn, id)?;
    let Some((next, logged)) = machine::message_update(&message, &current, &update) else {
        return Ok(UpdateOutcome::Unchanged { message: id });
    };
    conn.prepare_cached(
        "INSERT INTO message_states (message, state) VALUES (?1, ?2)
         ON CONFLICT (message) DO UPDATE SET state = excluded.state",
    )
    .db()?
    .execute(params![id.0, to_json(&next)?])
    .map_err(db_err)?;
    events::log(conn, &logged, update.now)?;
    Ok(UpdateOutcome::Applied {
        message: id,
        state: next,
    })
}
