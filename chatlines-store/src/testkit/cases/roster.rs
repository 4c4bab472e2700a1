//! The routing roster and the plans the store executes against it.

use crate::testkit::fixtures::*;
use chatlines_core::{
    LineId, RosterEntry, RoutePlan, RouteReason, Session, SessionStatus, Store, Transition,
};
use std::sync::Arc;

fn entries(roster: &[RosterEntry]) -> Vec<(String, bool, u32)> {
    roster
        .iter()
        .map(|e| (e.user.to_string(), e.eligible, e.load))
        .collect()
}

fn row(name: &str, eligible: bool, load: u32) -> (String, bool, u32) {
    (name.to_owned(), eligible, load)
}

async fn route(store: &dyn Store, line: LineId, plan: RoutePlan, secs: i64) -> Session {
    let s = new_session(store, line, secs).await;
    must(
        store
            .transition(
                s.id,
                Transition::Route {
                    expected_version: s.version,
                    plan,
                },
                at(secs),
            )
            .await,
        "route",
    )
}

/// `replace_roster` makes exactly the listed users eligible and keeps
/// loads; `set_eligible` changes one user; the roster is in user-id order;
/// an unknown line has no roster and gets none.
pub async fn roster_replace_and_set(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    assert!(must(store.roster(line.id).await, "empty").is_empty());
    must(
        store
            .replace_roster(line.id, &[user("cid"), user("ann")])
            .await,
        "replace",
    );
    let _s = assigned_session(store, line.id, "ann", 1).await;
    assert_eq!(
        entries(&must(store.roster(line.id).await, "roster")),
        vec![row("ann", true, 1), row("cid", true, 0)]
    );
    must(
        store.replace_roster(line.id, &[user("bob")]).await,
        "replace again",
    );
    assert_eq!(
        entries(&must(store.roster(line.id).await, "roster")),
        vec![
            row("ann", false, 1),
            row("bob", true, 0),
            row("cid", false, 0)
        ],
        "others become ineligible; loads are kept"
    );
    must(
        store.set_eligible(line.id, &user("ann"), true).await,
        "set ann",
    );
    must(
        store.set_eligible(line.id, &user("bob"), false).await,
        "unset bob",
    );
    must(
        store.set_eligible(line.id, &user("dan"), true).await,
        "new dan",
    );
    assert_eq!(
        entries(&must(store.roster(line.id).await, "roster")),
        vec![
            row("ann", true, 1),
            row("bob", false, 0),
            row("cid", false, 0),
            row("dan", true, 0)
        ]
    );
    let other = new_line(store, 2).await;
    assert!(
        must(store.roster(other.id).await, "other").is_empty(),
        "rosters are per line"
    );

    let ghost: LineId = id();
    must(
        store.set_eligible(ghost, &user("ann"), true).await,
        "set on an unknown line",
    );
    must(
        store.replace_roster(ghost, &[user("ann")]).await,
        "replace on an unknown line",
    );
    assert!(must(store.roster(ghost).await, "ghost").is_empty());
}

/// Round robin: eligible users in id order after the cursor, wrapping;
/// ineligible users skipped; queued when nobody is eligible.
pub async fn round_robin_rotates(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s = route(store, line.id, RoutePlan::RoundRobin, 1).await;
    assert_eq!(s.status, SessionStatus::Queued, "nobody eligible");
    assert_eq!(s.reason, RouteReason::NoOperatorAvailable);

    must(
        store
            .replace_roster(line.id, &[user("cid"), user("ann"), user("bob")])
            .await,
        "roster",
    );
    let mut picked = Vec::new();
    for n in 0..4 {
        let s = route(store, line.id, RoutePlan::RoundRobin, 2 + n).await;
        assert_eq!(s.reason, RouteReason::RoundRobin);
        picked.push(some(s.operator().cloned(), "assigned").to_string());
    }
    assert_eq!(picked, vec!["ann", "bob", "cid", "ann"]);

    must(
        store.set_eligible(line.id, &user("bob"), false).await,
        "bob leaves",
    );
    let s = route(store, line.id, RoutePlan::RoundRobin, 10).await;
    assert_eq!(s.operator(), Some(&user("cid")), "bob is skipped");
    let s = route(store, line.id, RoutePlan::RoundRobin, 11).await;
    assert_eq!(s.operator(), Some(&user("ann")), "wraps around");
    assert_eq!(
        entries(&must(store.roster(line.id).await, "roster")),
        vec![
            row("ann", true, 3),
            row("bob", false, 1),
            row("cid", true, 2)
        ]
    );
}

/// Least loaded: the eligible user with the fewest open sessions (ties by
/// id) below capacity; queued when everyone is full; a close frees a slot.
pub async fn least_loaded_respects_capacity(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    must(
        store
            .replace_roster(line.id, &[user("bob"), user("ann")])
            .await,
        "roster",
    );
    let plan = RoutePlan::LeastLoaded { capacity: 2 };
    let mut picked = Vec::new();
    let mut sessions = Vec::new();
    for n in 0..4 {
        let s = route(store, line.id, plan.clone(), 1 + n).await;
        assert_eq!(s.reason, RouteReason::LeastLoaded);
        picked.push(some(s.operator().cloned(), "assigned").to_string());
        sessions.push(s);
    }
    assert_eq!(picked, vec!["ann", "bob", "ann", "bob"]);

    let full = route(store, line.id, plan.clone(), 10).await;
    assert_eq!(full.status, SessionStatus::Queued, "everyone at capacity");
    assert_eq!(full.reason, RouteReason::NoOperatorAvailable);

    let bobs = sessions
        .iter()
        .find(|s| s.operator() == Some(&user("bob")))
        .map(|s| s.id);
    must(
        store
            .transition(
                some(bobs, "bob's session"),
                Transition::Close { by_operator: None },
                at(11),
            )
            .await,
        "close",
    );
    let s = route(store, line.id, plan.clone(), 12).await;
    assert_eq!(s.operator(), Some(&user("bob")), "the freed slot is used");

    must(
        store.set_eligible(line.id, &user("ann"), false).await,
        "ann leaves",
    );
    let s = route(store, line.id, RoutePlan::LeastLoaded { capacity: 9 }, 13).await;
    assert_eq!(
        s.operator(),
        Some(&user("bob")),
        "an ineligible user is never picked, even when first by id on a tie"
    );
}
