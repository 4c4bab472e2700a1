//! The public connector conformance suite
//! ([`chatlines_connectors::testkit`]) run against the crate's own
//! connectors: parse a webhook, refuse a bad secret or signature, send, and
//! map the messenger's rate-limit and server-error answers. Each connector
//! supplies a [`ConnectorHarness`] that knows its wire format.
#![cfg(all(
    feature = "telegram",
    feature = "whatsapp",
    feature = "webhook",
    feature = "testkit"
))]

use chatlines_connectors::generic::{self, GenericConfig, GenericWebhook};
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::telegram::{self, TelegramConfig, TelegramMessenger};
use chatlines_connectors::testkit::{ConnectorHarness, Headers, MockReply as Reply};
use chatlines_connectors::whatsapp::{self, WhatsAppConfig, WhatsAppMessenger};
use chatlines_core::Messenger;
use serde_json::json;
use std::sync::Arc;

struct Tg;
impl ConnectorHarness for Tg {
    fn build(&self, base: &str) -> Arc<dyn Messenger> {
        Arc::new(
            TelegramMessenger::new(
                TelegramConfig::new("1:TOKEN-X", "SECRET-Y").with_api_base(base),
            )
            .expect("config"),
        )
    }
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
        json!({"update_id": 1, "message": {"message_id": id.parse::<i64>().expect("numeric id"), "date": 1_700_000_000, "from": {"id": user.parse::<i64>().expect("numeric user"), "is_bot": false, "first_name": "U"}, "chat": {"id": user.parse::<i64>().expect("numeric user"), "type": "private", "first_name": "U"}, "text": text}})
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
    fn secrets(&self) -> Vec<String> {
        vec!["TOKEN-X".into(), "SECRET-Y".into()]
    }
    fn signs_the_body(&self) -> bool {
        false
    }
}

struct Wa;
impl ConnectorHarness for Wa {
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
    fn secrets(&self) -> Vec<String> {
        vec!["TOKEN-X".into(), "SECRET-Y".into(), "VERIFY-Z".into()]
    }
}

struct Generic;
impl ConnectorHarness for Generic {
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
    fn secrets(&self) -> Vec<String> {
        vec!["SECRET-Y".into()]
    }
}

mod telegram_conformance {
    chatlines_connectors::connector_conformance_tests!(super::Tg);
}
mod whatsapp_conformance {
    chatlines_connectors::connector_conformance_tests!(super::Wa);
}
mod generic_conformance {
    chatlines_connectors::connector_conformance_tests!(super::Generic);
}

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
