//! Generic signed webhook against a local receiver.
#![cfg(feature = "webhook")]

mod common;

use chatlines_connectors::generic::{
    GenericConfig, GenericWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::signing::{signature_header, verify_signature_header};
use chatlines_core::{
    Body, LineId, ManualClock, Messenger, OutboundMessage, SendError, Source, SourceId,
    WebhookError, WebhookRequest,
};
use common::{Mock, Reply};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_700_000_000;

fn hook(url: &str) -> GenericWebhook {
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(NOW, 0).expect("ts"));
    GenericWebhook::new(
        GenericConfig::new("whsec", url)
            .with_http(HttpConfig::default().with_timeout(Duration::from_millis(500))),
    )
    .expect("config")
    .with_clock(Arc::new(clock))
}

fn signed(ts: i64, body: &[u8], secret: &[u8]) -> Vec<(String, String)> {
    let ts = ts.to_string();
    vec![
        (TIMESTAMP_HEADER.to_owned(), ts.clone()),
        (
            SIGNATURE_HEADER.to_owned(),
            signature_header(secret, &[ts.as_bytes(), b".", body]),
        ),
    ]
}

const BODY: &[u8] = br#"{"messages":[{"id":"m1","user":"u1","name":"Ann","text":"hello"}]}"#;

#[test]
fn accepts_fresh_signed_requests() {
    let h = hook("http://127.0.0.1:9/out");
    let headers = signed(NOW - 10, BODY, b"whsec");
    let p = h
        .parse_webhook(WebhookRequest::new("POST", &headers, "", BODY))
        .expect("ok");
    assert_eq!(p.messages[0].body.text, "hello");
}

#[test]
fn refuses_bad_signatures_and_replays() {
    let h = hook("http://127.0.0.1:9/out");
    for headers in [
        signed(NOW, BODY, b"wrong"),
        signed(NOW - 301, BODY, b"whsec"),
        signed(NOW + 301, BODY, b"whsec"),
        vec![(TIMESTAMP_HEADER.to_owned(), NOW.to_string())],
        vec![(
            SIGNATURE_HEADER.to_owned(),
            signature_header(b"whsec", &[BODY]),
        )],
        vec![],
    ] {
        let r = h.parse_webhook(WebhookRequest::new("POST", &headers, "", BODY));
        assert!(
            matches!(r, Err(WebhookError::Unauthorized(_))),
            "{headers:?}: {r:?}"
        );
    }
    // The signature covers the timestamp: moving it breaks the signature.
    let mut moved = signed(NOW, BODY, b"whsec");
    moved[0].1 = (NOW - 1).to_string();
    assert!(matches!(
        h.parse_webhook(WebhookRequest::new("POST", &moved, "", BODY)),
        Err(WebhookError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn outbound_is_signed() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({"id": "their-7"}))).await;
    let h = hook(&format!("{}/out", mock.url));
    let src = Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(5)),
        LineId::from_uuid(uuid::Uuid::from_u128(6)),
        "webhook",
        "crm",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    );
    let body = Body::text("reply text");
    let id = h
        .send(OutboundMessage::new(&src, "u1", &body))
        .await
        .expect("sent");
    assert_eq!(id, "their-7");
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/out");
    let ts = r.header(TIMESTAMP_HEADER).expect("ts");
    let sig = r.header(SIGNATURE_HEADER).expect("sig");
    assert!(verify_signature_header(
        b"whsec",
        &[ts.as_bytes(), b".", &r.body],
        &sig
    ));
    let j = r.json();
    assert_eq!(
        (j["to"].as_str(), j["text"].as_str()),
        (Some("u1"), Some("reply text"))
    );
    assert_eq!(j["source"], src.id.to_string());
}

#[tokio::test]
async fn outbound_errors_map() {
    let src = Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(5)),
        LineId::from_uuid(uuid::Uuid::from_u128(6)),
        "webhook",
        "crm",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    );
    let body = Body::text("x");
    let cases: Vec<common::ErrorCase> = vec![
        (
            Reply::status(429).header("retry-after", "4"),
            |e| matches!(e, SendError::RateLimited { retry_after } if *retry_after == Duration::from_secs(4)),
        ),
        (Reply::status(503), |e| matches!(e, SendError::Transient(_))),
        (Reply::status(400), |e| matches!(e, SendError::Permanent(_))),
        (Reply::status(200).delayed(Duration::from_secs(3)), |e| {
            matches!(e, SendError::Uncertain(_))
        }),
    ];
    for (reply, check) in cases {
        let r = reply.clone();
        let mock = Mock::start(move |_, _| r.clone()).await;
        let err = hook(&mock.url)
            .send(OutboundMessage::new(&src, "u", &body))
            .await
            .expect_err("fails");
        assert!(check(&err), "{reply:?}: {err:?}");
    }
}
