//! Outbox entries: outbound messages waiting to be sent to a messenger.

use crate::error::StoreError;
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
        /// What the connector sent in place of the message as written
        /// (see [`SendReceipt`](crate::SendReceipt)); `None` when it went
        /// out as written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        substitute: Option<String>,
    },
    /// Given up: a permanent error, or the retry limit reached.
    Failed {
        /// The last error.
        error: String,
    },
}

/// An outbound message to deliver through a source, written in the same
/// atomic store call as the message itself.
///
/// The entries of one chat (the same `source` and `address`) are delivered
/// in the order they were written: a store claims only a chat's *head*,
/// its oldest entry still pending, so a later reply waits while an earlier
/// one is leased or waiting for a retry (see
/// [`OutboxStore::claim_outbox`](crate::OutboxStore::claim_outbox)).
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
    /// Attempts made so far: outcomes recorded as `Sent`, `Retry` or
    /// `Failed`, and claims whose lease expired without an outcome.
    /// A [`DeliveryOutcome::Deferred`] hold is not an attempt.
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

    /// The chat the entry goes to: entries with the same key are
    /// delivered one after another, in the order they were written.
    pub fn chat(&self) -> (SourceId, &str) {
        (self.source, &self.address)
    }

    /// Whether a claim at `now` may take this entry, given that it is its
    /// chat's head: pending, due, and not under a live lease.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        self.status == OutboxStatus::Pending
            && self.next_attempt_at <= now
            && self.lease.is_none_or(|l| l.until <= now)
    }

    /// The entry as a claim leaves it: leased with `lease`. A lease that
    /// expired without an outcome (its holder stopped, or could not record
    /// what happened) counts as an attempt, so an entry whose outcome can
    /// never be written still reaches the attempt limit.
    ///
    /// ```
    /// use chatlines_core::{Lease, OutboxEntry};
    /// # use chatlines_core::{MessageId, OutboxId, SessionId, SourceId};
    /// # let now = chrono::Utc::now();
    /// # let e = OutboxEntry::pending(OutboxId::from_uuid(uuid::Uuid::new_v4()), MessageId::from_uuid(uuid::Uuid::new_v4()), SessionId::from_uuid(uuid::Uuid::new_v4()), SourceId::from_uuid(uuid::Uuid::new_v4()), "77", now);
    /// let lease = |s| Lease { token: uuid::Uuid::new_v4(), until: now + chrono::Duration::seconds(s) };
    /// let first = e.claimed(lease(30));
    /// assert_eq!(first.attempts, 0);
    /// // Nobody finished it; a later claim counts the lost attempt.
    /// let again = first.claimed(lease(90));
    /// assert_eq!(again.attempts, 1);
    /// ```
    #[must_use]
    pub fn claimed(&self, lease: Lease) -> Self {
        let mut e = self.clone();
        if e.lease.is_some() {
            e.attempts = e.attempts.saturating_add(1);
            e.last_error = Some(LEASE_EXPIRED.to_owned());
        }
        e.lease = Some(lease);
        e
    }

    /// The entry as [`finish_outbox`](crate::OutboxStore::finish_outbox)
    /// leaves it: `Sent` and `Failed` end it, `Retry` makes it pending at
    /// the given time with the error kept, each counting one attempt;
    /// `Deferred` makes it pending at the given time and counts nothing.
    /// The lease is released.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the entry is finished or its lease is
    /// not held with `token` (it expired and was claimed again).
    pub fn finished(
        &self,
        token: uuid::Uuid,
        outcome: DeliveryOutcome,
    ) -> Result<Self, StoreError> {
        let held =
            self.status == OutboxStatus::Pending && self.lease.is_some_and(|l| l.token == token);
        if !held {
            // The attempt count is the entry's version here.
            return Err(StoreError::Conflict {
                what: "outbox entry lease",
                id: self.id.to_string(),
                expected: u64::from(self.attempts),
                actual: u64::from(self.attempts),
            });
        }
        let mut e = self.clone();
        e.lease = None;
        match outcome {
            DeliveryOutcome::Sent {
                external_id,
                substitute,
            } => {
                e.status = OutboxStatus::Sent {
                    external_id,
                    substitute,
                };
            }
            DeliveryOutcome::Retry { at, error } => {
                e.next_attempt_at = at;
                e.last_error = Some(error);
            }
            DeliveryOutcome::Failed { error } => {
                e.status = OutboxStatus::Failed {
                    error: error.clone(),
                };
                e.last_error = Some(error);
            }
            DeliveryOutcome::Deferred { until } => {
                e.next_attempt_at = until;
                return Ok(e);
            }
        }
        e.attempts = e.attempts.saturating_add(1);
        Ok(e)
    }
}

impl DeliveryOutcome {
    /// Delivered as written, with the messenger's id.
    pub fn sent(external_id: impl Into<String>) -> Self {
        Self::Sent {
            external_id: external_id.into(),
            substitute: None,
        }
    }
}

impl From<crate::SendReceipt> for DeliveryOutcome {
    fn from(receipt: crate::SendReceipt) -> Self {
        Self::Sent {
            external_id: receipt.external_id,
            substitute: receipt.substitute,
        }
    }
}

/// The error an entry records when a claim finds its previous lease
/// expired without an outcome.
pub const LEASE_EXPIRED: &str = "the previous claim expired without a recorded outcome";

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
        /// What the connector sent in place of the message as written
        /// (see [`SendReceipt`](crate::SendReceipt)); `None` when it went
        /// out as written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        substitute: Option<String>,
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
    /// Not attempted: held back on this side (a local rate limit, a
    /// shutdown) until `until`. Not counted as an attempt; the last error
    /// is kept as it was.
    Deferred {
        /// When the entry is due again.
        until: DateTime<Utc>,
    },
}
