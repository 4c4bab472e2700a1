//! Several server instances over one database serve as one: sign-in
//! sessions live in the database (a cookie from one instance works on
//! the others, a sign-out on one applies on all, a restart keeps them),
//! and a web chat visitor connected to one instance sees a reply written
//! through another.
//!
//! Each instance opens its own store and connections, as a separate
//! process would. PostgreSQL tests read `CHATLINES_PG_URL` (skipped
//! without it unless `CHATLINES_REQUIRE_PG` is set).

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chatlines_core::{Clock, Store};
use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app_with, open_store, Server, ServerConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Waiting longer than this for the server is a failure.
const PATIENCE: Duration = Duration::from_secs(60);

const WIDGET_SECRET: &str = "widget-secret-shared";
const SESSION_TTL_SECS: i64 = 3600;

/// A clock the test moves by hand.
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

/// One server instance.
struct Node {
    base: String,
    server: Server,
    clock: Arc<TestClock>,
    http: reqwest::Client,
    stop: oneshot::Sender<()>,
}

/// The configuration of every instance: `database` is the `database`
/// line and any `[postgres]` table, the rest is shared (one line with
/// olga and oleg, a web chat widget).
fn config(database: &(String, String), dir: &std::path::Path) -> ServerConfig {
    let (database, tables) = database;
    let hash = password::hash_with("pw", 8, 1).unwrap();
    let toml = format!(
        r#"
admin = "root"
{database}
blobs = {blobs:?}
drain_interval_ms = 50
dispatch_poll_ms = 600000

[directory]
admins = ["root"]
[directory.groups]
support = ["olga", "oleg"]

[[lines]]
name = "Support"
operators = "support"

[[sources]]
name = "shop-widget"
display_name = "Shop widget"
line = "Support"
connector = {{ kind = "webchat", secret_env = "WIDGET_SECRET" }}

[auth]
session_ttl_secs = {SESSION_TTL_SECS}
[auth.passwords]
olga = {hash:?}
oleg = {hash:?}
{tables}
"#,
        blobs = dir.join("blobs").display().to_string(),
    );
    ServerConfig::from_toml(&toml).unwrap()
}

/// Starts an instance over `config` with its own store and clock.
async fn start(config: &ServerConfig) -> Node {
    let secrets: BTreeMap<String, String> =
        [("WIDGET_SECRET".to_owned(), WIDGET_SECRET.to_owned())].into();
    let clock = Arc::new(TestClock(Mutex::new(chrono::Utc::now())));
    let store: Arc<dyn Store> = open_store(config).await.unwrap();
    let (app, server) = build_app_with(config, &secrets, store, clock.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Node {
        base,
        server,
        clock,
        http: reqwest::Client::new(),
        stop,
    }
}

impl Node {
    /// Signs `user` in: the cookie (`name=value`) and the sign-in answer.
    async fn sign_in(&self, user: &str) -> (String, Value) {
        let r = self
            .http
            .post(format!("{}/api/auth/sign-in", self.base))
            .json(&json!({"user": user, "password": "pw"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        (cookie, r.json().await.unwrap())
    }

    /// `GET path` with `headers`: the status and the JSON body (or null).
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with `headers` and a JSON body: the status and body.
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.shutdown().await;
    }
}

/// The PostgreSQL URL, or `None` when the test is skipped.
fn pg_url() -> Option<String> {
    let url = std::env::var("CHATLINES_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    if url.is_none() {
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
    }
    url
}

/// The `database` line and `[postgres]` table of a fresh schema (the
/// store tests' sweeper drops `chatlines_test_*` schemas later).
fn pg_database(url: &str) -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "chatlines_test_{secs}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    (
        format!("database = {url:?}"),
        format!("[postgres]\nschema = {schema:?}\npool_size = 4\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_on_one_postgres_instance_holds_on_the_other_until_signed_out_there() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = config(&pg_database(&url), dir.path());
    let a = start(&config).await;
    let b = start(&config).await;

    let (cookie, signed_in) = a.sign_in("olga").await;
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    // B knows the session A opened: the same user, CSRF token and expiry.
    let (status, me) = b.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &me["signed_in"],
            &me["user"],
            &me["csrf_token"],
            &me["expires_at"]
        ),
        (
            &json!(true),
            &json!("olga"),
            &json!(csrf),
            &signed_in["expires_at"]
        )
    );
    let (status, _) = b.get("/api/sessions/offered", &[("cookie", &cookie)]).await;
    assert_eq!(status, 200);
    // The CSRF check holds on B: without the token a change is refused.
    let (status, body) = b
        .post("/api/auth/sign-out", &[("cookie", &cookie)], json!({}))
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("csrf")));

    // Sign out on B: A refuses the cookie from now on.
    let (status, _) = b
        .post(
            "/api/auth/sign-out",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = a.get("/api/sessions/offered", &[("cookie", &cookie)]).await;
    assert_eq!(status, 401);
    let (_, me) = a.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me["signed_in"], false);

    // Sign-out everywhere on A ends oleg's sessions opened on B.
    let (first, _) = b.sign_in("oleg").await;
    let (second, answer) = b.sign_in("oleg").await;
    let (olga, _) = b.sign_in("olga").await;
    let second_csrf = answer["csrf_token"].as_str().unwrap().to_owned();
    let (status, _) = a
        .post(
            "/api/auth/sign-out?everywhere=true",
            &[("cookie", &second), ("x-csrf-token", &second_csrf)],
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    for cookie in [&first, &second] {
        assert_eq!(
            b.get("/api/sessions/offered", &[("cookie", cookie)])
                .await
                .0,
            401
        );
    }
    assert_eq!(
        b.get("/api/sessions/offered", &[("cookie", &olga)]).await.0,
        200,
        "another user's session is untouched"
    );

    // Expiry is the stored expiry read by each instance's clock: past it
    // on A, the session is refused there.
    let past_expiry = b.clock.now() + chrono::Duration::seconds(SESSION_TTL_SECS + 1);
    *a.clock.0.lock().unwrap() = past_expiry;
    assert_eq!(
        a.get("/api/sessions/offered", &[("cookie", &olga)]).await.0,
        401
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sessions_survive_a_restart_on_sqlite_and_only_their_digest_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let database = (
        format!("database = {:?}", db.display().to_string()),
        String::new(),
    );
    let config = config(&database, dir.path());
    let first = start(&config).await;
    let (cookie, signed_in) = first.sign_in("olga").await;
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    first.stop().await;

    let again = start(&config).await;
    let (status, me) = again.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&me["signed_in"], &me["user"], &me["csrf_token"]),
        (&json!(true), &json!("olga"), &json!(csrf))
    );

    // The table holds the cookie secret's SHA-256, never the secret.
    let secret = cookie.split_once('=').unwrap().1.to_owned();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT digest, user_id FROM server_sign_ins")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(password::token_digest(&secret), "olga".to_owned())]);
    assert_ne!(rows[0].0, secret);

    // Signed out after the restart, the session is gone for good.
    let (status, _) = again
        .post(
            "/api/auth/sign-out",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    again.stop().await;
    let last = start(&config).await;
    let (_, me) = last.get("/api/auth/me", &[("cookie", &cookie)]).await;
    assert_eq!(me["signed_in"], false);
    last.stop().await;
}

/// Reads a Server-Sent Events response until an event of `kind` whose
/// data contains `needle`; fails after [`PATIENCE`].
async fn sse_until(response: &mut reqwest::Response, seen: &mut String, kind: &str, needle: &str) {
    let found = |seen: &str| {
        seen.split("\n\n").any(|event| {
            event.lines().any(|l| l == format!("event: {kind}"))
                && event
                    .lines()
                    .any(|l| l.starts_with("data:") && l.contains(needle))
        })
    };
    tokio::time::timeout(PATIENCE, async {
        while !found(seen) {
            let chunk = response.chunk().await.unwrap().expect("the stream ended");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("no {kind} event with {needle:?} arrived; the stream said:\n{seen}")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_written_through_one_postgres_instance_reaches_a_visitor_streaming_from_the_other()
{
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = config(&pg_database(&url), dir.path());
    let a = start(&config).await;
    let b = start(&config).await;
    let source = a.server.sources[0].id;
    assert_eq!(
        b.server.sources[0].id, source,
        "one widget source, found again"
    );
    let widget = format!("/webchat/{source}");

    // The visitor starts, writes and listens on A.
    let (status, started) = a.post(&format!("{widget}/visitor"), &[], json!({})).await;
    assert_eq!(status, 200);
    let token = started["token"].as_str().unwrap().to_owned();
    let (status, _) = a
        .post(
            &format!("{widget}/messages"),
            &[("x-webchat-token", &token)],
            json!({"id": "m-1", "text": "Is anyone there?"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut stream = a
        .http
        .get(format!("{}{widget}/events?token={token}", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    sse_until(&mut stream, &mut seen, "ready", "").await;

    // The operator works on B: takes the session and answers there; B's
    // dispatcher delivers the reply.
    let (cookie, signed_in) = b.sign_in("olga").await;
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    let headers = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let (_, offered) = b.get("/api/sessions/offered", &headers).await;
    let id = offered["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = b
        .post(&format!("/api/sessions/{id}/take"), &headers, json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = b
        .post(
            &format!("/api/sessions/{id}/reply"),
            &headers,
            json!({"text": "Yes, Olga here."}),
        )
        .await;
    assert_eq!(status, 200);

    // The visitor's stream on A shows it: A woke from the shared log.
    sse_until(&mut stream, &mut seen, "message", "Yes, Olga here.").await;
    drop(stream);
    a.stop().await;
    b.stop().await;
}
