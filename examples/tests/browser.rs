//! The operator console in a real headless Chromium (Debian's package,
//! driven by the `playwright-core` scenarios in `examples/browser/`),
//! against the example server on 127.0.0.1 with a local mock of the
//! Telegram Bot API.
//!
//! Each test starts the server in-process, runs `node
//! examples/browser/<scenario>.mjs` with its inputs in the environment,
//! answers the scenario's requests (lines `@@ what` on its stdout, e.g.
//! moving the server's clock), asserts its exit status, then asserts on
//! the server's and the mock's state. Without `/usr/bin/chromium` or
//! `examples/browser/node_modules` a test prints `skipped: …` and passes,
//! unless `CHATLINES_REQUIRE_BROWSER=1`.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]
// The scenarios' output and the skip notice go to the test's output.
#![allow(clippy::print_stdout)]

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
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

const TG_TOKEN: &str = "123456:BROWSER-token";
const TG_SECRET: &str = "tg-browser-secret";
/// Sign-in sessions last this long (the refusal scenario expires them).
const SESSION_TTL_SECS: i64 = 3600;
/// A scenario that takes longer has hung.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

/// Where the scenarios are.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether the browser tests can run here; `false` (after printing
/// `skipped: …`) when they cannot and are not required.
fn browser_available() -> bool {
    let chromium = Path::new("/usr/bin/chromium");
    let modules = browser_dir().join("node_modules").join("playwright-core");
    let missing = if !chromium.exists() {
        Some("/usr/bin/chromium is missing (apt-get install chromium)".to_owned())
    } else if !modules.exists() {
        Some(format!(
            "{} is missing (npm ci --prefix examples/browser)",
            modules.display()
        ))
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("CHATLINES_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("CHATLINES_REQUIRE_BROWSER=1 but {why}")
        }
        Some(why) => {
            println!("skipped: {why}");
            false
        }
    }
}

/// What the mock Bot API received: (path, JSON body) per request; the
/// watch counts them.
#[derive(Clone)]
struct BotApi {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    count: watch::Sender<usize>,
}

impl BotApi {
    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came.
    async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let mut count = self.count.subscribe();
        tokio::time::timeout(SCENARIO_LIMIT, count.wait_for(|c| *c >= n))
            .await
            .expect("the Bot API mock did not receive the expected requests")
            .unwrap();
        self.calls()
    }
}

/// A local Telegram Bot API: answers every method with a sent message, as
/// the documented API does for `sendMessage`.
async fn mock_bot_api() -> (SocketAddr, BotApi) {
    let api = BotApi {
        calls: Arc::default(),
        count: watch::channel(0).0,
    };
    let log = api.clone();
    let app = Router::new().fallback(post(move |uri: Uri, body: Bytes| {
        let log = log.clone();
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let n = {
                let mut calls = log.calls.lock().unwrap();
                calls.push((uri.path().to_owned(), body));
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
struct TestClock(Mutex<chrono::DateTime<chrono::Utc>>);

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

struct Running {
    base: String,
    webhook: String,
    server: Server,
    clock: Arc<TestClock>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The server with one line ("Support": olga and oleg operate, sam
/// supervises) fed by a Telegram bot whose Bot API is `api`.
async fn start(api: SocketAddr) -> Running {
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
{passwords}

[[lines]]
name = "Support"
operators = "support"
supervisors = "leads"

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
        _dir: dir,
    }
}

impl Running {
    /// A Telegram text message from chat `chat` through the webhook.
    async fn telegram(&self, update_id: i64, chat: i64, text: &str) {
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

    /// `user`'s cookie and CSRF token.
    async fn sign_in(&self, user: &str) -> (String, String) {
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
        (cookie, body["csrf_token"].as_str().unwrap().to_owned())
    }

    /// `method path` as `user` (signing in afresh); status and JSON.
    async fn call(
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

    async fn get(&self, user: &str, path: &str) -> Value {
        let (status, body) = self.call(user, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path} as {user}: {body}");
        body
    }

    /// The ids of the sessions offered to `user`.
    async fn offered(&self, user: &str) -> Vec<String> {
        ids(&self.get(user, "/api/sessions/offered").await)
    }

    /// Runs `examples/browser/<name>.mjs` with `env`, answering its
    /// requests; fails the test unless it exits 0.
    async fn scenario(&self, name: &str, env: &[(&str, &str)]) {
        let mut child = tokio::process::Command::new("node")
            .arg(browser_dir().join(format!("{name}.mjs")))
            .env("CHATLINES_BASE", &self.base)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot run node");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let run = async {
            let mut printed = Vec::new();
            while let Some(line) = stdout.next_line().await.unwrap() {
                match line.strip_prefix("@@ ") {
                    Some(what) => {
                        let answer = self.answer(what);
                        stdin
                            .write_all(format!("{answer}\n").as_bytes())
                            .await
                            .unwrap();
                    }
                    None => printed.push(line),
                }
            }
            let mut errors = String::new();
            stderr.read_to_string(&mut errors).await.unwrap();
            (child.wait().await.unwrap(), printed, errors)
        };
        let (status, printed, errors) = tokio::time::timeout(SCENARIO_LIMIT, run)
            .await
            .unwrap_or_else(|_| panic!("scenario {name} did not finish"));
        for line in &printed {
            println!("{line}");
        }
        assert!(
            status.success(),
            "scenario {name} failed ({status}):\n{}\n{errors}",
            printed.join("\n")
        );
    }

    /// Does what a scenario asked for.
    fn answer(&self, what: &str) -> &'static str {
        match what {
            "expire-sessions" => {
                let mut now = self.clock.0.lock().unwrap();
                *now += chrono::Duration::seconds(SESSION_TTL_SECS + 1);
                "ok"
            }
            other => panic!("a scenario asked for {other:?}"),
        }
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_telegram_session_arrive_live_takes_it_and_replies() {
    if !browser_available() {
        return;
    }
    let (api, bot) = mock_bot_api().await;
    let s = start(api).await;
    let olga = password_of("olga");
    s.scenario(
        "take-and-reply",
        &[
            ("CHATLINES_USER", "olga"),
            ("CHATLINES_PASSWORD", &olga),
            ("CHATLINES_WEBHOOK", &s.webhook),
            ("CHATLINES_TG_SECRET", TG_SECRET),
            ("CHATLINES_CLIENT_TEXT", "Hello, my order is late"),
            ("CHATLINES_REPLY_TEXT", "Sorry! It ships today."),
        ],
    )
    .await;

    let calls = bot.wait_for(1).await;
    assert_eq!(calls[0].0, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(calls[0].1["text"], json!("Sorry! It ships today."));
    assert_eq!(calls[0].1["chat_id"].to_string().trim_matches('"'), "4242");
    let mine = s.get("olga", "/api/sessions/assigned").await;
    assert_eq!(ids(&mine).len(), 1, "{mine}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_take_the_same_session_one_wins_the_other_sees_already_taken() {
    if !browser_available() {
        return;
    }
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    s.telegram(1, 501, "anyone there?").await;
    let offered = s.offered("olga").await;
    assert_eq!(offered.len(), 1);
    let (olga, oleg) = (password_of("olga"), password_of("oleg"));
    s.scenario(
        "take-race",
        &[
            ("CHATLINES_USER_A", "olga"),
            ("CHATLINES_PASSWORD_A", &olga),
            ("CHATLINES_USER_B", "oleg"),
            ("CHATLINES_PASSWORD_B", &oleg),
            ("CHATLINES_SESSION", &offered[0]),
        ],
    )
    .await;

    // Exactly one of them holds it.
    let held: Vec<usize> = [
        ids(&s.get("olga", "/api/sessions/assigned").await).len(),
        ids(&s.get("oleg", "/api/sessions/assigned").await).len(),
    ]
    .into();
    assert_eq!(held.iter().sum::<usize>(), 1, "{held:?}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_missing_csrf_another_operators_session_and_expiry_are_refused() {
    if !browser_available() {
        return;
    }
    let (api, bot) = mock_bot_api().await;
    let s = start(api).await;
    s.telegram(1, 601, "first client").await;
    s.telegram(2, 602, "second client").await;
    let offered = s.offered("olga").await;
    assert_eq!(offered.len(), 2);
    // oleg takes the second one.
    let others = offered[1].clone();
    let (status, body) = s
        .call(
            "oleg",
            reqwest::Method::POST,
            &format!("/api/sessions/{others}/take"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = s
        .get("oleg", &format!("/api/sessions/{others}/messages"))
        .await;

    let olga = password_of("olga");
    s.scenario(
        "refusals",
        &[
            ("CHATLINES_USER", "olga"),
            ("CHATLINES_PASSWORD", &olga),
            ("CHATLINES_OFFERED", &offered[0]),
            ("CHATLINES_OTHERS", &others),
        ],
    )
    .await;

    // Nothing changed: the first is still offered, the second still
    // oleg's with the same history, and nothing went to the client.
    assert_eq!(s.offered("oleg").await, vec![offered[0].clone()]);
    let session = s.get("oleg", &format!("/api/sessions/{others}")).await;
    assert_eq!(
        session["status"],
        json!({"state": "assigned", "operator": "oleg"})
    );
    let after = s
        .get("oleg", &format!("/api/sessions/{others}/messages"))
        .await;
    assert_eq!(after, before);
    assert!(bot.calls().is_empty(), "{:?}", bot.calls());
    s.server.shutdown().await;
}
