//! Outbox entries: outbound messages waiting to be sent to a messenger.

use crate::ids::{MessageId, OutboxId, SessionId, SourceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Delivery state of an outbox entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutboxStatus {
    /// Waiting to be sent (first attempt or a scheduled retry).
    Pending,
    /// Accepted by the messenger.
    Sent {
        /// The messenger's id of the sent message.
        external_id: String,
    },
    /// Given up: a permanent error, or the retry limit reached.
    Failed {
        /// The last error.
        error: String,
    },
}

/// An outbound message to deliver through a source, written in the same
/// atomic store call as the message itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The entry's id.
    pub id: OutboxId,
    /// The stored message to deliver.
    pub message: MessageId,
    /// Its session.
    pub session: SessionId,
    /// The source to send through.
    pub source: SourceId,
    /// The messenger address to send to (e.g. a chat id).
    pub address: String,
    /// Delivery state.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// The current claim by a dispatcher, if any.
    pub lease: Option<Lease>,
    /// The last error seen, if any.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl OutboxEntry {
    /// A pending entry due now.
    pub fn pending(
        id: OutboxId,
        message: MessageId,
        session: SessionId,
        source: SourceId,
        address: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            message,
            session,
            source,
            address: address.into(),
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease: None,
            last_error: None,
            created_at: now,
        }
    }
}

/// A dispatcher's claim on an outbox entry: it alone may finish the entry
/// until `until`; after that another dispatcher may claim it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// Identifies this claim; required to finish the entry.
    pub token: uuid::Uuid,
    /// When the claim expires.
    pub until: DateTime<Utc>,
}

/// What a dispatcher reports after an attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// Delivered; the messenger's message id.
    Sent {
        /// The messenger's id.
        external_id: String,
    },
    /// Try again at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// The error seen.
        error: String,
    },
    /// Give up.
    Failed {
        /// The error seen.
        error: String,
    },
}
