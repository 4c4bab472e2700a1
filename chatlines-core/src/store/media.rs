//! The media queue: inbound attachments waiting to be fetched.

use crate::error::StoreError;
use crate::ids::MessageId;
use crate::media::{MediaJob, MediaOutcome};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Persistence of the media queue: all the media fetch worker needs. Part
/// of [`Store`](crate::Store); see the [module contract](crate::store).
///
/// * **Written with the message.** [`append_inbound`](crate::MessageStore::append_inbound)
///   writes the jobs of [`machine::media_jobs`](crate::machine::media_jobs)
///   in the same atomic call; a duplicate writes none.
/// * **Leased.** Two concurrent claims never return the same job; a job
///   finished as fetched or failed is never claimed again.
/// * **Decided in core.** [`finish_media`](Self::finish_media) writes what
///   [`machine::finish_media`](crate::machine::finish_media) returns: the
///   job, the message's updated attachment and the events, in one atomic
///   call.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Claims up to `limit` pending jobs due at `now` whose lease is absent
    /// or expired, oldest due first, leasing each until `lease_until` with a
    /// fresh token.
    async fn claim_media(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MediaJob>, StoreError>;

    /// Records the outcome of a fetch by the holder of `token`: `Stored`
    /// marks the attachment available (logging `AttachmentAvailable`),
    /// `Failed` marks it failed (logging `AttachmentFailed`), `Retry` makes
    /// the job pending again at the given time; the lease is released and
    /// `attempts` incremented. `Conflict` if the lease is no longer held
    /// with that token; `NotFound` if there is no such job.
    async fn finish_media(
        &self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, StoreError>;

    /// The jobs of a message, by attachment index.
    async fn media_jobs(&self, message: MessageId) -> Result<Vec<MediaJob>, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: MediaStore + ?Sized> MediaStore for $ptr<S> {
            async fn claim_media(
                &self,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
                n: usize,
            ) -> Result<Vec<MediaJob>, StoreError> {
                (**self).claim_media(now, until, n).await
            }
            async fn finish_media(
                &self,
                m: MessageId,
                i: u32,
                t: Uuid,
                o: MediaOutcome,
                now: DateTime<Utc>,
            ) -> Result<MediaJob, StoreError> {
                (**self).finish_media(m, i, t, o, now).await
            }
            async fn media_jobs(&self, m: MessageId) -> Result<Vec<MediaJob>, StoreError> {
                (**self).media_jobs(m).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
