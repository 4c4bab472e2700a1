//! Priority: `SetPriority` is written through core's machine (the
//! session's other fields and its armed timers kept current), and queued
//! and offered sessions are listed highest priority first, then oldest —
//! or, on a line with priority aging, by the queue key — alike in every
//! store.

use crate::testkit::fixtures::*;
use chatlines_core::priority::PriorityCause;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    LineConfig, Priority, RoutePlan, RouteReason, Session, SessionId, SessionStatus, StoreError,
    TimerKind, Transition,
};
use std::sync::Arc;

fn set(priority: Priority) -> Transition {
    Transition::SetPriority {
        priority,
        cause: PriorityCause::Host,
    }
}

fn ids(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// Queued and offered sessions by priority then age; aging turns the
/// order into the queue key's; a priority change keeps the status, the
/// reason and the timers (moved to the new version), survives later
/// transitions and appends, and is refused on a closed session.
pub async fn priority_orders_waiting_sessions(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Priority", 0);
    line.config = line
        .config
        .offer_timeout(std::time::Duration::from_secs(60));
    must(store.insert_line(&line).await, "insert_line");
    let s1 = new_session(store, line.id, 10).await;
    let s2 = new_session(store, line.id, 20).await;
    let s3 = new_session(store, line.id, 30).await;
    let s4 = new_session(store, line.id, 40).await;
    assert_eq!(s1.priority, Priority::Normal, "normal by default");
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 10).await, "queued")),
        vec![s1.id, s2.id, s3.id, s4.id],
        "all normal: oldest first"
    );

    let high = must(
        store.transition(s3.id, set(Priority::High), at(41)).await,
        "set high",
    );
    assert_eq!(high.priority, Priority::High);
    assert_eq!(high.version, s3.version + 1);
    assert_eq!(high.status, SessionStatus::Queued);
    assert_eq!(high.reason, s3.reason);
    assert_eq!(high.updated_at, s3.updated_at, "not a routing change");
    must(
        store.transition(s4.id, set(Priority::Low), at(42)).await,
        "set low",
    );
    let stored = some(must(store.session(s3.id).await, "session"), "s3");
    assert_eq!(stored.priority, Priority::High);
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 10).await, "queued")),
        vec![s3.id, s1.id, s2.id, s4.id]
    );
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 2).await, "queued")),
        vec![s3.id, s1.id]
    );

    // Offered: the same order; the offer timeout stays current.
    let offer = |s: &Session| Transition::Route {
        expected_version: s.version,
        plan: RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        },
    };
    let o1 = must(store.transition(s1.id, offer(&s1), at(50)).await, "offer");
    let o2 = must(store.transition(s2.id, offer(&s2), at(51)).await, "offer");
    assert_eq!(
        ids(&must(store.offered_sessions(line.id, 10).await, "offered")),
        vec![o1.id, o2.id]
    );
    // An operator's offers, across lines, in the same order; paged.
    must(
        store.replace_roster(line.id, &[user("ann")]).await,
        "roster",
    );
    let other = new_line(store, 0).await;
    must(
        store.replace_roster(other.id, &[user("ann")]).await,
        "roster",
    );
    let elsewhere = new_session(store, other.id, 45).await;
    let elsewhere = must(
        store
            .transition(elsewhere.id, offer(&elsewhere), at(52))
            .await,
        "offer",
    );
    assert_eq!(
        ids(&must(
            store.offered_to(&user("ann"), None, 10).await,
            "offered_to"
        )),
        vec![o1.id, o2.id, elsewhere.id],
        "all normal: oldest first"
    );
    let urgent = must(
        store.transition(o2.id, set(Priority::Urgent), at(52)).await,
        "set urgent",
    );
    assert_eq!(urgent.status, SessionStatus::Offered);
    assert_eq!(
        ids(&must(store.offered_sessions(line.id, 10).await, "offered")),
        vec![o2.id, o1.id]
    );
    assert_eq!(
        ids(&must(
            store.offered_to(&user("ann"), None, 10).await,
            "offered_to"
        )),
        vec![o2.id, o1.id, elsewhere.id]
    );
    assert_eq!(
        ids(&must(
            store.offered_to(&user("ann"), Some(o2.id), 1).await,
            "page"
        )),
        vec![o1.id]
    );
    assert_eq!(
        ids(&must(
            store.offered_to(&user("ann"), Some(o1.id), 10).await,
            "page"
        )),
        vec![elsewhere.id]
    );
    let timers = must(store.session_timers(o2.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::OfferTimeout);
    assert_eq!(timers[0].armed_version, urgent.version, "kept current");
    assert_eq!(timers[0].due_at, at(111), "due as armed");
    // The session's other changes keep the priority.
    let taken = must(store.transition(o2.id, take("ann"), at(53)).await, "take");
    assert_eq!(taken.priority, Priority::Urgent);
    // So does a message of its client.
    let key = some(must(store.contact(s3.contact).await, "contact"), "contact").key;
    let appended = must(
        store
            .append_inbound(inbound(line.id, &key, "more", 54))
            .await,
        "append",
    );
    assert!(!appended.opened);
    assert_eq!(appended.session.priority, Priority::High);

    // A closed session's priority is not changed.
    let close = Transition::Close { by_operator: None };
    let closed = must(store.transition(o1.id, close, at(55)).await, "close");
    let refused = fails(
        store.transition(o1.id, set(Priority::High), at(56)).await,
        "set on closed",
    );
    assert!(
        matches!(refused, StoreError::InvalidState { .. }),
        "{refused:?}"
    );
    let still = some(must(store.session(o1.id).await, "session"), "o1");
    assert_eq!(
        (still.priority, still.version),
        (Priority::Normal, closed.version)
    );

    // Aging: a step of 15 s. Queued now: s3 high (opened 30: key 0), s4
    // low (40: key 40); add s5 normal (50: key 35) and s6 urgent (100:
    // key 55).
    let s5 = new_session(store, line.id, 50).await;
    let s6 = new_session(store, line.id, 100).await;
    must(
        store
            .transition(s6.id, set(Priority::Urgent), at(101))
            .await,
        "set urgent",
    );
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 10).await, "queued")),
        vec![s6.id, s3.id, s5.id, s4.id],
        "no aging: strict priority"
    );
    let mut aging = line.clone();
    aging.config =
        LineConfig::clone(&line.config).priority_aging(std::time::Duration::from_secs(15));
    must(store.update_line(&aging, line.version).await, "update_line");
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 10).await, "queued")),
        vec![s3.id, s5.id, s4.id, s6.id],
        "aging: by the queue key"
    );
    assert_eq!(
        ids(&must(store.queued_sessions(line.id, 2).await, "queued")),
        vec![s3.id, s5.id]
    );
}
