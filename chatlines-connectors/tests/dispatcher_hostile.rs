//! Per-chat order under a hostile messenger: a local server speaking the
//! Telegram Bot API answers at random with 429 (with `retry_after`), 5xx
//! and answers too slow for the client's timeout (the message arrived, the
//! answer is lost). Two dispatchers share the store. Every reply must
//! arrive, and no chat may see a reply before an earlier one.
#![cfg(all(feature = "dispatcher", feature = "telegram"))]

mod common;

use chatlines_connectors::dispatcher::{Backoff, Dispatcher, DispatcherConfig, RateLimits};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger};
use chatlines_connectors::Messengers;
use chatlines_core::{MessageId, OutboxStatus};
use common::world::World;
use common::{Mock, Recorded, Reply};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const CHATS: usize = 20;
const REPLIES: usize = 10;

const SEED: u64 = 0x5eed_0010;

/// The hostile answer to request `i`, drawn from a generator seeded by
/// `i`, so the answer to each request can be told afterwards.
fn hostile(i: usize) -> Reply {
    let roll = fastrand::Rng::with_seed(SEED ^ i as u64).u32(0..100);
    let error = |code: u16, description: &str| {
        Reply::json(
            code,
            json!({"ok": false, "error_code": code, "description": description}),
        )
    };
    match roll {
        0..=9 => {
            let wait = u64::from(roll == 0);
            Reply::json(
                429,
                json!({"ok": false, "error_code": 429,
                       "description": format!("Too Many Requests: retry after {wait}"),
                       "parameters": {"retry_after": wait}}),
            )
        }
        10..=14 => error(500, "Internal Server Error"),
        15..=19 => error(502, "Bad Gateway"),
        // Too slow for the client: delivered, but the answer is lost.
        20..=24 => ok(i).delayed(Duration::from_millis(400)),
        _ => ok(i),
    }
}

fn ok(i: usize) -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 1000 + i, "chat": {"id": 1}}}),
    )
}

/// (chat, reply index) of a recorded sendMessage request.
fn which(r: &Recorded) -> (String, usize) {
    let body = r.json();
    let chat = body["chat_id"].as_str().expect("chat_id").to_owned();
    let text = body["text"].as_str().expect("text");
    let index = text
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("reply index");
    (chat, index)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    delivered: usize,
    duplicated: usize,
    swapped: usize,
}

/// Counts, over what the messenger received in arrival order: distinct
/// replies per chat, repeats, and adjacent pairs where a later reply came
/// before an earlier one.
fn tally(requests: &[Recorded]) -> Tally {
    let mut per_chat: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for r in requests {
        let (chat, index) = which(r);
        per_chat.entry(chat).or_default().push(index);
    }
    let mut t = Tally::default();
    for seq in per_chat.values() {
        let distinct: BTreeSet<_> = seq.iter().collect();
        t.delivered += distinct.len();
        t.duplicated += seq.len() - distinct.len();
        t.swapped += seq.windows(2).filter(|p| p[1] < p[0]).count();
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_messenger_gets_every_reply_in_order() {
    let w = World::new("telegram").await;
    let mock = Mock::start(|_, i| hostile(i)).await;
    let mut ids: Vec<MessageId> = Vec::new();
    for chat in 0..CHATS {
        let session = w
            .taken_session(&format!("u{chat}"), &format!("{chat}"))
            .await;
        let texts: Vec<String> = (0..REPLIES)
            .map(|i| format!("chat {chat} reply {i}"))
            .collect();
        ids.extend(w.replies(session, &texts).await);
    }
    let config = DispatcherConfig::default()
        .with_backoff(Backoff::new(
            Duration::from_millis(5),
            Duration::from_millis(40),
        ))
        .with_poll_interval(Duration::from_millis(5))
        .with_max_attempts(30)
        .with_concurrency(8)
        .with_limits(RateLimits::off());
    let dispatcher = || {
        let tg = TelegramMessenger::new(
            TelegramConfig::new("1:T", "s")
                .with_api_base(&mock.url)
                .with_http(HttpConfig::default().with_timeout(Duration::from_millis(150))),
        )
        .expect("config");
        Dispatcher::builder(
            w.store.clone(),
            Messengers::new().with(w.source.id, Arc::new(tg)),
        )
        .config(config.clone())
        .build()
    };
    let (one, two) = (dispatcher(), dispatcher());
    let (mut h1, mut h2) = (one.health(), two.health());
    let (one, two) = (one.spawn(), two.spawn());
    let total = CHATS * REPLIES;
    let finished = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let done = {
                let (a, b) = (h1.borrow_and_update(), h2.borrow_and_update());
                a.sent + a.failed + b.sent + b.failed
            };
            if done >= total as u64 {
                return;
            }
            tokio::select! {
                _ = h1.changed() => {}
                _ = h2.changed() => {}
            }
        }
    })
    .await;
    let (s1, s2) = (h1.borrow().clone(), h2.borrow().clone());
    one.shutdown().await;
    two.shutdown().await;
    assert!(finished.is_ok(), "not finished: {s1:?} {s2:?}");

    let mut stuck = 0;
    for id in &ids {
        if !matches!(w.entry(*id).await.status, OutboxStatus::Sent { .. }) {
            stuck += 1;
        }
    }
    let requests = mock.requests();
    // What the messenger took: answered 200 (in time or too late).
    let taken: Vec<Recorded> = requests
        .iter()
        .enumerate()
        .filter(|(i, _)| hostile(*i).status == 200)
        .map(|(_, r)| r.clone())
        .collect();
    let t = tally(&taken);
    assert_eq!(stuck, 0, "every entry ends sent");
    assert_eq!(t.delivered, total, "every reply arrived: {t:?}");
    assert_eq!(t.swapped, 0, "no chat saw a later reply first: {t:?}");
    // The mock was hostile: there were refusals and retries, so the test
    // means something.
    assert!(taken.len() < requests.len(), "some requests were refused");
    assert!(s1.retried + s2.retried > 0);
}

#[test]
fn the_tally_counts_swaps_and_duplicates() {
    let rec = |chat: &str, i: usize| Recorded {
        method: "POST".into(),
        path: "/sendMessage".into(),
        query: String::new(),
        headers: Default::default(),
        body: serde_json::to_vec(&json!({"chat_id": chat, "text": format!("reply {i}")}))
            .expect("json"),
        at: std::time::Instant::now(),
    };
    let t = tally(&[
        rec("a", 0),
        rec("a", 2),
        rec("b", 0),
        rec("a", 1),
        rec("a", 1),
    ]);
    assert_eq!(
        t,
        Tally {
            delivered: 4,
            duplicated: 1,
            swapped: 1
        }
    );
}
