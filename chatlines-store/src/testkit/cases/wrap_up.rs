//! Wrap-up: closing an assigned session on a line with wrap-up keeps the
//! operator's load and arms a timer on the closed session; firing it
//! releases the load once, and leaves the client's newer session alone.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{FireOutcome, RouteReason, RoutingRule, SessionStatus, TimerKind, Transition};
use std::sync::Arc;

/// Close keeps the load and arms `wrap_up`; the timer releases it once;
/// the closed session stays closed and the client's next session opens and
/// stays open meanwhile.
pub async fn wrap_up_holds_the_slot_until_it_fires(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Wrap", 0);
    line.config = line
        .config
        .rule(RoutingRule::LeastLoaded { capacity: 2 })
        .wrap_up(std::time::Duration::from_secs(30));
    must(store.insert_line(&line).await, "insert_line");
    let s = assigned_session(store, line.id, "ann", 10).await;
    let ann_load = || async {
        let roster = must(store.roster(line.id).await, "roster");
        roster
            .into_iter()
            .find(|e| e.user.as_str() == "ann")
            .map_or(0, |e| e.load)
    };
    assert_eq!(ann_load().await, 1);
    let close = Transition::Close {
        by_operator: Some(user("ann")),
    };
    let closed = must(store.transition(s.id, close, at(20)).await, "close");
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        closed.reason,
        RouteReason::WrapUp {
            operator: user("ann"),
            until: at(50),
        }
    );
    assert_eq!(ann_load().await, 1, "held");
    let timers = must(store.session_timers(s.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::WrapUp);
    assert_eq!(timers[0].due_at, at(50));

    // The client writes again meanwhile: a new open session.
    let key = some(must(store.contact(s.contact).await, "contact"), "contact").key;
    let next = must(
        store
            .append_inbound(inbound(line.id, &key, "again", 30))
            .await,
        "append",
    );
    assert!(next.opened);

    let claimed = must(store.claim_timers(at(50), at(80), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    let fired = must(store.fire_timer(&claimed[0], at(51)).await, "fire");
    let FireOutcome::Fired(after) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(after.status, SessionStatus::Closed);
    assert_eq!(after.version, closed.version + 1);
    assert_eq!(ann_load().await, 0, "released");
    assert!(must(store.session_timers(s.id).await, "gone").is_empty());
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(52)).await, "twice"),
        FireOutcome::Gone
    );
    assert_eq!(ann_load().await, 0, "once");
    let open = some(
        must(open_session(store, line.id, s.contact).await, "open"),
        "the newer session is still open",
    );
    assert_eq!(open.id, next.session.id);
}
