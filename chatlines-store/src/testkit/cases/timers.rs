//! Timers: armed and cancelled with session changes, claimed under a
//! lease, fired once (offer timeout).

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    ClaimedTimer, Event, FireOutcome, Line, LineId, RoutePlan, RouteReason, Session, SessionId,
    SessionStatus, TimerKind, Transition,
};
use std::sync::Arc;

/// A first-come line whose offers time out after 60 seconds (overflowing
/// to `seniors`), stored at `at(0)`.
async fn timed_line(store: &dyn Store) -> Line {
    let mut line = line_at("Timed", 0);
    line.config = line
        .config
        .offer_timeout(std::time::Duration::from_secs(60))
        .overflow("seniors");
    must(store.insert_line(&line).await, "insert_line");
    line
}

/// Opens a session on `line` at `at(secs)` and offers it there.
async fn offered(store: &dyn Store, line: LineId, secs: i64) -> Session {
    let s = new_session(store, line, secs).await;
    let offer = Transition::Route {
        expected_version: s.version,
        plan: RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        },
    };
    must(store.transition(s.id, offer, at(secs)).await, "offer")
}

/// Every `SessionUnanswered` of the log, as (session, lapses).
async fn unanswered(store: &dyn Store) -> Vec<(SessionId, u32)> {
    logged_events(store)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionUnanswered {
                session, lapses, ..
            } => Some((session, lapses)),
            _ => None,
        })
        .collect()
}

async fn claim(store: &dyn Store, now: i64, lease: i64, n: usize) -> Vec<ClaimedTimer> {
    must(
        store.claim_timers(at(now), at(lease), n).await,
        "claim_timers",
    )
}

/// Offering on a line with an offer timeout arms one timer at the new
/// version; taking cancels it; a line without the setting arms nothing.
pub async fn offer_timeout_arms_and_take_cancels(store: Arc<dyn Store>) {
    let store = &*store;
    let line = timed_line(store).await;
    let s = offered(store, line.id, 10).await;
    let timers = must(store.session_timers(s.id).await, "session_timers");
    assert_eq!(timers.len(), 1, "one offer timer: {timers:?}");
    assert_eq!(timers[0].kind, TimerKind::OfferTimeout);
    assert_eq!(timers[0].due_at, at(70));
    assert_eq!(timers[0].armed_version, s.version);
    assert_eq!(timers[0].line, line.id);
    must(store.transition(s.id, take("ann"), at(20)).await, "take");
    assert!(must(store.session_timers(s.id).await, "after take").is_empty());
    assert!(claim(store, 1000, 1030, 10).await.is_empty());

    // Closing an offered session cancels too.
    let closed = offered(store, line.id, 11).await;
    let close = Transition::Close { by_operator: None };
    must(store.transition(closed.id, close, at(12)).await, "close");
    assert!(must(store.session_timers(closed.id).await, "closed").is_empty());

    // Off by default.
    let plain = new_line(store, 1).await;
    let s = offered(store, plain.id, 10).await;
    assert!(must(store.session_timers(s.id).await, "plain line").is_empty());
    assert!(claim(store, 1000, 1030, 10).await.is_empty());
    assert!(unanswered(store).await.is_empty());
}

/// `due_timers` counts the timers due at a time, leased or not, and a
/// cancelled timer leaves the count.
pub async fn due_timers_counts_the_backlog(store: Arc<dyn Store>) {
    let store = &*store;
    let line = timed_line(store).await;
    let first = offered(store, line.id, 10).await;
    let second = offered(store, line.id, 20).await;
    let due = |t| async move { must(store.due_timers(at(t)).await, "due_timers") };
    assert_eq!(due(69).await, 0);
    assert_eq!(due(70).await, 1);
    assert_eq!(due(80).await, 2);
    assert_eq!(claim(store, 70, 100, 10).await.len(), 1);
    assert_eq!(due(80).await, 2, "a leased timer is still due");
    must(
        store.transition(second.id, take("ann"), at(75)).await,
        "take",
    );
    assert_eq!(due(80).await, 1);
    assert_eq!(
        must(store.session_timers(first.id).await, "first").len(),
        1,
        "the first session's timer is the one left"
    );
}

/// A due offer timer is claimed once while its lease holds, fires once
/// (`SessionUnanswered`, the lapse recorded in the reason with the
/// overflow group), and is re-armed one period later; a claim that lost
/// its timer fires nothing.
pub async fn due_timers_fire_once_and_repeat(store: Arc<dyn Store>) {
    let store = &*store;
    let line = timed_line(store).await;
    let s = offered(store, line.id, 10).await;
    assert!(claim(store, 69, 99, 10).await.is_empty(), "not due yet");
    let first = claim(store, 70, 100, 10).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].timer.session, s.id);
    assert_eq!(first[0].lease_until, at(100));
    assert!(claim(store, 71, 101, 10).await.is_empty(), "leased");

    let fired = must(store.fire_timer(&first[0], at(72)).await, "fire");
    let FireOutcome::Fired(after) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(after.status, SessionStatus::Offered);
    assert_eq!(after.version, s.version + 1);
    match &after.reason {
        RouteReason::Unanswered {
            since,
            lapses,
            overflow,
        } => {
            assert_eq!(*since, at(10));
            assert_eq!(*lapses, 1);
            assert_eq!(overflow.as_ref().map(|g| g.as_str()), Some("seniors"));
        }
        other => panic!("reason after a lapse: {other:?}"),
    }
    let stored = some(must(store.session(s.id).await, "session"), "session");
    assert_eq!(stored, after);
    assert_eq!(unanswered(store).await, vec![(s.id, 1)]);

    // Fired again with the same claim: gone, nothing more.
    let again = must(store.fire_timer(&first[0], at(73)).await, "fire twice");
    assert_eq!(again, FireOutcome::Gone);
    assert_eq!(unanswered(store).await.len(), 1);

    // Re-armed one period after the lapse, lease dropped.
    let timers = must(store.session_timers(s.id).await, "re-armed");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].due_at, at(130));
    assert_eq!(timers[0].armed_version, after.version);
    assert!(claim(store, 129, 159, 10).await.is_empty());
    let second = claim(store, 130, 160, 10).await;
    assert_eq!(second.len(), 1);
    let fired = must(store.fire_timer(&second[0], at(131)).await, "second fire");
    assert!(matches!(fired, FireOutcome::Fired(_)), "{fired:?}");
    assert_eq!(unanswered(store).await, vec![(s.id, 1), (s.id, 2)]);

    // Taken: no more lapses.
    must(store.transition(s.id, take("ann"), at(140)).await, "take");
    assert!(claim(store, 10_000, 10_030, 10).await.is_empty());
}

/// A claim whose lease ended and was claimed again fires nothing (the new
/// holder does); a timer whose session changed meanwhile is gone; one
/// whose setting was turned off is stale and deleted.
pub async fn lost_and_stale_timers_do_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let line = timed_line(store).await;

    // Lease ended, claimed again: only the second claim fires.
    let a = offered(store, line.id, 10).await;
    let old = claim(store, 70, 80, 10).await;
    assert_eq!(old.len(), 1);
    let new = claim(store, 80, 110, 10).await;
    assert_eq!(new.len(), 1, "claimable again once the lease ended");
    assert_ne!(old[0].token, new[0].token);
    assert_eq!(
        must(store.fire_timer(&old[0], at(81)).await, "old claim"),
        FireOutcome::Gone
    );
    assert!(matches!(
        must(store.fire_timer(&new[0], at(82)).await, "new claim"),
        FireOutcome::Fired(_)
    ));
    assert_eq!(unanswered(store).await, vec![(a.id, 1)]);
    must(store.transition(a.id, take("ann"), at(83)).await, "take a");

    // Taken between claim and fire: the take cancelled it.
    let b = offered(store, line.id, 100).await;
    let claimed = claim(store, 160, 190, 10).await;
    assert_eq!(claimed.len(), 1);
    must(store.transition(b.id, take("bob"), at(161)).await, "take b");
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(162)).await, "fire b"),
        FireOutcome::Gone
    );

    // Setting turned off after arming: stale, deleted, nothing logged.
    let c = offered(store, line.id, 200).await;
    let mut off = line.clone();
    off.config.timers = Default::default();
    off.version = line.version + 1;
    must(store.update_line(&off, line.version).await, "update_line");
    let claimed = claim(store, 260, 290, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(261)).await, "fire c"),
        FireOutcome::Stale
    );
    assert!(must(store.session_timers(c.id).await, "stale deleted").is_empty());
    let now = some(must(store.session(c.id).await, "c"), "c");
    assert_eq!(now.version, c.version, "a stale timer changes nothing");
    assert_eq!(unanswered(store).await.len(), 1);
}

/// Deleting a line closes its sessions and cancels their timers.
pub async fn line_delete_cancels_timers(store: Arc<dyn Store>) {
    let store = &*store;
    let line = timed_line(store).await;
    let s = offered(store, line.id, 10).await;
    must(
        store.delete_line(line.id, line.version, at(20)).await,
        "delete_line",
    );
    assert!(must(store.session_timers(s.id).await, "timers").is_empty());
    assert!(claim(store, 1000, 1030, 10).await.is_empty());
}

/// Four claimers firing the same due timers concurrently: every session
/// lapses exactly once.
pub async fn concurrent_fires_have_one_effect(store: Arc<dyn Store>) {
    let line = timed_line(&*store).await;
    let mut sessions = Vec::new();
    for i in 0..40 {
        sessions.push(offered(&*store, line.id, i % 5).await.id);
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let claimed = must(store.claim_timers(at(100), at(130), 3).await, "claim");
                if claimed.is_empty() {
                    return;
                }
                for c in &claimed {
                    must(store.fire_timer(c, at(100)).await, "fire");
                }
            }
        }));
    }
    for task in tasks {
        must(task.await, "claimer");
    }
    let mut lapsed: Vec<SessionId> = unanswered(&*store)
        .await
        .into_iter()
        .map(|(s, lapses)| {
            assert_eq!(lapses, 1);
            s
        })
        .collect();
    lapsed.sort();
    sessions.sort();
    assert_eq!(lapsed, sessions, "each session lapsed exactly once");
}

/// A batch fired with `fire_timers`: one outcome per timer, in order,
/// each as `fire_timer` would give it after the timers before it (the same
/// claim twice fires once, then is gone; a timer a take cancelled is
/// gone); four claimers firing their claims in batches concurrently: every
/// session lapses exactly once.
pub async fn batch_fires_have_one_effect(store: Arc<dyn Store>) {
    let line = timed_line(&*store).await;
    let a = offered(&*store, line.id, 10).await;
    let b = offered(&*store, line.id, 11).await;
    let claimed = claim(&*store, 80, 110, 10).await;
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].timer.session, a.id, "earliest due first");
    must(store.transition(b.id, take("bob"), at(81)).await, "take b");
    let batch = vec![claimed[0].clone(), claimed[1].clone(), claimed[0].clone()];
    let outcomes = store.fire_timers(&batch, at(82)).await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    match &outcomes[0] {
        Ok(FireOutcome::Fired(s)) => assert_eq!((s.id, s.version), (a.id, a.version + 1)),
        other => panic!("expected a fired, got {other:?}"),
    }
    assert_eq!(
        outcomes[1].as_ref().ok(),
        Some(&FireOutcome::Gone),
        "b taken"
    );
    assert_eq!(
        outcomes[2].as_ref().ok(),
        Some(&FireOutcome::Gone),
        "a again"
    );
    assert_eq!(unanswered(&*store).await, vec![(a.id, 1)]);
    assert!(store.fire_timers(&[], at(83)).await.is_empty());
    must(store.transition(a.id, take("ann"), at(84)).await, "take a");

    let mut sessions = Vec::new();
    for i in 0..40 {
        sessions.push(offered(&*store, line.id, 100 + i % 5).await.id);
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let claimed = must(store.claim_timers(at(200), at(230), 3).await, "claim");
                if claimed.is_empty() {
                    return;
                }
                for outcome in store.fire_timers(&claimed, at(200)).await {
                    assert!(
                        matches!(outcome, Ok(FireOutcome::Fired(_))),
                        "a claimed timer fires: {outcome:?}"
                    );
                }
            }
        }));
    }
    for task in tasks {
        must(task.await, "claimer");
    }
    let mut lapsed: Vec<SessionId> = unanswered(&*store)
        .await
        .into_iter()
        .filter(|(s, _)| *s != a.id)
        .map(|(s, lapses)| {
            assert_eq!(lapses, 1);
            s
        })
        .collect();
    lapsed.sort();
    sessions.sort();
    assert_eq!(lapsed, sessions, "each session lapsed exactly once");
}

/// Waiting outside working hours arms the opening timer at the opening;
/// fired once, it queues the session again as new (with a
/// `SessionQueued` event) for the hub to route; a take meanwhile cancels
/// it.
pub async fn opening_timer_requeues_a_waiting_session_once(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let wait = |opens: i64| RoutePlan::Queue {
        reason: RouteReason::OffHours {
            opens_at: Some(at(opens)),
            group: None,
        },
    };
    let s = new_session(store, line.id, 10).await;
    let route = Transition::Route {
        expected_version: s.version,
        plan: wait(500),
    };
    let waiting = must(store.transition(s.id, route, at(10)).await, "wait");
    let timers = must(store.session_timers(s.id).await, "session_timers");
    assert_eq!(timers.len(), 1, "one opening timer: {timers:?}");
    assert_eq!(timers[0].kind, TimerKind::HoursOpen);
    assert_eq!(
        (timers[0].due_at, timers[0].armed_version),
        (at(500), waiting.version)
    );

    assert!(claim(store, 499, 530, 10).await.is_empty(), "not due yet");
    let claimed = claim(store, 500, 530, 10).await;
    assert_eq!(claimed.len(), 1);
    let fired = must(store.fire_timer(&claimed[0], at(500)).await, "fire");
    let FireOutcome::Fired(requeued) = fired else {
        panic!("expected the opening to fire, got {fired:?}");
    };
    assert_eq!(
        (requeued.status.clone(), requeued.reason.clone()),
        (SessionStatus::Queued, RouteReason::New)
    );
    assert_eq!(requeued.version, waiting.version + 1);
    assert!(must(store.session_timers(s.id).await, "after").is_empty());
    assert!(
        matches!(
            must(store.fire_timer(&claimed[0], at(501)).await, "again"),
            FireOutcome::Gone | FireOutcome::Stale
        ),
        "a second fire has no effect"
    );
    let queued_events = logged_events(store)
        .await
        .iter()
        .filter(|e| {
            matches!(e, Event::SessionQueued { session, reason: RouteReason::New, .. } if *session == s.id)
        })
        .count();
    assert_eq!(queued_events, 1, "one SessionQueued for the opening");

    // A take while waiting cancels the opening.
    let other = new_session(store, line.id, 20).await;
    let route = Transition::Route {
        expected_version: other.version,
        plan: wait(600),
    };
    must(store.transition(other.id, route, at(20)).await, "wait");
    must(
        store.transition(other.id, take("ann"), at(30)).await,
        "take",
    );
    assert!(must(store.session_timers(other.id).await, "taken").is_empty());
}
