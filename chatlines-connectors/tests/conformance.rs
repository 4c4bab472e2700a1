//! One suite, written once, run against every connector: parse a webhook,
//! refuse a bad secret or signature, send, and map the messenger's
//! rate-limit and server-error answers. Each connector supplies a
//! [`Harness`] that knows its wire format; the macro expands to one named
//! test per case, so a failure names the connector and the case.
#![cfg(all(feature = "telegram", feature = "whatsapp", feature = "webhook"))]

mod common;

use chatlines_connectors::generic::{self, GenericConfig, GenericWebhook};
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::telegram::{self, TelegramConfig, TelegramMessenger};
use chatlines_connectors::whatsapp::{self, WhatsAppConfig, WhatsAppMessenger};
use chatlines_core::{
    Body, LineId, Messenger, OutboundMessage, SendError, Source, SourceId, WebhookError,
    WebhookRequest,
};
use common::{dead_url, Mock, Reply};
use serde_json::json;
use std::sync::Arc;

type Headers = Vec<(String, String)>;

/// What the suite needs to know about one connector.
trait Harness: Send + Sync + 'static {
    /// The connector, talking to `api_base`.
    fn build(&self, api_base: &str) -> Arc<dyn Messenger>;
    /// A body with one text message.
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8>;
    /// Headers (and query) that authenticate `body`.
    fn authenticate(&self, body: &[u8]) -> Headers;
    /// The API's answer to a successful send.
    fn sent(&self) -> Reply;
    /// The API's rate-limit answer.
    fn rate_limited(&self) -> Reply;
    /// Secrets that must never show in `Debug`.
    fn secrets(&self) -> Vec<&'static str>;
}

struct Tg;
impl Harness for Tg {
    fn build(&self, base: &str) -> Arc<dyn Messenger> {
        Arc::new(
            TelegramMessenger::new(
                TelegramConfig::new("1:TOKEN-X", "SECRET-Y").with_api_base(base),
            )
            .expect("config"),
        )
    }
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
        json!({"update_id": 1, "message": {"message_id": id.parse::<i64>().expect("numeric id"), "from": {"id": user.parse::<i64>().expect("numeric user"), "first_name": "U"}, "chat": {"id": 5}, "text": text}})
            .to_string()
            .into_bytes()
    }
    fn authenticate(&self, _body: &[u8]) -> Headers {
        vec![(telegram::SECRET_HEADER.to_owned(), "SECRET-Y".to_owned())]
    }
    fn sent(&self) -> Reply {
        Reply::json(
            200,
            json!({"ok": true, "result": {"message_id": 9, "chat": {"id": 5}}}),
        )
    }
    fn rate_limited(&self) -> Reply {
        Reply::json(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}),
        )
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec!["TOKEN-X", "SECRET-Y"]
    }
}

struct Wa;
impl Harness for Wa {
    fn build(&self, base: &str) -> Arc<dyn Messenger> {
        Arc::new(
            WhatsAppMessenger::new(
                WhatsAppConfig::new("PN", "TOKEN-X", "SECRET-Y", "VERIFY-Z").with_api_base(base),
            )
            .expect("config"),
        )
    }
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
        json!({"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"from": user, "id": id, "type": "text", "text": {"body": text}}]}}]}]})
            .to_string()
            .into_bytes()
    }
    fn authenticate(&self, body: &[u8]) -> Headers {
        vec![(
            whatsapp::SIGNATURE_HEADER.to_owned(),
            signature_header(b"SECRET-Y", &[body]),
        )]
    }
    fn sent(&self) -> Reply {
        Reply::json(200, json!({"messages": [{"id": "wamid.S"}]}))
    }
    fn rate_limited(&self) -> Reply {
        Reply::json(
            400,
            json!({"error": {"code": 130429, "message": "Rate limit hit"}}),
        )
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec!["TOKEN-X", "SECRET-Y", "VERIFY-Z"]
    }
}

struct Generic;
impl Harness for Generic {
    fn build(&self, base: &str) -> Arc<dyn Messenger> {
        Arc::new(
            GenericWebhook::new(GenericConfig::new("SECRET-Y", format!("{base}/out")))
                .expect("config"),
        )
    }
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
        json!({"messages": [{"id": id, "user": user, "text": text}]})
            .to_string()
            .into_bytes()
    }
    fn authenticate(&self, body: &[u8]) -> Headers {
        let ts = chrono::Utc::now().timestamp().to_string();
        vec![
            (
                generic::SIGNATURE_HEADER.to_owned(),
                signature_header(b"SECRET-Y", &[ts.as_bytes(), b".", body]),
            ),
            (generic::TIMESTAMP_HEADER.to_owned(), ts),
        ]
    }
    fn sent(&self) -> Reply {
        Reply::json(200, json!({"id": "g-1"}))
    }
    fn rate_limited(&self) -> Reply {
        Reply::status(429).header("retry-after", "3")
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec!["SECRET-Y"]
    }
}

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

async fn parses_a_text_message(h: &dyn Harness) {
    let m = h.build("http://127.0.0.1:9");
    let body = h.text_body("101", "202", "hello there");
    let headers = h.authenticate(&body);
    let p = m
        .parse_webhook(WebhookRequest::new("POST", &headers, "", &body))
        .expect("parses");
    assert_eq!(p.messages.len(), 1);
    let msg = &p.messages[0];
    assert_eq!(msg.body.text, "hello there");
    assert_eq!(msg.external_user, "202");
    assert!(msg.reply_address.is_some());
    // The idempotency key is stable across deliveries and differs per message.
    let again = m
        .parse_webhook(WebhookRequest::new("POST", &headers, "", &body))
        .expect("parses");
    assert_eq!(
        again.messages[0].external_message_id,
        msg.external_message_id
    );
    let other = h.text_body("102", "202", "hello there");
    let other_headers = h.authenticate(&other);
    let o = m
        .parse_webhook(WebhookRequest::new("POST", &other_headers, "", &other))
        .expect("parses");
    assert_ne!(o.messages[0].external_message_id, msg.external_message_id);
}

async fn refuses_bad_authentication(h: &dyn Harness) {
    let m = h.build("http://127.0.0.1:9");
    let body = h.text_body("101", "202", "hello");
    let signed_for_other = h.authenticate(&h.text_body("101", "202", "tampered"));
    for headers in [vec![], signed_for_other] {
        let r = m.parse_webhook(WebhookRequest::new("POST", &headers, "", &body));
        // Telegram's secret does not cover the body, so only the missing
        // header is refused there.
        if headers.is_empty() || m.kind() != "telegram" {
            assert!(matches!(r, Err(WebhookError::Unauthorized(_))), "{r:?}");
        }
    }
}

async fn refuses_malformed_bodies(h: &dyn Harness) {
    let m = h.build("http://127.0.0.1:9");
    for body in [&b"{oops"[..], b"[1,2]", b""] {
        let headers = h.authenticate(body);
        let r = m.parse_webhook(WebhookRequest::new("POST", &headers, "", body));
        assert!(matches!(r, Err(WebhookError::Malformed(_))), "{r:?}");
    }
}

async fn sends_a_text(h: &dyn Harness) {
    let reply = h.sent();
    let mock = Mock::start(move |_, _| reply.clone()).await;
    let m = h.build(&mock.url);
    let src = source();
    let body = Body::text("a reply");
    let id = m
        .send(OutboundMessage::new(&src, "5", &body))
        .await
        .expect("sent");
    assert!(!id.is_empty());
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert!(String::from_utf8_lossy(&reqs[0].body).contains("a reply"));
}

async fn maps_rate_limits(h: &dyn Harness) {
    let reply = h.rate_limited();
    let mock = Mock::start(move |_, _| reply.clone()).await;
    let src = source();
    let body = Body::text("x");
    let r = h
        .build(&mock.url)
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::RateLimited { .. })), "{r:?}");
}

async fn maps_server_errors_and_refused_connections(h: &dyn Harness) {
    let mock = Mock::start(|_, _| Reply::status(503)).await;
    let src = source();
    let body = Body::text("x");
    let r = h
        .build(&mock.url)
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    let r = h
        .build(&dead_url().await)
        .send(OutboundMessage::new(&src, "5", &body))
        .await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    if let Err(e) = r {
        for s in h.secrets() {
            assert!(!e.to_string().contains(s), "secret in error: {e}");
        }
    }
}

async fn declares_text(h: &dyn Harness) {
    let m = h.build("http://127.0.0.1:9");
    assert!(m.capabilities().text);
    assert!(["telegram", "whatsapp", "webhook"].contains(&m.kind()));
}

macro_rules! conformance {
    ($name:ident, $harness:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn parses_a_text_message() {
                super::parses_a_text_message(&$harness).await
            }
            #[tokio::test]
            async fn refuses_bad_authentication() {
                super::refuses_bad_authentication(&$harness).await
            }
            #[tokio::test]
            async fn refuses_malformed_bodies() {
                super::refuses_malformed_bodies(&$harness).await
            }
            #[tokio::test]
            async fn sends_a_text() {
                super::sends_a_text(&$harness).await
            }
            #[tokio::test]
            async fn maps_rate_limits() {
                super::maps_rate_limits(&$harness).await
            }
            #[tokio::test]
            async fn maps_server_errors_and_refused_connections() {
                super::maps_server_errors_and_refused_connections(&$harness).await
            }
            #[tokio::test]
            async fn declares_text() {
                super::declares_text(&$harness).await
            }
        }
    };
}

conformance!(telegram_conformance, Tg);
conformance!(whatsapp_conformance, Wa);
conformance!(generic_conformance, Generic);

#[test]
fn configs_hide_secrets() {
    let shown = [
        format!(
            "{:?}",
            TelegramMessenger::new(TelegramConfig::new("1:TOKEN-X", "SECRET-Y")).expect("config")
        ),
        format!(
            "{:?}",
            WhatsAppMessenger::new(WhatsAppConfig::new("PN", "TOKEN-X", "SECRET-Y", "VERIFY-Z"))
                .expect("config")
        ),
        format!(
            "{:?}",
            GenericWebhook::new(GenericConfig::new("SECRET-Y", "http://127.0.0.1:9"))
                .expect("config")
        ),
    ];
    for s in shown {
        for secret in ["TOKEN-X", "SECRET-Y", "VERIFY-Z"] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
    }
}
