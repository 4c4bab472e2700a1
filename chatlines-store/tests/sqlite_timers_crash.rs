//! Timers across crashes: a process fires due offer timeouts while it is
//! killed (SIGKILL) at random moments, 20 times. After each restart, once
//! the killed process's leases ended, a hub fires what is left: every
//! session lapsed exactly once in the round (counted in the event log), so
//! every due timer fired and none had two effects.
//!
//! The child processes are this test binary itself, re-run on the ignored
//! test `child_process`, with the database and the round's time in the
//! environment.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

mod sqlite_support;

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Error, Event, EventPosition, Hub, RoutePlan, RouteReason, Router, RoutingContext, SessionId,
    Transition,
};
use chatlines_store::testkit::fixtures::{at, line_at, must, new_session};
use chatlines_store::SqliteStore;
use sqlite_support::kill_after_first_ack;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const DB: &str = "CHATLINES_TIMERS_CHILD_DB";
const NOW: &str = "CHATLINES_TIMERS_CHILD_NOW";
const SESSIONS: usize = 200;
const ROUNDS: u32 = 20;
/// Seconds between rounds: far more than the period plus the lease, so a
/// round's re-armed timers are all due in the next round and none in its own.
const ROUND_GAP: i64 = 1000;
/// The hubs' timer lease, in seconds.
const LEASE: i64 = 30;

/// Offers every session (first come).
struct Offer;

#[async_trait::async_trait]
impl Router for Offer {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn hub(store: Arc<SqliteStore>) -> Hub {
    let mut config = chatlines_core::HubConfig::default();
    config.timer_lease = Duration::from_secs(LEASE as u64);
    Hub::builder(
        store,
        Arc::new(MemoryDirectory::new()),
        Arc::new(MemoryApps::new()),
        Arc::new(Offer),
    )
    .config(config)
    .build()
}

/// The time of round `round`'s firing.
fn round_time(round: u32) -> i64 {
    ROUND_GAP * (i64::from(round) + 1)
}

/// How many `SessionUnanswered` of each lapse number each session has.
async fn lapses(store: &SqliteStore) -> BTreeMap<SessionId, BTreeMap<u32, usize>> {
    let log = must(
        store.events_after(EventPosition::START, usize::MAX).await,
        "read the log",
    );
    let mut out: BTreeMap<SessionId, BTreeMap<u32, usize>> = BTreeMap::new();
    for e in log {
        if let Event::SessionUnanswered {
            session, lapses, ..
        } = e.into_event().expect("a readable event")
        {
            *out.entry(session).or_default().entry(lapses).or_default() += 1;
        }
    }
    out
}

#[test]
fn every_due_timer_fires_once_across_sigkills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chatlines.db");
    let sessions: Vec<SessionId> = runtime().block_on(async {
        let store = Arc::new(must(SqliteStore::open(&path).await, "create"));
        let mut line = line_at("Timed", 0);
        line.config = line.config.offer_timeout(Duration::from_secs(60));
        must(store.insert_line(&line).await, "line");
        let mut tasks = Vec::new();
        for _ in 0..SESSIONS {
            let store = store.clone();
            let line = line.id;
            tasks.push(tokio::spawn(async move {
                let s = new_session(&*store, line, 1).await;
                let offer = Transition::Route {
                    expected_version: s.version,
                    plan: RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                };
                must(store.transition(s.id, offer, at(1)).await, "offer");
                s.id
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("open"));
        }
        store.close().await;
        ids
    });

    let mut killed_mid_round = 0;
    for round in 0..ROUNDS {
        let now = round_time(round);
        let said = kill_after_first_ack(spawn_child(&path, now), round);
        if said
            .iter()
            .any(|l| l.starts_with("ok ") && !l.ends_with(" idle"))
        {
            killed_mid_round += 1;
        }
        runtime().block_on(async {
            let store = Arc::new(must(
                SqliteStore::open(&path).await,
                "reopen after the kill",
            ));
            // The killed process's leases end; then everything left fires.
            let hub = hub(store.clone());
            loop {
                let report = must(hub.run_due(at(now + LEASE), 50).await, "run_due");
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                if report.claimed == 0 {
                    break;
                }
            }
            let counts = lapses(&store).await;
            let expected: BTreeMap<u32, usize> = (1..=round + 1).map(|n| (n, 1)).collect();
            for id in &sessions {
                assert_eq!(
                    counts.get(id),
                    Some(&expected),
                    "round {round}: session {id} lapses (lapse number -> events)"
                );
                let timers = must(store.session_timers(*id).await, "timers");
                assert_eq!(timers.len(), 1, "round {round}: re-armed");
                assert!(timers[0].due_at > at(now + LEASE));
            }
            store.close().await;
        });
    }
    assert!(killed_mid_round > 0, "no kill landed while timers fired");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn spawn_child(path: &Path, now: i64) -> Child {
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
        .env(NOW, now.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child process")
}

/// Not a test: the body of the child processes of the test above. Two
/// hubs fire the round's due timers three at a time, saying after each
/// run what it fired, until killed or until one finds nothing to claim
/// (then the process ends abruptly, like a kill).
#[test]
#[ignore = "run by the other test as a child process"]
fn child_process() {
    let path = PathBuf::from(std::env::var(DB).expect("database path"));
    let now: i64 = std::env::var(NOW)
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("the round's time");
    runtime().block_on(async move {
        let store = Arc::new(SqliteStore::open(&path).await.expect("open"));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let hub = hub(store.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    match hub.run_due(at(now), 3).await {
                        Ok(report) if report.fired > 0 => {
                            say(&format!("ok {}", Uuid::new_v4()));
                        }
                        Ok(_) => {
                            // Nothing this hub can claim at the round's
                            // time: the process ends at once, like a kill
                            // (the other hub may be firing), so that the
                            // parent never waits for lines that cannot come.
                            say(&format!("ok {} idle", Uuid::new_v4()));
                            std::process::exit(3);
                        }
                        Err(_) => tokio::task::yield_now().await,
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
