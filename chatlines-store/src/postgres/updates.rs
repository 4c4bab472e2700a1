//! Messenger updates to stored messages: the message is found by the
//! messenger's id and locked, core decides, the state and the events are
//! written in one transaction.

use super::error::Fail;
use super::locks::lock_writer;
use super::log::EventRows;
use super::rows;
use super::PostgresStore;
use chatlines_core::machine;
use chatlines_core::{MessageId, MessageState, MessageUpdate, UpdateOutcome};
use tokio_postgres::types::Json;
use uuid::Uuid;

impl PostgresStore {
    pub(super) async fn update_message_once(
        &self,
        update: &MessageUpdate,
    ) -> Result<UpdateOutcome, Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let source = update.source.as_uuid();
        let external = update.external_message_id.as_str();
        let stmt = tx
            .prepare_cached(
                "SELECT coalesce(
                     (SELECT id FROM messages WHERE ext_source = $1 AND ext_id = $2),
                     (SELECT message FROM outbox
                      WHERE source = $1 AND sent_external_id = $2 AND status = 'sent'
                      LIMIT 1))",
            )
            .await?;
        let found: Option<Uuid> = tx
            .query_one(&stmt, &[&source, &external])
            .await?
            .try_get(0)?;
        let Some(id) = found else {
            return Ok(UpdateOutcome::UnknownMessage);
        };
        // The message row's lock orders concurrent updates of one message.
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1 FOR UPDATE",
            rows::MESSAGE_COLUMNS
        );
        let stmt = tx.prepare_cached(&sql).await?;
        let Some(row) = tx.query_opt(&stmt, &[&id]).await? else {
            return Ok(UpdateOutcome::UnknownMessage);
        };
        let message = rows::message(&row)?;
        let current = state_in(&tx, message.id).await?;
        let Some((next, events)) = machine::message_update(&message, &current, update) else {
            return Ok(UpdateOutcome::Unchanged {
                message: message.id,
            });
        };
        let stmt = tx
            .prepare_cached(
                "INSERT INTO message_states (message, state) VALUES ($1, $2)
                 ON CONFLICT (message) DO UPDATE SET state = excluded.state",
            )
            .await?;
        tx.execute(&stmt, &[&id, &Json(&next)]).await?;
        EventRows::of(events, update.now)?.append(&tx).await?;
        self.commit(tx).await?;
        Ok(UpdateOutcome::Applied {
            message: message.id,
            state: next,
        })
    }

    pub(super) async fn message_state_once(&self, id: MessageId) -> Result<MessageState, Fail> {
        let client = self.client().await?;
        state_in(&client, id).await
    }
}

async fn state_in(
    client: &impl deadpool_postgres::GenericClient,
    id: MessageId,
) -> Result<MessageState, Fail> {
    let stmt = client
        .prepare_cached("SELECT state FROM message_states WHERE message = $1")
        .await?;
    match client.query_opt(&stmt, &[&id.as_uuid()]).await? {
        None => Ok(MessageState::default()),
        Some(row) => {
            let Json(state): Json<MessageState> = row.try_get(0)?;
            Ok(state)
        }
    }
}
