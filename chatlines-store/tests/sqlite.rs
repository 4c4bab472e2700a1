//! The conformance suite against [`SqliteStore`], each case on its own
//! database file in a fresh temporary directory.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

use chatlines_store::SqliteStore;
use std::cell::RefCell;

thread_local! {
    /// The case's temporary directories, removed when the test's thread ends
    /// (after the case and its store are done).
    static DIRS: RefCell<Vec<tempfile::TempDir>> = const { RefCell::new(Vec::new()) };
}

async fn fresh_store() -> SqliteStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("chatlines.db");
    DIRS.with(|d| d.borrow_mut().push(dir));
    SqliteStore::open(&path)
        .await
        .expect("open a new SQLite store")
}

chatlines_store::store_conformance_tests!(fresh_store);

/// A timer that fails in a batch (its line's stored configuration is not
/// readable) writes nothing and keeps its lease; the others in the batch
/// fire and commit.
#[tokio::test]
async fn a_failing_timer_leaves_the_rest_of_its_batch() {
    use chatlines_core::store::prelude::*;
    use chatlines_core::{FireOutcome, RoutePlan, RouteReason, Transition};
    use chatlines_store::testkit::fixtures::{at, line_at, must, new_session, some};

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("chatlines.db");
    let store = must(SqliteStore::open(&path).await, "open");
    let mut offered = Vec::new();
    for (name, secs) in [("Broken", 10), ("Fine", 11)] {
        let mut line = line_at(name, 0);
        line.config = line
            .config
            .offer_timeout(std::time::Duration::from_secs(60));
        must(store.insert_line(&line).await, "insert_line");
        let s = new_session(&store, line.id, secs).await;
        let offer = Transition::Route {
            expected_version: s.version,
            plan: RoutePlan::Offer {
                reason: RouteReason::FirstCome,
            },
        };
        offered.push(must(store.transition(s.id, offer, at(secs)).await, "offer"));
    }
    let (broken, fine) = (&offered[0], &offered[1]);
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    raw.execute(
        "UPDATE lines SET config = '{' WHERE id = ?1",
        [broken.line.0],
    )
    .expect("break the line's configuration");
    drop(raw);

    let claimed = must(store.claim_timers(at(80), at(110), 10).await, "claim");
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].timer.session, broken.id);
    let outcomes = store.fire_timers(&claimed, at(82)).await;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes[0].is_err(), "{:?}", outcomes[0]);
    match &outcomes[1] {
        Ok(FireOutcome::Fired(s)) => assert_eq!((s.id, s.version), (fine.id, fine.version + 1)),
        other => panic!("expected the fine line's timer fired, got {other:?}"),
    }
    let now = some(must(store.session(broken.id).await, "session"), "session");
    assert_eq!(now, *broken, "the failed timer wrote nothing");
    let timers = must(store.session_timers(broken.id).await, "timers");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].armed_version, broken.version);
    assert!(
        must(store.claim_timers(at(100), at(130), 10).await, "leased").is_empty(),
        "the failed timer keeps its lease (and the fired one is re-armed later)"
    );
    let again = must(store.claim_timers(at(110), at(140), 10).await, "after");
    assert_eq!(again.len(), 1, "claimed again once its lease ended");
    assert_eq!(again[0].timer.session, broken.id);
    store.close().await;
}
