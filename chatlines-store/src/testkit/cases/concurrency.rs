//! Concurrent calls: exactly one winner, no lost or doubled writes.
//!
//! Each case starts its calls together on the multi-threaded runtime the
//! suite runs on, so a store whose checks and writes are not one atomic
//! unit fails here (often, if not on every run).

use super::outbox::queue_replies;
use crate::testkit::fixtures::*;
use chatlines_core::{NewInbound, RoutePlan, SessionStatus, Store, StoreError, Transition};
use futures::future::join_all;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

const N: usize = 16;

/// Runs `N` copies of a call at once, each after a common barrier.
async fn together<T, F, Fut>(call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(N));
    let tasks = (0..N).map(|n| {
        let barrier = barrier.clone();
        let fut = call(n);
        tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| must(r, "a concurrent task panicked"))
        .collect()
}

/// Of many concurrent takes of one session exactly one wins; the others
/// are `AlreadyTaken` naming the winner, and only the winner's load counts.
pub async fn concurrent_takes_have_one_winner(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let s = new_session(&*store, line.id, 1).await;
    let results = together(|n| {
        let store = store.clone();
        async move {
            store
                .transition(s.id, take(&format!("op-{n:02}")), at(2))
                .await
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one take succeeds: {results:?}");
    let winner = some(winners[0].operator().cloned(), "winner");
    for r in &results {
        match r {
            Ok(_) => {}
            Err(StoreError::AlreadyTaken { by, .. }) => {
                assert_eq!(by.as_ref(), Some(&winner), "losers learn the winner");
            }
            Err(other) => panic!("a losing take must be AlreadyTaken, got {other:?}"),
        }
    }
    let stored = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(stored.operator(), Some(&winner));
    assert_eq!(stored.version, 2, "one transition happened");
    let roster = must(store.roster(line.id).await, "roster");
    let total: u32 = roster.iter().map(|e| e.load).sum();
    assert_eq!(total, 1, "one load for one assignment: {roster:?}");
}

/// Many first messages of one new client at once: one contact, one open
/// session, every message stored once with gapless sequence numbers.
pub async fn concurrent_first_messages_open_one_session(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let key = internal("eager-client");
    let results = together(|n| {
        let store = store.clone();
        let new: NewInbound = inbound(line.id, &key, &format!("m{n}"), 1);
        async move { store.append_inbound(new).await }
    })
    .await;
    let appended: Vec<_> = results
        .into_iter()
        .map(|r| must(r, "concurrent append"))
        .collect();
    assert_eq!(
        appended.iter().filter(|a| a.opened).count(),
        1,
        "exactly one call opened the session"
    );
    let contacts: HashSet<_> = appended.iter().map(|a| a.contact.id).collect();
    let sessions: HashSet<_> = appended.iter().map(|a| a.session.id).collect();
    assert_eq!(contacts.len(), 1, "one contact");
    assert_eq!(sessions.len(), 1, "one session");
    let mut seqs: Vec<u64> = appended.iter().map(|a| a.message.seq).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=N as u64).collect();
    assert_eq!(seqs, expected, "sequence numbers without gaps or repeats");
    let contact = some(contacts.into_iter().next(), "contact");
    let all = must(store.contact_sessions(line.id, contact).await, "sessions");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].last_seq, N as u64);
    assert_eq!(all[0].status, SessionStatus::Queued);
}

/// One webhook delivered many times at once is stored once.
pub async fn concurrent_redeliveries_store_one_message(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let source = new_source(&*store, line.id, 0).await;
    let results = together(|_| {
        let store = store.clone();
        let new = inbound_ext(line.id, source.id, "tg-7", "update-7", 1);
        async move { store.append_inbound(new).await }
    })
    .await;
    let appended: Vec<_> = results
        .into_iter()
        .map(|r| must(r, "concurrent redelivery"))
        .collect();
    assert_eq!(
        appended.iter().filter(|a| !a.duplicate).count(),
        1,
        "exactly one delivery stored the message"
    );
    let ids: HashSet<_> = appended.iter().map(|a| a.message.id).collect();
    assert_eq!(ids.len(), 1, "every delivery sees the same message");
    let session = appended[0].session.id;
    let page = must(
        store
            .messages(session, chatlines_core::Cursor::Start, 100)
            .await,
        "messages",
    );
    assert_eq!(page.len(), 1);
}

/// Least-loaded routing of many sessions at once never exceeds capacity.
pub async fn concurrent_routing_respects_capacity(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let ops = [user("ann"), user("bob"), user("cid")];
    must(store.replace_roster(line.id, &ops).await, "roster");
    let mut sessions = Vec::new();
    for n in 0..N {
        let secs = i64::try_from(n).unwrap_or_default();
        sessions.push(new_session(&*store, line.id, secs).await);
    }
    let results = together(|n| {
        let store = store.clone();
        let s = sessions[n].clone();
        async move {
            store
                .transition(
                    s.id,
                    Transition::Route {
                        expected_version: s.version,
                        plan: RoutePlan::LeastLoaded { capacity: 2 },
                    },
                    at(100),
                )
                .await
        }
    })
    .await;
    let routed: Vec<_> = results.into_iter().map(|r| must(r, "route")).collect();
    let assigned = routed.iter().filter(|s| s.operator().is_some()).count();
    assert_eq!(assigned, 6, "three operators with capacity two");
    for op in &ops {
        let mine = routed.iter().filter(|s| s.operator() == Some(op)).count();
        assert_eq!(mine, 2, "{op} got exactly capacity");
    }
    let roster = must(store.roster(line.id).await, "roster");
    assert!(roster.iter().all(|e| e.load == 2), "{roster:?}");
}

/// Concurrent dispatchers never claim the same outbox entry.
pub async fn concurrent_claims_are_disjoint(store: Arc<dyn Store>) {
    // One chat each: a claim takes each chat's head only.
    let mut entries = Vec::new();
    for _ in 0..2 * N {
        entries.extend(queue_replies(&*store, 1, 0).await);
    }
    let results = together(|_| {
        let store = store.clone();
        async move { store.claim_outbox(at(10), at(70), 3).await }
    })
    .await;
    let mut claimed = Vec::new();
    for r in results {
        let batch = must(r, "claim");
        assert!(batch.len() <= 3, "the limit is respected");
        claimed.extend(batch.into_iter().map(|e| e.id));
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "no entry claimed twice");
    assert_eq!(
        claimed.len(),
        entries.len(),
        "every due entry claimed once ({} claimers x 3 >= {})",
        N,
        entries.len()
    );
}

/// Client messages and operator replies appended at once to one session
/// get distinct, gapless sequence numbers.
pub async fn concurrent_appends_keep_seq_gapless(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let key = internal("chatty");
    let first = must(
        store.append_inbound(inbound(line.id, &key, "hi", 1)).await,
        "first",
    );
    must(
        store.transition(first.session.id, take("ann"), at(2)).await,
        "take",
    );
    let session = first.session.id;
    let results = together(|n| {
        let store = store.clone();
        let key = key.clone();
        async move {
            if n % 2 == 0 {
                store
                    .append_inbound(inbound(line.id, &key, "more", 3))
                    .await
                    .map(|a| a.message.seq)
            } else {
                store
                    .append_outbound(reply(session, "ann", "answer", 3))
                    .await
                    .map(|m| m.seq)
            }
        }
    })
    .await;
    let mut seqs: Vec<u64> = results.into_iter().map(|r| must(r, "append")).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (2..=N as u64 + 1).collect();
    assert_eq!(seqs, expected, "distinct, gapless sequence numbers");
    let page = must(
        store
            .messages(session, chatlines_core::Cursor::Start, 100)
            .await,
        "messages",
    );
    let stored: Vec<u64> = page.iter().map(|m| m.seq).collect();
    let all: Vec<u64> = (1..=N as u64 + 1).collect();
    assert_eq!(stored, all);
}

/// Round robin under concurrency: every eligible operator gets the same
/// share, because each pick advances the cursor atomically.
pub async fn concurrent_round_robin_is_fair(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let ops = [user("ann"), user("bob"), user("cid"), user("dan")];
    must(store.replace_roster(line.id, &ops).await, "roster");
    let mut sessions = Vec::new();
    for n in 0..N {
        let secs = i64::try_from(n).unwrap_or_default();
        sessions.push(new_session(&*store, line.id, secs).await);
    }
    let results = together(|n| {
        let store = store.clone();
        let s = sessions[n].clone();
        async move {
            store
                .transition(
                    s.id,
                    Transition::Route {
                        expected_version: s.version,
                        plan: RoutePlan::RoundRobin,
                    },
                    at(100),
                )
                .await
        }
    })
    .await;
    let routed: Vec<_> = results.into_iter().map(|r| must(r, "route")).collect();
    for op in &ops {
        let mine = routed.iter().filter(|s| s.operator() == Some(op)).count();
        assert_eq!(mine, N / ops.len(), "{op} got an equal share");
    }
}

/// Concurrent edits of one line at the same version: exactly one wins, the
/// others are `Conflict`, and the winner's edit is what is stored.
pub async fn concurrent_line_updates_have_one_winner(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let results = together(|n| {
        let store = store.clone();
        let mut edit = line.clone();
        edit.version = 2;
        edit.config.name = format!("edit {n}");
        async move { store.update_line(&edit, 1).await.map(|()| n) }
    })
    .await;
    let winners: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one update wins: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        }
    }
    let stored = some(must(store.line(line.id).await, "line"), "line");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.config.name, format!("edit {}", winners[0]));
}
