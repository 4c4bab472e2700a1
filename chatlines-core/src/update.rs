//! Messenger updates to stored messages: edits, revokes, reactions and
//! delivery statuses, and what each leaves on the message.
//!
//! A store finds the message a [`MessageUpdate`] names (by the messenger's
//! id: an ingested message's external id, or the id the messenger gave an
//! outbound message when it was sent), reads its [`MessageState`], asks
//! [`machine::message_update`](crate::machine::message_update) what changes,
//! and writes the new state and the events in one atomic unit.

use crate::ids::{ContactId, MessageId, SourceId};
use crate::message::Body;
use crate::messenger::{DeliveryFailure, DeliveryStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a messenger says changed about one of its messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageChange {
    /// The client edited its message: it now reads as `body`.
    Edited {
        /// The new content.
        body: Body,
    },
    /// The client deleted its message for everyone.
    Revoked,
    /// Somebody reacted to the message (`Some`) or took the reaction back
    /// (`None`).
    Reacted {
        /// The messenger's id of the person reacting.
        by: String,
        /// The emoji.
        emoji: Option<String>,
    },
    /// The messenger reports a delivery status of an outbound message.
    Delivery {
        /// The status.
        status: DeliveryStatus,
        /// The messenger's reason, for [`DeliveryStatus::Failed`].
        error: Option<DeliveryFailure>,
    },
}

/// An update to apply to the message a source knows as
/// `external_message_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageUpdate {
    /// The source the update came through.
    pub source: SourceId,
    /// The messenger's id of the message.
    pub external_message_id: String,
    /// What changed.
    pub change: MessageChange,
    /// When the messenger says it happened (else `now`).
    pub at: Option<DateTime<Utc>>,
    /// Now.
    pub now: DateTime<Utc>,
    /// For an edit or revoke: the client it comes from. It applies only
    /// to a message of that client (a member of a group cannot rewrite
    /// another's message); `None` checks nothing.
    pub author: Option<ContactId>,
}

impl MessageUpdate {
    /// An update of the message `external_message_id` of `source`.
    pub fn new(
        source: SourceId,
        external_message_id: impl Into<String>,
        change: MessageChange,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            source,
            external_message_id: external_message_id.into(),
            change,
            at: None,
            now,
            author: None,
        }
    }

    /// Applies an edit or revoke only to a message of `author`.
    #[must_use]
    pub fn by_author(mut self, author: ContactId) -> Self {
        self.author = Some(author);
        self
    }

    /// When the change happened, as the messenger says, else now.
    pub fn happened_at(&self) -> DateTime<Utc> {
        self.at.unwrap_or(self.now)
    }
}

/// A later version of a message's content; the message itself keeps the
/// content it was first stored with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Revision {
    /// 1 for the first edit, then 2, 3, …
    pub revision: u32,
    /// The content from this revision on.
    pub body: Body,
    /// When the edit was made.
    pub at: DateTime<Utc>,
}

/// Where an outbound message is, as its messenger reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryState {
    /// The furthest status reported (sent → delivered → read; or failed).
    pub status: DeliveryStatus,
    /// The messenger's reason, when failed.
    pub error: Option<DeliveryFailure>,
    /// When the messenger reported it.
    pub at: DateTime<Utc>,
}

/// What messenger updates left on a stored message. Empty for a message
/// nothing happened to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageState {
    /// The edits, oldest first (the original content is the message's body).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    /// When the client deleted the message for everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Current reactions: who (the messenger's user id) → emoji.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, String>,
    /// For outbound messages: the delivery status the messenger reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
}

impl MessageState {
    /// The content as it reads now: the last revision's, or `original`.
    pub fn current_body<'a>(&'a self, original: &'a Body) -> &'a Body {
        self.revisions.last().map_or(original, |r| &r.body)
    }

    /// Whether nothing happened to the message.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What [`update_message`](crate::MessageStore::update_message) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// The message changed; its state now and the events logged.
    Applied {
        /// The message.
        message: MessageId,
        /// Its state after the update.
        state: MessageState,
    },
    /// The message exists but the update changes nothing (a redelivery, a
    /// status older than the one recorded, an edit of a revoked message).
    Unchanged {
        /// The message.
        message: MessageId,
    },
    /// No stored message has that messenger id: nothing was written.
    UnknownMessage,
    /// An edit or revoke of a message by someone who is not its author:
    /// refused, nothing was written.
    NotAuthor {
        /// The message.
        message: MessageId,
    },
}

impl UpdateOutcome {
    /// Whether something was written.
    pub fn is_applied(&self) -> bool {
        matches!(self, UpdateOutcome::Applied { .. })
    }
}
