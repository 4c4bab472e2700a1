//! Throughput of the connectors against local servers, each beside a raw
//! baseline measured in the same run:
//!
//! * `dispatch`: outbox entries delivered per second by the dispatcher to a
//!   local Telegram-shaped server, vs. raw `reqwest` POSTs of the same
//!   request with the same concurrency;
//! * `webhook_e2e`: Telegram updates per second through the axum router,
//!   the endpoint and `Hub::ingest` into a `MemoryStore`, vs. POSTs to an
//!   axum route that answers 200 without reading the body.
//!
//! `cargo bench -p chatlines-connectors --all-features --bench connectors`
//! prints `SCENARIO ours=N UNIT baseline=N UNIT ratio=R` lines.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use axum::routing::post;
use axum::Router;
use chatlines_connectors::dispatcher::{Dispatcher, DispatcherConfig, RateLimits};
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{Body, Hub, InboundMessage, LineConfig, NewSource, Source, UserId};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn telegram_mock() -> String {
    serve(Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            r#"{"ok":true,"result":{"message_id":1,"chat":{"id":1}}}"#,
        )
    }))
    .await
}

async fn hub() -> (Hub, Arc<MemoryStore>, Source) {
    let store = Arc::new(MemoryStore::new());
    let dir = Arc::new(MemoryDirectory::new());
    dir.add_admin("root");
    dir.add_to_group("ops", "ann");
    let hub = Hub::builder(
        store.clone(),
        dir,
        Arc::new(MemoryApps::new()),
        Arc::new(RuleRouter::new()),
    )
    .build();
    let root = UserId::new("root");
    let line = hub
        .create_line(&root, LineConfig::new("Bench").operators("ops"))
        .await
        .unwrap();
    let source = hub
        .bind_source(&root, line.id, NewSource::new("telegram", "bot", "cfg"))
        .await
        .unwrap();
    (hub, store, source)
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

async fn dispatch(n: usize) -> String {
    let url = telegram_mock().await;
    let (hub, store, source) = hub().await;
    let ann = UserId::new("ann");
    let chats = 64;
    for chat in 0..chats {
        let posted = hub
            .ingest(
                source.id,
                InboundMessage::text(format!("{chat}:0"), format!("{chat}"), "C", "hi")
                    .with_reply_address(format!("{chat}")),
            )
            .await
            .unwrap();
        hub.take(&ann, posted.session.id).await.unwrap();
        for i in 0..n / chats {
            hub.reply(&ann, posted.session.id, Body::text(format!("reply {i}")))
                .await
                .unwrap();
        }
    }
    let total = (n / chats) * chats;
    let tg = TelegramMessenger::new(TelegramConfig::new("1:T", "s").with_api_base(&url)).unwrap();
    let mut config = DispatcherConfig::default()
        .with_limits(RateLimits::off())
        .with_batch(256);
    config.concurrency = CONCURRENCY;
    let d = Dispatcher::builder(store, Messengers::new().with(source.id, Arc::new(tg)))
        .config(config)
        .build();
    let start = Instant::now();
    let mut sent = 0;
    while sent < total {
        let n = d.run_once().await.unwrap();
        assert!(n > 0, "entries left pending");
        sent += n;
    }
    let ours = rate(total, start.elapsed());

    let client = reqwest::Client::new();
    let endpoint = format!("{url}/bot1:T/sendMessage");
    let start = Instant::now();
    futures::stream::iter(0..total)
        .for_each_concurrent(CONCURRENCY, |i| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            async move {
                let r = client
                    .post(&endpoint)
                    .json(&serde_json::json!({"chat_id": format!("{}", i % chats), "text": format!("reply {i}")}))
                    .send()
                    .await
                    .unwrap();
                let _ = r.bytes().await.unwrap();
            }
        })
        .await;
    let baseline = rate(total, start.elapsed());
    format!(
        "dispatch ours={ours:.0} entries/s baseline={baseline:.0} posts/s ratio={:.2}",
        ours / baseline
    )
}

async fn webhook_e2e(n: usize) -> String {
    let (hub, _store, source) = hub().await;
    let bot = TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret")).unwrap();
    let endpoint = WebhookEndpoint::new(hub, Messengers::new().with(source.id, Arc::new(bot)));
    let url = serve(chatlines_connectors::axum::router(endpoint)).await;
    let ours_url = format!("{url}/webhooks/{}", source.id);
    let raw_url = format!(
        "{}/raw",
        serve(Router::new().route("/raw", post(|| async { "" }))).await
    );
    let client = reqwest::Client::new();
    let run = |target: String| {
        let client = client.clone();
        async move {
            let start = Instant::now();
            futures::stream::iter(0..n)
                .for_each_concurrent(CONCURRENCY, |i| {
                    let client = client.clone();
                    let target = target.clone();
                    async move {
                        let body = serde_json::json!({"update_id": i, "message": {"message_id": i,
                            "from": {"id": i % 500, "first_name": "C"}, "chat": {"id": i % 500}, "text": "hello"}});
                        let r = client.post(&target).header(SECRET_HEADER, "hook-secret").json(&body).send().await.unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                    }
                })
                .await;
            rate(n, start.elapsed())
        }
    };
    let ours = run(ours_url).await;
    let baseline = run(raw_url).await;
    format!(
        "webhook_e2e ours={ours:.0} updates/s baseline={baseline:.0} posts/s ratio={:.2}",
        ours / baseline
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n: usize = std::env::var("CHATLINES_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_120);
    println!("{}", rt.block_on(dispatch(n)));
    println!("{}", rt.block_on(webhook_e2e(n)));
}
