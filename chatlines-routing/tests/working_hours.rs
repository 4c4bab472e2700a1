//! Working hours over the IANA database: daylight-saving days, and the
//! calendar's answers agreeing with each other on random schedules.
#![cfg(feature = "tz")]

use chatlines_core::hours::{OpenInterval, Schedule, WorkingHours};
use chatlines_routing::TzDatabase;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use proptest::prelude::*;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time")
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("an instant")
}

const ALL: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

#[test]
fn the_same_local_hours_move_in_utc_with_daylight_saving() {
    let hours =
        WorkingHours::new("Europe/Berlin").weekly(&ALL, OpenInterval::new(t(9, 0), t(17, 0)));
    let s = Schedule::new(&hours, &TzDatabase);
    // Winter (UTC+1): opens 08:00 UTC. Summer (UTC+2): opens 07:00 UTC.
    assert_eq!(
        s.opens_at(utc(2027, 1, 11, 0, 0)).expect("known"),
        Some(utc(2027, 1, 11, 8, 0))
    );
    assert_eq!(
        s.opens_at(utc(2027, 7, 12, 0, 0)).expect("known"),
        Some(utc(2027, 7, 12, 7, 0))
    );
    // The spring-forward day keeps eight open hours in local time.
    assert_eq!(
        s.open_time_between(utc(2027, 3, 28, 0, 0), utc(2027, 3, 29, 0, 0))
            .expect("known"),
        Duration::hours(8)
    );
}

#[test]
fn a_day_with_a_missing_hour_is_one_hour_shorter_across_the_gap() {
    // Open around the clock on Sunday 2027-03-28, when Berlin skips 02:00-03:00.
    let day = NaiveDate::from_ymd_opt(2027, 3, 28).expect("a date");
    let hours =
        WorkingHours::new("Europe/Berlin").exception(day, &[OpenInterval::new(t(0, 0), t(0, 0))]);
    let s = Schedule::new(&hours, &TzDatabase);
    assert_eq!(
        s.open_time_between(utc(2027, 3, 27, 0, 0), utc(2027, 3, 30, 0, 0))
            .expect("known"),
        Duration::hours(23)
    );
    // Opening at 02:30, a time that does not exist that day, opens when the gap ends (03:00 CEST = 01:00 UTC).
    let gap =
        WorkingHours::new("Europe/Berlin").exception(day, &[OpenInterval::new(t(2, 30), t(4, 0))]);
    let s = Schedule::new(&gap, &TzDatabase);
    assert_eq!(
        s.opens_at(utc(2027, 3, 27, 12, 0)).expect("known"),
        Some(utc(2027, 3, 28, 1, 0))
    );
}

#[test]
fn a_repeated_hour_opens_at_its_first_occurrence_and_the_day_is_longer() {
    // Berlin repeats 02:00-03:00 on Sunday 2026-10-25.
    let day = NaiveDate::from_ymd_opt(2026, 10, 25).expect("a date");
    let hours =
        WorkingHours::new("Europe/Berlin").exception(day, &[OpenInterval::new(t(0, 0), t(0, 0))]);
    let s = Schedule::new(&hours, &TzDatabase);
    assert_eq!(
        s.open_time_between(utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0))
            .expect("known"),
        Duration::hours(25)
    );
    let repeated =
        WorkingHours::new("Europe/Berlin").exception(day, &[OpenInterval::new(t(2, 30), t(4, 0))]);
    let s = Schedule::new(&repeated, &TzDatabase);
    // 02:30 CEST (UTC+2) = 00:30 UTC, the first of the two 02:30s.
    assert_eq!(
        s.opens_at(utc(2026, 10, 24, 12, 0)).expect("known"),
        Some(utc(2026, 10, 25, 0, 30))
    );
}

#[test]
fn unknown_zones_are_named_and_fixed_zones_still_work() {
    use chatlines_core::hours::TimeZones;
    assert!(!TzDatabase.knows("Europe/Atlantis"));
    assert!(TzDatabase.knows("+05:30"));
    assert!(TzDatabase.knows("America/New_York"));
    let hours =
        WorkingHours::new("Europe/Atlantis").weekly(&ALL, OpenInterval::new(t(9, 0), t(17, 0)));
    assert_eq!(hours.problems(&TzDatabase).len(), 1);
}

fn schedule() -> impl Strategy<Value = WorkingHours> {
    let zone = prop::sample::select(vec![
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "UTC",
        "Australia/Lord_Howe",
    ]);
    let interval = (0u32..24, 0u32..4, 1u32..10).prop_map(|(h, q, len)| {
        let from = t(h, q * 15);
        let end = (h + len).min(24);
        OpenInterval::new(from, if end == 24 { t(0, 0) } else { t(end, q * 15) })
    });
    let weekly = prop::collection::vec(
        (prop::sample::subsequence(ALL.to_vec(), 0..=7), interval),
        0..5,
    );
    (zone, weekly).prop_map(|(zone, weekly)| {
        let mut hours = WorkingHours::new(zone);
        for (days, open) in weekly {
            if open.is_valid() {
                hours = hours.weekly(&days, open);
            }
        }
        hours
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_calendars_answers_agree(hours in schedule(), offset in 0i64..(366 * 24 * 60), span in 1i64..(10 * 24 * 60)) {
        let s = Schedule::new(&hours, &TzDatabase);
        let at = utc(2026, 1, 1, 0, 0) + Duration::minutes(offset);
        let later = at + Duration::minutes(span);
        let open = s.is_open(at).expect("known");
        if let Some(change) = s.next_change(at).expect("known") {
            prop_assert!(change > at);
            // The state holds until the change and flips at it.
            prop_assert_eq!(s.is_open(change - Duration::seconds(1)).expect("known"), open);
            prop_assert_ne!(s.is_open(change).expect("known"), open);
            let until = change.min(later);
            let expected = if open { until - at } else { Duration::zero() };
            prop_assert_eq!(s.open_time_between(at, until).expect("known"), expected);
        }
        // Open time adds up over a split, and after_open_time inverts it.
        let mid = at + Duration::minutes(span / 2);
        let whole = s.open_time_between(at, later).expect("known");
        prop_assert_eq!(
            whole,
            s.open_time_between(at, mid).expect("known") + s.open_time_between(mid, later).expect("known")
        );
        if whole > Duration::zero() {
            let reached = s.after_open_time(at, whole).expect("known").expect("within the horizon");
            prop_assert!(reached <= later);
            prop_assert_eq!(s.open_time_between(at, reached).expect("known"), whole);
        }
    }
}
