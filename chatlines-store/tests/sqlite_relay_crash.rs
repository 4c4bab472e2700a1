//! The event log across crashes: a process ingests, takes, replies and
//! relays the log to a sink while it is killed (SIGKILL) at random moments,
//! 20 times. After each restart every acknowledged change's events are in
//! the log, and the relay (resuming from its durable cursor) has delivered
//! every event in order, a second time only the few it delivered after its
//! last saved position.
//!
//! The child processes are this test binary itself, re-run on the ignored
//! test `child_process`, with the database and the delivery file in the
//! environment.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

mod sqlite_support;

use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Author, Body, BoxError, ContactKey, EventPosition, EventSink, ExternalRef, LineId, LoggedEvent,
    MessageId, NewInbound, NewOutbound, Relay, RelayConfig, SourceId, Transition, UserId,
};
use chatlines_store::testkit::fixtures::{id, must, new_line};
use chatlines_store::SqliteStore;
use chrono::Utc;
use sqlite_support::{acknowledged as ack_ids, kill_after_first_ack};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const DB: &str = "CHATLINES_RELAY_CHILD_DB";
const LINE: &str = "CHATLINES_RELAY_CHILD_LINE";
const DELIVERED: &str = "CHATLINES_RELAY_CHILD_DELIVERED";
const CONSUMER: &str = "crash-test";
const BATCH: usize = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A sink that appends each delivered event's position and id to a file,
/// written through at once (a killed process keeps what it wrote).
struct FileSink(Mutex<std::fs::File>);

impl FileSink {
    fn create(path: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the delivery file");
        Self(Mutex::new(file))
    }
}

#[async_trait]
impl EventSink for FileSink {
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError> {
        let mut file = self.0.lock().map_err(|_| "poisoned")?;
        writeln!(file, "{} {}", event.position, event.id)?;
        Ok(())
    }
}

/// The deliveries written to `path`, in order.
fn deliveries(path: &Path) -> Vec<(EventPosition, Uuid)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (p, id) = l.split_once(' ')?;
            Some((p.parse().ok()?, Uuid::parse_str(id).ok()?))
        })
        .collect()
}

#[test]
fn events_of_acknowledged_changes_survive_sigkill_and_are_relayed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chatlines.db");
    let line_id = runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "create");
        let line = new_line(&store, 1).await;
        store.close().await;
        line.id
    });
    let mut acknowledged: Vec<MessageId> = Vec::new();
    // How often each event was delivered, and the windows in which a
    // second delivery is allowed: after the cursor saved before a kill, up
    // to the last event the killed process delivered.
    let mut count: BTreeMap<Uuid, u32> = BTreeMap::new();
    let mut windows: Vec<(EventPosition, EventPosition)> = Vec::new();
    for round in 0..20u32 {
        let child_file = dir.path().join(format!("child-{round}.log"));
        let said = kill_after_first_ack(spawn_child(&path, line_id, &child_file), round);
        acknowledged.extend(ack_ids(&said).into_iter().map(MessageId::from_uuid));

        runtime().block_on(async {
            let store = Arc::new(must(
                SqliteStore::open(&path).await,
                "reopen after the kill",
            ));
            let log = must(
                store.events_after(EventPosition::START, usize::MAX).await,
                "read the log",
            );
            // Every acknowledged message's event is in the log.
            let logged: HashSet<MessageId> = log
                .iter()
                .filter_map(|e| match e.event().expect("a readable event") {
                    chatlines_core::Event::MessageIn { message, .. }
                    | chatlines_core::Event::MessageOut { message, .. } => Some(*message),
                    _ => None,
                })
                .collect();
            for id in &acknowledged {
                assert!(
                    logged.contains(id),
                    "round {round}: the event of acknowledged message {id} is not in the log"
                );
            }
            // The killed process delivered in log order, each once.
            let child_said = deliveries(&child_file);
            for pair in child_said.windows(2) {
                assert!(
                    pair[0].0 < pair[1].0,
                    "round {round}: delivered out of order"
                );
            }
            let saved = must(store.consumer_position(CONSUMER).await, "cursor")
                .unwrap_or(EventPosition::START);
            if let Some(last) = child_said.last() {
                if last.0 > saved {
                    windows.push((saved, last.0));
                }
            }
            // The restarted relay resumes after the saved position.
            let parent_file = dir.path().join(format!("parent-{round}.log"));
            let relay = Relay::new(
                store.clone(),
                Arc::new(FileSink::create(&parent_file)),
                RelayConfig::new(CONSUMER).batch(BATCH),
            );
            must(relay.catch_up().await, "catch up");
            let resumed = deliveries(&parent_file);
            if let Some(first) = resumed.first() {
                assert!(first.0 > saved, "round {round}: resumed before its cursor");
            }
            for (_, id) in child_said.iter().chain(resumed.iter()) {
                *count.entry(*id).or_default() += 1;
            }
            // Everything in the log was delivered, in log order overall.
            for e in &log {
                assert!(
                    count.contains_key(&e.id.as_uuid()),
                    "round {round}: event at {} was never delivered",
                    e.position
                );
            }
            let position: BTreeMap<Uuid, EventPosition> =
                log.iter().map(|e| (e.id.as_uuid(), e.position)).collect();
            for (id, n) in &count {
                let at = position[id];
                let allowed = windows.iter().any(|(after, to)| at > *after && at <= *to);
                assert!(
                    *n == 1 || (*n == 2 && allowed),
                    "round {round}: event at {at} delivered {n} times"
                );
            }
            store.close().await;
        });
    }
    assert!(acknowledged.len() >= 20);
}

/// Tells the parent (through the child's stdout) what was acknowledged.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn spawn_child(path: &Path, line: LineId, delivered: &Path) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB, path)
        .env(LINE, line.to_string())
        .env(DELIVERED, delivered)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child process")
}

/// Not a test: the body of the child processes of the test above. Eight
/// producers ingest; a new session is taken and answered; a relay delivers
/// the log to the file sink all along.
#[test]
#[ignore = "run by the other test as a child process"]
fn child_process() {
    let path = PathBuf::from(std::env::var(DB).expect("database path"));
    let line = std::env::var(LINE)
        .ok()
        .and_then(|l| Uuid::parse_str(&l).ok())
        .map(LineId::from_uuid)
        .expect("line id");
    let delivered = PathBuf::from(std::env::var(DELIVERED).expect("delivery file"));
    runtime().block_on(async move {
        let store = Arc::new(SqliteStore::open(&path).await.expect("open"));
        let relay = Relay::new(
            store.clone(),
            Arc::new(FileSink::create(&delivered)),
            RelayConfig::new(CONSUMER).batch(BATCH),
        );
        tokio::spawn(async move {
            loop {
                match relay.pump().await {
                    Ok(0) | Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
                    Ok(_) => {}
                }
            }
        });
        let source: SourceId = id();
        let run = Uuid::new_v4().simple().to_string();
        let mut tasks = Vec::new();
        for producer in 0..8 {
            let store = store.clone();
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let key = ContactKey::External {
                        source,
                        external_user: format!("client-{run}-{producer}-{}", n % 5),
                    };
                    let new = NewInbound::new(line, key, "Client", Body::text("hi"), Utc::now())
                        .with_external(ExternalRef {
                            source,
                            message_id: format!("{run}-{producer}-{n}"),
                        });
                    let id = new.message_id;
                    let Ok(appended) = store.append_inbound(new).await else {
                        continue;
                    };
                    say(&format!("ok {id}"));
                    if !appended.opened {
                        continue;
                    }
                    let operator = UserId::new(format!("op{producer}"));
                    let take = Transition::Take {
                        operator: operator.clone(),
                    };
                    if store
                        .transition(appended.session.id, take, Utc::now())
                        .await
                        .is_err()
                    {
                        continue;
                    }
                    let mut reply = NewOutbound::new(
                        appended.session.id,
                        Author::Operator {
                            user: operator.clone(),
                        },
                        Body::text("on it"),
                        Utc::now(),
                    );
                    reply.require_operator = Some(operator);
                    let reply_id = reply.message_id;
                    if store.append_outbound(reply).await.is_ok() {
                        say(&format!("ok {reply_id}"));
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
