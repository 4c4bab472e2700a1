//! Media off the request path: the webhook endpoint stores attachments
//! pending and answers at once; the media worker fetches them through a
//! fake Bot API on 127.0.0.1 whose `getFile` blocks until the test lets it
//! answer (or fails, or serves a file too large).
#![cfg(all(feature = "telegram", feature = "media"))]

mod common;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chatlines_connectors::dispatcher::Backoff;
use chatlines_connectors::media::{MediaConfig, MediaWorker};
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::{BlobStore, Messengers, WebhookEndpoint};
use chatlines_core::store::prelude::*;
use chatlines_core::{AttachmentState, BoxError, Clock, Event, MediaJobStatus, Message, SourceId};
use chrono::{DateTime, Utc};
use common::world::World;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

const FILE: &[u8] = b"\xffJPEG-bytes";

/// How the fake Bot API answers `getFile`.
#[derive(Clone, Copy)]
enum Mode {
    /// The file, after a permit from the gate.
    Gated,
    /// `502 Bad Gateway`, as the Bot API answers when overloaded.
    BadGateway,
}

struct BotState {
    mode: Mode,
    gate: Semaphore,
    get_file: AtomicUsize,
    downloads: AtomicUsize,
    /// How many `getFile` calls arrived (before the gate).
    arrived: watch::Sender<usize>,
}

/// A fake Telegram Bot API: `POST /bot<token>/getFile` answers the Bot
/// API's `File` object; `GET /file/bot<token>/<file_path>` the bytes.
struct FakeBot {
    url: String,
    state: Arc<BotState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBot {
    async fn start(mode: Mode) -> Self {
        let state = Arc::new(BotState {
            mode,
            gate: Semaphore::new(0),
            get_file: AtomicUsize::new(0),
            downloads: AtomicUsize::new(0),
            arrived: watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .fallback(bot_api)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    /// Lets `n` blocked (or future) `getFile` calls answer.
    fn release(&self, n: usize) {
        self.state.gate.add_permits(n);
    }

    /// Waits until `n` `getFile` calls have arrived.
    async fn arrivals(&self, n: usize) {
        let mut seen = self.state.arrived.subscribe();
        seen.wait_for(|k| *k >= n).await.expect("fake bot running");
    }

    fn get_file_calls(&self) -> usize {
        self.state.get_file.load(Ordering::SeqCst)
    }

    fn downloads(&self) -> usize {
        self.state.downloads.load(Ordering::SeqCst)
    }
}

async fn bot_api(State(state): State<Arc<BotState>>, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    if path == "/bot1:T/getFile" {
        state.get_file.fetch_add(1, Ordering::SeqCst);
        state.arrived.send_modify(|n| *n += 1);
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let file_id = request["file_id"].as_str().unwrap_or_default().to_owned();
        return match state.mode {
            Mode::BadGateway => (
                StatusCode::BAD_GATEWAY,
                r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
            )
                .into_response(),
            Mode::Gated => {
                let permit = state.gate.acquire().await.expect("gate open");
                permit.forget();
                let file = serde_json::json!({"ok": true, "result": {
                    "file_id": file_id, "file_unique_id": "AQADuniq",
                    "file_size": FILE.len(), "file_path": format!("photos/{file_id}.jpg")}});
                ([("content-type", "application/json")], file.to_string()).into_response()
            }
        };
    }
    if path.starts_with("/file/bot1:T/photos/") {
        state.downloads.fetch_add(1, Ordering::SeqCst);
        return FILE.to_vec().into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The host's blob storage, in memory, counting writes; it can be told to
/// panic on the next write (a host port with a bug).
#[derive(Default)]
struct Blobs {
    files: Mutex<HashMap<String, Vec<u8>>>,
    puts: AtomicUsize,
    panic_next: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl BlobStore for Blobs {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BoxError> {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("blob store bug");
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.files
            .lock()
            .expect("lock")
            .insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.files.lock().expect("lock").get(key).cloned())
    }
}

/// A clock the test moves by hand (the worker's leases and back-off). It
/// starts a minute ahead of the hub's system clock, so every message the
/// test stores is due for it.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now() + chrono::Duration::minutes(1))))
    }
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("lock");
        *now += chrono::Duration::from_std(by).expect("duration");
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

struct Setup {
    world: World,
    bot: FakeBot,
    blobs: Arc<Blobs>,
    messengers: Messengers,
    endpoint: WebhookEndpoint,
    clock: Arc<TestClock>,
}

async fn setup(mode: Mode) -> Setup {
    let bot = FakeBot::start(mode).await;
    let world = World::new("telegram").await;
    let blobs = Arc::new(Blobs::default());
    let tg =
        TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret").with_api_base(&bot.url))
            .expect("config")
            .with_blobs(blobs.clone());
    let messengers = Messengers::new();
    messengers.insert_with_media(world.source.id, Arc::new(tg));
    let endpoint = WebhookEndpoint::new(world.hub.clone(), messengers.clone());
    Setup {
        world,
        bot,
        blobs,
        messengers,
        endpoint,
        clock: TestClock::new(),
    }
}

impl Setup {
    fn worker(&self, config: MediaConfig) -> MediaWorker {
        MediaWorker::builder(self.world.store.clone(), self.messengers.clone())
            .clock(self.clock.clone())
            .config(config)
            .build()
    }

    async fn post(&self, body: &[u8]) -> u16 {
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (SECRET_HEADER.to_lowercase(), "hook-secret".to_owned()),
        ];
        let r = self
            .endpoint
            .handle(
                &self.world.source.id.to_string(),
                "POST",
                &headers,
                "",
                body,
            )
            .await;
        r.status
    }

    async fn the_message(&self) -> Message {
        let mut stored = self.world.messages_of("42").await;
        assert_eq!(stored.len(), 1, "one stored message");
        stored.remove(0)
    }

    async fn attachment_events(&self) -> Vec<Event> {
        self.world
            .events()
            .await
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::AttachmentAvailable { .. } | Event::AttachmentFailed { .. }
                )
            })
            .collect()
    }
}

/// A Bot API `Update` with a photo in two sizes (the larger one is kept).
fn photo_update(update_id: i64, message_id: i64) -> Vec<u8> {
    serde_json::json!({"update_id": update_id, "message": {
    "message_id": message_id, "date": 1_700_000_000,
    "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
    "chat": {"id": 42, "type": "private", "first_name": "Ann"},
    "caption": "my receipt",
    "photo": [
        {"file_id": "SMALL", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
        {"file_id": "BIG", "file_unique_id": "b", "width": 800, "height": 600, "file_size": 11}
    ]}})
    .to_string()
    .into_bytes()
}

fn no_jitter() -> Backoff {
    Backoff::new(Duration::from_secs(10), Duration::from_secs(600)).without_jitter()
}

#[tokio::test]
async fn the_webhook_is_acknowledged_while_the_fetch_is_blocked() {
    let s = setup(Mode::Gated).await;
    let worker = s.worker(MediaConfig::default()).spawn();
    let wake = worker.waker();
    let endpoint = s.endpoint.clone().with_media_wake(move || wake.wake());
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (SECRET_HEADER.to_lowercase(), "hook-secret".to_owned()),
    ];
    let source = s.world.source.id.to_string();
    let body = photo_update(9, 4);

    // Acknowledged with the gate closed: the endpoint does not download.
    let r = endpoint.handle(&source, "POST", &headers, "", &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = s.the_message().await;
    assert_eq!(stored.body.text, "my receipt");
    let a = &stored.body.attachments[0];
    assert_eq!(a.state, AttachmentState::Pending);
    assert_eq!(
        a.remote.as_deref(),
        Some("tg:BIG"),
        "the Bot API file_id is kept"
    );

    // The worker (woken by the endpoint) is now blocked in getFile.
    s.bot.arrivals(1).await;
    let r = endpoint.handle(&source, "POST", &headers, "", &body).await;
    assert_eq!(
        r.status, 200,
        "a redelivery is acknowledged while the fetch is blocked"
    );
    let jobs = s.world.store.media_jobs(stored.id).await.expect("jobs");
    assert_eq!(jobs.len(), 1, "the redelivery queued nothing");
    assert_eq!(
        s.the_message().await.body.attachments[0].state,
        AttachmentState::Pending
    );

    s.bot.release(1);
    let mut stats = worker.stats();
    stats
        .wait_for(|st| st.stored >= 1)
        .await
        .expect("worker running");
    let stored = s.the_message().await;
    let a = &stored.body.attachments[0];
    assert_eq!(a.state, AttachmentState::Available);
    assert_eq!(
        (a.blob.as_str(), a.size),
        ("telegram/BIG", FILE.len() as u64)
    );
    assert_eq!(
        s.blobs.get("telegram/BIG").await.expect("get"),
        Some(FILE.to_vec())
    );
    assert_eq!(
        s.attachment_events().await,
        vec![Event::AttachmentAvailable {
            session: stored.session,
            line: stored.line,
            message: stored.id,
            index: 0,
            blob: "telegram/BIG".into(),
            size: FILE.len() as u64,
            mime_type: a.mime_type.clone(),
        }]
    );
    worker.shutdown().await;
    assert_eq!(
        s.bot.get_file_calls(),
        1,
        "fetched once, whatever was redelivered"
    );
    assert_eq!(s.bot.downloads(), 1);
}

#[tokio::test]
async fn redeliveries_queue_nothing_and_a_fetched_file_is_never_fetched_again() {
    let s = setup(Mode::Gated).await;
    s.bot.release(10);
    for _ in 0..3 {
        assert_eq!(s.post(&photo_update(9, 4)).await, 200);
    }
    let stored = s.the_message().await;
    assert_eq!(
        s.world
            .store
            .media_jobs(stored.id)
            .await
            .expect("jobs")
            .len(),
        1
    );
    let worker = s.worker(MediaConfig::default());
    assert_eq!(
        worker.run_once().await.expect("round"),
        1,
        "one job for three deliveries"
    );
    assert_eq!(worker.run_once().await.expect("round"), 0);
    s.clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        worker.run_once().await.expect("round"),
        0,
        "a stored file is done"
    );
    assert_eq!(
        s.post(&photo_update(9, 4)).await,
        200,
        "redelivered after the fetch"
    );
    assert_eq!(worker.run_once().await.expect("round"), 0);
    assert_eq!(
        (
            s.bot.get_file_calls(),
            s.bot.downloads(),
            s.blobs.puts.load(Ordering::SeqCst)
        ),
        (1, 1, 1)
    );
    assert_eq!(
        s.the_message().await.body.attachments[0].state,
        AttachmentState::Available
    );
}

#[tokio::test]
async fn a_failing_api_is_retried_with_back_off_then_the_attachment_fails() {
    let s = setup(Mode::BadGateway).await;
    assert_eq!(s.post(&photo_update(9, 4)).await, 200);
    let worker = s.worker(
        MediaConfig::default()
            .with_max_attempts(3)
            .with_backoff(no_jitter()),
    );
    let stored = s.the_message().await;
    let job = |s: &Setup| {
        let store = s.world.store.clone();
        async move { store.media_jobs(stored.id).await.expect("jobs").remove(0) }
    };

    assert_eq!(worker.run_once().await.expect("round"), 1);
    let after_one = job(&s).await;
    assert_eq!(
        (after_one.status, after_one.attempts),
        (MediaJobStatus::Pending, 1)
    );
    assert!(
        after_one
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("Bad Gateway"),
        "{after_one:?}"
    );
    assert_eq!(
        worker.run_once().await.expect("round"),
        0,
        "not due during the back-off"
    );

    s.clock.advance(Duration::from_secs(10));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    assert_eq!(job(&s).await.attempts, 2);
    s.clock.advance(Duration::from_secs(19));
    assert_eq!(
        worker.run_once().await.expect("round"),
        0,
        "the back-off doubled"
    );
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(worker.run_once().await.expect("round"), 1);

    let done = job(&s).await;
    assert_eq!((done.status, done.attempts), (MediaJobStatus::Failed, 3));
    let a = s.the_message().await.body.attachments[0].clone();
    let AttachmentState::Failed { reason } = &a.state else {
        panic!("the attachment failed: {a:?}");
    };
    assert!(reason.starts_with("gave up after 3 attempts"), "{reason}");
    assert!(reason.contains("Bad Gateway"), "{reason}");
    assert!(matches!(
        s.attachment_events().await.as_slice(),
        [Event::AttachmentFailed { index: 0, .. }]
    ));
    s.clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        worker.run_once().await.expect("round"),
        0,
        "a failed job is not retried"
    );
    assert_eq!(s.bot.get_file_calls(), 3);
    assert_eq!(s.blobs.puts.load(Ordering::SeqCst), 0);
    let stats = worker.stats().borrow().clone();
    assert_eq!((stats.retried, stats.failed, stats.stored), (2, 1, 0));
}

#[tokio::test]
async fn a_file_over_the_size_limit_fails_at_once_with_the_reason() {
    let s = setup(Mode::Gated).await;
    s.bot.release(1);
    assert_eq!(s.post(&photo_update(9, 4)).await, 200);
    let worker = s.worker(MediaConfig::default().with_max_bytes(4));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    let a = s.the_message().await.body.attachments[0].clone();
    assert_eq!(
        a.state,
        AttachmentState::Failed {
            reason: format!("file of {} bytes exceeds the limit of 4 bytes", FILE.len())
        }
    );
    assert_eq!(s.blobs.puts.load(Ordering::SeqCst), 0, "nothing stored");
    assert_eq!(s.attachment_events().await.len(), 1);
}

#[tokio::test]
async fn a_worker_killed_mid_fetch_leaves_the_job_to_another_which_fetches_it_once() {
    let s = setup(Mode::Gated).await;
    assert_eq!(s.post(&photo_update(9, 4)).await, 200);
    let lease = Duration::from_secs(60);
    let first = s.worker(MediaConfig::default().with_lease(lease)).spawn();
    first.wake();
    s.bot.arrivals(1).await;
    // Killed while blocked in getFile: the job stays leased.
    first.abort();
    let second = s.worker(MediaConfig::default().with_lease(lease));
    assert_eq!(second.run_once().await.expect("round"), 0, "still leased");

    s.clock.advance(lease);
    // One permit for the killed worker's request (the server may still be
    // holding it), one for the next.
    s.bot.release(2);
    assert_eq!(
        second.run_once().await.expect("round"),
        1,
        "the lease expired"
    );
    let a = s.the_message().await.body.attachments[0].clone();
    assert_eq!(a.state, AttachmentState::Available);
    assert_eq!(s.bot.downloads(), 1, "the file was downloaded once");
    assert_eq!(s.blobs.puts.load(Ordering::SeqCst), 1, "and stored once");
    assert_eq!(s.attachment_events().await.len(), 1, "one event");
    s.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        second.run_once().await.expect("round"),
        0,
        "never fetched again"
    );
}

#[tokio::test]
async fn without_a_media_connector_attachments_keep_their_reference() {
    // A source registered without media download: the message is stored
    // as parsed, nothing is queued.
    let world = World::new("telegram").await;
    let messengers = Messengers::new();
    let tg = TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret")).expect("config");
    messengers.insert(world.source.id, Arc::new(tg));
    let endpoint = WebhookEndpoint::new(world.hub.clone(), messengers);
    let headers = vec![(SECRET_HEADER.to_lowercase(), "hook-secret".to_owned())];
    let r = endpoint
        .handle(
            &world.source.id.to_string(),
            "POST",
            &headers,
            "",
            &photo_update(1, 1),
        )
        .await;
    assert_eq!(r.status, 200);
    let stored = world.messages_of("42").await.remove(0);
    assert_eq!(stored.body.attachments[0].state, AttachmentState::Available);
    assert_eq!(stored.body.attachments[0].blob, "tg:BIG");
    assert!(world
        .store
        .media_jobs(stored.id)
        .await
        .expect("jobs")
        .is_empty());
    let _: Option<SourceId> = None;
}

#[tokio::test]
async fn a_panic_while_fetching_one_file_is_caught_and_the_worker_goes_on() {
    let s = setup(Mode::Gated).await;
    s.bot.release(10);
    assert_eq!(s.post(&photo_update(9, 4)).await, 200);
    s.blobs.panic_next.store(true, Ordering::SeqCst);
    let worker = s
        .worker(MediaConfig::default().with_backoff(no_jitter()))
        .spawn();
    worker.wake();
    let mut stats = worker.stats();
    stats
        .wait_for(|st| st.panics >= 1 && st.retried >= 1)
        .await
        .expect("worker running");
    let stored = s.the_message().await;
    let job = s
        .world
        .store
        .media_jobs(stored.id)
        .await
        .expect("jobs")
        .remove(0);
    assert_eq!((job.status, job.attempts), (MediaJobStatus::Pending, 1));
    assert!(
        job.last_error.as_deref().unwrap_or("").contains("panicked"),
        "{job:?}"
    );

    // The same worker fetches it on its next try.
    s.clock.advance(Duration::from_secs(10));
    worker.wake();
    stats
        .wait_for(|st| st.stored >= 1)
        .await
        .expect("worker running");
    assert_eq!(
        s.the_message().await.body.attachments[0].state,
        AttachmentState::Available
    );
    worker.shutdown().await;
}
