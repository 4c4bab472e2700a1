//! Working hours on a line: validated when the line is saved, in the time
//! zones the hub's database knows, every problem named at its field.

mod common;

use chatlines_core::hours::{FixedZones, Schedule};
use chatlines_core::{Error, Hub, LineConfig, LineField, LineProblem, OpenInterval, WorkingHours};
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
