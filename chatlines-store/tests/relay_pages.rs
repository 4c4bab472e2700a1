//! `Relay::catch_up` over a SQLite store: a sink gets each event as stored
//! and decodes it only if it asks; the cursor is saved after every page
//! before anything of the next page is delivered, so a refused event or a
//! failed save stops delivery where it happened and the next catch-up
//! resumes there.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    BoxError, EventPosition, EventSink, LoggedEvent, Relay, RelayConfig, RelayError, StoreError,
};
use chatlines_store::testkit::fixtures::{at, must, new_line, new_session};
use chatlines_store::SqliteStore;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A store on a fresh file with a line and three sessions: 7 events.
async fn store_with_events(dir: &tempfile::TempDir) -> SqliteStore {
    let store = must(SqliteStore::open(dir.path().join("relay.db")).await, "open");
    let line = new_line(&store, 1).await;
    for secs in 2..5 {
        new_session(&store, line.id, secs).await;
    }
    store
}

async fn all_positions(store: &SqliteStore) -> Vec<EventPosition> {
    must(store.events_after(EventPosition::START, 100).await, "read")
        .iter()
        .map(|e| e.position)
        .collect()
}

/// Records what it is given; refuses the `refuse`-th call (0-based) once.
#[derive(Default)]
struct Recorder {
    refuse: Option<usize>,
    calls: AtomicUsize,
    /// Each delivery: its position, and whether it was decoded on arrival.
    got: Mutex<Vec<(EventPosition, bool)>>,
    names: Mutex<Vec<&'static str>>,
    decode: bool,
}

impl Recorder {
    fn got(&self) -> Vec<EventPosition> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(|(p, _)| *p)
            .collect()
    }
}

#[async_trait]
impl EventSink for Recorder {
    async fn publish(&self, logged: &LoggedEvent) -> Result<(), BoxError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse == Some(call) {
            return Err("the gateway is down".into());
        }
        let decoded = logged.is_decoded();
        if self.decode {
            let name = logged.event()?.name();
            self.names.lock().map_err(|_| "poisoned")?.push(name);
        }
        self.got
            .lock()
            .map_err(|_| "poisoned")?
            .push((logged.position, decoded));
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_gets_stored_events_and_decodes_them_only_when_it_asks() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store_with_events(&dir).await;
    let counting = Arc::new(Recorder::default());
    let relay = Relay::new(
        Arc::new(store.clone()),
        counting.clone(),
        RelayConfig::new("count").batch(3),
    );
    assert_eq!(must(relay.catch_up().await, "catch up"), 7);
    let got = counting.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 7);
    assert!(
        got.iter().all(|(_, decoded)| !decoded),
        "a sink that does not ask decodes nothing: {got:?}"
    );

    let reading = Arc::new(Recorder {
        decode: true,
        ..Recorder::default()
    });
    let relay = Relay::new(
        Arc::new(store.clone()),
        reading.clone(),
        RelayConfig::new("read").batch(3),
    );
    assert_eq!(must(relay.catch_up().await, "catch up"), 7);
    assert_eq!(
        *reading.names.lock().expect("lock"),
        [
            "line_created",
            "session_opened",
            "message_in",
            "session_opened",
            "message_in",
            "session_opened",
            "message_in",
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn catch_up_stops_at_a_refused_event_and_resumes_at_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store_with_events(&dir).await;
    let all = all_positions(&store).await;
    let sink = Arc::new(Recorder {
        refuse: Some(2),
        ..Recorder::default()
    });
    let relay = Relay::new(
        Arc::new(store.clone()),
        sink.clone(),
        RelayConfig::new("ui").batch(2),
    );
    match relay.catch_up().await {
        Err(RelayError::Sink { position, .. }) => assert_eq!(position, all[2]),
        other => panic!("expected the sink's refusal, got {other:?}"),
    }
    assert_eq!(sink.got(), all[..2], "nothing after the refused event");
    assert_eq!(
        must(store.consumer_position("ui").await, "position"),
        Some(all[1]),
        "the cursor stays before the refused event"
    );
    assert_eq!(must(relay.catch_up().await, "catch up"), 5);
    assert_eq!(sink.got(), all, "each event once, in order");
    store.close().await;
}

/// A SQLite store whose `n`-th cursor save (1-based) fails.
struct FailingSave {
    inner: SqliteStore,
    fail: usize,
    saves: AtomicUsize,
}

#[async_trait]
impl EventLogStore for FailingSave {
    async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        self.inner.events_after(after, limit).await
    }
    async fn consumer_position(&self, c: &str) -> Result<Option<EventPosition>, StoreError> {
        self.inner.consumer_position(c).await
    }
    async fn save_consumer_position(
        &self,
        c: &str,
        p: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.saves.fetch_add(1, Ordering::SeqCst) + 1 == self.fail {
            return Err(StoreError::Unavailable("the disk is busy".to_owned()));
        }
        self.inner.save_consumer_position(c, p, now).await
    }
    async fn remove_consumer(&self, c: &str) -> Result<(), StoreError> {
        self.inner.remove_consumer(c).await
    }
    async fn prune_events(&self, before: DateTime<Utc>, n: usize) -> Result<u64, StoreError> {
        self.inner.prune_events(before, n).await
    }
}

#[tokio::test]
async fn a_failed_cursor_save_stops_before_the_next_page_is_delivered() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store_with_events(&dir).await;
    let all = all_positions(&store).await;
    let log = Arc::new(FailingSave {
        inner: store.clone(),
        fail: 2,
        saves: AtomicUsize::new(0),
    });
    let sink = Arc::new(Recorder::default());
    let relay = Relay::new(log, sink.clone(), RelayConfig::new("ui").batch(2))
        .clock(Arc::new(chatlines_core::ManualClock::new(at(10))));
    match relay.catch_up().await {
        Err(RelayError::Store(StoreError::Unavailable(_))) => {}
        other => panic!("expected the failed save, got {other:?}"),
    }
    assert_eq!(
        sink.got(),
        all[..4],
        "the page after the unsaved one is read but not delivered"
    );
    assert_eq!(
        must(store.consumer_position("ui").await, "position"),
        Some(all[1])
    );
    // Resumes after the last saved position: the unsaved page again
    // (at least once), then the rest.
    assert_eq!(must(relay.catch_up().await, "catch up"), 5);
    let mut expected = all[..4].to_vec();
    expected.extend_from_slice(&all[2..]);
    assert_eq!(sink.got(), expected);
    store.close().await;
}
