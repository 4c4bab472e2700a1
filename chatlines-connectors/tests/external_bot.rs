//! The external bot against a real HTTP server on 127.0.0.1: requests
//! are signed like the generic webhook, answers become decisions, and
//! every failure is an error (so the hub hands the session over).
#![cfg(feature = "bot")]

mod common;

use chatlines_connectors::bot::{
    ExternalBot, ExternalBotConfig, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::signing::verify_signature_header;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Author, Body, Bot, BotDecision, BotSettings, BotTurn, ContactId, Cursor, Direction, Event,
    EventLogStore, EventPosition, HandOverReason, Hub, Line, LineConfig, LineId, ManualClock,
    Message, MessageId, MessageStore, Session, SessionId, SessionStatus, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use common::{dead_url, Mock, Reply};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_700_000_000;

fn bot(url: &str) -> ExternalBot {
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(NOW, 0).expect("ts"));
    ExternalBot::new(
        ExternalBotConfig::new(url, "botsecret")
            .with_http(HttpConfig::default().with_timeout(Duration::from_secs(5))),
    )
    .expect("config")
    .with_clock(Arc::new(clock))
}

fn turn(text: &str) -> BotTurn {
    let at = chrono::DateTime::from_timestamp(NOW, 0).expect("ts");
    let id = |n| uuid::Uuid::from_u128(n);
    let line = Line::new(LineId(id(1)), 1, LineConfig::new("Shop"), at, at);
    let session = Session::opened(SessionId(id(2)), line.id, ContactId(id(3)), at);
    let message = |n: u128, seq, author, text: &str| {
        let direction = if author == Author::Client {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        Message::new(
            MessageId(id(n)),
            session.id,
            line.id,
            session.contact,
            seq,
            direction,
            author,
            Body::text(text),
            None,
            at,
        )
    };
    let earlier = message(10, 1, Author::Client, "hi");
    let answer = message(11, 2, Author::Bot, "Hello! Ask me.");
    let now = message(12, 3, Author::Client, text);
    BotTurn::new(line, session, now.clone(), vec![earlier, answer, now])
}

#[tokio::test]
async fn requests_are_signed_and_answers_become_decisions() {
    let mock = Mock::start(|req, _| {
        let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
        let answer = match body["message"]["text"].as_str().unwrap_or_default() {
            "hours" => json!({"action": "reply", "text": "We are open 9 to 18."}),
            "person" => json!({"action": "hand_over", "reason": "asked for a person"}),
            "bye" => json!({"action": "close"}),
            _ => json!({"action": "wait"}),
        };
        Reply::json(200, answer)
    })
    .await;
    let bot = bot(&format!("{}/turn", mock.url));
    assert_eq!(
        bot.answer(turn("hours")).await.expect("reply"),
        BotDecision::reply("We are open 9 to 18.")
    );
    assert_eq!(
        bot.answer(turn("person")).await.expect("hand over"),
        BotDecision::hand_over("asked for a person")
    );
    assert_eq!(
        bot.answer(turn("bye")).await.expect("close"),
        BotDecision::Close
    );
    assert_eq!(
        bot.answer(turn("hmm")).await.expect("wait"),
        BotDecision::Wait
    );

    let req = &mock.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/turn");
    let ts = req.header(TIMESTAMP_HEADER).expect("timestamp");
    assert_eq!(ts, NOW.to_string());
    let sig = req.header(SIGNATURE_HEADER).expect("signature");
    assert!(verify_signature_header(
        b"botsecret",
        &[ts.as_bytes(), b".", &req.body],
        &sig
    ));
    assert!(!verify_signature_header(
        b"other",
        &[ts.as_bytes(), b".", &req.body],
        &sig
    ));
    assert_eq!(
        req.header(IDEMPOTENCY_HEADER).as_deref(),
        Some(uuid::Uuid::from_u128(12).to_string().as_str())
    );
    let body = req.json();
    assert_eq!(body["line_name"], "Shop");
    assert_eq!(body["message"]["from"], "client");
    let from: Vec<&str> = body["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .map(|m| m["from"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(from, vec!["client", "bot", "client"]);
}

#[tokio::test]
async fn failures_are_errors() {
    let mock = Mock::start(|_, i| match i {
        0 => Reply::status(500),
        1 => Reply::bytes("not json"),
        2 => Reply::json(200, json!({"action": "dance"})),
        _ => Reply::json(200, json!({"action": "reply"})),
    })
    .await;
    let bot = bot(&mock.url);
    for what in ["500", "not json", "unknown action", "reply without text"] {
        let r = bot.answer(turn("hours")).await;
        assert!(r.is_err(), "{what}: {r:?}");
    }
    let r = self::bot(&dead_url().await).answer(turn("hours")).await;
    assert!(r.is_err(), "{r:?}");
    assert!(ExternalBot::new(ExternalBotConfig::new("not a url", "s")).is_err());
}

/// A hub with the external bot: its answer is stored with the bot author;
/// when it fails, the session is handed over and nothing is lost.
#[tokio::test]
async fn a_hub_with_the_external_bot() {
    let mock = Mock::start(|_, i| match i {
        0 => Reply::json(
            200,
            json!({"action": "reply", "text": "We are open 9 to 18."}),
        ),
        _ => Reply::status(503),
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let dir = Arc::new(MemoryDirectory::new());
    dir.add_admin("root");
    dir.add_to_group("ops", "ann");
    dir.add_to_group("staff", "carl");
    let hub = Hub::builder(
        store.clone(),
        dir,
        Arc::new(MemoryApps::new()),
        Arc::new(RuleRouter::new()),
    )
    .bot(Arc::new(bot(&mock.url)))
    .build();
    let config = LineConfig::new("Shop")
        .operators("ops")
        .client(chatlines_core::Audience::Group("staff".into()))
        .bot(BotSettings::new());
    let line = hub
        .create_line(&UserId::new("root"), config)
        .await
        .expect("line");
    let carl = UserId::new("carl");
    let first = hub
        .write(&carl, line.id, Body::text("hours"))
        .await
        .expect("write");
    assert_eq!(first.session.status, SessionStatus::Bot);
    let second = hub
        .write(&carl, line.id, Body::text("and on Sunday?"))
        .await
        .expect("write");
    assert_eq!(second.session.status, SessionStatus::Offered);
    assert!(matches!(
        second.session.reason,
        chatlines_core::RouteReason::FirstCome
    ));
    let messages = store
        .messages(first.session.id, Cursor::Start, 10)
        .await
        .expect("messages");
    let authors: Vec<&Author> = messages.iter().map(|m| &m.author).collect();
    assert_eq!(
        authors,
        vec![&Author::Client, &Author::Bot, &Author::Client]
    );
    assert_eq!(mock.count(), 2);
    let handed: Vec<HandOverReason> = store
        .events_after(EventPosition::START, 100)
        .await
        .expect("log")
        .into_iter()
        .filter_map(|e| match e.into_event() {
            Ok(Event::SessionHandedOver { reason, .. }) => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&handed[..], [HandOverReason::BotError { error }] if error.contains("503")),
        "{handed:?}"
    );
}
