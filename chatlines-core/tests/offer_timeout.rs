//! Offer timeout (issue 9, behaviour 1): an offered first-come session
//! nobody took within T logs `SessionUnanswered`, optionally overflows to a
//! second operators group, and again every T until taken or closed. Off by
//! default. Time is a `ManualClock`; `Hub::run_due` fires what is due.

mod common;

use chatlines_core::{
    Clock, Error, Event, LineProblem, ManualClock, RouteReason, SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

const T: i64 = 120;

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let w = World::with_clock(clock.clone());
    w.dir.add_to_group("seniors", "sid");
    (w, clock)
}

fn timed(name: &str) -> chatlines_core::LineConfig {
    staff_line(name).offer_timeout(Duration::from_secs(T as u64))
}

/// `(lapses, overflow)` of every `SessionUnanswered` delivered since the
/// last drain.
fn unanswered(w: &World) -> Vec<(u32, Option<String>)> {
    w.events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionUnanswered {
                lapses, overflow, ..
            } => Some((lapses, overflow.map(|g| g.as_str().to_owned()))),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_offer_nobody_takes_is_reported_unanswered_every_period() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed("Desk")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    let offered_at = posted.session.updated_at;
    w.events.drain();

    clock.advance(secs(T - 1));
    let early = w.hub.run_due(clock.now(), 100).await?;
    assert_eq!((early.claimed, early.fired), (0, 0), "not due yet");

    clock.advance(secs(1));
    let first = w.hub.run_due(clock.now(), 100).await?;
    assert_eq!((first.claimed, first.fired), (1, 1));
    assert!(first.failures.is_empty());
    assert_eq!(unanswered(&w), vec![(1, None)]);
    let stored = w.stored_session(posted.session.id).await?;
    assert_eq!(stored.status, SessionStatus::Offered, "still offered");
    assert_eq!(
        stored.reason,
        RouteReason::Unanswered {
            since: offered_at,
            lapses: 1,
            overflow: None
        }
    );

    // Nothing more within the period; the next lapse one period later.
    clock.advance(secs(T - 5));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(secs(5));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(unanswered(&w), vec![(2, None)]);

    // Taken: it stops.
    let taken = w.hub.take(&user("ann"), posted.session.id).await?;
    assert_eq!(taken.operator(), Some(&user("ann")));
    assert!(w.store.session_timers(taken.id).await?.is_empty());
    clock.advance(secs(10 * T));
    let after = w.hub.run_due(clock.now(), 100).await?;
    assert_eq!(after.claimed, 0);
    assert!(unanswered(&w).is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unanswered_offer_overflows_to_the_second_group() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed("Desk").overflow("seniors")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;

    // Before the lapse a member of the overflow group may not take it.
    let err = w
        .hub
        .take(&user("sid"), posted.session.id)
        .await
        .expect_err("not yet overflowed");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(unanswered(&w), vec![(1, Some("seniors".to_owned()))]);
    let taken = w.hub.take(&user("sid"), posted.session.id).await?;
    assert_eq!(taken.operator(), Some(&user("sid")));
    assert_eq!(
        taken.status,
        SessionStatus::Assigned {
            operator: user("sid")
        }
    );
    Ok(())
}

#[tokio::test]
async fn closing_an_unanswered_session_stops_the_lapses() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed("Desk")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    w.hub.close(&user("sue"), posted.session.id).await?;
    clock.advance(secs(10 * T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(unanswered(&w), vec![(1, None)]);
    Ok(())
}

#[tokio::test]
async fn several_hubs_report_each_lapse_once() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed("Desk")).await?;
    for client in ["carl", "dora"] {
        w.hub.write(&user(client), line.id, text("help")).await?;
    }
    let other = w.another_hub();
    clock.advance(secs(T));
    let now = clock.now();
    let (a, b) = tokio::join!(w.hub.run_due(now, 1), other.run_due(now, 100));
    let (a, b) = (a?, b?);
    assert_eq!(a.fired + b.fired, 2);
    assert_eq!(w.hub.run_due(now, 100).await?.claimed, 0);
    assert_eq!(unanswered(&w).len(), 2);
    Ok(())
}

#[tokio::test]
async fn lines_without_the_setting_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w.line(staff_line("Desk")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    clock.advance(secs(24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert!(unanswered(&w).is_empty());
    let stored = w.stored_session(posted.session.id).await?;
    assert_eq!(stored.reason, RouteReason::FirstCome);
    Ok(())
}

#[tokio::test]
async fn turning_the_timeout_on_later_applies_to_new_offers() -> TestResult {
    let (w, clock) = world();
    let line = w.line(staff_line("Desk")).await?;
    let before = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let line = w
        .hub
        .update_line(&user(ADMIN), line.id, line.version, timed("Desk"))
        .await?;
    let after = w.hub.write(&user("dora"), line.id, text("help")).await?;
    assert!(w.store.session_timers(before.session.id).await?.is_empty());
    let timers = w.store.session_timers(after.session.id).await?;
    assert_eq!(
        timers.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TimerKind::OfferTimeout]
    );
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    Ok(())
}

#[tokio::test]
async fn bad_timer_settings_are_refused() -> TestResult {
    let (w, _) = world();
    let zero = staff_line("Zero").offer_timeout(Duration::ZERO);
    let long = staff_line("Long").offer_timeout(Duration::from_secs(8 * 24 * 3600));
    let lone = staff_line("Lone").overflow("seniors");
    let unknown = timed("Unknown").overflow("nobody");
    for (config, want) in [
        (zero, "offer_timeout_secs"),
        (long, "offer_timeout_secs"),
        (lone, "overflow"),
        (unknown, "nobody"),
    ] {
        let err = w.line(config).await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(want), "{want}: {text}");
    }
    let err = w
        .line(staff_line("Lone").overflow("seniors"))
        .await
        .expect_err("refused");
    let err = err.downcast::<Error>().map_err(|_| "not a hub error")?;
    match *err {
        Error::InvalidLine(problems) => {
            assert!(problems.contains(&LineProblem::OverflowWithoutOfferTimeout));
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}
