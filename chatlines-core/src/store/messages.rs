//! Contacts and messages.

use super::{Appended, MessagePage, NewInbound, NewOutbound};
use crate::contact::{Contact, ContactKey};
use crate::error::StoreError;
use crate::ids::{ContactId, MessageId, SessionId};
use crate::message::{Cursor, Message};
use crate::update::{MessageState, MessageUpdate, UpdateOutcome};
use async_trait::async_trait;
use std::sync::Arc;

/// Persistence of clients and their messages. Part of
/// [`Store`](crate::Store); see the [module contract](crate::store).
///
/// * **Idempotent ingest.** [`append_inbound`](Self::append_inbound) with an
///   `external` reference already stored writes nothing (and logs nothing)
///   and returns the stored message with `duplicate: true`.
/// * **One open session** per (line, contact) at any time, also when two
///   messages of a new client arrive together.
/// * **Outbox.** An outbound message and its outbox entry are written
///   together.
/// * **Updates.** [`update_message`](Self::update_message) finds the
///   message, asks [`machine::message_update`](crate::machine::message_update)
///   and writes the state and events it returns in the same atomic unit;
///   nothing at all when it returns `None` or the message is unknown.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// A contact by id.
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError>;

    /// A contact by identity.
    async fn contact_by_key(&self, key: &ContactKey) -> Result<Option<Contact>, StoreError>;

    /// Stores a client's message: dedupes by `external`, finds or creates
    /// the contact, finds the open session — or, when there is none,
    /// reopens the latest one if [`machine::reopen`](crate::machine::reopen)
    /// says so (writing its changeset first, `Appended::reopened`), or
    /// opens a queued one — appends with the next sequence number, cancels
    /// the session's timers of
    /// [`machine::client_wrote_cancels`](crate::machine::client_wrote_cancels),
    /// and logs the events of
    /// [`machine::inbound_events`](crate::machine::inbound_events).
    /// `NotFound` if the line does not exist.
    async fn append_inbound(&self, new: NewInbound) -> Result<Appended, StoreError>;

    /// Stores an operator's message (and its outbox entry) in an open
    /// session, with the timers of
    /// [`machine::reply_timers`](crate::machine::reply_timers) under the
    /// line's settings, logging `MessageOut`. `InvalidState` if the session
    /// is closed, or not assigned to `require_operator`.
    async fn append_outbound(&self, new: NewOutbound) -> Result<Message, StoreError>;

    /// A message by id.
    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError>;

    /// Up to `limit` messages of a session from `cursor`, oldest first.
    async fn messages(
        &self,
        session: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Result<MessagePage, StoreError>;

    /// Applies a messenger's update to the message `update.source` knows as
    /// `update.external_message_id`: an inbound message ingested with that
    /// external id, else the outbound message whose outbox entry was sent
    /// through that source with that external id. Writes the state and
    /// events of [`machine::message_update`](crate::machine::message_update).
    async fn update_message(&self, update: MessageUpdate) -> Result<UpdateOutcome, StoreError>;

    /// What updates left on a message (empty when none, or when the
    /// message does not exist).
    async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: MessageStore + ?Sized> MessageStore for $ptr<S> {
            async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
                (**self).contact(id).await
            }
            async fn contact_by_key(&self, k: &ContactKey) -> Result<Option<Contact>, StoreError> {
                (**self).contact_by_key(k).await
            }
            async fn append_inbound(&self, n: NewInbound) -> Result<Appended, StoreError> {
                (**self).append_inbound(n).await
            }
            async fn append_outbound(&self, n: NewOutbound) -> Result<Message, StoreError> {
                (**self).append_outbound(n).await
            }
            async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
                (**self).message(id).await
            }
            async fn messages(
                &self,
                s: SessionId,
                c: Cursor,
                l: usize,
            ) -> Result<MessagePage, StoreError> {
                (**self).messages(s, c, l).await
            }
            async fn update_message(&self, u: MessageUpdate) -> Result<UpdateOutcome, StoreError> {
                (**self).update_message(u).await
            }
            async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError> {
                (**self).message_state(id).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
