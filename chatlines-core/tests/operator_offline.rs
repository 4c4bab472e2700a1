//! Operator offline or blocked (issue 9, behaviour 3): when the operator
//! of open sessions becomes absent (`Hub::availability_changed`), the
//! sessions return to routing after the line's grace period unless the
//! operator is back in time; a blocked operator's return at once. A client
//! writing into a session of an absent operator is routed again at once.
//! Each move is an event with the reason (`RouteReason::OperatorAbsent`).
//! Off by default. Time is a `ManualClock`; `Hub::run_due` fires what is
//! due.

mod common;

use chatlines_core::{
    Availability, Clock, Event, LineConfig, LineField, ManualClock, RouteReason, RoutingRule,
    SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

const GRACE: i64 = 300;

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (World::with_clock(clock.clone()), clock)
}

fn graced(rule: RoutingRule) -> LineConfig {
    staff_line("Desk")
        .rule(rule)
        .offline_grace(Duration::from_secs(GRACE as u64))
}

fn absent(who: &str, availability: Availability) -> RouteReason {
    RouteReason::OperatorAbsent {
        operator: user(who),
        availability,
    }
}

/// The names of the events since the last drain, without messages.
fn names(w: &World) -> Vec<&'static str> {
    w.events
        .drain()
        .iter()
        .map(Event::name)
        .filter(|n| !n.starts_with("message"))
        .collect()
}

#[tokio::test]
async fn an_absent_operators_sessions_return_after_the_grace_period() -> TestResult {
    let (w, clock) = world();
    let line = w.line(graced(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let id = posted.session.id;
    assert_eq!(posted.session.status, assigned_to("ann"));
    w.events.drain();

    let before = clock.now();
    w.set_availability("ann", Availability::Absent).await?;
    let events = w.events.drain();
    match events.as_slice() {
        [Event::SessionOperatorAbsent {
            operator,
            returns_at,
            ..
        }] => {
            assert_eq!(operator, &user("ann"));
            // The clock ticks on each reading.
            let due = *returns_at - before;
            assert!(due >= secs(GRACE) && due < secs(GRACE + 1), "{due}");
        }
        other => panic!("{other:?}"),
    }
    let timers = w.store.session_timers(id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::OfflineGrace);
    assert_eq!(w.stored_session(id).await?.status, assigned_to("ann"));

    clock.advance(secs(GRACE - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let events = w.events.drain();
    match events.as_slice() {
        [Event::SessionQueued { reason, .. }, Event::SessionAssigned {
            operator,
            reason: then,
            ..
        }] => {
            assert_eq!(reason, &absent("ann", Availability::Absent));
            assert_eq!(operator, &user("bob"), "routed by the rule, ann ineligible");
            assert_eq!(then, &RouteReason::RoundRobin);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.stored_session(id).await?.status, assigned_to("bob"));
    let roster = w.store.roster(line.id).await?;
    let ann = roster.iter().find(|e| e.user == user("ann")).ok_or("ann")?;
    assert_eq!(ann.load, 0);
    Ok(())
}

#[tokio::test]
async fn an_operator_back_in_time_keeps_the_session() -> TestResult {
    let (w, clock) = world();
    let line = w.line(graced(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    w.set_availability("ann", Availability::Absent).await?;
    clock.advance(secs(100));
    // Told again while still absent: the grace period is not extended.
    w.hub.availability_changed(&user("ann")).await?;
    let timers = w.store.session_timers(posted.session.id).await?;
    let left = timers[0].due_at - clock.now();
    assert!(left <= secs(GRACE - 100), "not extended: {left}");
    w.events.drain();

    w.set_availability("ann", Availability::Present).await?;
    assert_eq!(names(&w), vec!["session_operator_back"]);
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    clock.advance(secs(10 * GRACE));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(
        w.stored_session(posted.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn a_blocked_operators_sessions_return_at_once() -> TestResult {
    let (w, _clock) = world();
    let line = w.line(graced(RoutingRule::FirstCome)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    w.hub.take(&user("ann"), posted.session.id).await?;
    w.events.drain();
    w.set_availability("ann", Availability::Blocked).await?;
    let events = w.events.drain();
    match events.as_slice() {
        [Event::SessionQueued { reason, .. }, Event::SessionOffered { .. }] => {
            assert_eq!(reason, &absent("ann", Availability::Blocked));
        }
        other => panic!("{other:?}"),
    }
    let s = w.stored_session(posted.session.id).await?;
    assert_eq!(s.status, SessionStatus::Offered);
    assert!(w.store.session_timers(s.id).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_client_writing_to_an_absent_operator_is_routed_again() -> TestResult {
    let (w, _clock) = world();
    let line = w.line(graced(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, assigned_to("ann"));
    w.set_availability("ann", Availability::Absent).await?;
    w.events.drain();

    let again = w.hub.write(&user("carl"), line.id, text("anyone?")).await?;
    assert_eq!(again.session.id, posted.session.id, "the same session");
    assert_eq!(again.session.status, assigned_to("bob"));
    assert_eq!(
        names(&w),
        vec!["session_queued", "session_assigned"],
        "moved at once, not after the grace period"
    );
    assert!(w
        .store
        .session_timers(posted.session.id)
        .await?
        .iter()
        .all(|t| t.kind != TimerKind::OfflineGrace));
    // Bob is present: the next message stays with him.
    let third = w.hub.write(&user("carl"), line.id, text("thanks")).await?;
    assert_eq!(third.session.status, assigned_to("bob"));
    assert!(names(&w).is_empty());
    Ok(())
}

#[tokio::test]
async fn lines_without_the_setting_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(staff_line("Desk").rule(RoutingRule::RoundRobin))
        .await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    w.events.drain();
    w.set_availability("ann", Availability::Blocked).await?;
    assert!(names(&w).is_empty());
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    let again = w.hub.write(&user("carl"), line.id, text("hello?")).await?;
    assert_eq!(again.session.status, assigned_to("ann"));
    clock.advance(secs(24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(
        w.stored_session(posted.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn a_grace_period_over_a_week_is_refused() -> TestResult {
    let (w, _) = world();
    let config = staff_line("Long").offline_grace(Duration::from_secs(8 * 24 * 3600));
    let err = w.line(config).await.expect_err("refused");
    let err = err
        .downcast::<chatlines_core::Error>()
        .map_err(|_| "not a hub error")?;
    match *err {
        chatlines_core::Error::InvalidLine(problems) => assert!(
            problems
                .0
                .iter()
                .any(|p| p.field() == LineField::OfflineGrace),
            "{problems:?}"
        ),
        other => panic!("{other:?}"),
    }
    Ok(())
}
