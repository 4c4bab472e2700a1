//! The example server for the console tests (HTTP and browser): one
//! line "Support" (olga and oleg operate, sam supervises) fed by a
//! Telegram bot whose Bot API is a local mock, an account app and a
//! request app, and a clock the test moves.

// Each test file uses part of this.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use chatlines_core::{Clock, Store};
use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app_with, open_store, Server, ServerConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub const TG_TOKEN: &str = "123456:BROWSER-token";
pub const TG_SECRET: &str = "tg-browser-secret";
/// Sign-in sessions last this long.
pub const SESSION_TTL_SECS: i64 = 3600;
/// Waiting longer than this for the server or a mock is a failure.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// What the mock Bot API received: (path, JSON body or null, raw body)
/// per request; the watch counts them.
#[derive(Clone)]
pub struct BotApi {
    calls: Arc<Mutex<Vec<(String, Value, String)>>>,
    count: watch::Sender<usize>,
}

impl BotApi {
    pub fn calls(&self) -> Vec<(String, Value, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, Value, String)> {
        let mut count = self.count.subscribe();
        tokio::time::timeout(PATIENCE, count.wait_for(|c| *c >= n))
            .await
            .expect("the Bot API mock did not receive the expected requests")
            .unwrap();
        self.calls()
    }
}

/// A local Telegram Bot API: answers every method with a sent message, as
/// the documented API does for `sendMessage`.
pub async fn mock_bot_api() -> (SocketAddr, BotApi) {
    let api = BotApi {
        calls: Arc::default(),
        count: watch::channel(0).0,
    };
    let log = api.clone();
    let app = Router::new().fallback(post(move |uri: Uri, body: Bytes| {
        let log = log.clone();
        async move {
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let raw = String::from_utf8_lossy(&body).into_owned();
            let n = {
                let mut calls = log.calls.lock().unwrap();
                calls.push((uri.path().to_owned(), json, raw));
                calls.len()
            };
            log.count.send_replace(n);
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                r#"{"ok":true,"result":{"message_id":77,"date":1700000000,"chat":{"id":4242,"type":"private"}}}"#,
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, api)
}

/// A clock the test moves by hand (sign-in sessions expire by it).
#[derive(Debug)]
pub struct TestClock(pub Mutex<chrono::DateTime<chrono::Utc>>);

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// The password of every test user: `pw-<user>`.
pub fn password_of(user: &str) -> String {
    format!("pw-{user}")
}

pub struct Running {
    pub base: String,
    pub webhook: String,
    pub server: Server,
    pub clock: Arc<TestClock>,
    pub http: reqwest::Client,
    /// Signed-in users: their cookie and CSRF token.
    signed_in: Mutex<BTreeMap<String, (String, String)>>,
    _dir: tempfile::TempDir,
}

/// The server with one line ("Support": olga and oleg operate, sam
/// supervises) fed by a Telegram bot whose Bot API is `api`.
pub async fn start(api: SocketAddr) -> Running {
    start_with_rule(api, r#"{ type = "first_come" }"#).await
}

/// [`start`] with the line's SLA targets `sla` (a TOML inline table).
pub async fn start_with_sla(api: SocketAddr, sla: &str) -> Running {
    start_with_rule(api, &format!("{{ type = \"first_come\" }}\nsla = {sla}")).await
}

/// [`start`] with the line's routing `rule` (TOML).
pub async fn start_with_rule(api: SocketAddr, rule: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut passwords = String::from("[auth.passwords]\n");
    for user in ["olga", "oleg", "sam"] {
        let hash = password::hash_with(&password_of(user), 8, 1).unwrap();
        passwords.push_str(&format!("{user} = {hash:?}\n"));
    }
    let toml = format!(
        r#"
admin = "root"
database = {db:?}
blobs = {blobs:?}
drain_interval_ms = 50
dispatch_poll_ms = 600000

[directory]
admins = ["root"]
[directory.groups]
support = ["olga", "oleg"]
leads = ["sam"]

[auth]
session_ttl_secs = {SESSION_TTL_SECS}
sign_in_per_minute_per_account = 1000
sign_in_per_minute_per_address = 1000
{passwords}

[[apps]]
id = "accounts"
name = "Account"
fields = [
  {{ id = "client", label = "Client", kind = "account" }},
  {{ id = "company", label = "Company", kind = "text" }},
]

[[apps]]
id = "orders"
name = "Order"
fields = [
  {{ id = "client", label = "Client", kind = "account" }},
  {{ id = "number", label = "Order number", kind = "text" }},
]

[[lines]]
name = "Support"
operators = "support"
supervisors = "leads"
account_app = "accounts"
request_apps = ["orders"]
rule = {rule}

[[sources]]
name = "bot"
display_name = "@acme_bot"
line = "Support"
connector = {{ kind = "telegram", bot_token_env = "TG_TOKEN", webhook_secret_env = "TG_SECRET", api_base = "http://{api}" }}
"#,
        db = dir.path().join("server.db").display().to_string(),
        blobs = dir.path().join("blobs").display().to_string(),
    );
    let config = ServerConfig::from_toml(&toml).unwrap();
    let secrets: BTreeMap<String, String> = [
        ("TG_TOKEN".to_owned(), TG_TOKEN.to_owned()),
        ("TG_SECRET".to_owned(), TG_SECRET.to_owned()),
    ]
    .into();
    let clock = Arc::new(TestClock(Mutex::new(chrono::Utc::now())));
    let store: Arc<dyn Store> = open_store(&config).await.unwrap();
    let (app, server) = build_app_with(&config, &secrets, store, clock.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    let webhook = format!("{base}{}", server.sources[0].path());
    Running {
        base,
        webhook,
        server,
        clock,
        http: reqwest::Client::new(),
        signed_in: Mutex::default(),
        _dir: dir,
    }
}

impl Running {
    /// A Telegram text message from chat `chat` through the webhook.
    pub async fn telegram(&self, update_id: i64, chat: i64, text: &str) {
        let update = json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": { "id": chat, "is_bot": false, "first_name": "Client" },
                "chat": { "id": chat, "type": "private", "first_name": "Client" },
                "date": 1_700_000_000,
                "text": text
            }
        });
        let status = self
            .http
            .post(&self.webhook)
            .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
            .json(&update)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    /// Moves the clock past the sign-in sessions' lifetime (they all
    /// expire).
    pub fn expire_sessions(&self) {
        let mut now = self.clock.0.lock().unwrap();
        *now += chrono::Duration::seconds(SESSION_TTL_SECS + 1);
        self.signed_in.lock().unwrap().clear();
    }

    /// `user`'s cookie and CSRF token (signing in on first use).
    pub async fn sign_in(&self, user: &str) -> (String, String) {
        if let Some(known) = self.signed_in.lock().unwrap().get(user) {
            return known.clone();
        }
        let r = self
            .http
            .post(format!("{}/api/auth/sign-in", self.base))
            .json(&json!({ "user": user, "password": password_of(user) }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        self.signed_in
            .lock()
            .unwrap()
            .insert(user.to_owned(), (cookie.clone(), csrf.clone()));
        (cookie, csrf)
    }

    /// `method path` as `user`; status and JSON.
    pub async fn call(
        &self,
        user: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let (cookie, csrf) = self.sign_in(user).await;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` as `user` with a JSON body; status and JSON.
    pub async fn post(&self, user: &str, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        self.call(user, reqwest::Method::POST, path, Some(body))
            .await
    }

    /// `GET path` as `user`, which must answer 200.
    pub async fn get(&self, user: &str, path: &str) -> Value {
        let (status, body) = self.call(user, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path} as {user}: {body}");
        body
    }

    /// The ids of the sessions offered to `user`.
    pub async fn offered(&self, user: &str) -> Vec<String> {
        ids(&self.get(user, "/api/sessions/offered").await)
    }
}

pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}
