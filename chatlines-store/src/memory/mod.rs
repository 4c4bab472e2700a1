//! [`MemoryStore`]: everything in process memory, behind one lock.
//!
//! For tests, examples, benchmarks and hosts that keep nothing between
//! restarts. It implements the whole [`Store`](chatlines_core::Store)
//! contract except durability: every method takes the one lock, checks,
//! then writes, so each call is atomic and concurrent calls behave as if
//! run one after another. The lock is never held across an `.await`.
//!
//! Reads the hub makes often are indexed: a round-robin or least-loaded
//! pick costs O(log n) in the line's operators, queued/offered/assigned
//! lists and outbox claims read ordered indexes, and a history page is
//! found by binary search on `seq`.

mod events;
mod external;
mod media;
mod outbox;
mod records;
mod sessions;
mod state;
mod timers;
mod updates;

use async_trait::async_trait;
use chatlines_core::{
    AccountLink, AppLinkStore, Appended, Contact, ContactId, ContactKey, Cursor, DeliveryOutcome,
    EventLogStore, EventPosition, Line, LineId, LineStore, LoggedEvent, MediaJob, MediaOutcome,
    MediaStore, Message, MessageId, MessagePage, MessageState, MessageStore, MessageUpdate,
    NewInbound, NewOutbound, OutboxEntry, OutboxId, OutboxStore, RequestRecord, RosterEntry,
    Session, SessionId, SessionOverview, SessionState, SessionStore, Source, SourceId, SourceStore,
    StoreCapabilities, StoreError, Transition, UpdateOutcome, UserId,
};
use chatlines_core::{ClaimedTimer, FireOutcome, Timer, TimerStore};
use chrono::{DateTime, Utc};
use state::State;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

/// A [`Store`](chatlines_core::Store) held in memory: fast, atomic, and
/// gone when the process ends.
///
/// ```
/// use chatlines_core::Store;
/// use chatlines_store::MemoryStore;
/// let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    capabilities: StoreCapabilities,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            capabilities: StoreCapabilities::ALL,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that declares only `capabilities` (it still answers
    /// every roster question): to see how a host or the hub treats a store
    /// that supports less.
    pub fn with_capabilities(capabilities: StoreCapabilities) -> Self {
        Self {
            capabilities,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every write checks first and changes nothing on error, and nothing
        // under the lock panics on input, so a poisoned lock still guards a
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl LineStore for MemoryStore {
    async fn insert_line(&self, line: &Line) -> Result<(), StoreError> {
        self.lock().insert_line(line)
    }

    async fn update_line(&self, line: &Line, expected_version: u64) -> Result<(), StoreError> {
        self.lock().update_line(line, expected_version)
    }

    async fn delete_line(
        &self,
        id: LineId,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().delete_line(id, expected_version, now)
    }

    async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError> {
        Ok(self.lock().lines.get(&id).map(|r| Line::clone(&r.value)))
    }

    async fn shared_line(&self, id: LineId) -> Result<Option<Arc<Line>>, StoreError> {
        Ok(self.lock().lines.get(&id).map(|r| Arc::clone(&r.value)))
    }

    async fn lines(&self) -> Result<Vec<Line>, StoreError> {
        Ok(self.lock().lines())
    }
}

#[async_trait]
impl SourceStore for MemoryStore {
    async fn insert_source(&self, source: &Source) -> Result<(), StoreError> {
        self.lock().insert_source(source)
    }

    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.lock().delete_source(id, now)
    }

    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> {
        Ok(self.lock().sources.get(&id).map(|r| r.value.clone()))
    }

    async fn sources(&self) -> Result<Vec<Source>, StoreError> {
        Ok(self.lock().sources())
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
        Ok(self.lock().contacts.get(&id).cloned())
    }

    async fn contact_by_key(&self, key: &ContactKey) -> Result<Option<Contact>, StoreError> {
        let state = self.lock();
        Ok(state
            .contact_keys
            .get(key)
            .and_then(|id| state.contacts.get(id))
            .cloned())
    }

    async fn append_inbound(&self, new: NewInbound) -> Result<Appended, StoreError> {
        self.lock().append_inbound(new)
    }

    async fn append_outbound(&self, new: NewOutbound) -> Result<Message, StoreError> {
        self.lock().append_outbound(new)
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.lock().messages.get(&id).map(|m| Message::clone(m)))
    }

    async fn messages(
        &self,
        session: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        Ok(self.lock().messages(session, cursor, limit))
    }

    async fn update_message(&self, update: MessageUpdate) -> Result<UpdateOutcome, StoreError> {
        Ok(self.lock().update_message(&update))
    }

    async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError> {
        Ok(self
            .lock()
            .message_states
            .get(&id)
            .cloned()
            .unwrap_or_default())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn capabilities(&self) -> StoreCapabilities {
        self.capabilities
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(&id).map(|r| r.value.clone()))
    }

    async fn contact_sessions(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self.lock().contact_sessions(line, contact))
    }

    async fn queued_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let state = self.lock();
        Ok(state.serving(line, false, limit))
    }

    async fn queued_lines(
        &self,
        after: Option<LineId>,
        limit: usize,
    ) -> Result<Vec<LineId>, StoreError> {
        let state = self.lock();
        let mut lines: Vec<LineId> = state
            .queued
            .iter()
            .filter(|(line, queue)| !queue.is_empty() && after.is_none_or(|a| **line > a))
            .map(|(line, _)| *line)
            .collect();
        lines.sort_unstable();
        lines.truncate(limit);
        Ok(lines)
    }

    async fn offered_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let state = self.lock();
        Ok(state.serving(line, true, limit))
    }

    async fn assigned_sessions(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self.lock().assigned_after(operator, after, limit))
    }

    async fn offered_to(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self.lock().offered_to(operator, after, limit))
    }

    async fn line_sessions(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionOverview>, StoreError> {
        Ok(self.lock().line_sessions(line, state, after, limit))
    }

    async fn transition(
        &self,
        session: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        self.lock().transition(session, change, now)
    }

    async fn replace_roster(&self, line: LineId, eligible: &[UserId]) -> Result<(), StoreError> {
        self.lock().replace_roster(line, eligible);
        Ok(())
    }

    async fn set_eligible(
        &self,
        line: LineId,
        user: &UserId,
        eligible: bool,
    ) -> Result<(), StoreError> {
        self.lock().set_eligible(line, user, eligible);
        Ok(())
    }

    async fn roster(&self, line: LineId) -> Result<Vec<RosterEntry>, StoreError> {
        Ok(self.lock().roster(line))
    }

    async fn sla_breaches(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<chatlines_core::SlaBreach>, StoreError> {
        Ok(self.lock().sla_breaches(line, from, until, limit))
    }
}

#[async_trait]
impl AppLinkStore for MemoryStore {
    async fn put_account_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        self.lock().put_account_link(link);
        Ok(())
    }

    async fn account_link(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<AccountLink>, StoreError> {
        Ok(self.lock().links.get(&(line, contact)).cloned())
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        self.lock().insert_request(request)
    }

    async fn requests(&self, session: SessionId) -> Result<Vec<RequestRecord>, StoreError> {
        Ok(self.lock().requests(session))
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.lock().claim_outbox(now, lease_until, limit))
    }

    async fn finish_outbox(
        &self,
        id: OutboxId,
        token: Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        self.lock().finish_outbox(id, token, outcome, now)
    }

    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self.lock().outbox.get(&id).map(|r| r.value.clone()))
    }

    async fn outbox_for_message(
        &self,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let state = self.lock();
        Ok(state
            .outbox_by_message
            .get(&message)
            .and_then(|id| state.outbox.get(id))
            .map(|r| r.value.clone()))
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        let state = self.lock();
        let pending = state
            .outbox
            .values()
            .filter(|r| r.value.status == chatlines_core::OutboxStatus::Pending)
            .count();
        Ok(u64::try_from(pending).unwrap_or(u64::MAX))
    }
}

#[async_trait]
impl MediaStore for MemoryStore {
    async fn claim_media(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MediaJob>, StoreError> {
        Ok(self.lock().claim_media(now, lease_until, limit))
    }

    async fn finish_media(
        &self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, StoreError> {
        self.lock()
            .finish_media(message, index, token, outcome, now)
    }

    async fn media_jobs(&self, message: MessageId) -> Result<Vec<MediaJob>, StoreError> {
        Ok(self.lock().media_jobs(message))
    }
}

#[async_trait]
impl EventLogStore for MemoryStore {
    async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        Ok(self.lock().events_after(after, limit))
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventPosition>, StoreError> {
        Ok(self.lock().consumers.get(consumer).copied())
    }

    async fn save_consumer_position(
        &self,
        consumer: &str,
        position: EventPosition,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().save_consumer(consumer, position);
        Ok(())
    }

    async fn remove_consumer(&self, consumer: &str) -> Result<(), StoreError> {
        self.lock().consumers.remove(consumer);
        Ok(())
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        Ok(self.lock().prune_events(before, limit))
    }
}

#[async_trait]
impl TimerStore for MemoryStore {
    async fn claim_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        Ok(self.lock().claim_timers(now, lease_until, limit))
    }

    async fn fire_timer(
        &self,
        claimed: &ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError> {
        self.lock().fire_timer(claimed, now)
    }

    async fn session_timers(&self, session: SessionId) -> Result<Vec<Timer>, StoreError> {
        Ok(self.lock().session_timers(session))
    }

    async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.lock().due_timers(now))
    }
}
