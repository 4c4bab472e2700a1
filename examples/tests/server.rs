//! The example server end to end over real HTTP on 127.0.0.1: a signed
//! generic webhook comes in, an operator takes and answers the session
//! through the JSON API, and the dispatcher delivers the reply to a mock
//! of the remote system (the only faked part, with the host's directory).

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{any, post};
use axum::Router;
use chatlines_connectors::signing::{signature_header, verify_signature_header};
use chatlines_examples::{build_app, Server, ServerConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec-test-1";
const TG_TOKEN: &str = "123456:TEST-token";
const TG_SECRET: &str = "tg-hook-secret";

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
    _dir: tempfile::TempDir,
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
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let blobs = dir.path().join("blobs");
    let toml = format!(
        r#"
admin = "root"
database = {db:?}
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
"#,
        db = db.display().to_string(),
        blobs = blobs.display().to_string(),
    );
    let config = ServerConfig::from_toml(&toml).unwrap();
    let secrets: BTreeMap<String, String> = [
        ("CRM_SECRET".to_owned(), SECRET.to_owned()),
        ("TG_TOKEN".to_owned(), TG_TOKEN.to_owned()),
        ("TG_SECRET".to_owned(), TG_SECRET.to_owned()),
    ]
    .into();
    let (app, server) = build_app(&config, &secrets).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");
    let webhook = format!("{base}{}", server.sources[0].path());
    Running {
        base,
        webhook,
        server,
        http: reqwest::Client::new(),
        blobs,
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

    async fn get(&self, user: &str, path: &str) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-User", user)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn post(&self, user: &str, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-User", user)
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
    assert_eq!(offered, json!([]), "a refused webhook must store nothing");

    // A correctly signed one opens a session offered to the line's operators.
    let status = s
        .webhook(inbound("m-1", "ann", "My order has not arrived"), SECRET)
        .await;
    assert_eq!(status, 200);
    let (status, offered) = s.get("olga", "/api/sessions/offered").await;
    assert_eq!(status, 200);
    let offered = offered.as_array().unwrap().clone();
    assert_eq!(offered.len(), 1, "{offered:?}");
    let id = offered[0]["id"].as_str().unwrap().to_owned();
    let (_, not_an_operator) = s.get("sam", "/api/sessions/offered").await;
    assert_eq!(not_an_operator, json!([]));

    // The same delivery again (a messenger retry) is harmless.
    assert_eq!(
        s.webhook(inbound("m-1", "ann", "My order has not arrived"), SECRET)
            .await,
        200
    );

    // No X-User: 401 with the error shape.
    let r = s
        .http
        .get(format!("{}/api/sessions/offered", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["retryable"], json!(false));
    assert!(body["error"].as_str().unwrap().contains("X-User"));

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
    let (_, assigned) = s.get("olga", "/api/sessions/assigned").await;
    assert_eq!(assigned.as_array().map(Vec::len), Some(1));

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
    let texts: Vec<&str> = messages
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
    assert_eq!(offered, json!([]));
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
    assert_eq!(offered, json!([]));

    assert_eq!(s.telegram(&update, TG_SECRET).await, 200);
    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered[0]["id"].as_str().unwrap().to_owned();
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
async fn a_photo_from_telegram_is_downloaded_into_the_blobs_directory() {
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

    let (_, offered) = s.get("olga", "/api/sessions/offered").await;
    let id = offered[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("olga", &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, page) = s.get("olga", &format!("/api/sessions/{id}/messages")).await;
    assert_eq!(status, 200, "{page}");
    let body = &page.as_array().unwrap()[0]["body"];
    assert_eq!(body["text"], json!("my receipt"), "{page}");
    let blob = body["attachments"][0]["blob"].as_str().unwrap().to_owned();
    // The file sits in the configured directory with the downloaded bytes.
    let files: Vec<Vec<u8>> = std::fs::read_dir(&s.blobs)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files, vec![b"JPEG-DATA".to_vec()], "blob {blob}");
    s.server.shutdown().await;
}
