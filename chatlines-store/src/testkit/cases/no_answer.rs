//! Accept timeout and no-answer: a session a rule assigned whose operator
//! did not accept it moves on by the rule inside the firing unit, the
//! roster question answered from the store's index with those who let it
//! lapse excluded; consecutive lapses are kept per operator and line, and
//! `max_no_answer` sets the operator away.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    ClaimedTimer, Event, EventPosition, FireOutcome, Line, LineId, RoutePlan, RouteReason,
    RoutingRule, Session, SessionId, SessionStatus, StoreError, TimerKind, Transition, UserId,
};
use std::sync::Arc;

/// A line with `rule` whose rule assignments must be accepted within 60
/// seconds, operated by ann, bob and cat.
async fn accept_line(store: &dyn Store, rule: RoutingRule, max_no_answer: Option<u32>) -> Line {
    let mut line = line_at("Accept", 0);
    line.config = line
        .config
        .rule(rule)
        .accept_timeout(std::time::Duration::from_secs(60));
    line.config.timers.max_no_answer = max_no_answer;
    must(store.insert_line(&line).await, "insert_line");
    let ops = [user("ann"), user("bob"), user("cat")];
    must(store.replace_roster(line.id, &ops).await, "replace_roster");
    line
}

/// Opens a session at `at(secs)` and routes it with `plan`.
async fn routed(store: &dyn Store, line: LineId, secs: i64, plan: RoutePlan) -> Session {
    let s = new_session(store, line, secs).await;
    let route = Transition::Route {
        expected_version: s.version,
        plan,
    };
    must(store.transition(s.id, route, at(secs)).await, "route")
}

async fn claim(store: &dyn Store, now: i64) -> Vec<ClaimedTimer> {
    must(
        store.claim_timers(at(now), at(now + 30), 10).await,
        "claim_timers",
    )
}

/// Claims and fires everything due at `at(now)`; the sessions fired.
async fn fire_due(store: &dyn Store, now: i64) -> Vec<Session> {
    let mut fired = Vec::new();
    for c in claim(store, now).await {
        if let FireOutcome::Fired(s) = must(store.fire_timer(&c, at(now)).await, "fire") {
            fired.push(s);
        }
    }
    fired
}

fn assigned_to(who: &str) -> SessionStatus {
    SessionStatus::Assigned {
        operator: user(who),
    }
}

fn not_accepted(lapsed: &[&str]) -> RouteReason {
    RouteReason::NotAccepted {
        lapsed: lapsed.iter().map(|u| user(u)).collect(),
    }
}

/// (eligible, load, no_answer, away) of a roster entry.
async fn entry(store: &dyn Store, line: LineId, who: &str) -> (bool, u32, u32, bool) {
    let roster = must(store.roster(line).await, "roster");
    let e = some(roster.into_iter().find(|e| e.user.as_str() == who), who);
    (e.eligible, e.load, e.no_answer, e.away)
}

/// The names of the log's events about `session`, and `OperatorAway`s.
async fn names(store: &dyn Store, session: SessionId) -> Vec<&'static str> {
    let page = must(store.events_after(EventPosition::START, 1000).await, "log");
    page.into_iter()
        .filter(|e| {
            content(e).session() == Some(session)
                || matches!(content(e), Event::OperatorAway { .. })
        })
        .map(|e| content(&e).name())
        .filter(|n| *n != "message_in")
        .collect()
}

/// Round robin: a lapse moves the session to the next operator after the
/// cursor (moving it), excluding those who lapsed, with the loads and the
/// lapse count in the same unit; when everyone lapsed it waits queued and
/// routing it again still excludes them.
pub async fn accept_timeout_moves_on_by_round_robin(store: Arc<dyn Store>) {
    let store = &*store;
    let line = accept_line(store, RoutingRule::RoundRobin, None).await;
    let s = routed(store, line.id, 10, RoutePlan::RoundRobin).await;
    assert_eq!(s.status, assigned_to("ann"));
    let timers = must(store.session_timers(s.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::AcceptTimeout);
    assert_eq!(timers[0].due_at, at(70));
    assert_eq!(timers[0].armed_version, s.version);

    assert!(claim(store, 69).await.is_empty(), "not due yet");
    let claimed = claim(store, 70).await;
    assert_eq!(claimed.len(), 1);
    let fired = must(store.fire_timer(&claimed[0], at(71)).await, "fire");
    let FireOutcome::Fired(after) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(after.status, assigned_to("bob"));
    assert_eq!(after.reason, not_accepted(&["ann"]));
    assert_eq!(after.version, s.version + 1);
    assert_eq!(
        some(must(store.session(s.id).await, "session"), "session"),
        after
    );
    assert_eq!(entry(store, line.id, "ann").await, (true, 0, 1, false));
    assert_eq!(entry(store, line.id, "bob").await, (true, 1, 0, false));
    let timers = must(store.session_timers(s.id).await, "re-armed");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].due_at, at(131), "bob's own period");
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(72)).await, "twice"),
        FireOutcome::Gone
    );
    assert_eq!(
        names(store, s.id).await,
        vec![
            "session_opened",
            "session_assigned",
            "session_not_accepted",
            "session_assigned"
        ]
    );

    // The cursor moved to bob: another session goes to cat.
    let other = routed(store, line.id, 80, RoutePlan::RoundRobin).await;
    assert_eq!(other.status, assigned_to("cat"));
    must(
        store
            .transition(other.id, Transition::Close { by_operator: None }, at(81))
            .await,
        "close other",
    );

    // Bob, then cat let it lapse: nobody is left, it waits with its reason.
    assert_eq!(fire_due(store, 131).await.len(), 1);
    let s2 = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(s2.status, assigned_to("cat"));
    assert_eq!(s2.reason, not_accepted(&["ann", "bob"]));
    assert_eq!(fire_due(store, 191).await.len(), 1);
    let s3 = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(s3.status, SessionStatus::Queued);
    assert_eq!(s3.reason, not_accepted(&["ann", "bob", "cat"]));
    assert!(must(store.session_timers(s.id).await, "queued").is_empty());
    for who in ["ann", "bob", "cat"] {
        assert_eq!(entry(store, line.id, who).await.1, 0, "{who}'s load");
    }
    let again = Transition::Route {
        expected_version: s3.version,
        plan: RoutePlan::RoundRobin,
    };
    let s4 = must(store.transition(s.id, again, at(200)).await, "route again");
    assert_eq!(s4.status, SessionStatus::Queued, "all excluded");
    assert_eq!(s4.reason, not_accepted(&["ann", "bob", "cat"]));
}

/// Least loaded: the lapsed operator is excluded although least loaded;
/// with `max_no_answer` reached they are set away (ineligible, also
/// through a roster rebuild) until made eligible again, which clears the
/// count. Accepting resets the count and cancels the timer.
pub async fn accept_timeout_least_loaded_and_away(store: Arc<dyn Store>) {
    let store = &*store;
    let rule = RoutingRule::LeastLoaded { capacity: 5 };
    let line = accept_line(store, rule, Some(2)).await;
    let plan = || RoutePlan::LeastLoaded { capacity: 5 };
    let a = routed(store, line.id, 10, plan()).await;
    assert_eq!(a.status, assigned_to("ann"));
    assert_eq!(fire_due(store, 70).await.len(), 1);
    let a1 = some(must(store.session(a.id).await, "a"), "a");
    assert_eq!(a1.status, assigned_to("bob"), "ann excluded at load 0");
    assert_eq!(entry(store, line.id, "ann").await, (true, 0, 1, false));

    // Accepting: only by the assignee; it cancels and resets.
    let by_ann = Transition::Accept {
        operator: user("ann"),
    };
    let err = fails(store.transition(a.id, by_ann.clone(), at(75)).await, "ann");
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err:?}");
    let by_bob = Transition::Accept {
        operator: user("bob"),
    };
    must(store.transition(a.id, by_bob, at(76)).await, "bob accepts");
    let b = routed(store, line.id, 80, plan()).await;
    assert_eq!(b.status, assigned_to("ann"));
    let accepted = must(store.transition(b.id, by_ann, at(81)).await, "accept");
    assert_eq!(accepted.status, assigned_to("ann"));
    assert_eq!(accepted.version, b.version + 1);
    assert!(must(store.session_timers(b.id).await, "b").is_empty());
    assert_eq!(entry(store, line.id, "ann").await, (true, 1, 0, false));
    assert!(names(store, b.id).await.contains(&"session_accepted"));

    // Two consecutive lapses set ann away.
    must(
        store
            .transition(b.id, Transition::Close { by_operator: None }, at(82))
            .await,
        "close b",
    );
    let c = routed(store, line.id, 90, plan()).await;
    assert_eq!(c.status, assigned_to("ann"));
    let fired = fire_due(store, 150).await;
    assert_eq!(fired.len(), 1);
    let moved_to = some(fired[0].operator().cloned(), "c moved on to someone");
    assert_ne!(moved_to, user("ann"));
    let accept = Transition::Accept { operator: moved_to };
    must(store.transition(c.id, accept, at(151)).await, "c accepted");
    let d = routed(store, line.id, 160, plan()).await;
    assert_eq!(d.status, assigned_to("ann"));
    let fired = fire_due(store, 220).await;
    assert_eq!(fired.len(), 1, "only d lapses");
    assert_eq!(entry(store, line.id, "ann").await, (false, 0, 2, true));
    assert!(names(store, d.id).await.contains(&"operator_away"));

    let ops: Vec<UserId> = ["ann", "bob", "cat"].map(user).to_vec();
    must(store.replace_roster(line.id, &ops).await, "rebuild");
    assert_eq!(entry(store, line.id, "ann").await, (false, 0, 2, true));
    let e = routed(store, line.id, 230, plan()).await;
    assert_ne!(e.status, assigned_to("ann"), "away: never picked");
    must(
        store.set_eligible(line.id, &user("ann"), true).await,
        "reset",
    );
    assert_eq!(entry(store, line.id, "ann").await, (true, 0, 0, false));
}

/// Responsible (first come as fallback): a lapsed assignment is offered
/// to the line, which arms the offer timeout when the line has one.
pub async fn accept_timeout_responsible_offers(store: Arc<dyn Store>) {
    let store = &*store;
    let rule = RoutingRule::Responsible {
        field: "manager".into(),
    };
    let line = accept_line(store, rule, None).await;
    let mut config = line.config.clone();
    config = config.offer_timeout(std::time::Duration::from_secs(30));
    let mut edited = line.clone();
    edited.config = config;
    edited.version += 1;
    must(
        store.update_line(&edited, line.version).await,
        "update_line",
    );
    let plan = RoutePlan::Assign {
        operator: user("mia"),
        reason: RouteReason::Responsible {
            field: "manager".into(),
        },
    };
    let s = routed(store, line.id, 10, plan).await;
    assert_eq!(s.status, assigned_to("mia"));
    assert_eq!(fire_due(store, 70).await.len(), 1);
    let after = some(must(store.session(s.id).await, "s"), "s");
    assert_eq!(after.status, SessionStatus::Offered);
    assert_eq!(after.reason, not_accepted(&["mia"]));
    let timers = must(store.session_timers(s.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::OfferTimeout);
    assert_eq!(timers[0].due_at, at(100));
    assert_eq!(entry(store, line.id, "mia").await, (false, 0, 1, false));
}
