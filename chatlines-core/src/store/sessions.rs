//! Sessions and the routing roster.

use super::{RosterEntry, StoreCapabilities, Transition};
use crate::error::StoreError;
use crate::ids::{ContactId, LineId, SessionId, UserId};
use crate::session::{Session, SessionOverview, SessionState};
use crate::sla::SlaBreach;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Persistence of sessions and each line's operator roster. Part of
/// [`Store`](crate::Store); see the [module contract](crate::store).
///
/// * **Decided in core.** [`transition`](Self::transition) locks the
///   session, asks [`machine::roster_question`](crate::machine::roster_question),
///   answers it from the roster inside the same atomic unit, calls
///   [`machine::decide`](crate::machine::decide), and writes the session,
///   the load changes, the cursor and the events it returned.
/// * **Roster.** Loads count open sessions assigned to each operator on the
///   line; a load change for a user without an entry creates an ineligible
///   one. A [`NoAnswerChange`](crate::machine::NoAnswerChange) sets the
///   user's consecutive lapses (creating an ineligible entry when there is
///   none) and, when it says so, sets them away: ineligible, and kept
///   ineligible by [`replace_roster`](Self::replace_roster) until
///   [`set_eligible`](Self::set_eligible) makes them eligible.
/// * **Exclusions.** A roster question's `excluding` users are never the
///   answer.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// What this store supports (default: only the required contract).
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::NONE
    }

    /// A session by id.
    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// Every session of a client on a line, oldest first.
    async fn contact_sessions(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Vec<Session>, StoreError>;

    /// Up to `limit` queued sessions of a line in serving order: highest
    /// priority first, then oldest; on a line with priority aging
    /// ([`TimerSettings::priority_aging_secs`](crate::TimerSettings::priority_aging_secs)),
    /// by [`queue_key`](crate::priority::queue_key), then oldest.
    async fn queued_sessions(&self, line: LineId, limit: usize)
        -> Result<Vec<Session>, StoreError>;

    /// Up to `limit` lines that have queued sessions, by line id, starting
    /// after `after` (from the start when `None`). Read through the index
    /// of waiting sessions: the cost follows the lines that have a queue,
    /// never the number of lines; what [`Hub::drain`](crate::Hub::drain)
    /// walks.
    async fn queued_lines(
        &self,
        after: Option<LineId>,
        limit: usize,
    ) -> Result<Vec<LineId>, StoreError>;

    /// Up to `limit` offered sessions of a line, in the order of
    /// [`queued_sessions`](Self::queued_sessions).
    async fn offered_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError>;

    /// Up to `limit` open sessions assigned to an operator (all lines),
    /// oldest first (by opening time, then by insertion), starting after
    /// the session `after` in that order (from the start when `None`; an
    /// unknown `after` gives an empty list). An index on the operator, never
    /// a walk of the lines.
    async fn assigned_sessions(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError>;

    /// Up to `limit` offered sessions of every line on which the operator
    /// is eligible in the roster, highest priority first, then in the
    /// order of [`assigned_sessions`](Self::assigned_sessions), starting
    /// after the session `after` in that order (from the start when
    /// `None`; an unknown `after` gives an empty list). Line aging does
    /// not apply across lines: this list orders by the stored priority. One indexed query
    /// over the operator's roster entries: the cost follows the operator's
    /// lines and sessions, not the number of lines in the store.
    async fn offered_to(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError>;

    /// Up to `limit` open sessions of a line (only those in `state` when
    /// given; a `Closed` filter gives an empty list), in the order and
    /// from the position of [`assigned_sessions`](Self::assigned_sessions),
    /// each with its client's waiting time and last message times. Read
    /// through indexes: the cost follows the page, not the number of
    /// messages or lines.
    async fn line_sessions(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionOverview>, StoreError>;

    /// Applies a transition atomically (see the trait's contract) and
    /// returns the session after it.
    async fn transition(
        &self,
        session: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError>;

    /// Sets the eligibility of the listed operators on a line and makes
    /// every other roster entry of the line ineligible. Loads are kept; a
    /// listed operator who is away stays ineligible.
    async fn replace_roster(&self, line: LineId, eligible: &[UserId]) -> Result<(), StoreError>;

    /// Sets one operator's eligibility on a line: eligible creates the
    /// entry when there is none, and clears their lapses and away mark;
    /// ineligible for a user without an entry writes nothing.
    async fn set_eligible(
        &self,
        line: LineId,
        user: &UserId,
        eligible: bool,
    ) -> Result<(), StoreError>;

    /// The roster of a line, ordered by user id.
    async fn roster(&self, line: LineId) -> Result<Vec<RosterEntry>, StoreError>;

    /// Up to `limit` service-level breaches of a line (kept from the
    /// [`Changeset::breaches`](crate::machine::Changeset::breaches) the
    /// store wrote) whose due time lies in `[from, until)`, ordered by due
    /// time, then session, then target. An index on (line, due time).
    async fn sla_breaches(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SlaBreach>, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: SessionStore + ?Sized> SessionStore for $ptr<S> {
            fn capabilities(&self) -> StoreCapabilities {
                (**self).capabilities()
            }
            async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
                (**self).session(id).await
            }
            async fn contact_sessions(
                &self,
                l: LineId,
                c: ContactId,
            ) -> Result<Vec<Session>, StoreError> {
                (**self).contact_sessions(l, c).await
            }
            async fn queued_sessions(
                &self,
                l: LineId,
                n: usize,
            ) -> Result<Vec<Session>, StoreError> {
                (**self).queued_sessions(l, n).await
            }
            async fn queued_lines(
                &self,
                a: Option<LineId>,
                n: usize,
            ) -> Result<Vec<LineId>, StoreError> {
                (**self).queued_lines(a, n).await
            }
            async fn offered_sessions(
                &self,
                l: LineId,
                n: usize,
            ) -> Result<Vec<Session>, StoreError> {
                (**self).offered_sessions(l, n).await
            }
            async fn assigned_sessions(
                &self,
                o: &UserId,
                a: Option<SessionId>,
                n: usize,
            ) -> Result<Vec<Session>, StoreError> {
                (**self).assigned_sessions(o, a, n).await
            }
            async fn offered_to(
                &self,
                o: &UserId,
                a: Option<SessionId>,
                n: usize,
            ) -> Result<Vec<Session>, StoreError> {
                (**self).offered_to(o, a, n).await
            }
            async fn line_sessions(
                &self,
                l: LineId,
                s: Option<SessionState>,
                a: Option<SessionId>,
                n: usize,
            ) -> Result<Vec<SessionOverview>, StoreError> {
                (**self).line_sessions(l, s, a, n).await
            }
            async fn transition(
                &self,
                s: SessionId,
                t: Transition,
                now: DateTime<Utc>,
            ) -> Result<Session, StoreError> {
                (**self).transition(s, t, now).await
            }
            async fn replace_roster(&self, l: LineId, e: &[UserId]) -> Result<(), StoreError> {
                (**self).replace_roster(l, e).await
            }
            async fn set_eligible(&self, l: LineId, u: &UserId, e: bool) -> Result<(), StoreError> {
                (**self).set_eligible(l, u, e).await
            }
            async fn roster(&self, l: LineId) -> Result<Vec<RosterEntry>, StoreError> {
                (**self).roster(l).await
            }
            async fn sla_breaches(
                &self,
                l: LineId,
                f: DateTime<Utc>,
                u: DateTime<Utc>,
                n: usize,
            ) -> Result<Vec<SlaBreach>, StoreError> {
                (**self).sla_breaches(l, f, u, n).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
