//! Updates from connectors to messages stored earlier: edits, revokes,
//! reactions and delivery statuses.

use super::Hub;
use crate::contact::ContactKey;
use crate::error::Error;
use crate::ids::{ContactId, MessageId, SourceId};
use crate::messenger::{EditKind, InboundEdit, InboundReaction, StatusUpdate};
use crate::update::{MessageChange, MessageState, MessageUpdate, UpdateOutcome};
use chrono::{DateTime, Utc};

impl Hub {
    /// Applies a client's edit or revoke of a message ingested earlier
    /// through `source`: an edit adds a revision (the original content
    /// stays the message's body), a revoke marks it revoked; each logs its
    /// event. An edit of a message never stored is
    /// [`UpdateOutcome::UnknownMessage`] and writes nothing; a redelivered
    /// edit is [`UpdateOutcome::Unchanged`]. An edit or revoke whose
    /// `external_user` is not the author of the stored message (its
    /// client on `source`) is [`UpdateOutcome::NotAuthor`] and writes
    /// nothing.
    pub async fn apply_edit(
        &self,
        source: SourceId,
        edit: InboundEdit,
    ) -> Result<UpdateOutcome, Error> {
        check_external(&edit.external_message_id, &edit.external_user)?;
        let change = match edit.change {
            EditKind::Edited(body) => {
                self.check_body(&body)?;
                MessageChange::Edited { body }
            }
            EditKind::Revoked => MessageChange::Revoked,
        };
        let store = &self.inner.store;
        let key = ContactKey::External {
            source,
            external_user: edit.external_user,
        };
        // Someone who never wrote through the source is the author of none
        // of its messages; no stored contact has the nil id.
        let author = store
            .contact_by_key(&key)
            .await?
            .map_or(ContactId::from_uuid(uuid::Uuid::nil()), |c| c.id);
        let outcome = self
            .update_by(
                source,
                edit.external_message_id,
                change,
                edit.at,
                Some(author),
            )
            .await?;
        if let UpdateOutcome::Unchanged { message } = outcome {
            // Core changes nothing for another author: say so.
            if let Some(m) = store.message(message).await? {
                if m.contact != author {
                    return Ok(UpdateOutcome::NotAuthor { message });
                }
            }
        }
        Ok(outcome)
    }

    /// Records a reaction (or its removal) on a message stored earlier
    /// through `source`, inbound or outbound: an event on that message,
    /// never a message of its own. Unknown messages are
    /// [`UpdateOutcome::UnknownMessage`] and write nothing.
    pub async fn apply_reaction(
        &self,
        source: SourceId,
        reaction: InboundReaction,
    ) -> Result<UpdateOutcome, Error> {
        check_external(&reaction.external_message_id, &reaction.external_user)?;
        if let Some(emoji) = &reaction.emoji {
            super::check_no_nul("emoji", emoji)?;
            if emoji.is_empty() || emoji.len() > super::MAX_EXTERNAL_ID {
                return Err(Error::invalid(
                    "emoji",
                    format!("must be 1 to {} bytes", super::MAX_EXTERNAL_ID),
                ));
            }
        }
        let change = MessageChange::Reacted {
            by: reaction.external_user,
            emoji: reaction.emoji,
        };
        self.update(source, reaction.external_message_id, change, reaction.at)
            .await
    }

    /// Records a delivery status of an outbound message sent through
    /// `source` (found by the id the messenger gave it). Statuses only move
    /// forward — sent, delivered, read — whatever order they arrive in; a
    /// failure keeps the messenger's code and title. Read it back with
    /// [`message_state`](Self::message_state).
    pub async fn record_status(
        &self,
        source: SourceId,
        status: StatusUpdate,
    ) -> Result<UpdateOutcome, Error> {
        check_id("external_message_id", &status.external_message_id)?;
        if let Some(e) = &status.error {
            super::check_no_nul("error", &e.code)?;
            super::check_no_nul("error", &e.title)?;
        }
        let change = MessageChange::Delivery {
            status: status.status,
            error: status.error,
        };
        self.update(source, status.external_message_id, change, status.at)
            .await
    }

    /// What messenger updates left on a message: its revisions, whether it
    /// was revoked, its reactions and its delivery status.
    pub async fn message_state(&self, message: MessageId) -> Result<MessageState, Error> {
        Ok(self.inner.store.message_state(message).await?)
    }

    async fn update(
        &self,
        source: SourceId,
        external_message_id: String,
        change: MessageChange,
        at: Option<DateTime<Utc>>,
    ) -> Result<UpdateOutcome, Error> {
        self.update_by(source, external_message_id, change, at, None)
            .await
    }

    async fn update_by(
        &self,
        source: SourceId,
        external_message_id: String,
        change: MessageChange,
        at: Option<DateTime<Utc>>,
        author: Option<ContactId>,
    ) -> Result<UpdateOutcome, Error> {
        let store = &self.inner.store;
        if store.source(source).await?.is_none() {
            return Err(Error::NotFound {
                what: "source",
                id: source.to_string(),
            });
        }
        let mut update =
            MessageUpdate::new(source, external_message_id, change, self.inner.clock.now());
        update.at = at;
        update.author = author;
        Ok(store.update_message(update).await?)
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > super::MAX_EXTERNAL_ID {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {} bytes", super::MAX_EXTERNAL_ID),
        ));
    }
    super::check_no_nul(field, value)
}

fn check_external(message: &str, user: &str) -> Result<(), Error> {
    check_id("external_message_id", message)?;
    check_id("external_user", user)
}
