//! A store that delegates to a `MemoryStore` and can be told to fail
//! `append_inbound` (as a database that went away would).
#![allow(dead_code)]

use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::*;
use chatlines_store::MemoryStore;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

#[derive(Default)]
pub struct FailingStore {
    pub inner: MemoryStore,
    pub fail: AtomicBool,
}

#[rustfmt::skip]
#[async_trait]
impl LineStore for FailingStore {
    async fn insert_line(&self, line: &Line) -> Result<(), StoreError> { self.inner.insert_line(line).await }
    async fn update_line(&self, line: &Line, v: u64) -> Result<(), StoreError> { self.inner.update_line(line, v).await }
    async fn delete_line(&self, id: LineId, v: u64, now: DateTime<Utc>) -> Result<(), StoreError> { self.inner.delete_line(id, v, now).await }
    async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError> { self.inner.line(id).await }
    async fn lines(&self) -> Result<Vec<Line>, StoreError> { self.inner.lines().await }
}

#[rustfmt::skip]
#[async_trait]
impl SourceStore for FailingStore {
    async fn insert_source(&self, s: &Source) -> Result<(), StoreError> { self.inner.insert_source(s).await }
    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError> { self.inner.delete_source(id, now).await }
    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> { self.inner.source(id).await }
    async fn sources(&self) -> Result<Vec<Source>, StoreError> { self.inner.sources().await }
}

#[rustfmt::skip]
#[async_trait]
impl MessageStore for FailingStore {
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> { self.inner.contact(id).await }
    async fn contact_by_key(&self, k: &ContactKey) -> Result<Option<Contact>, StoreError> { self.inner.contact_by_key(k).await }
    async fn append_inbound(&self, n: NewInbound) -> Result<Appended, StoreError> { if self.fail.load(Ordering::SeqCst) { return Err(StoreError::Unavailable("injected failure".into())); } self.inner.append_inbound(n).await }
    async fn append_outbound(&self, n: NewOutbound) -> Result<Message, StoreError> { self.inner.append_outbound(n).await }
    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> { self.inner.message(id).await }
    async fn messages(&self, s: SessionId, c: Cursor, l: usize) -> Result<MessagePage, StoreError> { self.inner.messages(s, c, l).await }
    async fn update_message(&self, u: MessageUpdate) -> Result<UpdateOutcome, StoreError> { if self.fail.load(Ordering::SeqCst) { return Err(StoreError::Unavailable("injected failure".into())); } self.inner.update_message(u).await }
    async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError> { self.inner.message_state(id).await }
}

#[rustfmt::skip]
#[async_trait]
impl SessionStore for FailingStore {
    fn capabilities(&self) -> StoreCapabilities { self.inner.capabilities() }
    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> { self.inner.session(id).await }
    async fn contact_sessions(&self, l: LineId, c: ContactId) -> Result<Vec<Session>, StoreError> { self.inner.contact_sessions(l, c).await }
    async fn queued_sessions(&self, l: LineId, n: usize) -> Result<Vec<Session>, StoreError> { self.inner.queued_sessions(l, n).await }
    async fn queued_lines(&self, a: Option<LineId>, n: usize) -> Result<Vec<LineId>, StoreError> { self.inner.queued_lines(a, n).await }
    async fn offered_sessions(&self, l: LineId, n: usize) -> Result<Vec<Session>, StoreError> { self.inner.offered_sessions(l, n).await }
    async fn assigned_sessions(&self, o: &UserId, a: Option<SessionId>, n: usize) -> Result<Vec<Session>, StoreError> { self.inner.assigned_sessions(o, a, n).await }
    async fn offered_to(&self, o: &UserId, a: Option<SessionId>, n: usize) -> Result<Vec<Session>, StoreError> { self.inner.offered_to(o, a, n).await }
    async fn line_sessions(&self, l: LineId, s: Option<SessionState>, a: Option<SessionId>, n: usize) -> Result<Vec<SessionOverview>, StoreError> { self.inner.line_sessions(l, s, a, n).await }
    async fn transition(&self, s: SessionId, t: Transition, now: DateTime<Utc>) -> Result<Session, StoreError> { self.inner.transition(s, t, now).await }
    async fn replace_roster(&self, l: LineId, e: &[UserId]) -> Result<(), StoreError> { self.inner.replace_roster(l, e).await }
    async fn set_eligible(&self, l: LineId, u: &UserId, e: bool) -> Result<(), StoreError> { self.inner.set_eligible(l, u, e).await }
    async fn roster(&self, l: LineId) -> Result<Vec<RosterEntry>, StoreError> { self.inner.roster(l).await }
    async fn sla_breaches(&self, l: LineId, f: DateTime<Utc>, u: DateTime<Utc>, n: usize) -> Result<Vec<chatlines_core::SlaBreach>, StoreError> { self.inner.sla_breaches(l, f, u, n).await }
}

#[rustfmt::skip]
#[async_trait]
impl AppLinkStore for FailingStore {
    async fn put_account_link(&self, a: &AccountLink) -> Result<(), StoreError> { self.inner.put_account_link(a).await }
    async fn account_link(&self, l: LineId, c: ContactId) -> Result<Option<AccountLink>, StoreError> { self.inner.account_link(l, c).await }
    async fn insert_request(&self, r: &RequestRecord) -> Result<(), StoreError> { self.inner.insert_request(r).await }
    async fn requests(&self, s: SessionId) -> Result<Vec<RequestRecord>, StoreError> { self.inner.requests(s).await }
}

#[rustfmt::skip]
#[async_trait]
impl OutboxStore for FailingStore {
    async fn claim_outbox(&self, now: DateTime<Utc>, until: DateTime<Utc>, n: usize) -> Result<Vec<OutboxEntry>, StoreError> { self.inner.claim_outbox(now, until, n).await }
    async fn finish_outbox(&self, id: OutboxId, t: Uuid, o: DeliveryOutcome, now: DateTime<Utc>) -> Result<OutboxEntry, StoreError> { self.inner.finish_outbox(id, t, o, now).await }
    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> { self.inner.outbox_entry(id).await }
    async fn outbox_for_message(&self, m: MessageId) -> Result<Option<OutboxEntry>, StoreError> { self.inner.outbox_for_message(m).await }
    async fn outbox_pending(&self) -> Result<u64, StoreError> { self.inner.outbox_pending().await }
}

#[rustfmt::skip]
#[async_trait]
impl MediaStore for FailingStore {
    async fn claim_media(&self, now: DateTime<Utc>, until: DateTime<Utc>, n: usize) -> Result<Vec<MediaJob>, StoreError> { self.inner.claim_media(now, until, n).await }
    async fn finish_media(&self, m: MessageId, i: u32, t: Uuid, o: MediaOutcome, now: DateTime<Utc>) -> Result<MediaJob, StoreError> { self.inner.finish_media(m, i, t, o, now).await }
    async fn media_jobs(&self, m: MessageId) -> Result<Vec<MediaJob>, StoreError> { self.inner.media_jobs(m).await }
}

#[rustfmt::skip]
#[async_trait]
impl TimerStore for FailingStore {
    async fn claim_timers(&self, now: DateTime<Utc>, until: DateTime<Utc>, n: usize) -> Result<Vec<ClaimedTimer>, StoreError> { self.inner.claim_timers(now, until, n).await }
    async fn fire_timer(&self, c: &ClaimedTimer, now: DateTime<Utc>) -> Result<FireOutcome, StoreError> { self.inner.fire_timer(c, now).await }
    async fn session_timers(&self, s: SessionId) -> Result<Vec<Timer>, StoreError> { self.inner.session_timers(s).await }
    async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> { self.inner.due_timers(now).await }
}

#[rustfmt::skip]
#[async_trait]
impl EventLogStore for FailingStore {
    async fn events_after(&self, after: EventPosition, n: usize) -> Result<Vec<LoggedEvent>, StoreError> { self.inner.events_after(after, n).await }
    async fn consumer_position(&self, c: &str) -> Result<Option<EventPosition>, StoreError> { self.inner.consumer_position(c).await }
    async fn save_consumer_position(&self, c: &str, p: EventPosition, now: DateTime<Utc>) -> Result<(), StoreError> { self.inner.save_consumer_position(c, p, now).await }
    async fn remove_consumer(&self, c: &str) -> Result<(), StoreError> { self.inner.remove_consumer(c).await }
    async fn prune_events(&self, before: DateTime<Utc>, n: usize) -> Result<u64, StoreError> { self.inner.prune_events(before, n).await }
}
