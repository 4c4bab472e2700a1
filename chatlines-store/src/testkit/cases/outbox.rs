//! The outbox: claims with leases, outcomes, retries.

use crate::testkit::fixtures::*;
use chatlines_core::{DeliveryOutcome, OutboxEntry, OutboxId, OutboxStatus, Store, StoreError};
use std::sync::Arc;

/// Appends `n` replies with outbox entries due at `at(due)` on a fresh
/// session; returns the entries in creation order.
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

/// Claims take due, unleased entries and lease them; a lease blocks other
/// claims until it expires; only the current holder may finish.
pub async fn outbox_claim_and_lease(store: Arc<dyn Store>) {
    let store = &*store;
    let due = queue_replies(store, 2, 100).await;
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
                },
                at(133),
            )
            .await,
        "finish",
    );
    assert_eq!(
        e.status,
        OutboxStatus::Sent {
            external_id: "tg-1".to_owned()
        }
    );
    assert_eq!(e.attempts, 1);
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
