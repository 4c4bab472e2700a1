//! The outbox: claims with leases, outcomes, retries.

use crate::testkit::fixtures::*;
use chatlines_core::{
    DeliveryOutcome, Event, EventPosition, OutboxEntry, OutboxId, OutboxStatus, SessionId,
    SourceId, Store, StoreError, LEASE_EXPIRED,
};
use std::sync::Arc;

/// Appends `n` replies with outbox entries due at `at(due)` on a fresh
/// session, all to one chat of a fresh source; returns the entries in
/// creation order.
pub(crate) async fn queue_replies(store: &dyn Store, n: usize, due: i64) -> Vec<OutboxEntry> {
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let session = assigned_session(store, line.id, "ann", 0).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let mut new = reply(session.id, "ann", "answer", 0);
        let mut entry = outbox_for(&new, source.id, 0);
        entry.next_attempt_at = at(due);
        new.outbox = Some(entry.clone());
        must(store.append_outbound(new).await, "reply");
        out.push(entry);
    }
    out
}

fn ids(entries: &[OutboxEntry]) -> Vec<OutboxId> {
    let mut v: Vec<_> = entries.iter().map(|e| e.id).collect();
    v.sort();
    v
}

/// A delivery whose connector sent a substitute (a template in place of
/// free text) keeps what was sent, in the entry and in its event; one
/// sent as written keeps none.
pub async fn outbox_keeps_a_substitute(store: Arc<dyn Store>) {
    let store = &*store;
    let mut entries = queue_replies(store, 1, 100).await;
    entries.extend(queue_replies(store, 1, 100).await);
    let pending = must(store.outbox_pending().await, "pending");
    let claimed = must(store.claim_outbox(at(100), at(130), 10).await, "claim");
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        must(store.outbox_pending().await, "pending"),
        pending,
        "a leased entry is still pending"
    );
    let substitute = "outside the 24-hour window: sent as template follow_up (en_US)";
    let mut finished = Vec::new();
    for (i, e) in claimed.iter().enumerate() {
        let token = some(e.lease, "lease").token;
        let outcome = DeliveryOutcome::Sent {
            external_id: format!("ext-{i}"),
            substitute: (i == 0).then(|| substitute.to_owned()),
        };
        finished.push(must(
            store.finish_outbox(e.id, token, outcome, at(101)).await,
            "finish",
        ));
    }
    assert_eq!(
        must(store.outbox_pending().await, "pending") + 2,
        pending,
        "finished entries are no longer pending"
    );
    for (i, e) in finished.iter().enumerate() {
        let expected = OutboxStatus::Sent {
            external_id: format!("ext-{i}"),
            substitute: (i == 0).then(|| substitute.to_owned()),
        };
        assert_eq!(e.status, expected, "as finished");
        let stored = some(must(store.outbox_entry(e.id).await, "entry"), "stored");
        assert_eq!(stored.status, expected, "as read back");
        let by_message = some(
            must(store.outbox_for_message(e.message).await, "by message"),
            "stored",
        );
        assert_eq!(by_message.status, expected, "as read by its message");
    }
    let events = must(
        store.events_after(EventPosition::START, 10_000).await,
        "events",
    );
    for (i, e) in finished.iter().enumerate() {
        let logged = events
            .iter()
            .find_map(|l| match content(l) {
                Event::DeliverySucceeded {
                    entry, substitute, ..
                } if *entry == e.id => Some(substitute.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no delivery event for {}", e.id));
        assert_eq!(
            logged,
            (i == 0).then(|| substitute.to_owned()),
            "the event says what was sent"
        );
    }
}

/// Claims take due, unleased entries and lease them; a lease blocks other
/// claims until it expires; only the current holder may finish.
pub async fn outbox_claim_and_lease(store: Arc<dyn Store>) {
    let store = &*store;
    // Two chats (each claim takes a chat's head only).
    let mut due = queue_replies(store, 1, 100).await;
    due.extend(queue_replies(store, 1, 100).await);
    let later = queue_replies(store, 1, 500).await;

    assert!(
        must(store.claim_outbox(at(99), at(130), 10).await, "early").is_empty(),
        "nothing is due before its time"
    );
    let claimed = must(store.claim_outbox(at(100), at(130), 10).await, "claim");
    assert_eq!(ids(&claimed), ids(&due), "exactly the due entries");
    for e in &claimed {
        let lease = some(e.lease, "a claimed entry is leased");
        assert_eq!(lease.until, at(130));
        assert_eq!(e.status, OutboxStatus::Pending);
        assert_eq!(
            must(store.outbox_entry(e.id).await, "entry").and_then(|s| s.lease),
            Some(lease),
            "the lease is stored"
        );
    }
    assert_ne!(
        claimed[0].lease.map(|l| l.token),
        claimed[1].lease.map(|l| l.token),
        "every claim has its own token"
    );
    assert!(
        must(store.claim_outbox(at(120), at(150), 10).await, "leased").is_empty(),
        "a live lease blocks claims"
    );

    // The lease expires: another dispatcher claims it with a new token.
    let first = &claimed[0];
    let old = some(first.lease, "lease").token;
    let again = must(store.claim_outbox(at(131), at(160), 1).await, "reclaim");
    assert_eq!(again.len(), 1, "the limit is respected");
    let reclaimed = again[0].clone();
    let new_token = some(reclaimed.lease, "lease").token;
    assert_ne!(new_token, old);

    let holder = if reclaimed.id == first.id {
        old
    } else {
        some(claimed[1].lease, "lease").token
    };
    let err = fails(
        store
            .finish_outbox(
                reclaimed.id,
                holder,
                DeliveryOutcome::Sent {
                    external_id: "late".to_owned(),
                    substitute: None,
                },
                at(132),
            )
            .await,
        "finish with a lost lease",
    );
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let e = must(
        store
            .finish_outbox(
                reclaimed.id,
                new_token,
                DeliveryOutcome::Sent {
                    external_id: "tg-1".to_owned(),
                    substitute: None,
                },
                at(133),
            )
            .await,
        "finish",
    );
    assert_eq!(
        e.status,
        OutboxStatus::Sent {
            external_id: "tg-1".to_owned(),
            substitute: None,
        }
    );
    assert_eq!(
        e.attempts, 2,
        "the expired first claim and the recorded outcome are attempts"
    );
    assert_eq!(e.lease, None);
    assert_eq!(
        must(store.outbox_entry(e.id).await, "stored"),
        Some(e.clone())
    );

    let err = fails(
        store
            .finish_outbox(
                e.id,
                new_token,
                DeliveryOutcome::Sent {
                    external_id: "tg-1".to_owned(),
                    substitute: None,
                },
                at(134),
            )
            .await,
        "finish twice",
    );
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let err = fails(
        store
            .finish_outbox(
                id(),
                new_token,
                DeliveryOutcome::Failed {
                    error: "x".to_owned(),
                },
                at(134),
            )
            .await,
        "unknown entry",
    );
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let rest = must(store.claim_outbox(at(600), at(700), 10).await, "rest");
    let sent = e.id;
    assert!(rest.iter().all(|r| r.id != sent), "a sent entry is done");
    let mut expected: Vec<_> = due.iter().map(|d| d.id).filter(|i| *i != sent).collect();
    expected.push(later[0].id);
    expected.sort();
    assert_eq!(ids(&rest), expected);
}

/// `Retry` makes an entry pending again at the given time with the error
/// recorded; `Failed` ends it.
pub async fn outbox_retry_then_fail(store: Arc<dyn Store>) {
    let store = &*store;
    let entry = queue_replies(store, 1, 0).await.remove(0);
    let claim = |now, until| store.claim_outbox(at(now), at(until), 10);
    let token = |e: &OutboxEntry| some(e.lease, "lease").token;

    let c = must(claim(0, 30).await, "claim").remove(0);
    let e = must(
        store
            .finish_outbox(
                entry.id,
                token(&c),
                DeliveryOutcome::Retry {
                    at: at(60),
                    error: "429 too many requests".to_owned(),
                },
                at(1),
            )
            .await,
        "retry",
    );
    assert_eq!(e.status, OutboxStatus::Pending);
    assert_eq!(e.attempts, 1);
    assert_eq!(e.next_attempt_at, at(60));
    assert_eq!(e.last_error.as_deref(), Some("429 too many requests"));
    assert_eq!(e.lease, None);
    assert!(
        must(claim(59, 90).await, "before retry").is_empty(),
        "not before the retry time"
    );
    let c = must(claim(60, 90).await, "retry due").remove(0);
    assert_eq!(c.id, entry.id);
    let e = must(
        store
            .finish_outbox(
                entry.id,
                token(&c),
                DeliveryOutcome::Failed {
                    error: "403 bot blocked".to_owned(),
                },
                at(61),
            )
            .await,
        "fail",
    );
    assert_eq!(
        e.status,
        OutboxStatus::Failed {
            error: "403 bot blocked".to_owned()
        }
    );
    assert_eq!(e.attempts, 2);
    assert_eq!(e.last_error.as_deref(), Some("403 bot blocked"));
    assert!(
        must(claim(1000, 2000).await, "after failure").is_empty(),
        "a failed entry is never claimed again"
    );
    assert_eq!(
        must(store.outbox_for_message(entry.message).await, "by message"),
        Some(e)
    );
}

/// Appends one reply of `session` whose entry goes to `address` through
/// `source`, due at `at(0)`.
async fn reply_to(
    store: &dyn Store,
    session: SessionId,
    source: SourceId,
    address: &str,
) -> OutboxEntry {
    let mut new = reply(session, "ann", "answer", 0);
    let mut entry = outbox_for(&new, source, 0);
    entry.address = address.to_owned();
    new.outbox = Some(entry.clone());
    must(store.append_outbound(new).await, "reply");
    entry
}

/// Finishes a claimed entry with its own lease.
async fn finish(
    store: &dyn Store,
    e: &OutboxEntry,
    outcome: DeliveryOutcome,
    secs: i64,
) -> OutboxEntry {
    let token = some(e.lease, "a claimed entry is leased").token;
    must(
        store.finish_outbox(e.id, token, outcome, at(secs)).await,
        "finish",
    )
}

fn sent() -> DeliveryOutcome {
    DeliveryOutcome::Sent {
        external_id: "ext".to_owned(),
        substitute: None,
    }
}

/// A claim takes only each chat's head (its oldest pending entry; a chat
/// is a source and an address): a chat's next entry waits while the head
/// is leased, waits for a retry or is deferred, and becomes claimable when
/// the head is sent or failed. A deferral is not an attempt; a lease that
/// expired without an outcome is.
pub async fn outbox_claims_each_chats_head_in_order(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let other = new_source(store, line.id, 0).await;
    let session = assigned_session(store, line.id, "ann", 0).await;
    let mut a = Vec::new();
    for _ in 0..4 {
        a.push(reply_to(store, session.id, source.id, "chat-a").await);
    }
    let b1 = reply_to(store, session.id, source.id, "chat-b").await;
    let b2 = reply_to(store, session.id, source.id, "chat-b").await;
    // The same address through another source is another chat.
    let c1 = reply_to(store, session.id, other.id, "chat-a").await;
    let claim = |now, until| store.claim_outbox(at(now), at(until), 10);

    let heads = must(claim(10, 40).await, "claim heads");
    assert_eq!(
        ids(&heads),
        ids(&[a[0].clone(), b1.clone(), c1.clone()]),
        "one entry per chat: its oldest"
    );
    assert!(
        must(claim(11, 40).await, "heads leased").is_empty(),
        "a chat's next entry waits while its head is leased"
    );
    let by_id = |id: OutboxId| some(heads.iter().find(|e| e.id == id).cloned(), "claimed");

    // A retry keeps the head in place; a sent head lets the next one go.
    let a1 = finish(
        store,
        &by_id(a[0].id),
        DeliveryOutcome::Retry {
            at: at(20),
            error: "502".to_owned(),
        },
        12,
    )
    .await;
    assert_eq!(a1.attempts, 1);
    finish(store, &by_id(b1.id), sent(), 12).await;
    finish(store, &by_id(c1.id), sent(), 12).await;
    let next = must(claim(13, 40).await, "after b1");
    assert_eq!(
        ids(&next),
        vec![b2.id],
        "chat-a waits for its retry; chat-b moves on"
    );
    finish(store, &next[0], sent(), 13).await;

    let again = must(claim(20, 50).await, "retry due");
    assert_eq!(ids(&again), vec![a[0].id], "the retried head comes first");
    finish(
        store,
        &again[0],
        DeliveryOutcome::Failed {
            error: "400".to_owned(),
        },
        21,
    )
    .await;

    // A failed head lets the next one go; a deferral counts no attempt.
    let a2 = must(claim(22, 50).await, "after a failure").remove(0);
    assert_eq!(a2.id, a[1].id);
    let deferred = finish(store, &a2, DeliveryOutcome::Deferred { until: at(30) }, 22).await;
    assert_eq!(deferred.status, OutboxStatus::Pending);
    assert_eq!(deferred.attempts, 0, "a deferral is not an attempt");
    assert_eq!(deferred.next_attempt_at, at(30));
    assert_eq!(deferred.last_error, None, "a deferral records no error");
    assert!(
        must(claim(29, 50).await, "deferred").is_empty(),
        "a deferred head holds its chat until its time"
    );
    let a2 = must(claim(30, 40).await, "deferral over").remove(0);
    assert_eq!((a2.id, a2.attempts), (a[1].id, 0));

    // Its holder never finishes: the next claim counts the lost attempt.
    let lost = some(a2.lease, "lease").token;
    let a2 = must(claim(41, 60).await, "lease expired").remove(0);
    assert_eq!(a2.id, a[1].id);
    assert_eq!(a2.attempts, 1, "an expired lease is an attempt");
    assert_eq!(a2.last_error.as_deref(), Some(LEASE_EXPIRED));
    assert_eq!(
        must(store.outbox_entry(a2.id).await, "stored"),
        Some(a2.clone()),
        "the claim is stored as returned"
    );
    let err = fails(
        store.finish_outbox(a2.id, lost, sent(), at(42)).await,
        "finish with the expired lease",
    );
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let done = finish(store, &a2, sent(), 42).await;
    assert_eq!(done.attempts, 2);

    let rest = must(claim(43, 60).await, "the rest");
    assert_eq!(ids(&rest), vec![a[2].id], "still one at a time");
    finish(store, &rest[0], sent(), 43).await;
    let rest = must(claim(44, 60).await, "the last");
    assert_eq!(ids(&rest), vec![a[3].id]);
    finish(store, &rest[0], sent(), 44).await;
    assert!(must(claim(1000, 2000).await, "all done").is_empty());
}
