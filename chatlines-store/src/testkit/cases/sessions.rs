//! Session transitions and session lists.

use crate::testkit::fixtures::*;
use chatlines_core::{
    RoutePlan, RouteReason, SessionState, SessionStatus, Store, StoreError, Transition,
};
use std::sync::Arc;

fn route(expected_version: u64, plan: RoutePlan) -> Transition {
    Transition::Route {
        expected_version,
        plan,
    }
}

/// Routing plans are carried out from queued at the expected version; a
/// stale version or a session no longer queued is a `Conflict` that changes
/// nothing.
pub async fn route_plans_are_guarded(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;

    let s = new_session(store, line.id, 1).await;
    let offered = must(
        store
            .transition(
                s.id,
                route(
                    1,
                    RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                ),
                at(2),
            )
            .await,
        "offer",
    );
    assert_eq!(offered.status, SessionStatus::Offered);
    assert_eq!(offered.reason, RouteReason::FirstCome);
    assert_eq!(offered.version, 2);
    assert_eq!(offered.updated_at, at(2));
    let err = fails(
        store
            .transition(
                s.id,
                route(
                    2,
                    RoutePlan::Queue {
                        reason: RouteReason::NoOperatorAvailable,
                    },
                ),
                at(3),
            )
            .await,
        "route an offered session",
    );
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "session",
                ..
            }
        ),
        "{err:?}"
    );

    let s = new_session(store, line.id, 4).await;
    let err = fails(
        store
            .transition(
                s.id,
                route(
                    7,
                    RoutePlan::Assign {
                        operator: user("ann"),
                        reason: RouteReason::FirstCome,
                    },
                ),
                at(5),
            )
            .await,
        "stale version",
    );
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 7,
                actual: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let unchanged = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(unchanged, s, "a refused transition writes nothing");
    assert!(must(store.roster(line.id).await, "roster").is_empty());

    let reason = RouteReason::Custom {
        note: "vip".to_owned(),
    };
    let a = must(
        store
            .transition(
                s.id,
                route(
                    1,
                    RoutePlan::Assign {
                        operator: user("ann"),
                        reason: reason.clone(),
                    },
                ),
                at(6),
            )
            .await,
        "assign",
    );
    assert_eq!(
        a.status,
        SessionStatus::Assigned {
            operator: user("ann")
        }
    );
    assert_eq!(a.reason, reason);
    assert_eq!(a.version, 2);
    let roster = must(store.roster(line.id).await, "roster");
    assert_eq!(roster.len(), 1, "assignment creates a roster entry");
    assert_eq!(roster[0].user, user("ann"));
    assert_eq!(roster[0].load, 1);
    assert!(!roster[0].eligible, "the created entry is ineligible");

    let s = new_session(store, line.id, 7).await;
    let q = must(
        store
            .transition(
                s.id,
                route(
                    1,
                    RoutePlan::Queue {
                        reason: RouteReason::NoOperatorAvailable,
                    },
                ),
                at(8),
            )
            .await,
        "queue",
    );
    assert_eq!(q.status, SessionStatus::Queued);
    assert_eq!(q.reason, RouteReason::NoOperatorAvailable);
    assert_eq!(q.version, 2, "staying queued is still a transition");

    let err = fails(
        store
            .transition(id(), route(1, RoutePlan::RoundRobin), at(9))
            .await,
        "unknown session",
    );
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "session",
                ..
            }
        ),
        "{err:?}"
    );
}

/// First come: a queued or offered session is taken once; later takes are
/// `AlreadyTaken` naming the winner; a closed session cannot be taken.
pub async fn take_first_come(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s = new_session(store, line.id, 1).await;
    must(
        store
            .transition(
                s.id,
                route(
                    1,
                    RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                ),
                at(2),
            )
            .await,
        "offer",
    );
    let taken = must(store.transition(s.id, take("ann"), at(3)).await, "take");
    assert_eq!(taken.operator(), Some(&user("ann")));
    assert_eq!(taken.reason, RouteReason::Taken);
    assert_eq!(taken.version, 3);
    let err = fails(store.transition(s.id, take("bob"), at(4)).await, "second");
    match err {
        StoreError::AlreadyTaken { session, by } => {
            assert_eq!(session, s.id);
            assert_eq!(by, Some(user("ann")));
        }
        other => panic!("expected AlreadyTaken, got {other:?}"),
    }
    let err = fails(store.transition(s.id, take("ann"), at(4)).await, "again");
    assert!(matches!(err, StoreError::AlreadyTaken { .. }), "{err:?}");

    let queued = new_session(store, line.id, 5).await;
    let t = must(
        store.transition(queued.id, take("bob"), at(6)).await,
        "take queued",
    );
    assert_eq!(t.operator(), Some(&user("bob")));

    must(
        store
            .transition(queued.id, Transition::Close { by_operator: None }, at(7))
            .await,
        "close",
    );
    let err = fails(
        store.transition(queued.id, take("ann"), at(8)).await,
        "take closed",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Closed,
                ..
            }
        ),
        "{err:?}"
    );
    let roster = must(store.roster(line.id).await, "roster");
    let load = |name: &str| {
        roster
            .iter()
            .find(|e| e.user == user(name))
            .map_or(0, |e| e.load)
    };
    assert_eq!(load("ann"), 1);
    assert_eq!(load("bob"), 0, "closing frees the slot");
}

/// A supervisor's assignment overrides; the assigned operator transfers to
/// another operator or back to the queue; loads follow.
pub async fn assign_and_transfer(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s = assigned_session(store, line.id, "ann", 1).await;

    let a = must(
        store
            .transition(
                s.id,
                Transition::Assign {
                    operator: user("bob"),
                    by: user("sue"),
                },
                at(2),
            )
            .await,
        "assign",
    );
    assert_eq!(a.operator(), Some(&user("bob")));
    assert_eq!(
        a.reason,
        RouteReason::AssignedBySupervisor { by: user("sue") }
    );
    assert_eq!(loads(store, line.id).await, vec![("ann", 0), ("bob", 1)]);

    let err = fails(
        store
            .transition(
                s.id,
                Transition::Transfer {
                    from: user("ann"),
                    to: user("cid"),
                },
                at(3),
            )
            .await,
        "transfer by a former operator",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Assigned,
                ..
            }
        ),
        "{err:?}"
    );

    let t = must(
        store
            .transition(
                s.id,
                Transition::Transfer {
                    from: user("bob"),
                    to: user("cid"),
                },
                at(4),
            )
            .await,
        "transfer",
    );
    assert_eq!(t.operator(), Some(&user("cid")));
    assert_eq!(t.reason, RouteReason::Transferred { by: user("bob") });
    assert_eq!(
        loads(store, line.id).await,
        vec![("ann", 0), ("bob", 0), ("cid", 1)]
    );
    assert!(must(
        store
            .assigned_sessions(&user("bob"), None, usize::MAX)
            .await,
        "b"
    )
    .is_empty());
    assert_eq!(
        must(
            store
                .assigned_sessions(&user("cid"), None, usize::MAX)
                .await,
            "c"
        )
        .len(),
        1
    );

    let back = must(
        store
            .transition(s.id, Transition::Return { from: user("cid") }, at(5))
            .await,
        "return to queue",
    );
    assert_eq!(back.status, SessionStatus::Queued);
    assert_eq!(back.reason, RouteReason::Returned { by: user("cid") });
    assert_eq!(
        loads(store, line.id).await,
        vec![("ann", 0), ("bob", 0), ("cid", 0)]
    );
    let err = fails(
        store
            .transition(s.id, Transition::Return { from: user("cid") }, at(6))
            .await,
        "transfer a queued session",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Queued,
                ..
            }
        ),
        "{err:?}"
    );

    // A supervisor may assign a queued session too.
    let a = must(
        store
            .transition(
                s.id,
                Transition::Assign {
                    operator: user("ann"),
                    by: user("sue"),
                },
                at(7),
            )
            .await,
        "assign queued",
    );
    assert_eq!(a.operator(), Some(&user("ann")));
    assert_eq!(
        a.version,
        s.version + 4,
        "every transition bumps the version"
    );
}

/// Closing: the assigned operator or a supervisor, once; `closed_at` set;
/// the operator's load released.
pub async fn close_rules(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s = assigned_session(store, line.id, "ann", 1).await;
    let err = fails(
        store
            .transition(
                s.id,
                Transition::Close {
                    by_operator: Some(user("bob")),
                },
                at(2),
            )
            .await,
        "close by another operator",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Assigned,
                ..
            }
        ),
        "{err:?}"
    );
    let closed = must(
        store
            .transition(
                s.id,
                Transition::Close {
                    by_operator: Some(user("ann")),
                },
                at(3),
            )
            .await,
        "close",
    );
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(closed.closed_at, Some(at(3)));
    assert_eq!(closed.updated_at, at(3));
    assert_eq!(closed.version, s.version + 1);
    assert_eq!(loads(store, line.id).await, vec![("ann", 0)]);
    assert!(must(
        store
            .assigned_sessions(&user("ann"), None, usize::MAX)
            .await,
        "a"
    )
    .is_empty());
    let err = fails(
        store
            .transition(s.id, Transition::Close { by_operator: None }, at(4))
            .await,
        "close twice",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Closed,
                ..
            }
        ),
        "{err:?}"
    );
    for change in [
        Transition::Assign {
            operator: user("bob"),
            by: user("sue"),
        },
        Transition::Return { from: user("ann") },
    ] {
        let err = fails(store.transition(s.id, change, at(5)).await, "closed");
        assert!(
            matches!(
                err,
                StoreError::InvalidState {
                    state: SessionState::Closed,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let after = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(after, closed, "refused transitions write nothing");

    let q = new_session(store, line.id, 6).await;
    let err = fails(
        store
            .transition(
                q.id,
                Transition::Close {
                    by_operator: Some(user("ann")),
                },
                at(7),
            )
            .await,
        "an operator closes an unassigned session",
    );
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err:?}");
    let c = must(
        store
            .transition(q.id, Transition::Close { by_operator: None }, at(8))
            .await,
        "supervisor closes a queued session",
    );
    assert_eq!(c.status, SessionStatus::Closed);
}

/// Queued, offered and assigned lists: per line (queued, offered) or per
/// operator across lines (assigned), oldest first, limited.
pub async fn session_lists(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let other = new_line(store, 0).await;
    let q1 = new_session(store, line.id, 10).await;
    let q2 = new_session(store, line.id, 11).await;
    let q3 = new_session(store, line.id, 12).await;
    let _elsewhere = new_session(store, other.id, 5).await;
    let offer = |s: chatlines_core::Session, secs| {
        store.transition(
            s.id,
            route(
                s.version,
                RoutePlan::Offer {
                    reason: RouteReason::FirstCome,
                },
            ),
            at(secs),
        )
    };
    let o2 = new_session(store, line.id, 14).await;
    let o1 = new_session(store, line.id, 13).await;
    must(offer(o2.clone(), 15).await, "offer");
    must(offer(o1.clone(), 16).await, "offer");
    let a2 = assigned_session(store, other.id, "ann", 21).await;
    let a1 = assigned_session(store, line.id, "ann", 20).await;
    let _bob = assigned_session(store, line.id, "bob", 19).await;

    let ids = |v: Vec<chatlines_core::Session>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(must(store.queued_sessions(line.id, 10).await, "queued")),
        vec![q1.id, q2.id, q3.id]
    );
    assert_eq!(
        ids(must(store.queued_sessions(line.id, 2).await, "queued")),
        vec![q1.id, q2.id]
    );
    assert_eq!(
        ids(must(store.offered_sessions(line.id, 10).await, "offered")),
        vec![o1.id, o2.id],
        "offered, oldest (by opening) first"
    );
    assert_eq!(
        ids(must(store.offered_sessions(line.id, 1).await, "offered")),
        vec![o1.id]
    );
    assert!(must(store.offered_sessions(other.id, 10).await, "o").is_empty());
    assert_eq!(
        ids(must(
            store
                .assigned_sessions(&user("ann"), None, usize::MAX)
                .await,
            "assigned"
        )),
        vec![a1.id, a2.id],
        "assigned on every line, oldest first"
    );
    assert!(must(
        store
            .assigned_sessions(&user("zed"), None, usize::MAX)
            .await,
        "z"
    )
    .is_empty());
}

/// Loads of a line's roster as (user, load), in user-id order.
async fn loads(store: &dyn Store, line: chatlines_core::LineId) -> Vec<(&'static str, u32)> {
    must(store.roster(line).await, "roster")
        .into_iter()
        .map(|e| (leak_name(e.user.as_str()), e.load))
        .collect()
}

/// Maps the fixed operator names used here back to `'static` strings.
fn leak_name(name: &str) -> &'static str {
    ["ann", "bob", "cid", "dan", "eve"]
        .into_iter()
        .find(|n| *n == name)
        .unwrap_or("?")
}
