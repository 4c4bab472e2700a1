//! The IANA time-zone database behind working hours.

use chatlines_core::hours::TimeZones;
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// [`TimeZones`] from the IANA database (`chrono-tz`): every zone name
/// such as `Europe/Berlin` or `America/New_York`, with its daylight-saving
/// rules, plus the fixed zones core understands (`UTC`, `+03:00`).
///
/// Give it to the hub so lines may set working hours in any zone:
///
/// ```
/// use chatlines_core::hours::{OpenInterval, Schedule, TimeZones, WorkingHours};
/// use chatlines_routing::TzDatabase;
/// use chrono::{NaiveTime, TimeZone, Utc, Weekday};
/// let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
/// let five = NaiveTime::from_hms_opt(17, 0, 0).unwrap();
/// let hours = WorkingHours::new("Europe/Berlin")
///     .weekly(&[Weekday::Mon], OpenInterval::new(nine, five));
/// assert!(TzDatabase.knows("Europe/Berlin"));
/// // Monday 2026-07-06, 08:30 UTC is 10:30 in Berlin (summer time): open.
/// let at = Utc.with_ymd_and_hms(2026, 7, 6, 8, 30, 0).unwrap();
/// assert!(Schedule::new(&hours, &TzDatabase).is_open(at).unwrap());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TzDatabase;

impl TzDatabase {
    fn zone(name: &str) -> Option<Tz> {
        name.parse().ok()
    }
}

impl TimeZones for TzDatabase {
    fn offset_at(&self, zone: &str, at: DateTime<Utc>) -> Option<FixedOffset> {
        match Self::zone(zone) {
            Some(tz) => Some(tz.offset_from_utc_datetime(&at.naive_utc()).fix()),
            None => chatlines_core::hours::FixedZones.offset_at(zone, at),
        }
    }

    fn local_offsets(&self, zone: &str, local: NaiveDateTime) -> Option<LocalResult<FixedOffset>> {
        match Self::zone(zone) {
            Some(tz) => Some(tz.offset_from_local_datetime(&local).map(|o| o.fix())),
            None => chatlines_core::hours::FixedZones.local_offsets(zone, local),
        }
    }
}
