//! The relay worker delivers the whole log in order, survives a sink that
//! fails and one that panics, resumes from its cursor, and prunes what every
//! consumer has passed. Time is Tokio's paused clock: back-offs and idle
//! waits advance it without sleeping.
#![cfg(all(feature = "relay", feature = "testkit"))]

use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::{BoxError, EventPosition, EventSink, LoggedEvent, ManualClock, RelayConfig};
use chatlines_store::relay::RelayWorker;
use chatlines_store::testkit::fixtures::{at, new_line, new_session};
use chatlines_store::MemoryStore;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fails its first `fail` deliveries, panics on the next one, then records.
struct Flaky {
    fail: u32,
    calls: AtomicU32,
    got: Mutex<Vec<EventPosition>>,
}

#[async_trait]
impl EventSink for Flaky {
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.fail {
            return Err("the UI gateway is down".into());
        }
        if call == self.fail {
            panic!("a sink bug");
        }
        self.got
            .lock()
            .map_err(|_| "poisoned")?
            .push(event.position);
        Ok(())
    }
}

async fn wait_delivered(worker: &chatlines_store::relay::RelayHandle, n: u64) {
    let mut health = worker.watch_health();
    while health.borrow().delivered < n {
        health.changed().await.expect("worker alive");
    }
}

#[tokio::test(start_paused = true)]
async fn delivers_everything_in_order_through_failures_and_a_panic() {
    let store = Arc::new(MemoryStore::new());
    let line = new_line(&*store, 1).await;
    for secs in 2..6 {
        new_session(&*store, line.id, secs).await;
    }
    let all: Vec<EventPosition> = store
        .events_after(EventPosition::START, 100)
        .await
        .expect("log")
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(all.len(), 9);
    let sink = Arc::new(Flaky {
        fail: 3,
        calls: AtomicU32::new(0),
        got: Mutex::new(Vec::new()),
    });
    let worker = RelayWorker::new(store.clone(), sink.clone(), RelayConfig::new("ui").batch(4))
        .idle(Duration::from_secs(5))
        .spawn();
    wait_delivered(&worker, 9).await;
    assert_eq!(
        *sink.got.lock().expect("lock"),
        all,
        "every event once, in order"
    );
    let health = worker.health();
    assert_eq!(health.failures, 4, "three refusals and a panic: {health:?}");
    assert_eq!(health.last_error, None, "recovered");

    // New events after a wake-up; the cursor is durable in the store.
    new_session(&*store, line.id, 7).await;
    worker.wake();
    wait_delivered(&worker, 11).await;
    worker.shutdown().await;
    assert_eq!(
        store.consumer_position("ui").await.expect("cursor"),
        sink.got.lock().expect("lock").last().copied()
    );
}

#[tokio::test(start_paused = true)]
async fn prunes_what_every_consumer_passed() {
    let store = Arc::new(MemoryStore::new());
    let line = new_line(&*store, 1).await;
    new_session(&*store, line.id, 2).await;
    store
        .save_consumer_position("slow", EventPosition::START, at(2))
        .await
        .expect("register a slow consumer");
    let sink = Arc::new(Flaky {
        fail: 0,
        calls: AtomicU32::new(1),
        got: Mutex::new(Vec::new()),
    });
    let clock = Arc::new(ManualClock::new(at(1000)));
    let worker = RelayWorker::new(store.clone(), sink, RelayConfig::new("ui"))
        .clock(clock)
        .retention(Duration::from_secs(60), Duration::from_secs(1))
        .spawn();
    wait_delivered(&worker, 3).await;
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(worker.health().pruned, 0, "the slow consumer holds the log");
    store.remove_consumer("slow").await.expect("remove");
    let mut health = worker.watch_health();
    while health.borrow().pruned < 3 {
        health.changed().await.expect("worker alive");
    }
    worker.shutdown().await;
    assert!(store
        .events_after(EventPosition::START, 10)
        .await
        .expect("log")
        .is_empty());
}
