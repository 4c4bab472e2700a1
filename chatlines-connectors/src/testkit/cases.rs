//! The conformance cases, each an async function of a
//! [`ConnectorHarness`]. Run them through
//! [`connector_conformance_tests!`](crate::connector_conformance_tests).

use super::{dead_url, ConnectorHarness, MockApi, MockReply};
use chatlines_core::{
    Body, LineId, OutboundMessage, SendError, Source, SourceId, WebhookError, WebhookRequest,
};

/// Where nothing listens and nothing is sent: for cases that only parse.
const NOWHERE: &str = "http://127.0.0.1:9";

fn source() -> Source {
    Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(1)),
        LineId::from_uuid(uuid::Uuid::from_u128(2)),
        "any",
        "any",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    )
}

/// A text message parses into one inbound message with its text, sender
/// and a reply address; its idempotency key is the same on redelivery and
/// differs between messages.
pub async fn parses_a_text_message(h: &dyn ConnectorHarness) {
    let m = h.build(NOWHERE);
    let body = h.text_body("101", "202", "hello there");
    let headers = h.authenticate(&body);
    let p = m
        .parse_webhook(WebhookRequest::new("POST", &headers, "", &body))
        .unwrap_or_else(|e| panic!("a text message is refused: {e}"));
    assert_eq!(p.messages.len(), 1, "{p:?}");
    let msg = &p.messages[0];
    assert_eq!(msg.body.text, "hello there");
    assert_eq!(msg.external_user, "202");
    assert!(msg.reply_address.is_some(), "no reply address: {msg:?}");
    let again = m
        .parse_webhook(WebhookRequest::new("POST", &headers, "", &body))
        .unwrap_or_else(|e| panic!("a redelivery is refused: {e}"));
    assert_eq!(
        again.messages[0].external_message_id, msg.external_message_id,
        "the idempotency key changed on redelivery"
    );
    let other = h.text_body("102", "202", "hello there");
    let other_headers = h.authenticate(&other);
    let o = m
        .parse_webhook(WebhookRequest::new("POST", &other_headers, "", &other))
        .unwrap_or_else(|e| panic!("a second message is refused: {e}"));
    assert_ne!(
        o.messages[0].external_message_id, msg.external_message_id,
        "two messages share an idempotency key"
    );
}

/// A request without authentication is `Unauthorized`; so is one
/// authenticated for another body when the harness signs the body.
pub async fn refuses_bad_authentication(h: &dyn ConnectorHarness) {
    let m = h.build(NOWHERE);
    let body = h.text_body("101", "202", "hello");
    let r = m.parse_webhook(WebhookRequest::new("POST", &[], "", &body));
    assert!(matches!(r, Err(WebhookError::Unauthorized(_))), "{r:?}");
    if h.signs_the_body() {
        let signed_for_other = h.authenticate(&h.text_body("101", "202", "tampered"));
        let r = m.parse_webhook(WebhookRequest::new("POST", &signed_for_other, "", &body));
        assert!(matches!(r, Err(WebhookError::Unauthorized(_))), "{r:?}");
    }
}

/// Bodies that are not the messenger's JSON are `Malformed`.
pub async fn refuses_malformed_bodies(h: &dyn ConnectorHarness) {
    let m = h.build(NOWHERE);
    for body in [&b"{oops"[..], b"[1,2]", b""] {
        let headers = h.authenticate(body);
        let r = m.parse_webhook(WebhookRequest::new("POST", &headers, "", body));
        assert!(matches!(r, Err(WebhookError::Malformed(_))), "{r:?}");
    }
}

/// A text reply makes one request carrying the text and returns the
/// messenger's id.
pub async fn sends_a_text(h: &dyn ConnectorHarness) {
    let reply = h.sent();
    let mock = MockApi::start(move |_, _| reply.clone()).await;
    let m = h.build(mock.url());
    let src = source();
    let body = Body::text("a reply");
    let id = m
        .send(OutboundMessage::new(&src, "5", &body))
        .await
        .unwrap_or_else(|e| panic!("send failed: {e}"));
    assert!(!id.is_empty());
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(String::from_utf8_lossy(&reqs[0].body).contains("a reply"));
}

/// The messenger's rate-limit answer is `RateLimited`.
pub async fn maps_rate_limits(h: &dyn ConnectorHarness) {
    let reply = h.rate_limited();
    let mock = MockApi::start(move |_, _| reply.clone()).await;
    let src = source();
    let body = Body::text("x");
    let r = h
        .build(mock.url())
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::RateLimited { .. })), "{r:?}");
}

/// A 503 and a refused connection are `Transient`, and the error shows no
/// secret.
pub async fn maps_server_errors_and_refused_connections(h: &dyn ConnectorHarness) {
    let mock = MockApi::start(|_, _| MockReply::status(503)).await;
    let src = source();
    let body = Body::text("x");
    let r = h
        .build(mock.url())
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    let r = h
        .build(&dead_url())
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    if let Err(e) = r {
        for s in h.secrets() {
            assert!(!e.to_string().contains(&s), "secret in error: {e}");
        }
    }
}

/// Every connector carries text and names its kind.
pub async fn declares_text(h: &dyn ConnectorHarness) {
    let m = h.build(NOWHERE);
    assert!(m.capabilities().text);
    assert!(!m.kind().is_empty());
}

/// Secrets never show in a parse error.
pub async fn hides_secrets_in_parse_errors(h: &dyn ConnectorHarness) {
    let m = h.build(NOWHERE);
    let body = h.text_body("101", "202", "hello");
    let wrong: Vec<(String, String)> = h
        .authenticate(&body)
        .into_iter()
        .map(|(k, v)| (k, format!("{v}-wrong")))
        .collect();
    for headers in [wrong, Vec::new()] {
        if let Err(e) = m.parse_webhook(WebhookRequest::new("POST", &headers, "", &body)) {
            let shown = format!("{e} {e:?}");
            for s in h.secrets() {
                assert!(!shown.contains(&s), "secret {s:?} in {shown}");
            }
        }
    }
}
