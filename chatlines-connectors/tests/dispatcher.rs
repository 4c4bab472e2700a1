//! The outbox dispatcher over a MemoryStore, delivering to a local server
//! speaking the Telegram Bot API shape.
#![cfg(all(feature = "dispatcher", feature = "telegram"))]

mod common;

use chatlines_connectors::dispatcher::{
    Backoff, Dispatcher, DispatcherConfig, KindLimits, Rate, RateLimits,
};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger};
use chatlines_connectors::Messengers;
use chatlines_core::{Event, MessageId, OutboxStatus};
use chatlines_store::MemoryStore;
use common::world::World;
use common::{Mock, Reply};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn ok(i: usize) -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 1000 + i, "chat": {"id": 77}}}),
    )
}

fn messengers(w: &World, mock: &Mock) -> Messengers {
    messengers_with(
        w,
        mock,
        HttpConfig::default().with_timeout(Duration::from_millis(300)),
    )
}

/// The world's source as a Telegram bot on the mock, with `http` settings.
fn messengers_with(w: &World, mock: &Mock, http: HttpConfig) -> Messengers {
    let tg = TelegramMessenger::new(
        TelegramConfig::new("1:T", "s")
            .with_api_base(&mock.url)
            .with_http(http),
    )
    .expect("config");
    Messengers::new().with(w.source.id, Arc::new(tg))
}

/// Waits (up to 10 s) until the mock has received `n` requests.
async fn wait_for_requests(mock: &Mock, n: usize) {
    for _ in 0..5000 {
        if mock.count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn fast() -> DispatcherConfig {
    DispatcherConfig::default()
        .with_backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .with_poll_interval(Duration::from_millis(10))
        .with_limits(RateLimits::off())
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("reply {i}")).collect()
}

/// Runs rounds until no entry of `ids` is pending (bounded).
async fn drain(d: &Dispatcher, w: &World, ids: &[MessageId]) {
    for _ in 0..2000 {
        d.run_once().await.expect("round");
        let mut pending = false;
        for id in ids {
            let e = w.entry(*id).await;
            pending |= e.status == OutboxStatus::Pending;
        }
        if !pending {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("entries still pending");
}

#[tokio::test]
async fn a_reply_reaches_the_messenger() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["Hello from ann".to_owned()]).await;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast())
        .build();
    drain(&d, &w, &ids).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].json(),
        json!({"chat_id": "77", "text": "Hello from ann"})
    );
    let entry = w.entry(ids[0]).await;
    assert_eq!(
        entry.status,
        OutboxStatus::Sent {
            external_id: "77:1000".into(),
            substitute: None,
        }
    );
    assert!(w.events().await.contains(&Event::DeliverySucceeded {
        entry: entry.id,
        message: ids[0],
        session,
        substitute: None,
    }));
}

#[tokio::test]
async fn rate_limits_server_errors_and_timeouts_are_retried_until_delivered() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| match i {
        0 => Reply::json(429, json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
        1 => Reply::status(502),
        2 => ok(i).delayed(Duration::from_secs(2)),
        _ => ok(i),
    })
    .await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["persist".to_owned()]).await;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast())
        .build();
    drain(&d, &w, &ids).await;
    let entry = w.entry(ids[0]).await;
    assert!(
        matches!(entry.status, OutboxStatus::Sent { .. }),
        "{entry:?}"
    );
    assert_eq!(entry.attempts, 4);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 4);
    // The retry after the 429 waited at least the retry_after the API asked for.
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(1000));
}

#[tokio::test]
async fn permanent_errors_are_recorded_not_retried() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, _| {
        Reply::json(403, json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}))
    })
    .await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["blocked".to_owned()]).await;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast())
        .build();
    drain(&d, &w, &ids).await;
    for _ in 0..5 {
        d.run_once().await.expect("round");
    }
    assert_eq!(mock.count(), 1);
    let entry = w.entry(ids[0]).await;
    let OutboxStatus::Failed { error } = &entry.status else {
        panic!("{entry:?}")
    };
    assert!(error.starts_with("bot was blocked by the user"), "{error}");
    assert!(w
        .events()
        .await
        .iter()
        .any(|e| matches!(e, Event::DeliveryFailed { message, .. } if *message == ids[0])));
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, _| Reply::status(500)).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["doomed".to_owned()]).await;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast().with_max_attempts(3))
        .build();
    drain(&d, &w, &ids).await;
    assert_eq!(mock.count(), 3);
    let entry = w.entry(ids[0]).await;
    assert!(
        matches!(&entry.status, OutboxStatus::Failed { error } if error.contains("gave up after 3 attempts")),
        "{entry:?}"
    );
}

#[tokio::test]
async fn uncertain_sends_follow_the_connector_policy() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i).delayed(Duration::from_secs(2))).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["maybe".to_owned()]).await;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast().with_retry_uncertain("telegram", false))
        .build();
    drain(&d, &w, &ids).await;
    assert_eq!(mock.count(), 1);
    let entry = w.entry(ids[0]).await;
    assert!(
        matches!(&entry.status, OutboxStatus::Failed { error } if error.contains("not retried")),
        "{entry:?}"
    );
}

#[tokio::test]
async fn two_dispatchers_send_each_entry_exactly_once() {
    let store = Arc::new(MemoryStore::new());
    let w = World::over(store.clone(), "telegram").await;
    let mock = Mock::start(|_, i| ok(i).delayed(Duration::from_millis(2))).await;
    let mut ids = vec![];
    for chat in 0..8 {
        let session = w
            .taken_session(&format!("u{chat}"), &format!("{chat}"))
            .await;
        let t: Vec<String> = (0..10).map(|i| format!("chat {chat} reply {i}")).collect();
        ids.extend(w.replies(session, &t).await);
    }
    let config = fast().with_batch(7);
    let a = Dispatcher::builder(store.clone(), messengers(&w, &mock))
        .config(config.clone())
        .build()
        .spawn();
    let b = Dispatcher::builder(store.clone(), messengers(&w, &mock))
        .config(config)
        .build()
        .spawn();
    for _ in 0..2000 {
        if mock.count() >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in mock.requests() {
        *seen
            .entry(r.json()["text"].as_str().expect("text").to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), ids.len());
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    for id in &ids {
        let e = w.entry(*id).await;
        assert!(matches!(e.status, OutboxStatus::Sent { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn one_dispatcher_keeps_each_chats_order() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i).delayed(Duration::from_millis(1))).await;
    let mut ids = vec![];
    for chat in 0..3 {
        let session = w
            .taken_session(&format!("u{chat}"), &format!("{chat}"))
            .await;
        let t: Vec<String> = (0..6).map(|i| format!("chat {chat} reply {i}")).collect();
        ids.extend(w.replies(session, &t).await);
    }
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(fast())
        .build();
    // A round claims each chat's head only: one reply per chat.
    assert_eq!(d.run_once().await.expect("round"), 3);
    assert_eq!(mock.count(), 3);
    drain(&d, &w, &ids).await;
    assert_eq!(mock.count(), 18);
    for chat in 0..3 {
        let order: Vec<String> = mock
            .requests()
            .iter()
            .filter(|r| r.json()["chat_id"] == format!("{chat}"))
            .map(|r| r.json()["text"].as_str().expect("text").to_owned())
            .collect();
        let expected: Vec<String> = (0..6).map(|i| format!("chat {chat} reply {i}")).collect();
        assert_eq!(order, expected);
    }
}

#[tokio::test]
async fn per_chat_rate_limit_spaces_sends() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &texts(5)).await;
    let limits = RateLimits::off().with_kind(
        "telegram",
        KindLimits::new(Some(Rate::per_second(5).with_burst(1)), None),
    );
    let mut config = fast().with_limits(limits);
    config.limits.enabled = true;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(config)
        .build();
    drain(&d, &w, &ids).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 5);
    // 5 per second with no burst: consecutive sends at least ~200 ms apart
    // (a lower bound with room for network jitter; without the limit the
    // gaps are a few milliseconds).
    for pair in reqs.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(100), "gap {gap:?}");
    }
}

#[tokio::test]
async fn per_source_rate_limit_holds_across_chats() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i)).await;
    let mut ids = vec![];
    for chat in 0..4 {
        let s = w
            .taken_session(&format!("u{chat}"), &format!("{chat}"))
            .await;
        ids.extend(w.replies(s, &texts(2)).await);
    }
    let limits = RateLimits::off().with_kind(
        "telegram",
        KindLimits::new(None, Some(Rate::per_second(10).with_burst(1))),
    );
    let mut config = fast().with_limits(limits);
    config.limits.enabled = true;
    let d = Dispatcher::builder(w.store.clone(), messengers(&w, &mock))
        .config(config)
        .build();
    drain(&d, &w, &ids).await;
    let mut at: Vec<_> = mock.requests().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 8);
    // 10 per second for the whole bot, whatever the chat: 8 sends span >= 7 x 100 ms.
    assert!(at[7].duration_since(at[0]) >= Duration::from_millis(500));
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i).delayed(Duration::from_millis(150))).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &["in flight".to_owned()]).await;
    // Default HTTP settings: the mock answers slower than `messengers`' timeout.
    let handle = Dispatcher::builder(
        w.store.clone(),
        messengers_with(&w, &mock, HttpConfig::default()),
    )
    .config(fast())
    .build()
    .spawn();
    wait_for_requests(&mock, 1).await;
    assert_eq!(mock.count(), 1, "the send started");
    handle.shutdown().await;
    let entry = w.entry(ids[0]).await;
    assert!(
        matches!(entry.status, OutboxStatus::Sent { .. }),
        "{entry:?}"
    );
    assert_eq!(entry.lease, None);
}

#[tokio::test]
async fn shutdown_releases_entries_not_yet_attempted() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| ok(i).delayed(Duration::from_millis(500))).await;
    let session = w.taken_session("77", "77").await;
    let ids = w.replies(session, &texts(3)).await;
    // Default HTTP settings: the mock answers slower than `messengers`' timeout.
    let handle = Dispatcher::builder(
        w.store.clone(),
        messengers_with(&w, &mock, HttpConfig::default()),
    )
    .config(fast())
    .build()
    .spawn();
    wait_for_requests(&mock, 1).await;
    handle.shutdown().await;
    // The first was in flight and finished; the other two were released.
    assert_eq!(mock.count(), 1);
    let first = w.entry(ids[0]).await;
    assert!(
        matches!(first.status, OutboxStatus::Sent { .. }),
        "{first:?}"
    );
    for id in &ids[1..] {
        let e = w.entry(*id).await;
        assert_eq!(e.status, OutboxStatus::Pending);
        assert_eq!(e.lease, None);
    }
    // Another dispatcher picks them up at once.
    let d = Dispatcher::builder(
        w.store.clone(),
        messengers_with(&w, &mock, HttpConfig::default()),
    )
    .config(fast())
    .build();
    drain(&d, &w, &ids).await;
    assert_eq!(mock.count(), 3);
}

#[cfg(feature = "webhook")]
#[tokio::test]
async fn generic_webhook_retries_carry_the_stored_message_id() {
    use chatlines_connectors::generic::{GenericConfig, GenericWebhook};
    let w = World::new("webhook").await;
    let mock = Mock::start(|_, i| match i {
        0 => Reply::status(503),
        _ => Reply::json(200, json!({})),
    })
    .await;
    let hook = GenericWebhook::new(
        GenericConfig::new("whsec", format!("{}/out", mock.url))
            .with_http(HttpConfig::default().with_timeout(Duration::from_millis(300))),
    )
    .expect("config");
    let session = w.taken_session("room-1", "room-1").await;
    let ids = w.replies(session, &["twice".to_owned()]).await;
    let d = Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(hook)),
    )
    .config(fast())
    .build();
    drain(&d, &w, &ids).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "one failure, one success");
    // Both attempts name the stored message, so the receiver can drop the
    // redelivery.
    assert_eq!(reqs[0].json()["id"], json!(ids[0].to_string()));
    assert_eq!(reqs[1].json()["id"], json!(ids[0].to_string()));
    // And so does the idempotency key header.
    for r in &reqs {
        assert_eq!(
            r.header("idempotency-key").as_deref(),
            Some(ids[0].to_string().as_str())
        );
    }
}
