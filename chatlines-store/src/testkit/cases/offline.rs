//! Operator offline or blocked: an absent operator's session arms the
//! line's grace timer in the unit that records the absence, the operator's
//! return cancels it, and the grace period's end returns the session to
//! the queue; blocked (or `at_once`) returns it at once.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Availability, EventPosition, FireOutcome, Line, RouteReason, SessionId, SessionStatus,
    StoreError, TimerKind, Transition,
};
use std::sync::Arc;

/// A first-come line whose absent operators' sessions return to routing
/// after 300 seconds.
async fn graced_line(store: &dyn Store) -> Line {
    let mut line = line_at("Graced", 0);
    line.config = line
        .config
        .offline_grace(std::time::Duration::from_secs(300));
    must(store.insert_line(&line).await, "insert_line");
    line
}

fn away(who: &str, availability: Availability, at_once: bool) -> Transition {
    Transition::OperatorAway {
        operator: user(who),
        availability,
        at_once,
    }
}

/// The names of the log's events about `session`.
async fn names(store: &dyn Store, session: SessionId) -> Vec<&'static str> {
    let page = must(store.events_after(EventPosition::START, 1000).await, "log");
    page.into_iter()
        .filter(|e| content(e).session() == Some(session))
        .map(|e| content(&e).name())
        .filter(|n| !n.starts_with("message"))
        .collect()
}

async fn load_of(store: &dyn Store, line: &Line, who: &str) -> u32 {
    let roster = must(store.roster(line.id).await, "roster");
    roster
        .into_iter()
        .find(|e| e.user.as_str() == who)
        .map_or(0, |e| e.load)
}

/// Absent arms the grace timer at the new version; back cancels it;
/// absent again and the period's end queue the session (load released,
/// reason recorded) once.
pub async fn offline_grace_arms_back_cancels_and_fires_once(store: Arc<dyn Store>) {
    let store = &*store;
    let line = graced_line(store).await;
    let s = assigned_session(store, line.id, "ann", 10).await;
    let absent = away("ann", Availability::Absent, false);
    let waiting = must(store.transition(s.id, absent.clone(), at(20)).await, "away");
    assert_eq!(waiting.status, s.status, "still ann's");
    assert_eq!(waiting.version, s.version + 1);
    let timers = must(store.session_timers(s.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::OfflineGrace);
    assert_eq!(timers[0].due_at, at(320));
    assert_eq!(timers[0].armed_version, waiting.version);

    let back = Transition::OperatorBack {
        operator: user("ann"),
    };
    must(store.transition(s.id, back, at(30)).await, "back");
    assert!(must(store.session_timers(s.id).await, "back").is_empty());
    assert!(must(store.claim_timers(at(1000), at(1030), 10).await, "claim").is_empty());

    must(store.transition(s.id, absent, at(40)).await, "away again");
    let claimed = must(store.claim_timers(at(340), at(370), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    let fired = must(store.fire_timer(&claimed[0], at(341)).await, "fire");
    let FireOutcome::Fired(after) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(after.status, SessionStatus::Queued);
    assert_eq!(
        after.reason,
        RouteReason::OperatorAbsent {
            operator: user("ann"),
            availability: Availability::Absent,
        }
    );
    assert_eq!(load_of(store, &line, "ann").await, 0);
    assert!(must(store.session_timers(s.id).await, "fired").is_empty());
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(342)).await, "twice"),
        FireOutcome::Gone
    );
    assert_eq!(
        names(store, s.id).await,
        vec![
            "session_opened",
            "session_assigned",
            "session_operator_absent",
            "session_operator_back",
            "session_operator_absent",
            "session_queued"
        ]
    );
}

/// Blocked or `at_once` returns the session now; refusals (another
/// operator, present, a line without a grace period) write nothing.
pub async fn operator_away_at_once_and_refusals(store: Arc<dyn Store>) {
    let store = &*store;
    let line = graced_line(store).await;
    let a = assigned_session(store, line.id, "ann", 10).await;
    let blocked = must(
        store
            .transition(a.id, away("ann", Availability::Blocked, false), at(11))
            .await,
        "blocked",
    );
    assert_eq!(blocked.status, SessionStatus::Queued);
    assert!(must(store.session_timers(a.id).await, "a").is_empty());
    let b = assigned_session(store, line.id, "bob", 12).await;
    let now = must(
        store
            .transition(b.id, away("bob", Availability::Absent, true), at(13))
            .await,
        "at once",
    );
    assert_eq!(now.status, SessionStatus::Queued);
    assert_eq!(load_of(store, &line, "bob").await, 0);

    let c = assigned_session(store, line.id, "cat", 14).await;
    for (change, what) in [
        (away("ann", Availability::Absent, false), "not ann's"),
        (away("cat", Availability::Present, false), "present"),
    ] {
        let err = fails(store.transition(c.id, change, at(15)).await, what);
        assert!(
            matches!(err, StoreError::InvalidState { .. }),
            "{what}: {err:?}"
        );
    }
    let plain = new_line(store, 1).await;
    let d = assigned_session(store, plain.id, "cat", 16).await;
    let err = fails(
        store
            .transition(d.id, away("cat", Availability::Absent, false), at(17))
            .await,
        "no grace",
    );
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err:?}");
    for s in [&c, &d] {
        let stored = some(must(store.session(s.id).await, "s"), "s");
        assert_eq!(stored, *s, "nothing written");
        assert!(must(store.session_timers(s.id).await, "t").is_empty());
    }
}
