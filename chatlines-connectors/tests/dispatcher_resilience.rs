//! The dispatcher keeps going: capped server delays, panics in a send or
//! in the worker, outcomes the store cannot record, local rate-limit holds
//! that are not attempts, and replies a messenger cannot carry. Over a
//! MemoryStore, with a local server speaking the Telegram Bot API.
#![cfg(all(feature = "dispatcher", feature = "telegram"))]

mod common;

use async_trait::async_trait;
use chatlines_connectors::dispatcher::{
    Backoff, Dispatcher, DispatcherConfig, DispatcherHealth, KindLimits, Rate, RateLimits,
};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger};
use chatlines_connectors::Messengers;
use chatlines_core::store::prelude::*;
use chatlines_core::*;
use chatlines_store::MemoryStore;
use chrono::{DateTime, Utc};
use common::world::World;
use common::{Mock, Reply};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A clock the test moves by hand (the host's `Clock` port).
#[derive(Debug)]
struct SetClock(Mutex<DateTime<Utc>>);

impl SetClock {
    /// Starts a little after the real time, so entries written just
    /// before are due.
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now() + chrono::Duration::seconds(1))))
    }
    fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().expect("clock");
        *t += by;
    }
    fn at(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

impl Clock for SetClock {
    fn now(&self) -> DateTime<Utc> {
        self.at()
    }
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::new_v4()
    }
}

fn ok(i: usize) -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 1000 + i, "chat": {"id": 77}}}),
    )
}

fn telegram(mock: &Mock) -> TelegramMessenger {
    TelegramMessenger::new(
        TelegramConfig::new("1:T", "s")
            .with_api_base(&mock.url)
            .with_http(HttpConfig::default().with_timeout(Duration::from_millis(500))),
    )
    .expect("config")
}

fn config() -> DispatcherConfig {
    DispatcherConfig::default()
        .with_backoff(Backoff::new(
            Duration::from_millis(5),
            Duration::from_millis(20),
        ))
        .with_poll_interval(Duration::from_millis(5))
        .with_restart_backoff(Backoff::new(
            Duration::from_millis(5),
            Duration::from_millis(20),
        ))
        .with_limits(RateLimits::off())
}

/// Waits until the health satisfies `done` (bounded, so a broken
/// dispatcher fails the test instead of hanging it).
async fn until(
    health: &mut tokio::sync::watch::Receiver<DispatcherHealth>,
    done: impl FnMut(&DispatcherHealth) -> bool,
) -> DispatcherHealth {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        health.wait_for(done).await.map(|h| h.clone())
    })
    .await;
    match waited {
        Ok(Ok(h)) => h,
        Ok(Err(_)) => panic!("the dispatcher is gone"),
        Err(_) => panic!("timed out; health: {:?}", *health.borrow()),
    }
}

#[tokio::test]
async fn a_huge_retry_after_is_capped_and_other_chats_keep_flowing() {
    let w = World::new("telegram").await;
    // The first request is told to wait 10^13 seconds (past any date).
    let mock = Mock::start(|_, i| match i {
        0 => Reply::json(
            429,
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 10000000000000",
                   "parameters": {"retry_after": 10_000_000_000_000u64}}),
        ),
        _ => ok(i),
    })
    .await;
    let a = w.taken_session("a", "a").await;
    let held = w.replies(a, &["to a".to_owned()]).await;
    let b = w.taken_session("b", "b").await;
    let clock = SetClock::new();
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(telegram(&mock))),
    )
    .clock(clock.clone())
    .config(config().with_concurrency(1))
    .build();
    assert_eq!(d.run_once().await.expect("round"), 1);
    let entry = w.entry(held[0]).await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(
        entry.next_attempt_at,
        clock.at() + chrono::Duration::hours(1),
        "capped at the default maximum delay"
    );
    assert_eq!(entry.attempts, 1);

    // The dispatcher is fine: another chat's reply goes out.
    let other = w.replies(b, &["to b".to_owned()]).await;
    d.run_once().await.expect("round");
    assert!(matches!(
        w.entry(other[0]).await.status,
        OutboxStatus::Sent { .. }
    ));
    assert!(matches!(
        w.entry(held[0]).await.status,
        OutboxStatus::Pending
    ));
    let health = d.health().borrow().clone();
    assert_eq!((health.sent, health.retried), (1, 1), "{health:?}");
    assert!(
        health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("rate limited")),
        "{health:?}"
    );

    clock.advance(chrono::Duration::hours(1));
    d.run_once().await.expect("round");
    assert!(matches!(
        w.entry(held[0]).await.status,
        OutboxStatus::Sent { .. }
    ));
}

#[cfg(feature = "webhook")]
#[tokio::test]
async fn a_huge_retry_after_header_is_capped_at_the_configured_maximum() {
    use chatlines_connectors::generic::{GenericConfig, GenericWebhook};
    let w = World::new("webhook").await;
    let mock =
        Mock::start(|_, _| Reply::status(429).header("retry-after", "18446744073709551615")).await;
    let hook = GenericWebhook::new(GenericConfig::new("whsec", format!("{}/out", mock.url)))
        .expect("config");
    let s = w.taken_session("room", "room").await;
    let ids = w.replies(s, &["hello".to_owned()]).await;
    let clock = SetClock::new();
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(hook)),
    )
    .clock(clock.clone())
    .config(config().with_max_delay(Duration::from_secs(90)))
    .build();
    d.run_once().await.expect("round");
    let e = w.entry(ids[0]).await;
    assert_eq!(e.status, OutboxStatus::Pending);
    assert_eq!(
        e.next_attempt_at,
        clock.at() + chrono::Duration::seconds(90)
    );
}

/// A connector (as a plugin author might write one) that panics on its
/// first send and otherwise delegates to the Telegram connector.
struct PanicsOnce {
    inner: TelegramMessenger,
    panicked: AtomicBool,
}

#[async_trait]
impl Messenger for PanicsOnce {
    fn kind(&self) -> &str {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        self.inner.parse_webhook(request)
    }
    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError> {
        if !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("connector bug");
        }
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn a_panic_in_a_send_releases_the_entry_as_a_retry() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let s = w.taken_session("77", "77").await;
    let ids = w
        .replies(s, &["first".to_owned(), "second".to_owned()])
        .await;
    let connector = PanicsOnce {
        inner: telegram(&mock),
        panicked: AtomicBool::new(false),
    };
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(connector)),
    )
    .config(config())
    .build();
    let mut health = d.health();
    let handle = d.spawn();
    let h = until(&mut health, |h| h.sent == 2).await;
    assert_eq!((h.panics, h.restarts), (1, 0), "{h:?}");
    assert!(h.running);
    let first = w.entry(ids[0]).await;
    assert!(matches!(first.status, OutboxStatus::Sent { .. }));
    assert_eq!(first.attempts, 2, "the panic counted as an attempt");
    assert!(
        first
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("panicked: connector bug")),
        "{first:?}"
    );
    let texts: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| r.json()["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("first"), json!("second")]);
    handle.shutdown().await;
    assert!(!health.borrow().running);
}

/// The dispatcher's part of a store (the host's port), over a MemoryStore,
/// that can panic in a claim or fail to record retries.
struct Flaky {
    inner: Arc<MemoryStore>,
    panic_claims: AtomicUsize,
    refuse_retries: bool,
}

impl Flaky {
    fn new(inner: Arc<MemoryStore>) -> Self {
        Self {
            inner,
            panic_claims: AtomicUsize::new(0),
            refuse_retries: false,
        }
    }
}

#[rustfmt::skip]
#[async_trait]
impl SourceStore for Flaky {
    async fn insert_source(&self, s: &Source) -> Result<(), StoreError> { self.inner.insert_source(s).await }
    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError> { self.inner.delete_source(id, now).await }
    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> { self.inner.source(id).await }
    async fn sources(&self) -> Result<Vec<Source>, StoreError> { self.inner.sources().await }
}

#[rustfmt::skip]
#[async_trait]
impl MessageStore for Flaky {
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> { self.inner.contact(id).await }
    async fn contact_by_key(&self, k: &ContactKey) -> Result<Option<Contact>, StoreError> { self.inner.contact_by_key(k).await }
    async fn append_inbound(&self, n: NewInbound) -> Result<Appended, StoreError> { self.inner.append_inbound(n).await }
    async fn append_outbound(&self, n: NewOutbound) -> Result<Message, StoreError> { self.inner.append_outbound(n).await }
    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> { self.inner.message(id).await }
    async fn messages(&self, s: SessionId, c: Cursor, l: usize) -> Result<MessagePage, StoreError> { self.inner.messages(s, c, l).await }
    async fn update_message(&self, u: chatlines_core::MessageUpdate) -> Result<chatlines_core::UpdateOutcome, StoreError> { self.inner.update_message(u).await }
    async fn message_state(&self, id: MessageId) -> Result<chatlines_core::MessageState, StoreError> { self.inner.message_state(id).await }
}

#[async_trait]
impl OutboxStore for Flaky {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let left = self.panic_claims.load(Ordering::SeqCst);
        if left > 0 {
            self.panic_claims.store(left - 1, Ordering::SeqCst);
            panic!("store driver bug");
        }
        self.inner.claim_outbox(now, lease_until, limit).await
    }
    async fn finish_outbox(
        &self,
        id: OutboxId,
        token: uuid::Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        if self.refuse_retries && matches!(outcome, DeliveryOutcome::Retry { .. }) {
            return Err(StoreError::Backend("cannot store that retry time".into()));
        }
        self.inner.finish_outbox(id, token, outcome, now).await
    }
    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
        self.inner.outbox_entry(id).await
    }
    async fn outbox_for_message(&self, m: MessageId) -> Result<Option<OutboxEntry>, StoreError> {
        self.inner.outbox_for_message(m).await
    }
    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        self.inner.outbox_pending().await
    }
}

#[tokio::test]
async fn the_worker_is_restarted_after_a_panic_outside_a_send() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let s = w.taken_session("77", "77").await;
    let ids = w.replies(s, &["hello".to_owned()]).await;
    let store = Flaky::new(w.store.clone());
    store.panic_claims.store(2, Ordering::SeqCst);
    let d = Dispatcher::builder(
        store,
        Messengers::new().with(w.source.id, Arc::new(telegram(&mock))),
    )
    .config(config())
    .build();
    let mut health = d.health();
    let handle = d.spawn();
    let h = until(&mut health, |h| h.sent == 1).await;
    assert_eq!(h.restarts, 2, "{h:?}");
    assert!(h.running, "{h:?}");
    assert!(h.last_success.is_some());
    assert!(
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("store driver bug")),
        "{h:?}"
    );
    assert!(matches!(
        w.entry(ids[0]).await.status,
        OutboxStatus::Sent { .. }
    ));
    handle.shutdown().await;
}

#[tokio::test]
async fn an_outcome_the_store_cannot_record_still_ends_at_max_attempts() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, _| {
        Reply::json(
            500,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        )
    })
    .await;
    let s = w.taken_session("77", "77").await;
    let ids = w.replies(s, &["hello".to_owned()]).await;
    let mut store = Flaky::new(w.store.clone());
    store.refuse_retries = true;
    let clock = SetClock::new();
    let d = Dispatcher::builder(
        store,
        Messengers::new().with(w.source.id, Arc::new(telegram(&mock))),
    )
    .clock(clock.clone())
    .config(
        config()
            .with_max_attempts(3)
            .with_lease(Duration::from_secs(10)),
    )
    .build();
    for round in 0..10 {
        d.run_once().await.expect("round");
        let e = w.entry(ids[0]).await;
        if e.status != OutboxStatus::Pending {
            break;
        }
        assert!(round < 5, "still pending after {round} rounds: {e:?}");
        // The lease runs out; the next claim counts the lost attempt.
        clock.advance(chrono::Duration::seconds(11));
    }
    let e = w.entry(ids[0]).await;
    assert!(
        matches!(&e.status, OutboxStatus::Failed { error } if error.contains("gave up after 3 attempts")),
        "{e:?}"
    );
    assert_eq!(mock.count(), 3, "sent once per attempt, then given up");
}

#[tokio::test]
async fn local_rate_limit_holds_are_not_attempts() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let s = w.taken_session("77", "77").await;
    let texts: Vec<String> = (0..12).map(|i| format!("reply {i}")).collect();
    let ids = w.replies(s, &texts).await;
    let mut limits = RateLimits::off().with_kind(
        "telegram",
        KindLimits::new(Some(Rate::per_second(50).with_burst(1)), None),
    );
    limits.enabled = true;
    // Never wait for the limiter: every hold is a deferral.
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(telegram(&mock))),
    )
    .config(
        config()
            .with_limits(limits)
            .with_max_local_wait(Duration::ZERO)
            .with_max_attempts(2),
    )
    .build();
    let mut health = d.health();
    let handle = d.spawn();
    let h = until(&mut health, |h| h.sent + h.failed == 12).await;
    handle.shutdown().await;
    assert_eq!(h.sent, 12, "{h:?}");
    assert!(h.deferred > 0, "the limit held some back: {h:?}");
    for id in &ids {
        let e = w.entry(*id).await;
        assert!(matches!(e.status, OutboxStatus::Sent { .. }), "{e:?}");
        assert_eq!(e.attempts, 1, "one real send each: {e:?}");
    }
    let sent: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| r.json()["text"].clone())
        .collect();
    let expected: Vec<_> = texts.iter().map(|t| json!(t)).collect();
    assert_eq!(sent, expected, "in order, once each");
}

#[tokio::test]
async fn a_reply_longer_than_the_messenger_carries_fails_without_being_sent() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let s = w.taken_session("77", "77").await;
    let long = "x".repeat(4097);
    let ids = w.replies(s, &[long, "fits".to_owned()]).await;
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(telegram(&mock))),
    )
    .config(config())
    .build();
    d.run_once().await.expect("round");
    let e = w.entry(ids[0]).await;
    assert!(
        matches!(&e.status, OutboxStatus::Failed { error }
            if error.contains("4097 characters") && error.contains("at most 4096")),
        "{e:?}"
    );
    assert_eq!(mock.count(), 0, "never sent to fail");
    assert!(w.events().await.iter().any(|ev| matches!(ev,
        Event::DeliveryFailed { entry, .. } if *entry == e.id)));
    // The chat moves on to the next reply.
    d.run_once().await.expect("round");
    assert!(matches!(
        w.entry(ids[1]).await.status,
        OutboxStatus::Sent { .. }
    ));
}
