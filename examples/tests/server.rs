//! The example server end to end over real HTTP on 127.0.0.1: a signed
//! generic webhook comes in, an operator signs in, takes and answers the
//! session through the JSON API, and the dispatcher delivers the reply to
//! a mock of the remote system (the only faked part, with the host's
//! directory).

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{any, post};
use axum::Router;
use chatlines_connectors::signing::{signature_header, verify_signature_header};
use chatlines_core::store::prelude::*;
use chatlines_core::{Clock, Store};
use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app, build_app_with, open_store, Server, ServerConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec-test-1";
const TG_TOKEN: &str = "123456:TEST-token";
const TG_SECRET: &str = "tg-hook-secret";
const WA_SECRET: &str = "wa-app-secret";

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>);

impl Received {
    fn all(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The remote system (generic webhook receiver or Telegram Bot API):
/// answers 200 to any POST with a body both understand, and records every
/// request with its path.
async fn mock_remote() -> (SocketAddr, Received) {
    let received = Received::default();
    let log = received.clone();
    let app = Router::new().fallback(post(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            if let Ok(mut v) = log.0.lock() {
                v.push((uri.path().to_owned(), headers, body));
            }
            (
                StatusCode::OK,
                r#"{"id":"remote-1","ok":true,"result":{"message_id":5,"chat":{"id":42}}}"#,
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// Waits (up to 10 s) until the mock has received `n` requests.
async fn wait_for(received: &Received, n: usize) -> Vec<(String, HeaderMap, Bytes)> {
    let mut all = Vec::new();
    for _ in 0..500 {
        all = received.all();
        if all.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all
}

struct Running {
    base: String,
    webhook: String,
    server: Server,
    http: reqwest::Client,
    blobs: std::path::PathBuf,
    clock: Arc<TestClock>,
    /// Signed-in users: their cookie and CSRF token.
    signed_in: tokio::sync::Mutex<BTreeMap<String, (String, String)>>,
    _dir: tempfile::TempDir,
}

/// A clock the test moves by hand (sign-in sessions expire by it).
#[derive(Debug)]
struct TestClock(Mutex<chrono::DateTime<chrono::Utc>>);

impl TestClock {
    fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap();
        *t += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// The password of every test user: `pw-<user>`.
fn password_of(user: &str) -> String {
    format!("pw-{user}")
}

/// `[auth.passwords]` for `users`, with the cheapest argon2id cost.
fn passwords(users: &[&str]) -> String {
    let mut toml = String::from("[auth.passwords]\n");
    for user in users {
        let hash = password::hash_with(&password_of(user), 8, 1).unwrap();
        toml.push_str(&format!("{user} = {hash:?}\n"));
    }
    toml
}

/// A Telegram bot source whose Bot API is the mock at `api`.
fn telegram_source(api: SocketAddr) -> String {
    format!(
        r#"
[[sources]]
name = "bot"
display_name = "@acme_bot"
line = "Support"
connector = {{ kind = "telegram", bot_token_env = "TG_TOKEN", webhook_secret_env = "TG_SECRET", api_base = "http://{api}" }}
"#
    )
}

/// The generic-webhook source, sending to the mock.
fn webhook_source(remote: SocketAddr) -> String {
    format!(
        r#"
[[sources]]
name = "crm"
display_name = "CRM widget"
line = "Support"
connector = {{ kind = "webhook", signing_secret_env = "CRM_SECRET", outbound_url = "http://{remote}/out" }}
"#
    )
}

async fn start(sources: &str) -> Running {
    start_with(sources, "", &[]).await
}

/// Starts the server with `sources`, a `database = ...` line (empty: a
/// SQLite file in a temporary directory) and `tables` (TOML tables such
/// as `[auth]`, appended at the end).
async fn start_with(sources: &str, database: &str, tables: &[&str]) -> Running {
    start_inner("", sources, database, tables).await
}

/// [`start_with`], with `head` (top-level settings) added to the
/// configuration's first lines.
async fn start_inner(head: &str, sources: &str, database: &str, tables: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let blobs = dir.path().join("blobs");
    let auth = tables.join("\n");
    let database = if database.is_empty() {
        format!("database = {:?}", db.display().to_string())
    } else {
        database.to_owned()
    };
    let toml = format!(
        r#"
admin = "root"
{head}
{database}
blobs = {blobs:?}
drain_interval_ms = 50
# Replies must go out because the API wakes the dispatcher, not by polling.
dispatch_poll_ms = 600000

[directory]
admins = ["root"]
[directory.groups]
support = ["olga", "oleg"]
clients = []

[[lines]]
name = "Support"
operators = "support"
{sources}
{auth}
{passwords}
"#,
        blobs = blobs.display().to_string(),
        passwords = passwords(&["olga", "oleg", "sam"]),
    );
    let config = ServerConfig::from_toml(&toml).unwrap();
    let secrets: BTreeMap<String, String> = [
        ("CRM_SECRET".to_owned(), SECRET.to_owned()),
        ("TG_TOKEN".to_owned(), TG_TOKEN.to_owned()),
        ("TG_SECRET".to_owned(), TG_SECRET.to_owned()),
        ("WA_TOKEN".to_owned(), "wa-access".to_owned()),
        ("WA_SECRET".to_owned(), WA_SECRET.to_owned()),
        ("WA_VERIFY".to_owned(), "wa-verify".to_owned()),
    ]
    .into();
    let clock = Arc::new(TestClock(Mutex::new(chrono::Utc::now())));
    let store: Arc<dyn Store> = open_store(&config).await.unwrap();
    let (app, server) = build_app_with(&config, &secrets, store, clock.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits::from(&config.http);
    tokio::spawn(serve(
        listener,
        app,
        limits,
        server.metrics.clone(),
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    let webhook = format!("{base}{}", server.sources[0].path());
    Running {
        base,
        webhook,
        server,
        http: reqwest::Client::new(),
        blobs,
        clock,
        signed_in: tokio::sync::Mutex::new(BTreeMap::new()),
        _dir: dir,
    }
}

fn inbound(id: &str, user: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "messages": [{ "id": id, "user": user, "name": "Ann Client", "text": text }]
    }))
    .unwrap()
}

fn now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

impl Running {
    /// Posts a Telegram update with the given secret token header.
    async fn telegram(&self, update: &Value, secret: &str) -> reqwest::StatusCode {
        self.http
            .post(&self.webhook)
            .header("content-type", "application/json")
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .body(serde_json::to_vec(update).unwrap())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn webhook(&self, body: Vec<u8>, secret: &str) -> reqwest::StatusCode {
        let ts = now();
        let sig = signature_header(secret.as_bytes(), &[ts.as_bytes(), b".", &body]);
        self.http
            .post(&self.webhook)
            .header("content-type", "application/json")
            .header("X-Chatlines-Timestamp", ts)
            .header("X-Chatlines-Signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Signs `user` in with `password`: the status, the answer and the
    /// `Set-Cookie` header.
    async fn sign_in_as(
        &self,
        user: &str,
        password: &str,
    ) -> (reqwest::StatusCode, Value, Option<String>) {
        let r = self
            .http
            .post(format!("{}/api/auth/sign-in", self.base))
            .json(&json!({ "user": user, "password": password }))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status(), r.json().await.unwrap_or(Value::Null), cookie)
    }

    /// `GET /api/auth/me` with a cookie.
    async fn me(&self, cookie: &str) -> (reqwest::StatusCode, Value) {
        send(
            self,
            reqwest::Method::GET,
            "/api/auth/me",
            &[("cookie", cookie)],
        )
        .await
    }

    /// `user`'s live event stream (`/api/events`), from the log's start.
    async fn events_from_start(&self, user: &str) -> reqwest::Response {
        let (cookie, _) = self.session_of(user).await;
        let stream = self
            .http
            .get(format!("{}/api/events?after=0.0", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        stream
    }

    /// The cookie and CSRF token of `user`, signing in on first use.
    async fn session_of(&self, user: &str) -> (String, String) {
        let mut signed_in = self.signed_in.lock().await;
        if let Some(s) = signed_in.get(user) {
            return s.clone();
        }
        let (status, body, cookie) = self.sign_in_as(user, &password_of(user)).await;
        assert_eq!(status, 200, "{body}");
        let cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        signed_in.insert(user.to_owned(), (cookie.clone(), csrf.clone()));
        (cookie, csrf)
    }

    async fn get(&self, user: &str, path: &str) -> (reqwest::StatusCode, Value) {
        let (cookie, _) = self.session_of(user).await;
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn post(&self, user: &str, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let (cookie, csrf) = self.session_of(user).await;
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_in_take_reply_and_delivery_out() {
    let (remote, received) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;

    // A wrong signature is refused and stores nothing.
    let status = s
        .webhook(inbound("m-0", "ann", "forged"), "not-the-secret")
        .await;
    assert_eq!(status, 401);
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    assert_eq!(
        offered["items"],
        json!([]),
        "a refused webhook must store nothing"
    );

    // A correctly signed one opens a session offered to the line's operators.
    let status = s
        .webhook(inbound("m-1", "ann", "My order has not arrived"), SECRET)
        .await;
    assert_eq!(status, 200);
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    let offered = offered["items"].as_array().unwrap().clone();
    assert_eq!(offered.len(), 1, "{offered:?}");
    let id = offered[0]["id"].as_str().unwrap().to_owned();
    let (_, not_an_operator) = s.get("sam", "/api/sessions/offered").await;
    assert_eq!(not_an_operator["items"], json!([]));

    // The same delivery again (a messenger retry) is harmless.
    assert_eq!(
        s.webhook(inbound("m-1", "ann", "My order has not arrived"), SECRET)
            .await,
        200
    );

    // Not signed in: 401 with the error shape.
    let r = s
        .http
        .get(format!("{}/api/sessions/offered", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["retryable"], json!(false));
    assert_eq!(body["code"], json!("unauthenticated"), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("sign in"),
        "{body}"
    );

    // First come: olga takes it; oleg is too late.
    let (status, taken) = s
        .post("olga", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200, "{taken}");
    let (status, late) = s
        .post("oleg", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 409, "{late}");
    assert_eq!(late["retryable"], json!(false));
    assert_eq!(late["code"], json!("already_taken"), "{late}");
    assert_eq!(late["kind"], json!("conflict"), "{late}");
    let (_, assigned) = s.get("olga", "/api/sessions/assigned").await;
    assert_eq!(assigned["items"].as_array().map(Vec::len), Some(1));

    // Only the assigned operator replies.
    let (status, _) = s
        .post(
            "oleg",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "me too"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, empty) = s
        .post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "  "}),
        )
        .await;
    assert_eq!(status, 422, "{empty}");
    let (status, reply) = s
        .post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "It ships today."}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");

    // The dispatcher delivers the reply to the remote system, signed.
    let delivered = wait_for(&received, 1).await;
    assert_eq!(delivered.len(), 1, "the reply was not delivered");
    assert_eq!(delivered[0].0, "/out");
    let (_, headers, body) = &delivered[0];
    let out: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(out["to"], json!("ann"));
    assert_eq!(out["text"], json!("It ships today."));
    let ts = headers["x-chatlines-timestamp"].to_str().unwrap();
    let sig = headers["x-chatlines-signature"].to_str().unwrap();
    assert!(verify_signature_header(
        SECRET.as_bytes(),
        &[ts.as_bytes(), b".", body],
        sig
    ));

    // The history holds the client's message once and the reply.
    let (status, messages) = s.get("olga", &format!("/api/sessions/{id}/messages")).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["My order has not arrived", "It ships today."]);

    // Close; a closed session takes no more replies.
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{id}/close"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, closed) = s
        .post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "one more"}),
        )
        .await;
    // Closed sessions have no assigned operator: the reply is refused.
    assert_eq!(status, 403, "{closed}");

    // Unknown and malformed session ids.
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = s
        .get("olga", &format!("/api/sessions/{unknown}/messages"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.get("olga", "/api/sessions/not-a-uuid/messages").await;
    assert_eq!(status, 400);

    // A forged webhook after all this still stores nothing new.
    assert_eq!(
        s.webhook(inbound("m-2", "eve", "forged"), "wrong").await,
        401
    );
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(offered["items"], json!([]));
    assert_eq!(received.all().len(), 1);

    s.server.shutdown().await;
}

#[tokio::test]
async fn missing_secret_stops_startup_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let config = ServerConfig::from_toml(&format!(
        r#"
admin = "root"
database = {db:?}
[[lines]]
name = "Support"
operators = "support"
[[sources]]
name = "bot"
display_name = "bot"
line = "Support"
connector = {{ kind = "telegram", bot_token_env = "NO_SUCH_TOKEN_VAR", webhook_secret_env = "NO_SUCH_SECRET_VAR" }}
"#,
        db = db.display().to_string()
    ))
    .unwrap();
    let err = build_app(&config, &BTreeMap::<String, String>::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NO_SUCH_TOKEN_VAR"), "{err}");
    assert!(!db.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_update_in_and_reply_out_through_the_bot_api() {
    let (api, received) = mock_remote().await;
    let s = start(&telegram_source(api)).await;
    let update = json!({
        "update_id": 7001,
        "message": {
            "message_id": 10,
            "from": { "id": 42, "is_bot": false, "first_name": "Ann" },
            "chat": { "id": 42, "type": "private", "first_name": "Ann" },
            "date": 1_700_000_000,
            "text": "Hello from Telegram"
        }
    });

    // The wrong secret token: 401, nothing stored.
    assert_eq!(s.telegram(&update, "wrong").await, 401);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(offered["items"], json!([]));

    assert_eq!(s.telegram(&update, TG_SECRET).await, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("oleg", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "oleg",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "Hi Ann!"}),
        )
        .await;
    assert_eq!(status, 200);

    let calls = wait_for(&received, 1).await;
    assert_eq!(calls.len(), 1, "the reply was not sent to the Bot API");
    assert_eq!(calls[0].0, format!("/bot{TG_TOKEN}/sendMessage"));
    let sent: Value = serde_json::from_slice(&calls[0].2).unwrap();
    assert_eq!(sent["text"], json!("Hi Ann!"));
    assert_eq!(sent["chat_id"].to_string().trim_matches('"'), "42");

    // A channel post is acknowledged, not stored, and counted.
    let post = json!({"update_id": 7002, "channel_post": {"message_id": 3, "date": 1_700_000_000,
        "chat": {"id": -1001, "type": "channel", "title": "News"}, "text": "sale"}});
    assert_eq!(s.telegram(&post, TG_SECRET).await, 200);
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(|l| l
            == r#"chatlines_webhook_updates_ignored_total{source_kind="telegram",update_kind="channel_post"} 1"#),
        "{text}"
    );

    s.server.shutdown().await;
}

/// A Telegram Bot API that knows one file: `getFile` for `BIG` and the
/// download of its path.
async fn mock_bot_files() -> SocketAddr {
    let app = Router::new().fallback(any(|uri: Uri| async move {
        let path = uri.path().to_owned();
        if path == format!("/bot{TG_TOKEN}/getFile") {
            (
                StatusCode::OK,
                r#"{"ok":true,"result":{"file_id":"BIG","file_size":9,"file_path":"photos/big.jpg"}}"#
                    .as_bytes()
                    .to_vec(),
            )
        } else if path == format!("/file/bot{TG_TOKEN}/photos/big.jpg") {
            (StatusCode::OK, b"JPEG-DATA".to_vec())
        } else {
            (StatusCode::NOT_FOUND, Vec::new())
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_from_telegram_is_fetched_into_the_blobs_directory_after_the_answer() {
    let api = mock_bot_files().await;
    let s = start(&telegram_source(api)).await;
    let update = json!({
        "update_id": 7002,
        "message": {
            "message_id": 11,
            "from": { "id": 42, "is_bot": false, "first_name": "Ann" },
            "chat": { "id": 42, "type": "private" },
            "date": 1_700_000_000,
            "caption": "my receipt",
            "photo": [
                { "file_id": "SMALL", "width": 90, "height": 90 },
                { "file_id": "BIG", "width": 800, "height": 600 }
            ]
        }
    });
    let status = s.telegram(&update, TG_SECRET).await;
    assert_eq!(status, 200);
    // The media worker (woken by the webhook) fetches the file.
    let mut media = s.server.media_stats();
    media.wait_for(|m| m.stored >= 1).await.unwrap();

    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, page) = s.get("olga", &format!("/api/sessions/{id}/messages")).await;
    assert_eq!(status, 200, "{page}");
    let body = &page["items"].as_array().unwrap()[0]["body"];
    assert_eq!(body["text"], json!("my receipt"), "{page}");
    let blob = body["attachments"][0]["blob"].as_str().unwrap().to_owned();
    assert_eq!(blob, "telegram/BIG", "{page}");
    assert_eq!(body["attachments"][0]["remote"], json!("tg:BIG"), "{page}");
    assert_eq!(body["attachments"][0]["size"], json!(9), "{page}");
    // The file sits in the configured directory with the downloaded bytes.
    let files: Vec<Vec<u8>> = std::fs::read_dir(&s.blobs)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files, vec![b"JPEG-DATA".to_vec()], "blob {blob}");
    s.server.shutdown().await;
}

/// A raw request with explicit headers: status and JSON answer.
async fn send(
    s: &Running,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, Value) {
    let mut r = s
        .http
        .request(method, format!("{}{path}", s.base))
        .json(&json!({}));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_strict_http_only_cookie_and_needs_the_right_password() {
    let (remote, _) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;

    let (status, body, cookie) = s.sign_in_as("olga", "wrong").await;
    assert_eq!(status, 401, "{body}");
    assert!(cookie.is_none());
    let (status, _, cookie) = s.sign_in_as("nobody", "pw-nobody").await;
    assert_eq!(status, 401);
    assert!(cookie.is_none());

    let (status, body, cookie) = s.sign_in_as("olga", "pw-olga").await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    for attr in [
        "chatlines_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert_eq!(body["user"], json!("olga"));
    let csrf = body["csrf_token"].as_str().unwrap();
    let pair = cookie.split(';').next().unwrap();

    let (status, me) = send(
        &s,
        reqwest::Method::GET,
        "/api/auth/me",
        &[("cookie", pair)],
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["signed_in"], json!(true));
    assert_eq!(me["user"], json!("olga"));
    assert_eq!(me["via"], json!("session"));
    assert_eq!(me["csrf_token"], json!(csrf));
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_requests_need_the_csrf_token_and_change_nothing_without_it() {
    let (remote, _) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (cookie, csrf) = s.session_of("olga").await;
    let take = format!("/api/sessions/{id}/take");

    for headers in [
        vec![("cookie", cookie.as_str())],
        vec![("cookie", cookie.as_str()), ("x-csrf-token", "forged")],
    ] {
        let (status, body) = send(&s, reqwest::Method::POST, &take, &headers).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap().contains("CSRF"), "{body}");
    }
    // Nothing changed: the session is still offered, to oleg too.
    let (_, still) = s.get("oleg", "/api/sessions/offered").await;
    assert_eq!(still["items"].as_array().map(Vec::len), Some(1), "{still}");

    let headers = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let (status, body) = send(&s, reqwest::Method::POST, &take, &headers).await;
    assert_eq!(status, 200, "{body}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_sign_out_revokes_them() {
    let (remote, _) = mock_remote().await;
    let s = start_with(
        &webhook_source(remote),
        "",
        &["[auth]\nsession_ttl_secs = 600"],
    )
    .await;

    let (cookie, csrf) = s.session_of("olga").await;

    assert_eq!(s.me(&cookie).await.0, 200);
    s.clock.advance(chrono::Duration::seconds(599));
    assert_eq!(s.me(&cookie).await.0, 200);
    s.clock.advance(chrono::Duration::seconds(2));
    // Signed out: `me` says so (200, so that a page asking before it
    // signs in logs no error), and the API refuses the cookie.
    let (status, body) = s.me(&cookie).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signed_in"], json!(false), "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let (status, body) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    drop(csrf);

    // Sign out: the cookie stops working at once.
    s.signed_in.lock().await.clear();
    let (cookie, csrf) = s.session_of("olga").await;
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/api/auth/sign-out",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 403, "sign-out needs the CSRF token too");
    assert_eq!(s.me(&cookie).await.0, 200);
    let r = s
        .http
        .post(format!("{}/api/auth/sign-out", s.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(s.me(&cookie).await.1["signed_in"], json!(false));
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_account_and_per_address() {
    let (remote, _) = mock_remote().await;
    let s = start_with(
        &webhook_source(remote),
        "",
        &["[auth]\nsign_in_per_minute_per_account = 3\nsign_in_per_minute_per_address = 5"],
    )
    .await;
    for _ in 0..3 {
        assert_eq!(s.sign_in_as("olga", "guess").await.0, 401);
    }
    // The account is locked for now, even with the right password.
    let r = s
        .http
        .post(format!("{}/api/auth/sign-in", s.base))
        .json(&json!({ "user": "olga", "password": "pw-olga" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Another account from the same address still has attempts left...
    assert_eq!(s.sign_in_as("oleg", "pw-oleg").await.0, 200);
    // ...until the address has used its five.
    assert_eq!(s.sign_in_as("sam", "pw-sam").await.0, 429);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_act_as_their_user_and_x_user_is_ignored_unless_trusted() {
    let (remote, _) = mock_remote().await;
    let (token, digest) = password::new_token().unwrap();
    let tokens = format!("[[auth.tokens]]\nuser = \"olga\"\nsha256 = \"{digest}\"");
    let s = start_with(&webhook_source(remote), "", &[&tokens]).await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);

    // X-User alone is not believed by default: even root gets nothing.
    let (status, _) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered",
        &[("x-user", "olga")],
    )
    .await;
    assert_eq!(status, 401);

    let bearer = format!("Bearer {token}");
    let (status, offered) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200, "{offered}");
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    // A token needs no CSRF token (it is not sent by browsers on their own).
    let (status, taken) = send(
        &s,
        reqwest::Method::POST,
        &format!("/api/sessions/{id}/take"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200, "{taken}");
    let (_, mine) = s.get("olga", "/api/sessions/assigned").await;
    assert_eq!(mine["items"][0]["id"], json!(id), "{mine}");

    let wrong = format!("Bearer {}", password::new_token().unwrap().0);
    let (status, _) = send(
        &s,
        reqwest::Method::GET,
        "/api/auth/me",
        &[("authorization", &wrong)],
    )
    .await;
    assert_eq!(status, 401);
    s.server.shutdown().await;

    // Behind a trusted proxy, X-User names the user, and the policy still
    // applies: sam operates no line and sees nothing.
    let (remote, _) = mock_remote().await;
    let s = start_with(
        &webhook_source(remote),
        "",
        &["[auth]\ntrust_user_header = true"],
    )
    .await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    let (status, offered) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered",
        &[("x-user", "oleg")],
    )
    .await;
    assert_eq!(
        (status.as_u16(), offered["items"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, offered) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered",
        &[("x-user", "sam")],
    )
    .await;
    assert_eq!(
        (status.as_u16(), offered["items"].clone()),
        (200, json!([]))
    );
    s.server.shutdown().await;
}

#[tokio::test]
async fn a_password_that_is_not_an_argon2id_hash_stops_startup() {
    let config = ServerConfig::from_toml(
        "admin = \"root\"\ndatabase = \":memory:\"\n[auth.passwords]\nolga = \"plaintext\"\n",
    )
    .unwrap();
    let err = build_app(&config, &BTreeMap::<String, String>::new())
        .await
        .unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("auth.passwords.olga") && err.contains("hash-password"),
        "{err}"
    );
}

#[test]
fn the_example_and_demo_configurations_parse_and_their_demo_passwords_verify() {
    for file in ["server.example.toml", "demo.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let config = ServerConfig::load(&path).unwrap();
        assert!(!config.auth.trust_user_header, "{file}");
        let clock: Arc<dyn Clock> = Arc::new(chatlines_core::SystemClock);
        chatlines_examples::auth::Auth::new(&config.auth, clock, Default::default()).unwrap();
        for user in ["olga", "oleg", "sam"] {
            assert!(
                password::verify("demo", &config.auth.passwords[user]),
                "{file}: {user}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_postgresql_when_database_is_a_postgres_url() {
    let Some(url) = std::env::var("CHATLINES_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        let required =
            std::env::var("CHATLINES_REQUIRE_PG").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "CHATLINES_PG_URL is not set but CHATLINES_REQUIRE_PG is"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: CHATLINES_PG_URL is not set");
        }
        return;
    };
    // The store tests' sweeper drops `chatlines_test_*` schemas later.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "chatlines_test_{secs}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let (remote, received) = mock_remote().await;
    let database = format!("database = {url:?}");
    let postgres = format!("[postgres]\nschema = {schema:?}\npool_size = 4");
    let s = start_with(&webhook_source(remote), &database, &[&postgres]).await;

    assert_eq!(
        s.webhook(inbound("m-1", "ann", "Hello from PG"), SECRET)
            .await,
        200
    );
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "Hi from PG"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        wait_for(&received, 1).await.len(),
        1,
        "the reply was not delivered"
    );
    s.server.shutdown().await;

    // The session is in that PostgreSQL schema, not in a SQLite file.
    let store = chatlines_store::postgres::PostgresStore::connect(
        chatlines_store::postgres::PostgresConfig::new(&url).schema(&schema),
    )
    .await
    .unwrap();
    let session = store
        .session(chatlines_core::SessionId::from_uuid(
            uuid::Uuid::parse_str(&id).unwrap(),
        ))
        .await
        .unwrap();
    assert!(
        session.is_some(),
        "the session was not stored in PostgreSQL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_webhooks_by_source_and_outcome_and_show_waiting_sessions() {
    let (remote, received) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    assert_eq!(s.webhook(inbound("m-2", "bob", "hi"), SECRET).await, 200);
    assert_eq!(
        s.webhook(inbound("m-3", "eve", "forged"), "wrong").await,
        401
    );
    assert_eq!(s.sign_in_as("olga", "wrong").await.0, 401);
    s.server.events_relayed().await.unwrap();

    let scrape = || async {
        let r = s
            .http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        r.text().await.unwrap()
    };
    let text = scrape().await;
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    assert!(
        has(
            &text,
            r#"chatlines_webhook_requests_total{source="crm",outcome="accepted"} 2"#
        ),
        "{text}"
    );
    assert!(
        has(
            &text,
            r#"chatlines_webhook_requests_total{source="crm",outcome="refused"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(&text, r#"chatlines_sign_ins_total{outcome="refused"} 1"#),
        "{text}"
    );
    assert!(
        has(&text, r#"chatlines_messages_total{direction="in"} 2"#),
        "{text}"
    );
    let line = s.server.hub.lines(&"root".into()).await.unwrap()[0].id;
    let waiting: usize = ["queued", "offered"]
        .iter()
        .map(|state| {
            let prefix =
                format!("chatlines_sessions_waiting{{line=\"{line}\",state=\"{state}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map_or(0, |v| v.parse().unwrap())
        })
        .sum();
    assert_eq!(waiting, 2, "{text}");

    // Take and answer one: a delivery is counted, one session waits.
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.post("olga", &format!("/api/sessions/{id}/take"), json!({}))
            .await
            .0,
        200
    );
    let reply = json!({"text": "on it"});
    assert_eq!(
        s.post("olga", &format!("/api/sessions/{id}/reply"), reply)
            .await
            .0,
        200
    );
    wait_for(&received, 1).await;
    let mut text = scrape().await;
    for _ in 0..100 {
        if has(
            &text,
            r#"chatlines_outbox_deliveries_total{outcome="succeeded"} 1"#,
        ) {
            break;
        }
        // The delivery is recorded after the remote answered: wait for the
        // next event the relay passes on, not for a duration.
        let mut health = s.server.relay_health();
        health.changed().await.unwrap();
        s.server.events_relayed().await.unwrap();
        text = scrape().await;
    }
    assert!(
        has(
            &text,
            r#"chatlines_outbox_deliveries_total{outcome="succeeded"} 1"#
        ),
        "{text}"
    );
    let offered_now = format!("chatlines_sessions_waiting{{line=\"{line}\",state=\"offered\"}} 1");
    assert!(has(&text, &offered_now), "{text}");
    let assigned = format!("chatlines_sessions_assigned{{line=\"{line}\"}} 1");
    assert!(has(&text, &assigned), "{text}");
    let load = format!("chatlines_operator_load{{line=\"{line}\",operator=\"olga\"}} 1");
    assert!(has(&text, &load), "{text}");
    assert!(
        text.contains(
            r#"chatlines_http_requests_total{route="/api/sessions/{id}/take",status="200"} 1"#
        ),
        "{text}"
    );
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let (remote, _) = mock_remote().await;
    let widget = r#"
[[sources]]
name = "widget"
display_name = "Shop widget"
line = "Support"
connector = { kind = "webchat", secret_env = "CRM_SECRET" }
"#;
    let s = start(&format!("{}{widget}", webhook_source(remote))).await;
    let r = s
        .http
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut described: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The administrators' routes are checked in server_admin.rs.
    described.retain(|r| !r.contains(" /api/admin/"));
    described.sort();
    let mut routes = vec![
        "POST /api/auth/sign-in",
        "POST /api/auth/sign-out",
        "GET /api/auth/me",
        "GET /api/sessions/offered",
        "GET /api/sessions/assigned",
        "POST /api/sessions/{id}/take",
        "POST /api/sessions/{id}/reply",
        "POST /api/sessions/{id}/close",
        "GET /api/sessions/{id}/messages",
        "GET /api/sessions/{id}",
        "POST /api/sessions/{id}/reply-with-files",
        "POST /api/sessions/{id}/transfer",
        "GET /api/sessions/{id}/operators",
        "POST /api/sessions/{id}/return",
        "GET /api/sessions/{id}/client",
        "POST /api/sessions/{id}/account",
        "POST /api/sessions/{id}/requests",
        "GET /api/board/lines",
        "GET /api/board/lines/{id}",
        "GET /api/board/lines/{id}/sla-breaches",
        "POST /api/sessions/{id}/assign",
        "POST /api/sessions/{id}/priority",
        "GET /api/events",
        "GET /webhooks/{source}",
        "POST /webhooks/{source}",
        "GET /metrics",
        "GET /api/openapi.json",
        "POST /webchat/{source}/visitor",
        "OPTIONS /webchat/{source}/visitor",
        "POST /webchat/{source}/messages",
        "GET /webchat/{source}/messages",
        "OPTIONS /webchat/{source}/messages",
        "GET /webchat/{source}/events",
        "OPTIONS /webchat/{source}/events",
        "POST /webchat/{source}/files",
        "OPTIONS /webchat/{source}/files",
        "POST /webchat/{source}/push",
    ];
    routes.sort_unstable();
    assert_eq!(described, routes);
    // Every described route answers something other than 404/405 here
    // (the document matches the router).
    for route in &routes {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "00000000-0000-0000-0000-000000000001")
            .replace("{source}", &s.server.sources[0].id.to_string());
        // The widget's routes answer 404 for a source that is no widget.
        let path = match path.strip_prefix(&format!("/webchat/{}", s.server.sources[0].id)) {
            Some(rest) => format!("/webchat/{}{rest}", s.server.sources[1].id),
            None => path,
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let status = s
            .http
            .request(method, format!("{}{path}", s.base))
            .send()
            .await
            .unwrap()
            .status();
        // A generic-webhook source has no GET handshake: its 405 is the
        // documented answer, not a missing route.
        let documented_405 = *route == "GET /webhooks/{source}";
        assert!(
            (status != 405 || documented_405)
                && (status != 404 || path.contains("0000-000000000001")),
            "{route}: {status}"
        );
    }
    let reply = &doc["paths"]["/api/sessions/{id}/reply"]["post"];
    assert!(reply["responses"]["413"].is_object(), "{reply}");
    let write = &doc["paths"]["/webchat/{source}/messages"]["post"];
    assert!(write["responses"]["429"].is_object(), "{write}");
    // A body over the widget's limit (10 MiB, its largest file) is
    // refused in the documented shape.
    let big = vec![b'x'; 11 * 1024 * 1024];
    let r = s
        .http
        .post(format!(
            "{}/webchat/{}/visitor",
            s.base, s.server.sources[1].id
        ))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    assert!(doc["components"]["securitySchemes"]["session_cookie"].is_object());
    s.server.shutdown().await;
}

/// Reads SSE frames from `r` until `n` events (frames with an `id`) came;
/// each as (id, event name, data).
async fn sse_events(r: &mut reqwest::Response, n: usize) -> Vec<(String, String, Value)> {
    let mut buffer = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = r.chunk().await.unwrap().expect("the event stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut id, mut name, mut data) = (None, None, None);
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            if let (Some(id), Some(name), Some(data)) = (id, name, data) {
                out.push((id, name, data));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_shows_changes_live_and_resumes_after_last_event_id() {
    let (remote, _received) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;
    let (cookie, _) = s.session_of("olga").await;
    let open = |resume: Option<String>| {
        let mut request = s
            .http
            .get(format!("{}/api/events?after=0.0", s.base))
            .header("cookie", cookie.clone());
        if let Some(id) = resume {
            request = request.header("last-event-id", id);
        }
        request.send()
    };
    let mut stream = open(None).await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));

    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    // From the start of the log: the line and source made at startup, then
    // the session.
    let mut first = sse_events(&mut stream, 5).await;
    let names: Vec<&str> = first.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "line_created",
            "source_bound",
            "session_opened",
            "message_in",
            "session_offered"
        ]
    );
    first.drain(..2);
    let session = first[0].2["event"]["data"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let position = &first[0].2["position"];
    assert_eq!(
        first[0].0,
        format!("{}.{}", position["tx"], position["seq"])
    );

    // A take made through the API arrives on the open stream.
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{session}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let taken = sse_events(&mut stream, 1).await;
    assert_eq!(taken[0].1, "session_assigned");
    assert_eq!(taken[0].2["event"]["data"]["operator"], json!("olga"));
    drop(stream);

    // Reconnecting after the first event replays everything after it.
    let mut again = open(Some(first[0].0.clone())).await.unwrap();
    let replayed = sse_events(&mut again, 3).await;
    let ids: Vec<&str> = replayed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            first[1].0.as_str(),
            first[2].0.as_str(),
            taken[0].0.as_str()
        ]
    );

    // A malformed position is refused; no session cookie is refused.
    let bad = open(Some("yesterday".to_owned())).await.unwrap();
    assert_eq!(bad.status(), 400);
    let anonymous = s
        .http
        .get(format!("{}/api/events", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_with_a_strict_content_policy() {
    let (remote, _received) = mock_remote().await;
    let s = start(&webhook_source(remote)).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = no_redirects
        .get(format!("{}/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/console");
    for (path, kind, holds) in [
        ("/console", "text/html", "/console/app.js"),
        (
            "/console/app.js",
            "text/javascript",
            "new EventSource(\"/api/events\"",
        ),
        ("/console/style.css", "text/css", "#desk"),
    ] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(r.text().await.unwrap().contains(holds), "{path}");
    }
}

/// A Graph API that accepts every message as `wamid.OUT`.
async fn mock_graph() -> (SocketAddr, Received) {
    let received = Received::default();
    let log = received.clone();
    let app = Router::new().fallback(post(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            if let Ok(mut v) = log.0.lock() {
                v.push((uri.path().to_owned(), headers, body));
            }
            (
                StatusCode::OK,
                r#"{"messaging_product":"whatsapp","contacts":[{"input":"4915","wa_id":"4915"}],"messages":[{"id":"wamid.OUT"}]}"#,
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

#[tokio::test]
async fn whatsapp_statuses_are_recorded_on_the_reply() {
    let (api, received) = mock_graph().await;
    let s = start(&format!(
        r#"
[[sources]]
name = "wa"
display_name = "+1 555 0100"
line = "Support"
connector = {{ kind = "whatsapp", phone_number_id = "PN1", access_token_env = "WA_TOKEN", app_secret_env = "WA_SECRET", verify_token_env = "WA_VERIFY", api_base = "http://{api}" }}
"#
    ))
    .await;
    let post_signed = |value: Value| {
        let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account",
            "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}]}))
        .unwrap();
        let signature = signature_header(WA_SECRET.as_bytes(), &[&body]);
        let request = s
            .http
            .post(&s.webhook)
            .header("X-Hub-Signature-256", signature)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.unwrap().status() }
    };
    let status = post_signed(json!({"metadata": {"phone_number_id": "PN1"},
        "contacts": [{"profile": {"name": "Bea"}, "wa_id": "4915"}],
        "messages": [{"from": "4915", "id": "wamid.IN", "timestamp": "1700000000", "type": "text", "text": {"body": "hello"}}]}))
    .await;
    assert_eq!(status, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("oleg", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, reply) = s
        .post(
            "oleg",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "Hi Bea"}),
        )
        .await;
    assert_eq!(status, 200);
    let reply: chatlines_core::MessageId =
        serde_json::from_value(reply["id"].clone()).expect("the reply's id");
    assert_eq!(wait_for(&received, 1).await.len(), 1, "the reply was sent");

    // Meta reports read before delivered; the reply ends read. The
    // dispatcher counts a send once it is recorded, so the statuses are
    // posted after that (an update of a message not yet known as sent is
    // ignored).
    let mut health = s.server.dispatcher_health().expect("dispatcher running");
    health
        .wait_for(|h| h.sent >= 1)
        .await
        .expect("the dispatcher records the send");
    let status = post_signed(json!({"metadata": {"phone_number_id": "PN1"},
        "statuses": [{"id": "wamid.OUT", "status": "read", "timestamp": "1700000003", "recipient_id": "4915"},
                     {"id": "wamid.OUT", "status": "delivered", "timestamp": "1700000002", "recipient_id": "4915"}]}))
    .await;
    assert_eq!(status, 200);
    let delivery = s.server.hub.message_state(reply).await.unwrap().delivery;
    assert_eq!(
        delivery.map(|d| d.status),
        Some(chatlines_core::DeliveryStatus::Read)
    );
    s.server.shutdown().await;
}

/// What the framework refuses before a handler runs (a malformed query, a
/// body that is not JSON) answers the documented error shape, and the
/// document lists those answers on every route that can give them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_the_handler_answer_the_documented_json_shape() {
    let (remote, _) = mock_remote().await;
    let (token, digest) = password::new_token().unwrap();
    let tokens = format!("[[auth.tokens]]\nuser = \"olga\"\nsha256 = \"{digest}\"");
    let s = start_with(&webhook_source(remote), "", &[&tokens]).await;
    let bearer = format!("Bearer {token}");
    let (status, body) = send(
        &s,
        reqwest::Method::GET,
        "/api/sessions/offered?limit=-1",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    assert_eq!(body["retryable"], false, "{body}");
    let r = s
        .http
        .post(format!(
            "{}/api/sessions/00000000-0000-0000-0000-000000000001/reply",
            s.base
        ))
        .header("authorization", &bearer)
        .body("text=hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");

    let doc: Value = s
        .http
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offered = &doc["paths"]["/api/sessions/offered"]["get"]["responses"];
    assert!(offered["400"].is_object(), "{offered}");
    let reply = &doc["paths"]["/api/sessions/{id}/reply"]["post"]["responses"];
    for status in ["400", "413", "415", "422"] {
        assert_eq!(
            reply[status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{status}: {reply}"
        );
    }
    // A route without parameters or body gets none of them.
    let me = &doc["paths"]["/api/auth/me"]["get"]["responses"];
    assert!(me["415"].is_null(), "{me}");
    s.server.shutdown().await;
}

/// A Telegram Bot API whose `sendMessage` answers only once the test opens
/// the gate; `arrived` counts the calls that came in (before the gate).
async fn gated_bot() -> (
    SocketAddr,
    Arc<tokio::sync::Semaphore>,
    tokio::sync::watch::Receiver<usize>,
) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (arrived, seen) = tokio::sync::watch::channel(0usize);
    let arrived = Arc::new(arrived);
    let open = gate.clone();
    let app = Router::new().fallback(post(move || {
        let (open, arrived) = (open.clone(), arrived.clone());
        async move {
            arrived.send_modify(|n| *n += 1);
            if let Ok(permit) = open.acquire().await {
                permit.forget();
            }
            (
                StatusCode::OK,
                r#"{"ok":true,"result":{"message_id":5,"chat":{"id":42}}}"#,
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, gate, seen)
}

/// The value of the sample `name` (with its labels) in a scrape.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_the_outbox_backlog_and_the_dispatcher_as_a_reply_goes_out() {
    let (api, gate, mut arrived) = gated_bot().await;
    let s = start(&telegram_source(api)).await;
    let update = json!({"update_id": 8001, "message": {"message_id": 11, "date": 1_700_000_000,
        "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
        "chat": {"id": 42, "type": "private", "first_name": "Ann"}, "text": "Where is my order?"}});
    assert_eq!(s.telegram(&update, TG_SECRET).await, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.post("olga", &format!("/api/sessions/{id}/take"), json!({}))
            .await
            .0,
        200
    );
    let scrape = || async {
        s.http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    assert_eq!(
        sample(&before, "chatlines_outbox_pending"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, r#"chatlines_dispatcher{what="running"}"#),
        Some(1.0),
        "{before}"
    );

    // The reply reaches the Bot API, which holds its answer: pending.
    assert_eq!(
        s.post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "On its way"})
        )
        .await
        .0,
        200
    );
    arrived.wait_for(|n| *n >= 1).await.unwrap();
    let during = scrape().await;
    assert_eq!(
        sample(&during, "chatlines_outbox_pending"),
        Some(1.0),
        "{during}"
    );
    assert_eq!(
        sample(&during, r#"chatlines_dispatcher{what="in_flight"}"#),
        Some(1.0),
        "{during}"
    );
    assert_eq!(
        sample(&during, r#"chatlines_dispatcher{what="sent"}"#),
        Some(0.0),
        "{during}"
    );

    // The Bot API answers: delivered.
    gate.add_permits(1);
    let mut health = s.server.dispatcher_health().unwrap();
    health.wait_for(|h| h.sent >= 1).await.unwrap();
    let after = scrape().await;
    assert_eq!(
        sample(&after, "chatlines_outbox_pending"),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, r#"chatlines_dispatcher{what="sent"}"#),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, r#"chatlines_dispatcher{what="in_flight"}"#),
        Some(0.0),
        "{after}"
    );
    assert!(
        sample(
            &after,
            r#"chatlines_dispatcher_last_seconds{what="success"}"#
        )
        .is_some(),
        "{after}"
    );
    s.server.shutdown().await;
}

/// A line's `offer_timeout_secs` from the configuration reaches the hub,
/// and the server's timer worker reports an offer nobody took once the
/// clock passes it (live, on the event stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_nobody_takes_is_reported_unanswered_by_the_servers_timer_worker() {
    let (remote, _received) = mock_remote().await;
    // The keys land in the `[[lines]]` table the sources follow.
    let s = start(&format!(
        "offer_timeout_secs = 60\n{}",
        webhook_source(remote)
    ))
    .await;
    let mut stream = s.events_from_start("olga").await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    let seen = sse_events(&mut stream, 5).await;
    assert_eq!(seen[4].1, "session_offered", "{seen:?}");
    let session = seen[4].2["event"]["data"]["session"].clone();

    s.clock.advance(chrono::Duration::seconds(61));
    let next = sse_events(&mut stream, 1).await;
    assert_eq!(next[0].1, "session_unanswered", "{next:?}");
    assert_eq!(next[0].2["event"]["data"]["session"], session, "{next:?}");
    s.server.shutdown().await;
}

/// `/metrics` shows the timers due at the server's clock: none before the
/// offer timeout, one after it while no worker run came (the worker's
/// interval is long here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_timers_due() {
    let (remote, _received) = mock_remote().await;
    let s = start_inner(
        "timer_interval_ms = 600000",
        &format!("offer_timeout_secs = 60\n{}", webhook_source(remote)),
        "",
        &[],
    )
    .await;
    let metrics = || async {
        let text = s
            .http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sample(&text, "chatlines_timers_due")
    };
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    assert_eq!(metrics().await, Some(0.0));
    s.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(metrics().await, Some(1.0));
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_limits_visitor_starts_per_client_address() {
    let (remote, _) = mock_remote().await;
    let widget = r#"
[[sources]]
name = "widget"
display_name = "Shop widget"
line = "Support"
connector = { kind = "webchat", secret_env = "CRM_SECRET", visitors_per_minute_per_address = 1 }
"#;
    let s = start(&format!("{}{widget}", webhook_source(remote))).await;
    let url = format!("{}/webchat/{}/visitor", s.base, s.server.sources[1].id);
    let first = s.http.post(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let second = s.http.post(&url).send().await.unwrap();
    assert_eq!(second.status(), 429);
    let wait: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    assert!(second.headers().get("set-cookie").is_none());
    s.server.shutdown().await;
}

/// A line whose working hours are closed (an IANA zone, read through the
/// time-zone database the server gives its hub): a client's session waits
/// unoffered, and the off-hours reply is stored and delivered to the
/// messenger like any reply, once.
/// The working hours shown (commented out) in `demo.toml` are valid.
#[test]
fn the_demo_working_hours_parse() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("\n# hours = "),
        "demo.toml shows working hours"
    );
    let config = ServerConfig::from_toml(&text.replace("\n# hours = ", "\nhours = ")).unwrap();
    let hours = config.lines[0]
        .hours
        .as_ref()
        .expect("hours on the demo line");
    assert_eq!(hours.time_zone, "Europe/Berlin");
    assert_eq!(hours.weekly[0].days.len(), 5);
    assert_eq!(hours.exceptions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_working_hours_the_client_gets_the_off_hours_reply_once() {
    let (remote, received) = mock_remote().await;
    // No weekly hours: closed whenever the test runs.
    let s = start(&format!(
        "hours = {{ time_zone = \"Europe/Berlin\", off_hours_reply = \"We are closed now.\" }}\n{}",
        webhook_source(remote)
    ))
    .await;
    assert_eq!(
        s.webhook(inbound("m-1", "ann", "hello?"), SECRET).await,
        200
    );
    assert_eq!(
        s.webhook(inbound("m-2", "ann", "anyone?"), SECRET).await,
        200
    );
    let sent = wait_for(&received, 1).await;
    assert_eq!(sent.len(), 1, "one automatic reply: {sent:?}");
    let body = String::from_utf8_lossy(&sent[0].2);
    assert!(body.contains("We are closed now."), "{body}");
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    assert_eq!(
        offered["items"],
        json!([]),
        "nothing is offered while closed"
    );
    s.server.shutdown().await;
}

/// A line with the bot stage meets the server's FAQ bot first: a question
/// the FAQ answers gets the answer through the messenger (signed like any
/// reply) and is offered to nobody; "operator" hands the session to the
/// line's operators, who read the whole transcript with the bot's author.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faq_bot_answers_and_operator_hands_over() {
    let (remote, received) = mock_remote().await;
    let s = start(&format!(
        "bot = {{ answers = {{ hours = \"We are open 9 to 18.\" }} }}\n{}",
        webhook_source(remote)
    ))
    .await;
    assert_eq!(
        s.webhook(inbound("m-1", "ann", "What are your hours?"), SECRET)
            .await,
        200
    );
    let sent = wait_for(&received, 1).await;
    assert_eq!(sent.len(), 1, "the bot's answer: {sent:?}");
    let body = String::from_utf8_lossy(&sent[0].2);
    assert!(body.contains("We are open 9 to 18."), "{body}");
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    assert_eq!(offered["items"], json!([]), "with the bot, not offered");

    assert_eq!(
        s.webhook(inbound("m-2", "ann", "operator, please"), SECRET)
            .await,
        200
    );
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    let offered = offered["items"].as_array().unwrap().clone();
    assert_eq!(offered.len(), 1, "handed over: {offered:?}");
    let id = offered[0]["id"].as_str().unwrap().to_owned();
    let (status, messages) = s.get("olga", &format!("/api/sessions/{id}/messages")).await;
    assert_eq!(status, 200);
    let seen: Vec<(&str, &str)> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["author"]["kind"].as_str().unwrap(),
                m["body"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("client", "What are your hours?"),
            ("bot", "We are open 9 to 18."),
            ("client", "operator, please"),
        ]
    );
    // Nothing more went to the client: the hand-over writes no message.
    assert_eq!(received.all().len(), 1);
    s.server.shutdown().await;
}

/// The bot stage shown (commented out) in `demo.toml` is valid.
#[test]
fn the_demo_bot_stage_parses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("\n# bot = "), "demo.toml shows a bot stage");
    let config = ServerConfig::from_toml(&text.replace("\n# bot = ", "\nbot = ")).unwrap();
    let bot = config.lines[0]
        .bot
        .as_ref()
        .expect("a bot on the demo line");
    assert_eq!(bot.keywords, ["operator"]);
    assert_eq!(bot.timeout_secs, Some(600));
    assert_eq!(bot.answers.len(), 2);
}

/// A line's inactivity settings from the configuration reach the hub: a
/// client silent after the operator's reply gets the warning (a message
/// from the line, delivered like any reply), then the server's timer
/// worker closes the session as inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_chat_gets_the_warning_and_closes() {
    let (remote, received) = mock_remote().await;
    let s = start(&format!(
        "inactivity_secs = 600\ninactivity_warning_secs = 60\n\
         inactivity_warning = \"Are you still there?\"\n{}",
        webhook_source(remote)
    ))
    .await;
    assert_eq!(s.webhook(inbound("m-1", "ann", "hello"), SECRET).await, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "olga",
            &format!("/api/sessions/{id}/reply"),
            json!({"text": "How can I help?"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(wait_for(&received, 1).await.len(), 1, "the reply");

    s.clock.advance(chrono::Duration::seconds(541));
    let sent = wait_for(&received, 2).await;
    assert_eq!(sent.len(), 2, "the warning: {sent:?}");
    let out: Value = serde_json::from_slice(&sent[1].2).unwrap();
    assert_eq!(out["text"], json!("Are you still there?"));
    assert_eq!(out["to"], json!("ann"));
    let (_, session) = s.get("olga", &format!("/api/sessions/{id}")).await;
    assert_eq!(session["status"]["state"], json!("assigned"), "{session}");

    // The close is awaited on the event stream, as the console sees it.
    let mut stream = s.events_from_start("olga").await;
    s.clock.advance(chrono::Duration::seconds(60));
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            for (_, name, data) in sse_events(&mut stream, 1).await {
                if name == "session_closed" {
                    return data;
                }
            }
        }
    })
    .await
    .expect("the timer worker closed the session within 30 s");
    assert_eq!(closed["event"]["data"]["session"], json!(id), "{closed}");
    let (_, session) = s.get("olga", &format!("/api/sessions/{id}")).await;
    assert_eq!(session["status"]["state"], json!("closed"), "{session}");
    assert_eq!(session["reason"]["reason"], json!("closed"), "{session}");
    assert_eq!(session["reason"]["cause"], json!("inactive"), "{session}");
    s.server.shutdown().await;
}

/// The inactivity settings shown (commented out) in `demo.toml` parse.
#[test]
fn the_demo_inactivity_settings_parse() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    for key in [
        "inactivity_secs",
        "inactivity_warning_secs",
        "inactivity_warning",
        "never_answered",
        "reopen_secs",
    ] {
        let commented = format!("\n# {key} = ");
        assert!(text.contains(&commented), "demo.toml shows {key}");
        text = text.replace(&commented, &format!("\n{key} = "));
    }
    let config = ServerConfig::from_toml(&text).unwrap();
    let line = &config.lines[0];
    assert_eq!(line.inactivity_secs, Some(1800));
    assert_eq!(line.inactivity_warning_secs, Some(300));
    assert!(line.inactivity_warning.is_some());
    assert_eq!(
        line.never_answered,
        Some(chatlines_core::NeverAnswered::Escalate)
    );
    assert_eq!(line.reopen_secs, Some(600));
}
