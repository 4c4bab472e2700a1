//! SqliteStore under contention: many concurrent takes of the same
//! sessions through the group-commit writer.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

use chatlines_core::store::prelude::*;
use chatlines_core::{SessionStatus, StoreError, UserId};
use chatlines_store::testkit::fixtures::{at, must, new_line, new_session, some, take};
use chatlines_store::SqliteStore;
use std::collections::HashMap;
use std::sync::Arc;

const SESSIONS: usize = 1_000;
const TAKERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_sessions_each_taken_exactly_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(must(
        SqliteStore::open(dir.path().join("chatlines.db")).await,
        "open",
    ));
    let line = new_line(store.as_ref(), 1).await;
    let mut sessions = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        sessions.push(new_session(store.as_ref(), line.id, 2 + i as i64).await.id);
    }

    // Every operator races for every session.
    let mut tasks = Vec::new();
    for taker in 0..TAKERS {
        for (i, session) in sessions.iter().enumerate() {
            let store = Arc::clone(&store);
            let session = *session;
            // Interleave the order so the racers meet in the same group commits.
            let operator = format!("op-{}", (taker + i) % TAKERS);
            tasks.push(tokio::spawn(async move {
                let result = store.transition(session, take(&operator), at(5_000)).await;
                (session, operator, result)
            }));
        }
    }
    let mut winners: HashMap<_, String> = HashMap::new();
    let mut losers = 0usize;
    for task in tasks {
        let (session, operator, result) = task.await.expect("task");
        match result {
            Ok(s) => {
                assert_eq!(
                    s.status,
                    SessionStatus::Assigned {
                        operator: UserId::new(operator.clone())
                    }
                );
                assert!(
                    winners.insert(session, operator).is_none(),
                    "session {session} was taken twice"
                );
            }
            Err(StoreError::AlreadyTaken { session: lost, by }) => {
                assert_eq!(lost, session);
                assert!(by.is_some());
                losers += 1;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(winners.len(), SESSIONS);
    assert_eq!(losers, SESSIONS * (TAKERS - 1));

    // The stored state agrees with the replies, and the loads add up.
    for (session, operator) in &winners {
        let s = some(must(store.session(*session).await, "session"), "session");
        assert_eq!(s.operator().map(UserId::as_str), Some(operator.as_str()));
        assert_eq!(s.version, 2);
    }
    let roster = must(store.roster(line.id).await, "roster");
    let total: u32 = roster.iter().map(|e| e.load).sum();
    assert_eq!(total as usize, SESSIONS);
    for entry in &roster {
        let won = winners
            .values()
            .filter(|o| o.as_str() == entry.user.as_str())
            .count();
        assert_eq!(entry.load as usize, won, "load of {}", entry.user);
    }
}
