//! Durable timers: claimed when due, fired once.

use crate::error::StoreError;
use crate::ids::SessionId;
use crate::timer::{ClaimedTimer, FireOutcome, Timer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Persistence of timers: what [`Hub::run_due`](crate::Hub::run_due)
/// needs. Part of [`Store`](crate::Store); see the
/// [module contract](crate::store).
///
/// Timers are written by [`SessionStore::transition`](crate::SessionStore::transition)
/// (and every other call that writes a [`Changeset`](crate::machine::Changeset)):
/// its cancels, then its arms, in the same atomic unit as the session. A
/// session has at most one timer per kind; arming replaces it (and drops
/// any lease on it).
///
/// * **Claim.** [`claim_timers`](Self::claim_timers) leases due timers;
///   two concurrent claims never return the same timer while its lease
///   holds. Its cost follows the number of due timers (an index on the due
///   time), never the number of sessions or lines.
/// * **Fire.** [`fire_timer`](Self::fire_timer) is one atomic unit: it
///   locks the session, checks that the timer still holds the claim's
///   token (else [`FireOutcome::Gone`], nothing written), reads the line's
///   timer settings, asks [`machine::fire`](crate::machine::fire), and
///   writes the changeset and its events — which re-arms or cancels the
///   timer — or, for a stale timer, deletes it. An effect and the removal
///   of the timer that caused it commit together, so a timer has one
///   effect however many hubs fire it, and a crash before the commit only
///   leaves it to be claimed again when the lease ends.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Leases up to `limit` timers due at `now` (due time at or before it,
    /// no lease or an expired one) until `lease_until`, each with a fresh
    /// token, earliest due first.
    async fn claim_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedTimer>, StoreError>;

    /// Fires one claimed timer (see the trait's contract). `Gone` also when
    /// the session no longer exists.
    async fn fire_timer(
        &self,
        claimed: &ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError>;

    /// Fires claimed timers in order, each as
    /// [`fire_timer`](Self::fire_timer) would: each its own atomic unit
    /// against what the timers before it wrote, so a timer that fails
    /// writes nothing and leaves the others' effects. One result per
    /// timer, in order. A store may commit the batch together (one
    /// transaction for all of it): a crash before that commit leaves every
    /// one of them to be claimed again when its lease ends. The default
    /// fires them one by one.
    async fn fire_timers(
        &self,
        claimed: &[ClaimedTimer],
        now: DateTime<Utc>,
    ) -> Vec<Result<FireOutcome, StoreError>> {
        let mut outcomes = Vec::with_capacity(claimed.len());
        for timer in claimed {
            outcomes.push(self.fire_timer(timer, now).await);
        }
        outcomes
    }

    /// The timers armed for a session, by kind.
    async fn session_timers(&self, session: SessionId) -> Result<Vec<Timer>, StoreError>;

    /// How many timers are due at `now` (due time at or before it, leased
    /// or not): the backlog a host's metrics show. An index range on the
    /// due time.
    async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: TimerStore + ?Sized> TimerStore for $ptr<S> {
            async fn claim_timers(
                &self,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
                n: usize,
            ) -> Result<Vec<ClaimedTimer>, StoreError> {
                (**self).claim_timers(now, until, n).await
            }
            async fn fire_timer(
                &self,
                c: &ClaimedTimer,
                now: DateTime<Utc>,
            ) -> Result<FireOutcome, StoreError> {
                (**self).fire_timer(c, now).await
            }
            async fn fire_timers(
                &self,
                c: &[ClaimedTimer],
                now: DateTime<Utc>,
            ) -> Vec<Result<FireOutcome, StoreError>> {
                (**self).fire_timers(c, now).await
            }
            async fn session_timers(&self, s: SessionId) -> Result<Vec<Timer>, StoreError> {
                (**self).session_timers(s).await
            }
            async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                (**self).due_timers(now).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
