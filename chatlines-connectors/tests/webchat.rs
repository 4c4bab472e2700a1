//! The web chat widget over real HTTP on 127.0.0.1, with a SQLite store,
//! the hub and the outbox dispatcher: a visitor starts, writes, and gets
//! the operator's reply over Server-Sent Events; forged tokens and
//! identities, foreign origins, other visitors' conversations and
//! visitors over the rate are refused, and nothing is stored for them.
#![cfg(all(feature = "webchat", feature = "dispatcher"))]
// A failed setup step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use chatlines_connectors::blobs::BlobStore;
use chatlines_connectors::dispatcher::Dispatcher;
use chatlines_connectors::signing::hmac_sha256;
use chatlines_connectors::webchat::{
    self, WebchatConfig, WebchatMessenger, WebchatSources, COOKIE,
};
use chatlines_connectors::Messengers;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{Body, Hub, LineConfig, NewSource, PageRequest, SessionId, Source, UserId};
use chatlines_routing::RuleRouter;
use chatlines_store::SqliteStore;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const SECRET: &str = "widget-secret-1";
const SITE: &str = "https://shop.example";

#[derive(Default)]
struct MemBlobs(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl BlobStore for MemBlobs {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), chatlines_core::BoxError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, chatlines_core::BoxError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
}

struct Site {
    hub: Hub,
    source: Source,
    dispatcher: Dispatcher,
    base: String,
    addr: SocketAddr,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn ann() -> UserId {
    UserId::new("ann")
}

impl Site {
    async fn start(show_operator_name: bool, per_minute: u32) -> Self {
        Self::start_with(show_operator_name, per_minute, 30).await
    }

    /// [`start`](Self::start), allowing `starts` visitor starts per client
    /// address and minute.
    async fn start_with(show_operator_name: bool, per_minute: u32, starts: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("chat.db")).await.unwrap());
        let people = Arc::new(MemoryDirectory::new());
        people.add_admin("root");
        people.add_to_group("ops", "ann");
        people.set_name("ann", "Ann Operator");
        let hub = Hub::builder(
            store.clone(),
            people,
            Arc::new(MemoryApps::new()),
            Arc::new(RuleRouter::new()),
        )
        .build();
        let root = UserId::new("root");
        let line = hub
            .create_line(
                &root,
                LineConfig::new("Shop help")
                    .operators("ops")
                    .show_operator_name(show_operator_name),
            )
            .await
            .unwrap();
        let source = hub
            .bind_source(
                &root,
                line.id,
                NewSource::new("webchat", "Shop widget", "w"),
            )
            .await
            .unwrap();
        let widget = Arc::new(
            WebchatMessenger::new(
                WebchatConfig::new(SECRET)
                    .with_allowed_origins([SITE])
                    .with_messages_per_minute(per_minute)
                    .with_visitors_per_minute_per_address(starts)
                    .with_max_file_bytes(1000),
            )
            .unwrap()
            .with_blobs(Arc::new(MemBlobs::default())),
        );
        let dispatcher = Dispatcher::builder(
            store.clone(),
            Messengers::new().with(source.id, widget.clone()),
        )
        .build();
        let app = webchat::router(WebchatSources::new(hub.clone()).with(source.id, widget));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            hub,
            base: format!("http://{addr}/webchat/{}", source.id),
            source,
            dispatcher,
            addr,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A new visitor from the shop's pages: their token.
    async fn visitor(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/visitor", self.base))
            .header("origin", SITE)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn anonymous(&self) -> String {
        let r = self.visitor(json!({})).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    async fn write(&self, token: &str, id: &str, text: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/messages", self.base))
            .header("origin", SITE)
            .header("cookie", format!("{COOKIE}={token}"))
            .json(&json!({ "id": id, "text": text }))
            .send()
            .await
            .unwrap()
    }

    async fn history(&self, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/messages", self.base))
            .header("x-webchat-token", token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Every message any visitor stored on the line, across sessions.
    async fn stored(&self) -> usize {
        let offered = self
            .hub
            .offered_sessions(&ann(), PageRequest::first(100))
            .await
            .unwrap();
        let mut n = 0;
        for s in offered.items {
            n += self
                .hub
                .messages(&ann(), s.id, PageRequest::first(100))
                .await
                .unwrap()
                .items
                .len();
        }
        n
    }

    /// Ann takes the session and answers; the dispatcher delivers it.
    async fn answer(&self, session: SessionId, text: &str) {
        self.hub.take(&ann(), session).await.unwrap();
        self.hub
            .reply(&ann(), session, Body::text(text))
            .await
            .unwrap();
        assert_eq!(
            self.dispatcher.run_once().await.unwrap(),
            1,
            "one reply sent"
        );
    }
}

/// An SSE stream read chunk by chunk.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(site: &Site, token: &str, last_event_id: Option<&str>) -> Self {
        let mut r = site
            .http
            .get(format!("{}/events?token={token}", site.base))
            .header("origin", SITE);
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        let response = r.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            SITE,
            "CORS for the allowed site"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data (comments skipped).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (event, serde_json::from_str(&data).unwrap());
            }
            let chunk = self.response.chunk().await.unwrap().expect("stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Messages until `ready`.
    async fn backlog(&mut self) -> Vec<Value> {
        let mut out = vec![];
        loop {
            match self.next().await {
                (e, _) if e == "ready" => return out,
                (_, v) => out.push(v),
            }
        }
    }
}

#[tokio::test]
async fn a_visitor_writes_and_gets_the_reply_live_and_after_reconnecting() {
    let site = Site::start(true, 20).await;
    let r = site.visitor(json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], SITE);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("{COOKIE}=")), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let token: Value = r.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    let mut events = Events::open(&site, &token, None).await;
    assert!(events.backlog().await.is_empty());

    let r = site.write(&token, "m1", "Where is my order?").await;
    assert_eq!(r.status(), 200);
    let posted: Value = r.json().await.unwrap();
    let session: SessionId = uuid::Uuid::parse_str(posted["session"].as_str().unwrap())
        .unwrap()
        .into();
    // The visitor's own message comes back on the stream.
    let (_, mine) = events.next().await;
    assert_eq!(
        (mine["from"].as_str(), mine["text"].as_str()),
        (Some("visitor"), Some("Where is my order?"))
    );

    site.answer(session, "It ships today").await;
    let (kind, reply) = events.next().await;
    assert_eq!(kind, "message");
    assert_eq!(reply["from"], "line");
    assert_eq!(reply["text"], "It ships today");
    assert_eq!(
        reply["author"], "Ann Operator",
        "the line shows the operator's name"
    );

    // Away and back: resuming after their own message gives the reply.
    drop(events);
    let mut again = Events::open(&site, &token, mine["id"].as_str()).await;
    let missed = again.backlog().await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["text"], "It ships today");

    // Resending the same message id stores nothing new.
    let r = site.write(&token, "m1", "Where is my order?").await;
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        site.history(&token).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_line_name_is_shown_when_the_line_hides_operator_names() {
    let site = Site::start(false, 20).await;
    let token = site.anonymous().await;
    let posted: Value = site.write(&token, "m1", "hi").await.json().await.unwrap();
    let session: SessionId = uuid::Uuid::parse_str(posted["session"].as_str().unwrap())
        .unwrap()
        .into();
    site.answer(session, "hello").await;
    let (status, page) = site.history(&token).await;
    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["author"], "Shop help");
}

#[tokio::test]
async fn forged_tokens_and_identities_are_refused_and_store_nothing() {
    let site = Site::start(true, 20).await;
    let token = site.anonymous().await;
    let (key, mac) = token.split_once('.').unwrap();
    let other_key = hex::encode("anon:0123456789abcdef0123456789abcdef");
    let flipped = format!(
        "{}{}",
        &mac[..mac.len() - 1],
        if mac.ends_with('0') { "1" } else { "0" }
    );
    for forged in [
        format!("{other_key}.{mac}"),
        format!("{key}.{flipped}"),
        "not-a-token".to_owned(),
        Visitor::token_with("another-secret"),
    ] {
        let r = site.write(&forged, "m1", "hi").await;
        assert_eq!(r.status(), 401, "{forged}");
        assert_eq!(site.history(&forged).await.0, 401, "{forged}");
        let r = site
            .http
            .get(format!("{}/events?token={forged}", site.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{forged}");
    }
    let r = site
        .http
        .post(format!("{}/messages", site.base))
        .json(&json!({ "id": "m1", "text": "no token" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(site.stored().await, 0);

    // A signed identity: the wrong hash is refused, the right one is the
    // same visitor on any device.
    let hash = hex::encode(hmac_sha256(SECRET.as_bytes(), &[b"cust-7"]));
    let wrong = hex::encode(hmac_sha256(b"guess", &[b"cust-7"]));
    let r = site
        .visitor(json!({ "user_id": "cust-7", "user_hash": wrong }))
        .await;
    assert_eq!(r.status(), 401);
    let r = site
        .visitor(json!({ "user_id": "cust-8", "user_hash": hash }))
        .await;
    assert_eq!(r.status(), 401);
    let phone: Value = site
        .visitor(json!({ "user_id": "cust-7", "user_hash": hash }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(phone["visitor"], "cust-7");
    let phone = phone["token"].as_str().unwrap();
    assert_eq!(site.write(phone, "p1", "from my phone").await.status(), 200);
    let laptop: Value = site
        .visitor(json!({ "user_id": "cust-7", "user_hash": hash }))
        .await
        .json()
        .await
        .unwrap();
    let (_, page) = site.history(laptop["token"].as_str().unwrap()).await;
    assert_eq!(page["items"][0]["text"], "from my phone");

    // An unsigned push is refused.
    let r = site
        .http
        .post(format!("{}/push", site.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A token signed with another secret.
struct Visitor;
impl Visitor {
    fn token_with(secret: &str) -> String {
        webchat::Visitor::anonymous().token(secret.as_bytes())
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_hosts_own_pages_are_allowed() {
    let site = Site::start(true, 20).await;
    let token = site.anonymous().await;
    let evil = "https://evil.example";
    let r = site
        .http
        .post(format!("{}/visitor", site.base))
        .header("origin", evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = site
        .http
        .post(format!("{}/messages", site.base))
        .header("origin", evil)
        .header("x-webchat-token", &token)
        .json(&json!({ "id": "m1", "text": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = site
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/messages", site.base))
        .header("origin", evil)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(site.stored().await, 0);

    let r = site
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/messages", site.base))
        .header("origin", SITE)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-webchat-token"));
    let own = format!("http://{}", site.addr);
    let r = site
        .http
        .post(format!("{}/messages", site.base))
        .header("origin", &own)
        .header("x-webchat-token", &token)
        .json(&json!({ "id": "m1", "text": "from the host's page" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], own.as_str());
}

#[tokio::test]
async fn a_visitor_never_reads_another_visitors_conversation() {
    let site = Site::start(true, 20).await;
    let alice = site.anonymous().await;
    let bob = site.anonymous().await;
    assert_ne!(alice, bob);
    assert_eq!(
        site.write(&alice, "a1", "alice's secret").await.status(),
        200
    );
    let (_, alice_page) = site.history(&alice).await;
    let alice_id = alice_page["items"][0]["id"].as_str().unwrap().to_owned();

    let (status, page) = site.history(&bob).await;
    assert_eq!(status, 200);
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    let mut events = Events::open(&site, &bob, None).await;
    assert!(events.backlog().await.is_empty());
    // Alice's position does not open her conversation to Bob.
    assert_eq!(site.write(&bob, "b1", "bob here").await.status(), 200);
    let (_, page) = site.history(&bob).await;
    let texts: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["bob here"]);
    let r = site
        .http
        .get(format!("{}/messages?after={alice_id}", site.base))
        .header("x-webchat-token", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = site
        .http
        .get(format!("{}/events?token={bob}", site.base))
        .header("last-event-id", &alice_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Another source's address is not this widget.
    let r = site
        .http
        .get(format!(
            "http://{}/webchat/{}/messages",
            site.addr,
            uuid::Uuid::new_v4()
        ))
        .header("x-webchat-token", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(site.source.kind, "webchat");
}

#[tokio::test]
async fn a_visitor_over_the_rate_gets_429_and_nothing_is_stored() {
    let site = Site::start(true, 3).await;
    let token = site.anonymous().await;
    for i in 0..3 {
        assert_eq!(
            site.write(&token, &format!("m{i}"), "hi").await.status(),
            200
        );
    }
    let r = site.write(&token, "m9", "one too many").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    // Another visitor has a rate of their own.
    let other = site.anonymous().await;
    assert_eq!(site.write(&other, "m0", "hi").await.status(), 200);
    let (_, page) = site.history(&token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_address_over_its_visitor_starts_gets_429_and_its_visitors_keep_writing() {
    let site = Site::start_with(true, 20, 2).await;
    let first = site.anonymous().await;
    let _second = site.anonymous().await;
    let r = site.visitor(json!({})).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no visitor was started"
    );
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        SITE,
        "the site can read the refusal"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too many visitors"),
        "{body}"
    );
    // A signed identity from that address is refused too.
    let user_hash = hex::encode(hmac_sha256(SECRET.as_bytes(), &[b"cust-7"]));
    let r = site
        .visitor(json!({"user_id": "cust-7", "user_hash": user_hash}))
        .await;
    assert_eq!(r.status(), 429);
    // Visitors already started are not limited by it.
    assert_eq!(site.write(&first, "m1", "still here").await.status(), 200);
}

#[tokio::test]
async fn attachments_within_limits_and_only_the_visitors_own() {
    let site = Site::start(true, 20).await;
    let token = site.anonymous().await;
    let upload = |name: &str, bytes: Vec<u8>, token: String| {
        site.http
            .post(format!("{}/files?name={name}", site.base))
            .header("x-webchat-token", token)
            .header("content-type", "image/png")
            .body(bytes)
            .send()
    };
    let r = upload("big.png", vec![0; 1001], token.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = upload("cat.png", vec![7; 10], token.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["size"], 10);

    let other = site.anonymous().await;
    let r = site
        .http
        .post(format!("{}/messages", site.base))
        .header("x-webchat-token", &other)
        .json(&json!({ "id": "x1", "text": "", "attachments": [file.clone()] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a file of another visitor");
    let r = site
        .http
        .post(format!("{}/messages", site.base))
        .header("x-webchat-token", &token)
        .json(&json!({ "id": "a1", "text": "my cat", "attachments": [file] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, page) = site.history(&token).await;
    assert_eq!(page["items"][0]["attachments"][0]["name"], "cat.png");
    assert_eq!(site.stored().await, 1);
}
