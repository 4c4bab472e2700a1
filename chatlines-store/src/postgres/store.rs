//! The [`Store`](chatlines_core::Store) parts: each call is one attempt
//! function run under [`retry`], which repeats attempts that lost a
//! deadlock or serialization race.

use super::error::retry;
use super::PostgresStore;
use async_trait::async_trait;
use chatlines_core::{
    AccountLink, AppLinkStore, Appended, Contact, ContactId, ContactKey, Cursor, DeliveryOutcome,
    EventLogStore, EventPosition, Line, LineId, LineStore, LoggedEvent, MediaJob, MediaOutcome,
    MediaStore, Message, MessageId, MessagePage, MessageState, MessageStore, MessageUpdate,
    NewInbound, NewOutbound, OutboxEntry, OutboxId, OutboxStore, RequestRecord, RosterEntry,
    Session, SessionId, SessionOverview, SessionState, SessionStore, Source, SourceId, SourceStore,
    StoreCapabilities, StoreError, Transition, UpdateOutcome, UserId,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait]
impl LineStore for PostgresStore {
    async fn insert_line(&self, line: &Line) -> Result<(), StoreError> {
        retry("insert_line", || self.insert_line_once(line)).await
    }

    async fn update_line(&self, line: &Line, expected_version: u64) -> Result<(), StoreError> {
        retry("update_line", || {
            self.update_line_once(line, expected_version)
        })
        .await
    }

    async fn delete_line(
        &self,
        id: LineId,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        retry("delete_line", || {
            self.delete_line_once(id, expected_version, now)
        })
        .await
    }

    async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError> {
        retry("line", || self.line_once(id)).await
    }

    async fn lines(&self) -> Result<Vec<Line>, StoreError> {
        retry("lines", || self.lines_once()).await
    }
}

#[async_trait]
impl SourceStore for PostgresStore {
    async fn insert_source(&self, source: &Source) -> Result<(), StoreError> {
        retry("insert_source", || self.insert_source_once(source)).await
    }

    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError> {
        retry("delete_source", || self.delete_source_once(id, now)).await
    }

    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> {
        retry("source", || self.source_once(id)).await
    }

    async fn sources(&self) -> Result<Vec<Source>, StoreError> {
        retry("sources", || self.sources_once()).await
    }
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
        retry("contact", || self.contact_once(id)).await
    }

    async fn contact_by_key(&self, key: &ContactKey) -> Result<Option<Contact>, StoreError> {
        retry("contact_by_key", || self.contact_by_key_once(key)).await
    }

    async fn append_inbound(&self, new: NewInbound) -> Result<Appended, StoreError> {
        // Retries happen per batch, inside.
        self.ingest(new).await
    }

    async fn append_outbound(&self, new: NewOutbound) -> Result<Message, StoreError> {
        retry("append_outbound", || self.append_outbound_once(&new)).await
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        retry("message", || self.message_once(id)).await
    }

    async fn messages(
        &self,
        session: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        retry("messages", || self.messages_once(session, cursor, limit)).await
    }

    async fn update_message(&self, update: MessageUpdate) -> Result<UpdateOutcome, StoreError> {
        retry("update_message", || self.update_message_once(&update)).await
    }

    async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError> {
        retry("message_state", || self.message_state_once(id)).await
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::ALL
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        retry("session", || self.session_once(id)).await
    }

    async fn contact_sessions(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Vec<Session>, StoreError> {
        retry("contact_sessions", || {
            self.contact_sessions_once(line, contact)
        })
        .await
    }

    async fn queued_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        retry("queued_sessions", || {
            self.waiting_sessions_once(line, "queued", limit)
        })
        .await
    }

    async fn queued_lines(
        &self,
        after: Option<LineId>,
        limit: usize,
    ) -> Result<Vec<LineId>, StoreError> {
        retry("queued_lines", || self.queued_lines_once(after, limit)).await
    }

    async fn offered_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        retry("offered_sessions", || {
            self.waiting_sessions_once(line, "offered", limit)
        })
        .await
    }

    async fn assigned_sessions(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        retry("assigned_sessions", || {
            self.assigned_sessions_once(operator, after, limit)
        })
        .await
    }

    async fn offered_to(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        retry("offered_to", || {
            self.offered_to_once(operator, after, limit)
        })
        .await
    }

    async fn line_sessions(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionOverview>, StoreError> {
        retry("line_sessions", || {
            self.line_sessions_once(line, state, after, limit)
        })
        .await
    }

    async fn transition(
        &self,
        session: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        retry("transition", || self.transition_once(session, &change, now)).await
    }

    async fn replace_roster(&self, line: LineId, eligible: &[UserId]) -> Result<(), StoreError> {
        retry("replace_roster", || {
            self.replace_roster_once(line, eligible)
        })
        .await
    }

    async fn set_eligible(
        &self,
        line: LineId,
        user: &UserId,
        eligible: bool,
    ) -> Result<(), StoreError> {
        retry("set_eligible", || {
            self.set_eligible_once(line, user, eligible)
        })
        .await
    }

    async fn roster(&self, line: LineId) -> Result<Vec<RosterEntry>, StoreError> {
        retry("roster", || self.roster_once(line)).await
    }

    async fn sla_breaches(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<chatlines_core::SlaBreach>, StoreError> {
        retry("sla_breaches", || {
            self.sla_breaches_once(line, from, until, n)
        })
        .await
    }
}

#[async_trait]
impl AppLinkStore for PostgresStore {
    async fn put_account_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        retry("put_account_link", || self.put_account_link_once(link)).await
    }

    async fn account_link(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<AccountLink>, StoreError> {
        retry("account_link", || self.account_link_once(line, contact)).await
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        retry("insert_request", || self.insert_request_once(request)).await
    }

    async fn requests(&self, session: SessionId) -> Result<Vec<RequestRecord>, StoreError> {
        retry("requests", || self.requests_once(session)).await
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        retry("claim_outbox", || {
            self.claim_outbox_once(now, lease_until, limit)
        })
        .await
    }

    async fn finish_outbox(
        &self,
        id: OutboxId,
        token: Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        retry("finish_outbox", || {
            self.finish_outbox_once(id, token, &outcome, now)
        })
        .await
    }

    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
        retry("outbox_entry", || self.outbox_entry_once(id)).await
    }

    async fn outbox_for_message(
        &self,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        retry("outbox_for_message", || {
            self.outbox_for_message_once(message)
        })
        .await
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        retry("outbox_pending", || self.outbox_pending_once()).await
    }
}

#[async_trait]
impl MediaStore for PostgresStore {
    async fn claim_media(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MediaJob>, StoreError> {
        retry("claim_media", || {
            self.claim_media_once(now, lease_until, limit)
        })
        .await
    }

    async fn finish_media(
        &self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, StoreError> {
        retry("finish_media", || {
            self.finish_media_once(message, index, token, &outcome, now)
        })
        .await
    }

    async fn media_jobs(&self, message: MessageId) -> Result<Vec<MediaJob>, StoreError> {
        retry("media_jobs", || self.media_jobs_once(message)).await
    }
}

#[async_trait]
impl EventLogStore for PostgresStore {
    async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        retry("events_after", || self.events_after_once(after, limit)).await
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventPosition>, StoreError> {
        retry("consumer_position", || {
            self.consumer_position_once(consumer)
        })
        .await
    }

    async fn save_consumer_position(
        &self,
        consumer: &str,
        position: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        retry("save_consumer_position", || {
            self.save_consumer_position_once(consumer, position, now)
        })
        .await
    }

    async fn remove_consumer(&self, consumer: &str) -> Result<(), StoreError> {
        retry("remove_consumer", || self.remove_consumer_once(consumer)).await
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        retry("prune_events", || self.prune_events_once(before, limit)).await
    }
}

#[async_trait]
impl chatlines_core::TimerStore for PostgresStore {
    async fn claim_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<chatlines_core::ClaimedTimer>, StoreError> {
        retry("claim_timers", || {
            self.claim_timers_once(now, lease_until, limit)
        })
        .await
    }

    async fn fire_timer(
        &self,
        claimed: &chatlines_core::ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<chatlines_core::FireOutcome, StoreError> {
        retry("fire_timer", || self.fire_timer_once(claimed, now)).await
    }

    async fn session_timers(
        &self,
        session: SessionId,
    ) -> Result<Vec<chatlines_core::Timer>, StoreError> {
        retry("session_timers", || self.session_timers_once(session)).await
    }

    async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        retry("due_timers", || self.due_timers_once(now)).await
    }
}
