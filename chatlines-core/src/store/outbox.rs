//! The outbox: outbound messenger messages waiting for delivery.

use crate::error::StoreError;
use crate::ids::{MessageId, OutboxId};
use crate::outbox::{DeliveryOutcome, OutboxEntry};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Persistence of the outbox: all the outbox dispatcher needs. Part of
/// [`Store`](crate::Store); see the [module contract](crate::store).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` entries, leasing each until `lease_until` with
    /// a fresh token, and returns them as [`OutboxEntry::claimed`] leaves
    /// them (an expired lease counts as an attempt).
    ///
    /// Only the *head* of each chat is claimed: the oldest pending entry
    /// (in the order entries were written) of its `(source, address)`,
    /// and only when it is [claimable](OutboxEntry::claimable) — due at
    /// `now`, its lease absent or expired. A chat's later entries wait
    /// while the head is leased or waits for a retry, so replies reach the
    /// messenger in the order they were written, however many dispatchers
    /// share the store. Heads are returned by due time, then age. Two
    /// concurrent claims never return the same entry, and the cost of a
    /// claim does not grow with finished entries.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Records the outcome of an attempt by the holder of `token`, as
    /// [`OutboxEntry::finished`] computes it: `Sent` and `Failed` end the
    /// entry (logging `DeliverySucceeded` or `DeliveryFailed`), `Retry`
    /// makes it pending again at the given time (one more attempt),
    /// `Deferred` likewise without counting an attempt; the lease is
    /// released. `Conflict` if the lease is no longer held with that
    /// token; nothing is written then.
    async fn finish_outbox(
        &self,
        id: OutboxId,
        token: Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError>;

    /// An outbox entry by id: how a host that follows the event log
    /// (`DeliverySucceeded` / `DeliveryFailed` name the entry) reads its
    /// details. The dispatcher itself does not need it.
    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError>;

    /// The outbox entry of a message: how a host shows a reply's delivery
    /// state (pending, retrying with the last error and attempts, sent,
    /// failed with the reason), which no event carries while the entry is
    /// pending. The dispatcher itself does not need it.
    async fn outbox_for_message(
        &self,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, StoreError>;

    /// How many entries are pending: waiting for their first attempt or a
    /// retry, leased or not (what a host's monitoring shows as the
    /// outbox's backlog). The dispatcher itself does not need it.
    async fn outbox_pending(&self) -> Result<u64, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: OutboxStore + ?Sized> OutboxStore for $ptr<S> {
            async fn claim_outbox(
                &self,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
                n: usize,
            ) -> Result<Vec<OutboxEntry>, StoreError> {
                (**self).claim_outbox(now, until, n).await
            }
            async fn finish_outbox(
                &self,
                id: OutboxId,
                t: Uuid,
                o: DeliveryOutcome,
                now: DateTime<Utc>,
            ) -> Result<OutboxEntry, StoreError> {
                (**self).finish_outbox(id, t, o, now).await
            }
            async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
                (**self).outbox_entry(id).await
            }
            async fn outbox_for_message(
                &self,
                m: MessageId,
            ) -> Result<Option<OutboxEntry>, StoreError> {
                (**self).outbox_for_message(m).await
            }
            async fn outbox_pending(&self) -> Result<u64, StoreError> {
                (**self).outbox_pending().await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
