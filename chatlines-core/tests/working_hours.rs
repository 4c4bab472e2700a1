//! Working hours (issue 9, behaviour 5): validated when the line is saved,
//! in the time zones the hub's database knows. Outside the hours a new
//! session waits (not offered) with one automatic reply per off-hours
//! period, or goes to the off-hours group; at the opening the waiting
//! sessions are routed, oldest first. Time is a `ManualClock`;
//! `Hub::run_due` fires the opening.

mod common;

use chatlines_core::hours::{FixedZones, Schedule};
use chatlines_core::{
    Availability, Clock, Direction, Error, Event, Hub, LineConfig, LineField, LineProblem,
    ManualClock, OpenInterval, PageRequest, RouteReason, RoutingRule, SessionStatus, WorkingHours,
};
use chatlines_routing::{RuleRouter, TzDatabase};
use chatlines_store::MemoryStore;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use common::*;
use std::sync::Arc;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time")
}

fn berlin_weekdays() -> WorkingHours {
    use Weekday::*;
    WorkingHours::new("Europe/Berlin")
        .weekly(
            &[Mon, Tue, Wed, Thu, Fri],
            OpenInterval::new(t(9, 0), t(18, 0)),
        )
        .exception(NaiveDate::from_ymd_opt(2026, 12, 25).expect("a date"), &[])
        .off_hours_reply("We answer on weekdays, 9 to 18 Berlin time.")
}

/// A hub like the world's, reading hours in the IANA database.
fn hub_with_tz(w: &World) -> Hub {
    Hub::builder(
        Arc::new(MemoryStore::new()),
        w.dir.clone(),
        w.apps.clone(),
        Arc::new(RuleRouter::new()),
    )
    .time_zones(Arc::new(TzDatabase))
    .build()
}

#[tokio::test]
async fn a_line_keeps_hours_in_an_iana_zone_when_the_hub_knows_the_zone() -> TestResult {
    let w = World::new();
    let hub = hub_with_tz(&w);
    let config = LineConfig::new("Desk")
        .operators(OPS)
        .hours(berlin_weekdays());
    let line = hub.create_line(&user(ADMIN), config).await?;
    let hours = line.config.hours.as_ref().expect("kept");
    let schedule = Schedule::new(hours, &TzDatabase);
    // Friday 2026-12-25 is a holiday; Monday 2026-12-28 opens at 09:00 CET.
    let christmas = Utc
        .with_ymd_and_hms(2026, 12, 25, 10, 0, 0)
        .single()
        .expect("an instant");
    assert!(!schedule.is_open(christmas)?);
    assert_eq!(
        schedule.opens_at(christmas)?,
        Utc.with_ymd_and_hms(2026, 12, 28, 8, 0, 0).single()
    );
    Ok(())
}

#[tokio::test]
async fn hours_in_a_zone_the_hub_does_not_know_are_refused_at_their_field() -> TestResult {
    // The default hub knows only UTC and fixed offsets.
    let w = World::new();
    let config = LineConfig::new("Desk")
        .operators(OPS)
        .hours(berlin_weekdays());
    match w.hub.create_line(&user(ADMIN), config).await {
        Err(Error::InvalidLine(p)) => {
            assert_eq!(p.0.len(), 1, "{p}");
            assert_eq!(p.0[0].field(), LineField::Hours);
            assert!(p.0[0].to_string().contains("Europe/Berlin"), "{p}");
        }
        other => panic!("expected InvalidLine, got {other:?}"),
    }
    assert!(w.store.lines().await?.is_empty());
    // The same hours in a fixed offset are fine.
    let mut fixed = berlin_weekdays();
    fixed.time_zone = "+01:00".into();
    assert!(fixed.problems(&FixedZones).is_empty());
    Ok(())
}

#[tokio::test]
async fn malformed_hours_and_an_unknown_off_hours_group_are_all_reported() -> TestResult {
    let w = World::new();
    let hub = hub_with_tz(&w);
    let date = NaiveDate::from_ymd_opt(2026, 12, 31).expect("a date");
    let hours = WorkingHours::new("Europe/Berlin")
        .weekly(&[Weekday::Mon], OpenInterval::new(t(18, 0), t(9, 0)))
        .exception(date, &[])
        .exception(date, &[OpenInterval::new(t(9, 0), t(12, 0))])
        .off_hours_group("night-shift");
    let config = LineConfig::new("Desk").operators(OPS).hours(hours);
    match hub.create_line(&user(ADMIN), config).await {
        Err(Error::InvalidLine(p)) => {
            let bad_hours =
                p.0.iter()
                    .filter(|x| matches!(x, LineProblem::BadHours { .. }))
                    .count();
            assert_eq!(bad_hours, 2, "{p}");
            assert!(p.0.contains(&LineProblem::UnknownGroup {
                group: "night-shift".into(),
                at: LineField::OffHoursGroup,
            }));
        }
        other => panic!("expected InvalidLine, got {other:?}"),
    }
    Ok(())
}

/// Friday 2026-12-11, 19:00 UTC: after hours.
fn friday_evening() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 11, 19, 0, 0)
        .single()
        .expect("an instant")
}

/// Monday 2026-12-14, 09:00 UTC: the opening.
fn monday_opening() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 14, 9, 0, 0)
        .single()
        .expect("an instant")
}

const REPLY: &str = "We are closed; we answer from 9 on weekdays.";

fn utc_weekdays() -> WorkingHours {
    use Weekday::*;
    WorkingHours::new("UTC")
        .weekly(
            &[Mon, Tue, Wed, Thu, Fri],
            OpenInterval::new(t(9, 0), t(18, 0)),
        )
        .off_hours_reply(REPLY)
}

fn world_at(start: chrono::DateTime<Utc>) -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start));
    let w = World::with_clock(clock.clone());
    w.dir.add_to_group("night", "nina");
    (w, clock)
}

/// The messages to carl in his conversation with the line (no operator
/// answers in these scenarios: the automatic ones).
async fn automatic_replies(w: &World, line: chatlines_core::LineId) -> TestResult<Vec<String>> {
    let page = w
        .hub
        .conversation(&user("carl"), line, PageRequest::first(100))
        .await?;
    Ok(page
        .items
        .iter()
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| m.body.text.clone())
        .collect())
}

#[tokio::test]
async fn outside_hours_a_session_waits_with_one_reply_and_is_offered_at_the_opening() -> TestResult
{
    let (w, clock) = world_at(friday_evening());
    let line = w.line(staff_line("Desk").hours(utc_weekdays())).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello?")).await?;
    assert_eq!(
        posted.session.status,
        SessionStatus::Queued,
        "waits, not offered"
    );
    assert_eq!(
        posted.session.reason,
        RouteReason::OffHours {
            opens_at: Some(monday_opening()),
            group: None
        }
    );
    assert!(w
        .hub
        .offered_sessions(&user("ann"), PageRequest::first(10))
        .await?
        .items
        .is_empty());
    // The client writes again the same night: still one automatic reply.
    clock.advance(chrono::Duration::hours(2));
    w.hub.write(&user("carl"), line.id, text("anyone?")).await?;
    assert_eq!(
        automatic_replies(&w, line.id).await?,
        vec![REPLY.to_owned()]
    );

    // Nothing due before the opening.
    clock.advance(chrono::Duration::hours(30));
    assert_eq!(w.hub.run_due(clock.now(), 10).await?.fired, 0);
    w.events.drain();
    let to_opening = monday_opening() - clock.now();
    clock.advance(to_opening);
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert_eq!((report.fired, report.failures.len()), (1, 0));
    let stored = w.stored_session(posted.session.id).await?;
    assert_eq!(stored.status, SessionStatus::Offered);
    assert_eq!(stored.reason, RouteReason::FirstCome);
    let offered = w
        .hub
        .offered_sessions(&user("ann"), PageRequest::first(10))
        .await?;
    assert_eq!(offered.items.len(), 1);
    let events = w.events.drain();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionOffered { .. })),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn at_the_opening_waiting_sessions_are_routed_oldest_first() -> TestResult {
    let (w, clock) = world_at(friday_evening());
    // Only ann is present, with room for one session.
    w.set_availability("bob", Availability::Absent).await?;
    w.set_availability("cat", Availability::Absent).await?;
    let config = staff_line("Desk")
        .rule(RoutingRule::LeastLoaded { capacity: 1 })
        .hours(utc_weekdays());
    let line = w.line(config).await?;
    let first = w.hub.write(&user("carl"), line.id, text("first")).await?;
    clock.advance(chrono::Duration::minutes(5));
    let second = w.hub.write(&user("dora"), line.id, text("second")).await?;
    for s in [&first.session, &second.session] {
        assert!(
            matches!(s.reason, RouteReason::OffHours { .. }),
            "{:?}",
            s.reason
        );
    }
    let to_opening = monday_opening() - clock.now();
    clock.advance(to_opening + chrono::Duration::seconds(1));
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert_eq!(report.failures.len(), 0);
    // One opening routes both; the other session's timer was cancelled by
    // that routing.
    assert_eq!(
        (report.claimed, report.fired, report.gone + report.stale),
        (2, 1, 1)
    );
    let oldest = w.stored_session(first.session.id).await?;
    assert_eq!(oldest.operator(), Some(&user("ann")));
    let newer = w.stored_session(second.session.id).await?;
    assert_eq!(
        (newer.status, newer.reason),
        (SessionStatus::Queued, RouteReason::NoOperatorAvailable)
    );
    Ok(())
}

#[tokio::test]
async fn each_off_hours_period_gets_its_own_reply() -> TestResult {
    let (w, clock) = world_at(friday_evening());
    for op in ["ann", "bob", "cat"] {
        w.set_availability(op, Availability::Absent).await?;
    }
    let config = staff_line("Desk")
        .rule(RoutingRule::LeastLoaded { capacity: 5 })
        .hours(utc_weekdays());
    let line = w.line(config).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello?")).await?;
    let to_opening = monday_opening() - clock.now();
    clock.advance(to_opening);
    w.hub.run_due(clock.now(), 10).await?;
    // Open, but nobody is present: the session is queued.
    assert_eq!(
        w.stored_session(posted.session.id).await?.reason,
        RouteReason::NoOperatorAvailable
    );
    // Monday evening the line is closed again; a drain moves the session to
    // wait for Tuesday, with a second reply.
    clock.advance(chrono::Duration::hours(10));
    w.hub.drain().await?;
    let tuesday = monday_opening() + chrono::Duration::days(1);
    assert_eq!(
        w.stored_session(posted.session.id).await?.reason,
        RouteReason::OffHours {
            opens_at: Some(tuesday),
            group: None
        }
    );
    w.hub.drain().await?;
    assert_eq!(
        automatic_replies(&w, line.id).await?,
        vec![REPLY.to_owned(), REPLY.to_owned()]
    );
    Ok(())
}

#[tokio::test]
async fn the_off_hours_group_may_take_sessions_until_the_opening() -> TestResult {
    let (w, clock) = world_at(friday_evening());
    let line = w
        .line(staff_line("Desk").hours(utc_weekdays().off_hours_group("night")))
        .await?;
    let taken = w.hub.write(&user("carl"), line.id, text("urgent")).await?;
    assert_eq!(taken.session.status, SessionStatus::Offered);
    assert_eq!(
        taken.session.reason,
        RouteReason::OffHours {
            opens_at: Some(monday_opening()),
            group: Some("night".into())
        }
    );
    let session = w.hub.take(&user("nina"), taken.session.id).await?;
    assert_eq!(session.operator(), Some(&user("nina")));

    // Another session nobody of the night group took goes to the line's
    // operators at the opening.
    let waiting = w.hub.write(&user("dora"), line.id, text("hello")).await?;
    let to_opening = monday_opening() - clock.now();
    clock.advance(to_opening);
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert_eq!(report.failures.len(), 0);
    // The taken session's opening timer was cancelled by the take.
    assert_eq!((report.claimed, report.fired), (1, 1));
    let stored = w.stored_session(waiting.session.id).await?;
    assert_eq!(
        (stored.status, stored.reason),
        (SessionStatus::Offered, RouteReason::FirstCome)
    );
    // Nina is not an operator of the line: she may not take it any more.
    assert!(w.hub.take(&user("nina"), waiting.session.id).await.is_err());
    // The taken session kept its operator.
    assert_eq!(
        w.stored_session(session.id).await?.operator(),
        Some(&user("nina"))
    );
    Ok(())
}
