//! The connector conformance suite ([`chatlines_connectors::testkit`])
//! run against the web chat widget. A visitor message is authenticated by
//! the visitor's signed token (not a signature of the body); a send wakes
//! the visitor's streams and announces the reply to the push URL, which
//! the suite points at its mock.
#![cfg(all(feature = "webchat", feature = "testkit"))]

use chatlines_connectors::signing::hmac_sha256;
use chatlines_connectors::testkit::{ConnectorHarness, Headers, MockReply};
use chatlines_connectors::webchat::{Visitor, WebchatConfig, WebchatMessenger, TOKEN_HEADER};
use chatlines_core::Messenger;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SECRET: &str = "SECRET-W";

/// Remembers which user each body it made is from, so that
/// `authenticate` signs in that user (the widget takes the sender from the
/// token, not the body).
#[derive(Default)]
struct Webchat(Mutex<HashMap<Vec<u8>, String>>);

impl ConnectorHarness for Webchat {
    fn build(&self, api_base: &str) -> Arc<dyn Messenger> {
        match WebchatMessenger::new(WebchatConfig::new(SECRET).with_push_url(api_base)) {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("config: {e}"),
        }
    }
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
        let body = json!({ "id": id, "text": text }).to_string().into_bytes();
        if let Ok(mut users) = self.0.lock() {
            users.insert(body.clone(), user.to_owned());
        }
        body
    }
    fn authenticate(&self, body: &[u8]) -> Headers {
        let user = self
            .0
            .lock()
            .ok()
            .and_then(|u| u.get(body).cloned())
            .unwrap_or_else(|| "202".to_owned());
        let hash = hex::encode(hmac_sha256(SECRET.as_bytes(), &[user.as_bytes()]));
        let token = Visitor::identified(SECRET.as_bytes(), &user, &hash)
            .map(|v| v.token(SECRET.as_bytes()))
            .unwrap_or_default();
        vec![(TOKEN_HEADER.to_owned(), token)]
    }
    fn sent(&self) -> MockReply {
        MockReply::json(200, json!({}))
    }
    fn rate_limited(&self) -> MockReply {
        MockReply::status(429).header("retry-after", "3")
    }
    fn secrets(&self) -> Vec<String> {
        vec![SECRET.to_owned()]
    }
    fn signs_the_body(&self) -> bool {
        false
    }
}

chatlines_connectors::connector_conformance_tests!(Webchat::default());
