//! Wrap-up (issue 9, behaviour 8): on a line with capacity (least
//! loaded), after a session assigned to an operator is closed their slot
//! stays taken for the line's wrap-up time; then `WrapUpEnded` is logged
//! and a waiting session may go to them. Off by default. Time is a
//! `ManualClock`; `Hub::run_due` fires what is due.

mod common;

use chatlines_core::{
    Clock, Error, Event, LineConfig, LineField, ManualClock, RouteReason, RoutingRule,
    SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

const W: i64 = 30;

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let w = World::with_clock(clock.clone());
    w.dir.add_to_group("solo", "ann");
    (w, clock)
}

fn solo(wrap_up: Option<i64>) -> LineConfig {
    let config = LineConfig::new("Solo")
        .operators("solo")
        .supervisors(SUPS)
        .client(chatlines_core::Audience::Group(STAFF.into()))
        .rule(RoutingRule::LeastLoaded { capacity: 1 });
    match wrap_up {
        Some(w) => config.wrap_up(Duration::from_secs(w as u64)),
        None => config,
    }
}

#[tokio::test]
async fn the_slot_stays_taken_for_the_wrap_up_time() -> TestResult {
    let (w, clock) = world();
    let line = w.line(solo(Some(W))).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    assert_eq!(first.session.status, assigned_to("ann"));
    let second = w.hub.write(&user("dora"), line.id, text("two")).await?;
    assert_eq!(second.session.status, SessionStatus::Queued, "at capacity");

    let closed = w.hub.close(&user("ann"), first.session.id).await?;
    assert!(matches!(
        &closed.reason,
        RouteReason::WrapUp { operator, .. } if operator == &user("ann")
    ));
    let timers = w.store.session_timers(closed.id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::WrapUp);
    assert_eq!(
        w.stored_session(second.session.id).await?.status,
        SessionStatus::Queued,
        "ann wraps up"
    );
    let roster = w.store.roster(line.id).await?;
    assert_eq!(roster[0].load, 1, "the closed session holds the slot");
    w.events.drain();

    clock.advance(chrono::Duration::seconds(W - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let names: Vec<&str> = w.events.drain().iter().map(Event::name).collect();
    assert_eq!(names, vec!["wrap_up_ended", "session_assigned"]);
    assert_eq!(
        w.stored_session(second.session.id).await?.status,
        assigned_to("ann")
    );
    assert_eq!(w.store.roster(line.id).await?[0].load, 1, "dora's session");
    // Once: nothing more is due, and the load does not go lower.
    clock.advance(chrono::Duration::seconds(10 * W));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(w.store.roster(line.id).await?[0].load, 1);
    Ok(())
}

#[tokio::test]
async fn the_client_may_write_again_during_wrap_up() -> TestResult {
    let (w, clock) = world();
    let line = w.line(solo(Some(W))).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    w.hub.close(&user("ann"), first.session.id).await?;
    let again = w
        .hub
        .write(&user("carl"), line.id, text("me again"))
        .await?;
    assert!(again.opened, "a new session");
    assert_eq!(again.session.status, SessionStatus::Queued, "ann wraps up");
    clock.advance(chrono::Duration::seconds(W));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(
        w.stored_session(again.session.id).await?.status,
        assigned_to("ann")
    );
    let third = w
        .hub
        .write(&user("carl"), line.id, text("still me"))
        .await?;
    assert_eq!(third.session.id, again.session.id, "still the open session");
    Ok(())
}

#[tokio::test]
async fn lines_without_the_setting_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w.line(solo(None)).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    let second = w.hub.write(&user("dora"), line.id, text("two")).await?;
    let closed = w.hub.close(&user("ann"), first.session.id).await?;
    assert_eq!(closed.reason, RouteReason::LeastLoaded);
    assert!(w.store.session_timers(closed.id).await?.is_empty());
    assert_eq!(
        w.stored_session(second.session.id).await?.status,
        assigned_to("ann"),
        "the slot is free at once"
    );
    clock.advance(chrono::Duration::seconds(24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    Ok(())
}

#[tokio::test]
async fn wrap_up_needs_a_line_with_capacity() -> TestResult {
    let (w, _) = world();
    let config = staff_line("First").wrap_up(Duration::from_secs(W as u64));
    let err = w.line(config).await.expect_err("refused");
    let err = err.downcast::<Error>().map_err(|_| "not a hub error")?;
    match *err {
        Error::InvalidLine(problems) => assert!(
            problems.0.iter().any(|p| p.field() == LineField::WrapUp),
            "{problems:?}"
        ),
        other => panic!("{other:?}"),
    }
    Ok(())
}
