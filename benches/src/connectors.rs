//! Scenarios over the connectors and the example server: `dispatch`,
//! `dispatch_hostile`, `webhook_e2e`. Everything talks real HTTP on
//! 127.0.0.1.

use crate::report::{Measured, Outcome, Scenario};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use chatlines_connectors::dispatcher::{
    Backoff, Dispatcher, DispatcherConfig, DispatcherHealth, RateLimits,
};
use chatlines_connectors::generic::{GenericConfig, GenericWebhook};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::signing::{signature_header, SigningKey};
use chatlines_connectors::Messengers;
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Body, ContactKey, Cursor, Hub, InboundMessage, LineConfig, NewSource, SourceId, Store, UserId,
};
use chatlines_examples::{build_app_with_store, open_store, ServerConfig};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "dispatch",
            run: || Box::pin(dispatch()),
        },
        Scenario {
            name: "dispatch_hostile",
            run: || Box::pin(dispatch_hostile()),
        },
        Scenario {
            name: "webhook_e2e",
            run: || Box::pin(webhook_e2e()),
        },
    ]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

const SECRET: &str = "bench-signing-secret";

async fn serve(app: Router) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    // As the example server's own accept loop does (`http::serve`): a
    // response is not held back waiting for the client's acknowledgement.
    // (Without it the connection still works, only slower.)
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A remote API that answers 200 at once and counts requests.
async fn mock_api() -> Result<(SocketAddr, Arc<AtomicUsize>), String> {
    let count = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/out",
            post(
                |State(n): State<Arc<AtomicUsize>>, _body: Bytes| async move {
                    n.fetch_add(1, Ordering::Relaxed);
                    (StatusCode::OK, r#"{"id":"remote"}"#)
                },
            ),
        )
        .with_state(count.clone());
    Ok((serve(app).await?, count))
}

/// Creates `per_client` pending replies (outbox entries) for each of the
/// clients `range`, each client in its own session (its own chat).
async fn pending_replies(
    hub: &Hub,
    source: SourceId,
    op: &UserId,
    range: std::ops::Range<usize>,
    per_client: usize,
) -> Result<(), String> {
    for i in range {
        let user = format!("client-{i}");
        let posted = hub
            .ingest(
                source,
                InboundMessage::text(format!("in-{i}"), user.as_str(), user.as_str(), "hello"),
            )
            .await
            .map_err(err)?;
        hub.take(op, posted.session.id).await.map_err(err)?;
        for k in 0..per_client {
            hub.reply(op, posted.session.id, Body::text(reply_text(i, k)))
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

fn reply_text(i: usize, k: usize) -> String {
    format!("reply number {k} to client {i}")
}

/// Runs the dispatcher's background worker until it has finished `n` more
/// entries (sent or failed); returns the seconds it took.
async fn deliver_all(dispatcher: &Dispatcher, n: u64) -> Result<f64, String> {
    let mut health = dispatcher.health();
    let done = |h: &DispatcherHealth| h.sent + h.failed;
    let start = done(&health.borrow());
    let started = Instant::now();
    let handle = dispatcher.clone().spawn();
    // Polled rather than awaited on every change: a waiter woken by each
    // delivery would cost the worker a task switch per entry.
    let waited = tokio::time::timeout(std::time::Duration::from_secs(600), async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
        loop {
            tick.tick().await;
            if done(&health.borrow_and_update()) >= start + n {
                return true;
            }
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    handle.shutdown().await;
    match waited {
        Ok(true) => Ok(secs),
        _ => Err(format!(
            "the dispatcher did not finish {n} entries: {:?}",
            *health.borrow()
        )),
    }
}

/// POSTs the bodies raw with `concurrency` in flight; returns seconds.
/// `signed`: each also carries the headers the generic connector sends
/// (timestamp, HMAC signature of the body, idempotency key), signed as it
/// goes.
async fn raw_posts(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
    signed: bool,
) -> Result<f64, String> {
    let failures = AtomicUsize::new(0);
    let key = SigningKey::new(SECRET.as_bytes());
    let started = Instant::now();
    futures::stream::iter(bodies)
        .for_each_concurrent(concurrency, |body| {
            let (failures, key) = (&failures, &key);
            async move {
                let mut request = client.post(url).header("content-type", "application/json");
                if signed {
                    let ts = chrono_now();
                    let signature = key.signature_header(&[ts.as_bytes(), b".", &body]);
                    request = request
                        .header("x-chatlines-timestamp", ts)
                        .header("x-chatlines-signature", signature)
                        .header("idempotency-key", uuid::Uuid::new_v4().to_string());
                }
                let ok = request
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    let secs = started.elapsed().as_secs_f64();
    if failures.load(Ordering::Relaxed) > 0 {
        return Err("dispatch baseline: some POSTs failed".to_owned());
    }
    Ok(secs)
}

/// The bodies the generic connector sends for clients `range`.
fn raw_bodies(source: SourceId, range: std::ops::Range<usize>, per_client: usize) -> Vec<Vec<u8>> {
    range
        .flat_map(|i| (0..per_client).map(move |k| (i, k)))
        .map(|(i, k)| {
            serde_json::to_vec(&serde_json::json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "source": source.to_string(),
                "to": format!("client-{i}"),
                "text": reply_text(i, k),
                "attachments": [],
            }))
            .unwrap_or_default()
        })
        .collect()
}

/// A hub with one line and a generic-webhook source sending to `url`.
async fn bench_hub(
    url: &str,
    http: Option<HttpConfig>,
) -> Result<(Hub, Arc<MemoryStore>, SourceId, Messengers), String> {
    let store = Arc::new(MemoryStore::new());
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_to_group("ops", "op");
    let hub = Hub::builder(
        store.clone(),
        directory,
        Arc::new(MemoryApps::new()),
        Arc::new(RuleRouter::new()),
    )
    .build();
    let root = UserId::from("root");
    let line = hub
        .create_line(&root, LineConfig::new("bench").operators("ops"))
        .await
        .map_err(err)?;
    let source = hub
        .bind_source(&root, line.id, NewSource::new("webhook", "bench", "bench"))
        .await
        .map_err(err)?
        .id;
    let mut config = GenericConfig::new(SECRET, url);
    if let Some(http) = http {
        config = config.with_http(http);
    }
    let connector = GenericWebhook::new(config).map_err(err)?;
    let messengers = Messengers::new();
    messengers.insert(source, Arc::new(connector));
    Ok((hub, store, source, messengers))
}

/// `dispatch`: pending outbox entries delivered per second by the
/// connectors' `Dispatcher` worker (generic webhook connector, rate limits
/// off, per-chat order on: 5 replies per chat, each sent only after the
/// one before) into a local mock answering 200, vs raw `reqwest` POSTs of
/// the same bodies to the same mock with the same concurrency. Both are
/// warmed up, then measured in alternating rounds.
///
/// `dispatch/vs_signed_posts` sets ours against raw POSTs that also carry
/// the generic webhook protocol's headers (timestamp, signature computed
/// per request, idempotency key): what the protocol itself costs on the
/// wire is then on both sides.
async fn dispatch() -> Outcome {
    const PER_CHAT: usize = 5;
    const WARM: usize = 200;
    const CHATS: usize = 2_000;
    const ROUNDS: usize = 3;
    const CONCURRENCY: usize = 16;
    let (addr, count) = mock_api().await?;
    let url = format!("http://{addr}/out");
    let (hub, store, source, messengers) = bench_hub(&url, None).await?;
    let op = UserId::from("op");
    let config = DispatcherConfig::default()
        .with_limits(RateLimits::off())
        .with_batch(256)
        .with_concurrency(CONCURRENCY);
    let store_dyn: Arc<dyn Store> = store;
    let dispatcher = Dispatcher::builder(store_dyn, messengers)
        .config(config)
        .build();
    let client = reqwest::Client::new();

    // Warm-up.
    pending_replies(&hub, source, &op, 0..WARM, PER_CHAT).await?;
    deliver_all(&dispatcher, (WARM * PER_CHAT) as u64).await?;
    for signed in [false, true] {
        raw_posts(
            &client,
            &url,
            raw_bodies(source, 0..WARM, PER_CHAT),
            CONCURRENCY,
            signed,
        )
        .await?;
    }

    let n = CHATS * PER_CHAT;
    let (mut ours_secs, mut base_secs, mut signed_secs) = (0.0, 0.0, 0.0);
    for round in 0..ROUNDS {
        let range = WARM + round * CHATS..WARM + (round + 1) * CHATS;
        pending_replies(&hub, source, &op, range.clone(), PER_CHAT).await?;
        let before = count.load(Ordering::Relaxed);
        let secs = deliver_all(&dispatcher, n as u64).await?;
        let delivered = count.load(Ordering::Relaxed) - before;
        if delivered != n {
            return Err(format!("dispatch: mock received {delivered}, expected {n}"));
        }
        ours_secs += secs;
        base_secs += raw_posts(
            &client,
            &url,
            raw_bodies(source, range.clone(), PER_CHAT),
            CONCURRENCY,
            false,
        )
        .await?;
        signed_secs += raw_posts(
            &client,
            &url,
            raw_bodies(source, range, PER_CHAT),
            CONCURRENCY,
            true,
        )
        .await?;
    }
    let total = (n * ROUNDS) as f64;
    Ok(vec![
        Measured::throughput("dispatch", total / ours_secs, total / base_secs, "msg/s"),
        Measured::throughput(
            "dispatch/vs_signed_posts",
            total / ours_secs,
            total / signed_secs,
            "msg/s",
        ),
    ])
}

/// What the hostile mock took, in arrival order: (chat, reply text, id).
type Taken = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A pseudo-random number in `0..100` for request `i` (splitmix64).
fn roll(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 100
}

/// A receiver that answers at random: 10 % 429 (`Retry-After: 0`), 10 %
/// 5xx, 5 % too slow for the client (it took the message; the answer is
/// lost), the rest 200.
async fn hostile_api(slow: std::time::Duration) -> Result<(SocketAddr, Taken), String> {
    #[derive(Clone)]
    struct Hostile {
        taken: Taken,
        requests: Arc<AtomicUsize>,
    }
    let state = Hostile {
        taken: Arc::default(),
        requests: Arc::default(),
    };
    let taken = state.taken.clone();
    let app = Router::new()
        .route(
            "/out",
            post(move |State(h): State<Hostile>, body: Bytes| async move {
                let i = h.requests.fetch_add(1, Ordering::Relaxed) as u64;
                let r = roll(i);
                if r < 10 {
                    return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "{}");
                }
                if r < 20 {
                    return (StatusCode::BAD_GATEWAY, [("retry-after", "")], "{}");
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                if let Ok(mut t) = h.taken.lock() {
                    t.push((field("to"), field("text"), field("id")));
                }
                if r < 25 {
                    tokio::time::sleep(slow).await;
                }
                (StatusCode::OK, [("retry-after", "")], "{}")
            }),
        )
        .with_state(state);
    Ok((serve(app).await?, taken))
}

/// `dispatch_hostile`: 20 chats x 10 replies through the generic webhook
/// connector into a receiver answering at random with 429, 5xx and
/// answers lost to the client's timeout; two dispatchers share the store.
/// Reports what arrived: `delivered` (distinct replies taken; goal: all),
/// `duplicated` (taken again after a lost answer; possible, counted),
/// `swapped` (adjacent replies of one chat taken out of order; goal 0) and
/// `stuck` (entries not sent at the end; goal 0), each against its goal.
async fn dispatch_hostile() -> Outcome {
    const CHATS: usize = 20;
    const PER_CHAT: usize = 10;
    let (addr, taken) = hostile_api(std::time::Duration::from_millis(300)).await?;
    let url = format!("http://{addr}/out");
    let http = HttpConfig::default().with_timeout(std::time::Duration::from_millis(100));
    let (hub, store, source, messengers) = bench_hub(&url, Some(http)).await?;
    let op = UserId::from("op");
    pending_replies(&hub, source, &op, 0..CHATS, PER_CHAT).await?;
    let config = DispatcherConfig::default()
        .with_limits(RateLimits::off())
        .with_backoff(Backoff::new(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(50),
        ))
        .with_poll_interval(std::time::Duration::from_millis(5))
        .with_max_attempts(30)
        .with_concurrency(8);
    let store_dyn: Arc<dyn Store> = store.clone();
    let build = || {
        Dispatcher::builder(store_dyn.clone(), messengers.clone())
            .config(config.clone())
            .build()
    };
    let (one, two) = (build(), build());
    let total = (CHATS * PER_CHAT) as u64;
    let (mut h1, mut h2) = (one.health(), two.health());
    let started = Instant::now();
    let (a, b) = (one.spawn(), two.spawn());
    let finished = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            let done = {
                let (x, y) = (h1.borrow_and_update(), h2.borrow_and_update());
                x.sent + x.failed + y.sent + y.failed
            };
            if done >= total {
                return;
            }
            tokio::select! {
                _ = h1.changed() => {}
                _ = h2.changed() => {}
            }
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    a.shutdown().await;
    b.shutdown().await;
    let sent = h1.borrow().sent + h2.borrow().sent;
    let stuck = total.saturating_sub(sent);
    if finished.is_err() {
        eprintln!("dispatch_hostile: timed out after {secs:.1} s with {stuck} entries not sent");
    }

    let taken = taken.lock().map(|t| t.clone()).unwrap_or_default();
    let mut per_chat: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut duplicated = 0usize;
    for (to, text, id) in &taken {
        if !ids.insert(id.clone()) {
            duplicated += 1;
        }
        let k = text
            .strip_prefix("reply number ")
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        per_chat.entry(to.clone()).or_default().push(k);
    }
    let swapped: usize = per_chat
        .values()
        .map(|seq| seq.windows(2).filter(|p| p[1] < p[0]).count())
        .sum();
    let delivered = ids.len();
    eprintln!(
        "dispatch_hostile: {} requests taken in {secs:.2} s; delivered={delivered} duplicated={duplicated} swapped={swapped} stuck={stuck}",
        taken.len()
    );
    Ok(vec![
        Measured::throughput(
            "dispatch_hostile/delivered",
            delivered as f64,
            total as f64,
            "msgs",
        ),
        Measured::count("dispatch_hostile/duplicated", duplicated as f64, "msgs"),
        Measured::count("dispatch_hostile/swapped", swapped as f64, "pairs"),
        Measured::count("dispatch_hostile/stuck", stuck as f64, "msgs"),
    ])
}

/// Signed generic-webhook requests: (timestamp, signature, body).
fn signed_requests(prefix: &str, n: usize, users: usize) -> Vec<(String, String, Vec<u8>)> {
    let ts = chrono_now();
    (0..n)
        .map(|i| {
            let body = serde_json::to_vec(&serde_json::json!({
                "messages": [{
                    "id": format!("{prefix}-{i}"),
                    "user": format!("user-{}", i % users),
                    "text": format!("message {i}: my order has not arrived yet"),
                }]
            }))
            .unwrap_or_default();
            let sig = signature_header(SECRET.as_bytes(), &[ts.as_bytes(), b".", &body]);
            (ts.clone(), sig, body)
        })
        .collect()
}

fn chrono_now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string()
}

/// Sends the requests over `concurrency` kept-alive HTTP/1.1 connections,
/// one request in flight on each; returns req/s.
///
/// The load generator is a lean HTTP/1.1 client (requests serialized
/// before the clock starts, responses read by status line and
/// `content-length`), as `wrk` is: the bench shares two cores with the
/// server it measures, and a general-purpose client would spend them on
/// itself.
async fn load(
    url: &str,
    requests: Vec<(String, String, Vec<u8>)>,
    concurrency: usize,
) -> Result<f64, String> {
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_at(rest.find('/').ok_or("no path")?);
    let n = requests.len();
    let wire: Arc<Vec<Vec<u8>>> = Arc::new(
        requests
            .into_iter()
            .map(|(ts, sig, body)| {
                let mut r = format!(
                    "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
                     x-chatlines-timestamp: {ts}\r\nx-chatlines-signature: {sig}\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                r
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let connections: Vec<_> = (0..concurrency)
        .map(|_| {
            let (wire, next, host) = (wire.clone(), next.clone(), host.to_owned());
            tokio::spawn(async move { send_on_one_connection(&host, &wire, &next).await })
        })
        .collect();
    for c in connections {
        c.await.map_err(err)??;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(n as f64 / secs)
}

/// Sends the next unsent request of `wire` on one connection until none is
/// left; fails on any answer but 200.
async fn send_on_one_connection(
    host: &str,
    wire: &[Vec<u8>],
    next: &AtomicUsize,
) -> Result<(), String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(host).await.map_err(err)?;
    stream.set_nodelay(true).map_err(err)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = wire.get(i) else {
            return Ok(());
        };
        write.write_all(request).await.map_err(err)?;
        line.clear();
        read.read_line(&mut line).await.map_err(err)?;
        if !line.starts_with("HTTP/1.1 200") {
            return Err(format!("webhook {i} was answered {}", line.trim_end()));
        }
        let mut length = 0usize;
        loop {
            line.clear();
            read.read_line(&mut line).await.map_err(err)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(err)?;
                }
            }
        }
        body.resize(length, 0);
        read.read_exact(&mut body).await.map_err(err)?;
    }
}

/// Calls [`Hub::ingest`] directly for `n` messages shaped as the signed
/// webhooks carry them, from `concurrency` producer tasks (as the server
/// runs each connection in a task of its own); returns messages/s.
async fn ingest_direct(
    hub: &Hub,
    source: SourceId,
    prefix: &str,
    n: usize,
    users: usize,
    concurrency: usize,
) -> Result<f64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let producers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (hub, next, failed, prefix) =
                (hub.clone(), next.clone(), failed.clone(), prefix.to_owned());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let user = format!("user-{}", i % users);
                    let message = InboundMessage::text(
                        format!("{prefix}-{i}"),
                        user.as_str(),
                        user.as_str(),
                        format!("message {i}: my order has not arrived yet"),
                    );
                    if hub.ingest(source, message).await.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.await.map_err(err)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} of {n} direct ingests failed"));
    }
    Ok(n as f64 / secs)
}

/// `webhook_e2e`: signed webhooks per second accepted (stored in SQLite,
/// routed) by the example server's app over HTTP, vs the baseline of
/// [`Hub::ingest`] called directly on the same hub and SQLite store with the
/// same concurrency (what the HTTP route, the signature check and the
/// parsing cost on top of storing). Each side runs four times on a quarter
/// of the messages, in the order direct, HTTP, HTTP, direct, direct, HTTP,
/// HTTP, direct.
async fn webhook_e2e() -> Outcome {
    const N: usize = 32_000;
    const USERS: usize = 1_000;
    const CONCURRENCY: usize = 64;
    let dir = tempfile::tempdir().map_err(err)?;
    let db = dir.path().join("webhook_e2e.db");
    let config = ServerConfig::from_toml(&format!(
        r#"
admin = "root"
database = {db:?}
drain_interval_ms = 60000
[directory]
admins = ["root"]
[directory.groups]
support = ["olga", "oleg", "olaf"]
[[lines]]
name = "Support"
operators = "support"
[[sources]]
name = "crm"
display_name = "CRM"
line = "Support"
connector = {{ kind = "webhook", signing_secret_env = "BENCH_SECRET", outbound_url = "http://127.0.0.1:9/unused" }}
"#,
        db = db.display().to_string()
    ))
    .map_err(err)?;
    let secrets: BTreeMap<String, String> = [("BENCH_SECRET".to_owned(), SECRET.to_owned())].into();
    // The bench keeps its own handle on the store to count what was stored
    // (the hub hands out none).
    let store = open_store(&config).await.map_err(err)?;
    let (app, server) = build_app_with_store(&config, &secrets, store.clone())
        .await
        .map_err(err)?;
    let path = server
        .sources
        .first()
        .map(|s| s.path())
        .ok_or("no source bound")?;
    let ours_addr = serve(app).await?;
    let ours_url = format!("http://{ours_addr}{path}");
    let hub = server.hub.clone();
    let source = server.sources.first().map(|s| s.id).ok_or("no source")?;

    // Warm up both (connections, SQLite pages).
    load(&ours_url, signed_requests("warm", 500, USERS), CONCURRENCY).await?;
    ingest_direct(&hub, source, "warm-d", 500, USERS, CONCURRENCY).await?;

    // Every message stored makes the next a little slower (the indexes
    // grow), so the sides run in the order direct, HTTP, HTTP, direct, and
    // that twice; each side's rate is over all its runs: both see the same
    // database sizes on average. Short runs in turns also keep a drift of
    // the machine's speed out of the ratio.
    let (mut direct_secs, mut http_secs) = (0.0, 0.0);
    let order = [true, false, false, true, true, false, false, true];
    for (run, direct) in order.into_iter().enumerate() {
        let n = N / 4;
        if direct {
            let rate =
                ingest_direct(&hub, source, &format!("d{run}"), n, USERS, CONCURRENCY).await?;
            direct_secs += n as f64 / rate;
        } else {
            let rate = load(
                &ours_url,
                signed_requests(&format!("m{run}"), n, USERS),
                CONCURRENCY,
            )
            .await?;
            http_secs += n as f64 / rate;
        }
    }
    let (baseline, ours) = (N as f64 / direct_secs, N as f64 / http_secs);

    // Every accepted webhook and direct ingest was stored: user-0 wrote
    // once in each warm-up and N / 4 / USERS times in each of the eight
    // measured runs.
    let contact = store
        .contact_by_key(&ContactKey::External {
            source,
            external_user: "user-0".to_owned(),
        })
        .await
        .map_err(err)?
        .ok_or("user-0 was not stored")?;
    let line = store.lines().await.map_err(err)?;
    let line = line.first().ok_or("no line")?;
    let session = store
        .contact_sessions(line.id, contact.id)
        .await
        .map_err(err)?
        .into_iter()
        .find(|s| s.is_open())
        .ok_or("user-0 has no open session")?;
    let stored = store
        .messages(session.id, Cursor::Start, 10 * N / USERS)
        .await
        .map_err(err)?
        .len();
    let expected = 2 + 2 * N / USERS;
    if stored != expected {
        return Err(format!(
            "webhook_e2e: user-0 has {stored} stored messages, expected {expected}"
        ));
    }
    server.shutdown().await;
    Ok(vec![Measured::throughput(
        "webhook_e2e",
        ours,
        baseline,
        "msg/s",
    )])
}
