//! Working hours: a line's weekly schedule in a time zone, with dated
//! exceptions, and the calendar arithmetic built on it (open now? when does
//! it next open or close? how much open time lies between two instants?).
//!
//! The schedule is local time in a named zone; every answer is computed in
//! UTC from the zone's offsets, so daylight-saving changes are handled: an
//! opening time that does not exist on a spring-forward day opens when the
//! gap ends, and an ambiguous one (the repeated hour of a fall-back day)
//! takes its first occurrence.
//!
//! Core knows no time-zone database. Zone names are resolved through the
//! [`TimeZones`] port: [`FixedZones`] here understands `UTC` and fixed
//! offsets such as `+03:00`; `chatlines-routing` (feature `tz`) implements
//! the IANA database.
//!
//! ```
//! use chatlines_core::hours::{FixedZones, OpenInterval, Schedule, WorkingHours};
//! use chrono::{NaiveTime, TimeZone, Utc, Weekday};
//! let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
//! let hours = WorkingHours::new("+02:00")
//!     .weekly(&[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
//!             OpenInterval::new(t(9, 0), t(18, 0)));
//! let schedule = Schedule::new(&hours, &FixedZones);
//! // Monday 2026-12-07, 08:30 local = 06:30 UTC: closed, opens at 07:00 UTC.
//! let before = Utc.with_ymd_and_hms(2026, 12, 7, 6, 30, 0).unwrap();
//! assert!(!schedule.is_open(before).unwrap());
//! assert_eq!(schedule.next_change(before).unwrap(),
//!            Some(Utc.with_ymd_and_hms(2026, 12, 7, 7, 0, 0).unwrap()));
//! // Two hours of that morning are open time.
//! let later = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
//! assert_eq!(schedule.open_time_between(before, later).unwrap(), chrono::Duration::hours(2));
//! ```

use crate::ids::GroupId;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Utc, Weekday,
};
use serde::{Deserialize, Serialize};

/// How far ahead (in days) the calendar looks for an opening or closing.
/// A schedule with no change within it is treated as never changing.
pub const HORIZON_DAYS: i64 = 400;

/// The longest off-hours reply accepted, in characters.
pub const MAX_OFF_HOURS_REPLY: usize = 4096;

/// Resolves zone names to UTC offsets: the time-zone database behind
/// [`Schedule`]. Implementations are pure lookups.
pub trait TimeZones: Send + Sync {
    /// The offset of `zone` at the instant `at`; `None` for an unknown zone.
    fn offset_at(&self, zone: &str, at: DateTime<Utc>) -> Option<FixedOffset>;

    /// The offsets the local time `local` has in `zone`: none (it falls in
    /// a gap), one, or two (it is repeated); `None` for an unknown zone.
    fn local_offsets(&self, zone: &str, local: NaiveDateTime) -> Option<LocalResult<FixedOffset>>;

    /// Whether `zone` is known.
    fn knows(&self, zone: &str) -> bool {
        self.offset_at(zone, DateTime::<Utc>::UNIX_EPOCH).is_some()
    }
}

/// Zones without daylight saving: `UTC` (or `Z`) and fixed offsets written
/// `+HH:MM` / `-HH:MM`. The default [`TimeZones`] of a hub.
///
/// ```
/// use chatlines_core::hours::{FixedZones, TimeZones};
/// assert!(FixedZones.knows("UTC"));
/// assert!(FixedZones.knows("+05:30"));
/// assert!(!FixedZones.knows("Europe/Berlin")); // needs the IANA database
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedZones;

impl FixedZones {
    fn offset(zone: &str) -> Option<FixedOffset> {
        match zone {
            "UTC" | "Z" | "Etc/UTC" => FixedOffset::east_opt(0),
            _ if zone.starts_with('+') || zone.starts_with('-') => zone.parse().ok(),
            _ => None,
        }
    }
}

impl TimeZones for FixedZones {
    fn offset_at(&self, zone: &str, _at: DateTime<Utc>) -> Option<FixedOffset> {
        Self::offset(zone)
    }

    fn local_offsets(&self, zone: &str, _local: NaiveDateTime) -> Option<LocalResult<FixedOffset>> {
        Self::offset(zone).map(LocalResult::Single)
    }
}

/// An open interval of one local day, `from` until `until`; an `until` of
/// `00:00` means midnight at the end of the day (so `00:00`–`00:00` is the
/// whole day). A shift across midnight is two intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenInterval {
    /// Opens at (local time).
    pub from: NaiveTime,
    /// Closes at (local time; `00:00` is the end of the day).
    pub until: NaiveTime,
}

impl OpenInterval {
    /// An interval from `from` until `until` (`00:00`: end of day).
    pub fn new(from: NaiveTime, until: NaiveTime) -> Self {
        Self { from, until }
    }

    /// Whether the interval is well formed: it closes after it opens (or
    /// at the end of the day).
    pub fn is_valid(&self) -> bool {
        self.until == NaiveTime::MIN || self.from < self.until
    }
}

/// Weekly hours: the same intervals on each of `days`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WeeklyHours {
    /// The weekdays (`Mon` … `Sun`).
    pub days: Vec<Weekday>,
    /// The interval open on each of them.
    #[serde(flatten)]
    pub open: OpenInterval,
}

/// A dated exception: on `date` (local), `open` replaces the weekly hours;
/// empty means closed all day (a holiday).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DatedHours {
    /// The local date.
    pub date: NaiveDate,
    /// The intervals open that day; none: closed.
    #[serde(default)]
    pub open: Vec<OpenInterval>,
}

/// A line's working hours. Off unless set on the line
/// ([`LineConfig::hours`](crate::LineConfig::hours)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct WorkingHours {
    /// The zone the schedule is written in: an IANA name
    /// (`Europe/Berlin`, needs a [`TimeZones`] that knows it), `UTC`, or
    /// a fixed offset (`+03:00`).
    pub time_zone: String,
    /// The weekly schedule.
    pub weekly: Vec<WeeklyHours>,
    /// Dated exceptions (holidays, short days), each date at most once.
    pub exceptions: Vec<DatedHours>,
    /// Sent to a client writing outside the hours, once per session and
    /// off-hours period.
    pub off_hours_reply: Option<String>,
    /// Outside the hours, sessions go to this operators group instead of
    /// waiting for the opening.
    pub off_hours_group: Option<GroupId>,
}

impl WorkingHours {
    /// Hours in `time_zone`, closed until intervals are added.
    pub fn new(time_zone: impl Into<String>) -> Self {
        Self {
            time_zone: time_zone.into(),
            ..Self::default()
        }
    }

    /// Opens `open` on each of `days`.
    pub fn weekly(mut self, days: &[Weekday], open: OpenInterval) -> Self {
        self.weekly.push(WeeklyHours {
            days: days.to_vec(),
            open,
        });
        self
    }

    /// On `date`, opens only `open` (empty: closed all day).
    pub fn exception(mut self, date: NaiveDate, open: &[OpenInterval]) -> Self {
        self.exceptions.push(DatedHours {
            date,
            open: open.to_vec(),
        });
        self
    }

    /// The reply sent outside the hours.
    pub fn off_hours_reply(mut self, text: impl Into<String>) -> Self {
        self.off_hours_reply = Some(text.into());
        self
    }

    /// The operators group that takes sessions outside the hours.
    pub fn off_hours_group(mut self, group: impl Into<GroupId>) -> Self {
        self.off_hours_group = Some(group.into());
        self
    }

    /// What is wrong with the hours, each as a sentence; empty when
    /// nothing. `zones` checks the zone name.
    pub fn problems(&self, zones: &dyn TimeZones) -> Vec<String> {
        let mut problems = Vec::new();
        if !zones.knows(&self.time_zone) {
            problems.push(format!(
                "time zone {:?} is not known (an IANA name such as Europe/Berlin, UTC, or an offset such as +03:00)",
                self.time_zone
            ));
        }
        for (i, w) in self.weekly.iter().enumerate() {
            if w.days.is_empty() {
                problems.push(format!("weekly entry {} names no day", i + 1));
            }
            if !w.open.is_valid() {
                problems.push(format!(
                    "weekly entry {}: closes at {} before it opens at {}",
                    i + 1,
                    w.open.until,
                    w.open.from
                ));
            }
        }
        let mut dates: Vec<NaiveDate> = Vec::new();
        for d in &self.exceptions {
            if dates.contains(&d.date) {
                problems.push(format!("the exception for {} is given twice", d.date));
            }
            dates.push(d.date);
            for open in d.open.iter().filter(|o| !o.is_valid()) {
                problems.push(format!(
                    "exception {}: closes at {} before it opens at {}",
                    d.date, open.until, open.from
                ));
            }
        }
        if let Some(reply) = &self.off_hours_reply {
            if reply.trim().is_empty() {
                problems.push("the off-hours reply is empty".into());
            } else if reply.chars().count() > MAX_OFF_HOURS_REPLY {
                problems.push(format!(
                    "the off-hours reply is longer than {MAX_OFF_HOURS_REPLY} characters"
                ));
            } else if reply.contains('\0') {
                problems.push("the off-hours reply holds a NUL character (U+0000)".into());
            }
        }
        problems
    }

    /// The intervals open on the local `date`: its exception's if it has
    /// one, else the weekly ones of its weekday.
    fn local_intervals(&self, date: NaiveDate) -> Vec<OpenInterval> {
        if let Some(d) = self.exceptions.iter().find(|d| d.date == date) {
            return d.open.clone();
        }
        let day = date.weekday();
        self.weekly
            .iter()
            .filter(|w| w.days.contains(&day))
            .map(|w| w.open)
            .collect()
    }
}

/// Why the calendar could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoursError {
    /// The zone is not known to the [`TimeZones`] in use (configure one
    /// that knows it, such as `chatlines_routing::TzDatabase`).
    #[error("time zone {0:?} is not known to this hub's time-zone database")]
    UnknownZone(String),
    /// An instant outside what the calendar can represent.
    #[error("an instant outside the calendar's range")]
    OutOfRange,
}

/// [`WorkingHours`] read through a [`TimeZones`]: the calendar questions.
#[derive(Clone, Copy)]
pub struct Schedule<'a> {
    hours: &'a WorkingHours,
    zones: &'a dyn TimeZones,
}

impl std::fmt::Debug for Schedule<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("hours", self.hours)
            .finish_non_exhaustive()
    }
}

type Span = (DateTime<Utc>, DateTime<Utc>);

impl<'a> Schedule<'a> {
    /// The calendar of `hours` in `zones`.
    pub fn new(hours: &'a WorkingHours, zones: &'a dyn TimeZones) -> Self {
        Self { hours, zones }
    }

    /// Whether the hours are open at `at`.
    ///
    /// # Errors
    ///
    /// [`HoursError::UnknownZone`] when the zone cannot be resolved.
    pub fn is_open(&self, at: DateTime<Utc>) -> Result<bool, HoursError> {
        let day = self.local_date(at)?;
        let spans = self.spans(day - Duration::days(1), day + Duration::days(1))?;
        Ok(spans.iter().any(|(a, b)| *a <= at && at < *b))
    }

    /// The first instant after `at` at which the hours open or close;
    /// `None` when nothing changes within [`HORIZON_DAYS`] (always open,
    /// or never open).
    ///
    /// # Errors
    ///
    /// [`HoursError::UnknownZone`] when the zone cannot be resolved.
    pub fn next_change(&self, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, HoursError> {
        let day = self.local_date(at)?;
        // Most schedules change within a week: look a week ahead first,
        // then further, up to the horizon. A span's end on the window's
        // last day may only be where the window cuts it, so a change
        // counts only before that day.
        let mut days = 8;
        loop {
            let last = day + Duration::days(days.min(HORIZON_DAYS));
            let limit = self.day_start(last)?;
            let change = self
                .spans(day - Duration::days(1), last)?
                .into_iter()
                .find_map(|(a, b)| {
                    if at < a {
                        Some(a)
                    } else if at < b {
                        Some(b)
                    } else {
                        None
                    }
                })
                .filter(|c| *c < limit);
            if change.is_some() || days >= HORIZON_DAYS {
                return Ok(change);
            }
            days *= 4;
        }
    }

    /// When the hours are next open from `at` on: `at` itself when open,
    /// else the next opening; `None` when they never open within
    /// [`HORIZON_DAYS`].
    ///
    /// # Errors
    ///
    /// [`HoursError::UnknownZone`] when the zone cannot be resolved.
    pub fn opens_at(&self, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, HoursError> {
        if self.is_open(at)? {
            return Ok(Some(at));
        }
        self.next_change(at)
    }

    /// How much open time lies in `[from, until)` (zero when `until` is
    /// not after `from`).
    ///
    /// # Errors
    ///
    /// [`HoursError::UnknownZone`] when the zone cannot be resolved.
    pub fn open_time_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Duration, HoursError> {
        if until <= from {
            return Ok(Duration::zero());
        }
        let spans = self.spans(
            self.local_date(from)? - Duration::days(1),
            self.local_date(until)? + Duration::days(1),
        )?;
        Ok(spans
            .into_iter()
            .map(|(a, b)| (a.max(from), b.min(until)))
            .filter(|(a, b)| a < b)
            .fold(Duration::zero(), |sum, (a, b)| sum + (b - a)))
    }

    /// The instant at which `work` of open time has passed since `from`
    /// (for targets counted in working hours); `None` when the hours do not
    /// hold that much open time within [`HORIZON_DAYS`].
    ///
    /// # Errors
    ///
    /// [`HoursError::UnknownZone`] when the zone cannot be resolved.
    pub fn after_open_time(
        &self,
        from: DateTime<Utc>,
        work: Duration,
    ) -> Result<Option<DateTime<Utc>>, HoursError> {
        let day = self.local_date(from)?;
        let mut left = work;
        for (a, b) in self.spans(day - Duration::days(1), day + Duration::days(HORIZON_DAYS))? {
            let a = a.max(from);
            if b <= a {
                continue;
            }
            if b - a >= left {
                return Ok(Some(a + left));
            }
            left -= b - a;
        }
        Ok(None)
    }

    fn zone(&self) -> &str {
        &self.hours.time_zone
    }

    fn unknown(&self) -> HoursError {
        HoursError::UnknownZone(self.zone().to_owned())
    }

    fn local_date(&self, at: DateTime<Utc>) -> Result<NaiveDate, HoursError> {
        let offset = self
            .zones
            .offset_at(self.zone(), at)
            .ok_or_else(|| self.unknown())?;
        Ok(at.with_timezone(&offset).date_naive())
    }

    fn day_start(&self, date: NaiveDate) -> Result<DateTime<Utc>, HoursError> {
        self.instant(date.and_time(NaiveTime::MIN))
    }

    /// The UTC instant of a local time: a time in a gap is moved to the
    /// gap's end, a repeated time takes its first occurrence.
    fn instant(&self, local: NaiveDateTime) -> Result<DateTime<Utc>, HoursError> {
        // Gaps are at most a few hours: look minute by minute for a day.
        for minutes in 0..=24 * 60 {
            let probe = local
                .checked_add_signed(Duration::minutes(minutes))
                .ok_or(HoursError::OutOfRange)?;
            let utc = |o: FixedOffset| {
                probe
                    .checked_sub_signed(Duration::seconds(i64::from(o.local_minus_utc())))
                    .map(|n| n.and_utc())
                    .ok_or(HoursError::OutOfRange)
            };
            match self
                .zones
                .local_offsets(self.zone(), probe)
                .ok_or_else(|| self.unknown())?
            {
                LocalResult::Single(o) => return utc(o),
                LocalResult::Ambiguous(a, b) => return Ok(utc(a)?.min(utc(b)?)),
                LocalResult::None => {}
            }
        }
        Err(HoursError::OutOfRange)
    }

    /// The open spans of the local dates `first..=last` in UTC, sorted and
    /// merged (adjacent spans join, so a shift across midnight is one).
    fn spans(&self, first: NaiveDate, last: NaiveDate) -> Result<Vec<Span>, HoursError> {
        let mut spans: Vec<Span> = Vec::new();
        let mut date = first;
        while date <= last {
            for open in self.hours.local_intervals(date) {
                if !open.is_valid() {
                    continue;
                }
                let start = self.instant(date.and_time(open.from))?;
                let end = if open.until == NaiveTime::MIN {
                    let next = date.succ_opt().ok_or(HoursError::OutOfRange)?;
                    self.day_start(next)?
                } else {
                    self.instant(date.and_time(open.until))?
                };
                if start < end {
                    spans.push((start, end));
                }
            }
            date = date.succ_opt().ok_or(HoursError::OutOfRange)?;
        }
        spans.sort();
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("a time")
    }

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, m, 0)
            .single()
            .expect("an instant")
    }

    fn weekdays() -> WorkingHours {
        use Weekday::*;
        WorkingHours::new("UTC").weekly(
            &[Mon, Tue, Wed, Thu, Fri],
            OpenInterval::new(t(9, 0), t(17, 0)),
        )
    }

    #[test]
    fn open_and_closed_by_weekday() {
        let hours = weekdays();
        let s = Schedule::new(&hours, &FixedZones);
        // 2026-12-07 is a Monday, 2026-12-12 a Saturday.
        assert!(s.is_open(utc(7, 9, 0)).expect("known"));
        assert!(!s.is_open(utc(7, 17, 0)).expect("known"));
        assert!(!s.is_open(utc(12, 12, 0)).expect("known"));
        // Friday evening → Monday morning.
        assert_eq!(
            s.next_change(utc(11, 18, 0)).expect("known"),
            Some(utc(14, 9, 0))
        );
        assert_eq!(
            s.opens_at(utc(11, 18, 0)).expect("known"),
            Some(utc(14, 9, 0))
        );
        assert_eq!(
            s.opens_at(utc(7, 10, 0)).expect("known"),
            Some(utc(7, 10, 0))
        );
    }

    #[test]
    fn exceptions_replace_the_weekly_hours() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 8).expect("a date");
        let short = NaiveDate::from_ymd_opt(2026, 12, 9).expect("a date");
        let hours = weekdays()
            .exception(date, &[])
            .exception(short, &[OpenInterval::new(t(9, 0), t(12, 0))]);
        let s = Schedule::new(&hours, &FixedZones);
        assert!(!s.is_open(utc(8, 10, 0)).expect("known"));
        assert!(s.is_open(utc(9, 11, 0)).expect("known"));
        assert!(!s.is_open(utc(9, 13, 0)).expect("known"));
        assert_eq!(
            s.next_change(utc(7, 20, 0)).expect("known"),
            Some(utc(9, 9, 0))
        );
    }

    #[test]
    fn a_shift_across_midnight_is_one_span() {
        use Weekday::*;
        let hours = WorkingHours::new("UTC")
            .weekly(&[Mon], OpenInterval::new(t(22, 0), t(0, 0)))
            .weekly(&[Tue], OpenInterval::new(t(0, 0), t(6, 0)));
        let s = Schedule::new(&hours, &FixedZones);
        assert_eq!(
            s.next_change(utc(7, 23, 0)).expect("known"),
            Some(utc(8, 6, 0))
        );
        assert_eq!(
            s.open_time_between(utc(7, 0, 0), utc(9, 0, 0))
                .expect("known"),
            Duration::hours(8)
        );
    }

    #[test]
    fn open_time_counts_only_the_hours() {
        let hours = weekdays();
        let s = Schedule::new(&hours, &FixedZones);
        // Friday 16:00 → Monday 10:00: one hour on Friday, one on Monday.
        assert_eq!(
            s.open_time_between(utc(11, 16, 0), utc(14, 10, 0))
                .expect("known"),
            Duration::hours(2)
        );
        assert_eq!(
            s.after_open_time(utc(11, 16, 0), Duration::minutes(90))
                .expect("known"),
            Some(utc(14, 9, 30))
        );
    }

    #[test]
    fn always_open_and_never_open_do_not_change() {
        use Weekday::*;
        let all = [Mon, Tue, Wed, Thu, Fri, Sat, Sun];
        let always = WorkingHours::new("UTC").weekly(&all, OpenInterval::new(t(0, 0), t(0, 0)));
        let s = Schedule::new(&always, &FixedZones);
        assert!(s.is_open(utc(12, 3, 0)).expect("known"));
        assert_eq!(s.next_change(utc(12, 3, 0)).expect("known"), None);
        let never = WorkingHours::new("UTC");
        let s = Schedule::new(&never, &FixedZones);
        assert!(!s.is_open(utc(12, 3, 0)).expect("known"));
        assert_eq!(s.next_change(utc(12, 3, 0)).expect("known"), None);
        assert_eq!(
            s.after_open_time(utc(12, 3, 0), Duration::minutes(1))
                .expect("known"),
            None
        );
    }

    #[test]
    fn a_fixed_offset_shifts_the_hours() {
        let mut hours = weekdays();
        hours.time_zone = "+03:00".into();
        let s = Schedule::new(&hours, &FixedZones);
        assert!(s.is_open(utc(7, 6, 0)).expect("known"));
        assert!(!s.is_open(utc(7, 14, 0)).expect("known"));
    }

    #[test]
    fn problems_are_named() {
        use Weekday::*;
        let date = NaiveDate::from_ymd_opt(2026, 12, 8).expect("a date");
        let hours = WorkingHours::new("Mars/Olympus")
            .weekly(&[], OpenInterval::new(t(9, 0), t(17, 0)))
            .weekly(&[Mon], OpenInterval::new(t(17, 0), t(9, 0)))
            .exception(date, &[])
            .exception(date, &[])
            .off_hours_reply(" ");
        let problems = hours.problems(&FixedZones);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("Mars/Olympus"));
        assert!(weekdays().problems(&FixedZones).is_empty());
        let s = Schedule::new(&hours, &FixedZones);
        assert_eq!(
            s.is_open(utc(7, 9, 0)),
            Err(HoursError::UnknownZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn hours_read_from_their_serialized_form() {
        let json = r#"{"time_zone":"UTC","weekly":[{"days":["Mon","Fri"],"from":"09:00:00","until":"17:30:00"}],
                       "exceptions":[{"date":"2026-12-25"}]}"#;
        let hours: WorkingHours = serde_json::from_str(json).expect("valid");
        assert_eq!(hours.weekly[0].days, vec![Weekday::Mon, Weekday::Fri]);
        assert_eq!(hours.weekly[0].open.until, t(17, 30));
        assert!(hours.exceptions[0].open.is_empty());
        // Minutes without seconds read too.
        let short: OpenInterval =
            serde_json::from_str(r#"{"from":"09:00","until":"00:00"}"#).expect("valid");
        assert_eq!(short, OpenInterval::new(t(9, 0), NaiveTime::MIN));
    }
}
