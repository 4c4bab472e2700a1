//! Scenarios over the connectors and the example server: `dispatch`,
//! `webhook_e2e`. Everything talks real HTTP on 127.0.0.1.

use crate::report::{Measured, Outcome, Scenario};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chatlines_connectors::dispatcher::{Dispatcher, DispatcherConfig, RateLimits};
use chatlines_connectors::generic::{GenericConfig, GenericWebhook};
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::Messengers;
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Body, ContactKey, Cursor, Hub, InboundMessage, LineConfig, NewSource, SourceId, Store, UserId,
};
use chatlines_examples::{build_app, ServerConfig};
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

/// Creates one pending reply (outbox entry) for each of the clients
/// `range`, each in its own session.
async fn pending_replies(
    hub: &Hub,
    source: SourceId,
    op: &UserId,
    range: std::ops::Range<usize>,
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
        hub.reply(op, posted.session.id, Body::text(reply_text(i)))
            .await
            .map_err(err)?;
    }
    Ok(())
}

fn reply_text(i: usize) -> String {
    format!("reply number {i} to the client")
}

/// Runs dispatcher rounds until nothing is due; returns (claimed, seconds).
async fn deliver_all(dispatcher: &Dispatcher) -> Result<(usize, f64), String> {
    let started = Instant::now();
    let mut claimed = 0;
    loop {
        let n = dispatcher.run_once().await.map_err(err)?;
        if n == 0 {
            break;
        }
        claimed += n;
    }
    Ok((claimed, started.elapsed().as_secs_f64()))
}

/// POSTs the bodies raw with `concurrency` in flight; returns seconds.
async fn raw_posts(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> Result<f64, String> {
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    futures::stream::iter(bodies)
        .for_each_concurrent(concurrency, |body| {
            let failures = &failures;
            async move {
                let ok = client
                    .post(url)
                    .header("content-type", "application/json")
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
fn raw_bodies(source: SourceId, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range
        .map(|i| {
            serde_json::to_vec(&serde_json::json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "source": source.to_string(),
                "to": format!("client-{i}"),
                "text": reply_text(i),
                "attachments": [],
            }))
            .unwrap_or_default()
        })
        .collect()
}

/// `dispatch`: pending outbox entries delivered per second by the
/// connectors' `Dispatcher` (generic webhook connector, rate limits off)
/// into a local mock answering 200, vs raw `reqwest` POSTs of the same
/// bodies to the same mock with the same concurrency. Both are warmed up,
/// then measured in alternating rounds.
async fn dispatch() -> Outcome {
    const WARM: usize = 1_000;
    const N: usize = 10_000;
    const ROUNDS: usize = 3;
    const CONCURRENCY: usize = 16;
    let (addr, count) = mock_api().await?;
    let url = format!("http://{addr}/out");

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
    let op = UserId::from("op");
    let line = hub
        .create_line(&root, LineConfig::new("bench").operators("ops"))
        .await
        .map_err(err)?;
    let source = hub
        .bind_source(&root, line.id, NewSource::new("webhook", "bench", "bench"))
        .await
        .map_err(err)?
        .id;

    let connector = GenericWebhook::new(GenericConfig::new(SECRET, url.as_str())).map_err(err)?;
    let messengers = Messengers::new();
    messengers.insert(source, Arc::new(connector));
    let mut config = DispatcherConfig::default()
        .with_limits(RateLimits::off())
        .with_batch(256);
    config.concurrency = CONCURRENCY;
    let store_dyn: Arc<dyn Store> = store;
    let dispatcher = Dispatcher::builder(store_dyn, messengers)
        .config(config)
        .build();
    let client = reqwest::Client::new();

    // Warm-up.
    pending_replies(&hub, source, &op, 0..WARM).await?;
    deliver_all(&dispatcher).await?;
    raw_posts(&client, &url, raw_bodies(source, 0..WARM), CONCURRENCY).await?;

    let (mut ours_secs, mut base_secs) = (0.0, 0.0);
    for round in 0..ROUNDS {
        let range = WARM + round * N..WARM + (round + 1) * N;
        pending_replies(&hub, source, &op, range.clone()).await?;
        let before = count.load(Ordering::Relaxed);
        let (claimed, secs) = deliver_all(&dispatcher).await?;
        let delivered = count.load(Ordering::Relaxed) - before;
        if claimed != N || delivered != N {
            return Err(format!(
                "dispatch: claimed {claimed}, mock received {delivered}, expected {N}"
            ));
        }
        ours_secs += secs;
        base_secs += raw_posts(&client, &url, raw_bodies(source, range), CONCURRENCY).await?;
    }
    let total = (N * ROUNDS) as f64;
    Ok(vec![Measured::throughput(
        "dispatch",
        total / ours_secs,
        total / base_secs,
        "msg/s",
    )])
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

/// Sends the requests with `concurrency` in flight; returns req/s.
async fn load(
    url: &str,
    requests: Vec<(String, String, Vec<u8>)>,
    concurrency: usize,
) -> Result<f64, String> {
    let n = requests.len();
    let client = reqwest::Client::new();
    let refused = AtomicUsize::new(0);
    let started = Instant::now();
    futures::stream::iter(requests)
        .for_each_concurrent(concurrency, |(ts, sig, body)| {
            let client = &client;
            let refused = &refused;
            async move {
                let ok = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("X-Chatlines-Timestamp", ts)
                    .header("X-Chatlines-Signature", sig)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status() == reqwest::StatusCode::OK)
                    .unwrap_or(false);
                if !ok {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    let secs = started.elapsed().as_secs_f64();
    let refused = refused.load(Ordering::Relaxed);
    if refused > 0 {
        return Err(format!("{refused} of {n} webhooks were not answered 200"));
    }
    Ok(n as f64 / secs)
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
/// parsing cost on top of storing).
async fn webhook_e2e() -> Outcome {
    const N: usize = 30_000;
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
    let (app, server) = build_app(&config, &secrets).await.map_err(err)?;
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

    let baseline = ingest_direct(&hub, source, "d", N, USERS, CONCURRENCY).await?;
    let ours = load(&ours_url, signed_requests("m", N, USERS), CONCURRENCY).await?;

    // Every accepted webhook and direct ingest was stored: user-0 wrote
    // once in each warm-up and N / USERS times in each measured run.
    let store = server.hub.store().clone();
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
        .open_session(line.id, contact.id)
        .await
        .map_err(err)?
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
