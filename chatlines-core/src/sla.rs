//! Service levels: a line's response and resolution targets, the clocks a
//! session runs against them, and the breaches kept for reports.
//!
//! A line with an [`SlaSettings`] block starts clocks on its sessions:
//!
//! * **first response** from the session's first client message until the
//!   first operator reply;
//! * **next response** from the first client message after an operator
//!   reply until the next operator reply (each client message after a reply
//!   starts it again; more client messages before the reply do not);
//! * **resolution** from the first client message until the close.
//!
//! Targets may count open time of the line's working hours only
//! ([`SlaSettings::working_hours_only`]): a night the line is closed does
//! not count. The hub computes the due instants (it has the time-zone
//! database) and hands them to the store with the client's message
//! ([`InboundFollowUp::sla`](crate::InboundFollowUp::sla)); the machine
//! decides which clocks start and stop — in the store call of the client's
//! message, and of an operator's reply
//! ([`machine::inbound_follow_up`](crate::machine::inbound_follow_up),
//! [`machine::outbound_follow_up`](crate::machine::outbound_follow_up);
//! a host may also move them with [`Transition::Sla`](crate::Transition::Sla))
//! — and arms one timer per running clock
//! ([`TimerKind::SlaFirstResponse`](crate::TimerKind::SlaFirstResponse),
//! …): first at the warning time, then at the due time. A clock stopped in
//! time makes its timer a no-op. A warning logs
//! [`SlaWarning`](crate::Event::SlaWarning); a breach logs
//! [`SlaBreached`](crate::Event::SlaBreached) and keeps a [`SlaBreach`]
//! record ([`Hub::sla_breaches`](crate::Hub::sla_breaches)); on a line
//! with [`TimerSettings::sla_breach_priority`](crate::TimerSettings::sla_breach_priority)
//! the same change raises the session's priority.
//!
//! Service-level bookkeeping is not a change of the session's status: it
//! keeps the session's version and `updated_at`, so timers armed at the
//! version (an offer timeout, an accept timeout) stay current.

use crate::hours::Schedule;
use crate::ids::{ContactId, LineId, SessionId, UserId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The longest target accepted (thirty days), in seconds.
pub const MAX_SLA_SECS: u64 = 30 * 24 * 3600;

/// A line's service-level targets; off when a line has none
/// ([`LineConfig::sla`](crate::LineConfig::sla) is `None`), and each
/// target off when `None`.
///
/// ```
/// use chatlines_core::{LineConfig, SlaSettings};
/// let config = LineConfig::new("Desk").operators("ops").sla(
///     SlaSettings::default()
///         .first_response(std::time::Duration::from_secs(300))
///         .resolution(std::time::Duration::from_secs(3600))
///         .warning_percent(80),
/// );
/// let sla = config.sla.unwrap();
/// assert_eq!(sla.first_response_secs, Some(300));
/// assert_eq!(sla.warning_percent, Some(80));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SlaSettings {
    /// Seconds from the session's first client message to the first
    /// operator reply.
    pub first_response_secs: Option<u64>,
    /// Seconds from a client message after an operator reply to the next
    /// operator reply.
    pub next_response_secs: Option<u64>,
    /// Seconds from the session's first client message to its close.
    pub resolution_secs: Option<u64>,
    /// Count only the open time of the line's working hours (the line must
    /// have [`hours`](crate::LineConfig::hours)).
    pub working_hours_only: bool,
    /// Warn when this percentage of a target has passed (80: at 0.8 of
    /// the target); no warning when `None`. From 1 to 99.
    pub warning_percent: Option<u8>,
}

impl SlaSettings {
    /// Sets the first-response target (whole seconds).
    #[must_use]
    pub fn first_response(mut self, target: std::time::Duration) -> Self {
        self.first_response_secs = Some(target.as_secs());
        self
    }

    /// Sets the next-response target (whole seconds).
    #[must_use]
    pub fn next_response(mut self, target: std::time::Duration) -> Self {
        self.next_response_secs = Some(target.as_secs());
        self
    }

    /// Sets the resolution target (whole seconds).
    #[must_use]
    pub fn resolution(mut self, target: std::time::Duration) -> Self {
        self.resolution_secs = Some(target.as_secs());
        self
    }

    /// Counts the targets in the line's working hours only.
    #[must_use]
    pub fn working_hours_only(mut self, on: bool) -> Self {
        self.working_hours_only = on;
        self
    }

    /// Warns at `percent` of each target.
    #[must_use]
    pub fn warning_percent(mut self, percent: u8) -> Self {
        self.warning_percent = Some(percent);
        self
    }

    /// The target of `target` in seconds, when on.
    pub fn target_secs(&self, target: SlaTarget) -> Option<u64> {
        match target {
            SlaTarget::FirstResponse => self.first_response_secs,
            SlaTarget::NextResponse => self.next_response_secs,
            SlaTarget::Resolution => self.resolution_secs,
        }
    }

    /// Whether any target is on.
    pub fn any(&self) -> bool {
        SlaTarget::ALL
            .into_iter()
            .any(|t| self.target_secs(t).is_some())
    }

    /// The due (and warning) instants of every target that is on, counted
    /// from `from`: in wall-clock time, or in the open time of `schedule`
    /// when [`working_hours_only`](Self::working_hours_only) and a schedule
    /// is given. A target the calendar cannot place (an unknown zone, no
    /// opening within its horizon) counts in wall-clock time.
    ///
    /// ```
    /// use chatlines_core::{SlaSettings, SlaTarget};
    /// let t0 = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    /// let sla = SlaSettings::default()
    ///     .first_response(std::time::Duration::from_secs(100))
    ///     .warning_percent(80);
    /// let dues = sla.dues(t0, None);
    /// let first = dues.of(SlaTarget::FirstResponse).unwrap();
    /// assert_eq!(first.due_at, t0 + chrono::Duration::seconds(100));
    /// assert_eq!(first.warn_at, Some(t0 + chrono::Duration::seconds(80)));
    /// assert!(dues.of(SlaTarget::Resolution).is_none());
    /// ```
    pub fn dues(&self, from: DateTime<Utc>, schedule: Option<&Schedule<'_>>) -> SlaDues {
        let schedule = schedule.filter(|_| self.working_hours_only);
        let after = |secs: u64| -> Option<DateTime<Utc>> {
            let span = Duration::seconds(i64::try_from(secs.min(MAX_SLA_SECS)).ok()?);
            if let Some(schedule) = schedule {
                match schedule.after_open_time(from, span) {
                    Ok(Some(at)) => return Some(at),
                    Ok(None) => {
                        tracing::warn!("working hours hold too little open time; SLA counted in wall-clock time");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "working hours unreadable; SLA counted in wall-clock time");
                    }
                }
            }
            from.checked_add_signed(span)
        };
        let due = |target: SlaTarget| -> Option<SlaDue> {
            let secs = self.target_secs(target).filter(|s| *s > 0)?;
            let due_at = after(secs)?;
            let warn_at = self
                .warning_percent
                .filter(|p| (1..100).contains(p))
                .and_then(|p| after(secs.saturating_mul(u64::from(p)) / 100))
                .filter(|w| *w < due_at);
            Some(SlaDue { warn_at, due_at })
        };
        SlaDues {
            first_response: due(SlaTarget::FirstResponse),
            next_response: due(SlaTarget::NextResponse),
            resolution: due(SlaTarget::Resolution),
        }
    }
}

/// One service-level target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// The first operator reply of the session.
    FirstResponse,
    /// The operator reply to a client message written after a reply.
    NextResponse,
    /// The close of the session.
    Resolution,
}

impl SlaTarget {
    /// Every target.
    pub const ALL: [SlaTarget; 3] = [
        SlaTarget::FirstResponse,
        SlaTarget::NextResponse,
        SlaTarget::Resolution,
    ];

    /// A short stable name: `first_response`, `next_response`, `resolution`.
    pub fn name(self) -> &'static str {
        match self {
            SlaTarget::FirstResponse => "first_response",
            SlaTarget::NextResponse => "next_response",
            SlaTarget::Resolution => "resolution",
        }
    }

    /// The target named by [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The timer kind of this target's clock.
    pub fn timer_kind(self) -> crate::timer::TimerKind {
        use crate::timer::TimerKind;
        match self {
            SlaTarget::FirstResponse => TimerKind::SlaFirstResponse,
            SlaTarget::NextResponse => TimerKind::SlaNextResponse,
            SlaTarget::Resolution => TimerKind::SlaResolution,
        }
    }

    /// The target whose clock a timer kind runs, if any.
    pub fn of_timer(kind: crate::timer::TimerKind) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.timer_kind() == kind)
    }
}

impl std::fmt::Display for SlaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a clock stands against its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Within the target, before the warning.
    #[default]
    Ok,
    /// The warning time passed.
    Warning,
    /// The due time passed before the clock stopped.
    Breached,
}

impl SlaState {
    /// A short stable name: `ok`, `warning`, `breached`.
    pub fn name(self) -> &'static str {
        match self {
            SlaState::Ok => "ok",
            SlaState::Warning => "warning",
            SlaState::Breached => "breached",
        }
    }
}

/// When a target is due, counted from a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaDue {
    /// When to warn (`None`: no warning).
    pub warn_at: Option<DateTime<Utc>>,
    /// When the target is breached.
    pub due_at: DateTime<Utc>,
}

impl SlaDue {
    /// A due time, with a warning time when given.
    pub fn new(warn_at: Option<DateTime<Utc>>, due_at: DateTime<Utc>) -> Self {
        Self { warn_at, due_at }
    }
}

/// The due instants of a line's targets counted from one instant
/// ([`SlaSettings::dues`]); `None` for targets that are off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaDues {
    /// The first-response target.
    pub first_response: Option<SlaDue>,
    /// The next-response target.
    pub next_response: Option<SlaDue>,
    /// The resolution target.
    pub resolution: Option<SlaDue>,
}

impl SlaDues {
    /// The due of `target`.
    pub fn of(&self, target: SlaTarget) -> Option<SlaDue> {
        match target {
            SlaTarget::FirstResponse => self.first_response,
            SlaTarget::NextResponse => self.next_response,
            SlaTarget::Resolution => self.resolution,
        }
    }
}

/// One clock of a session against one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaClock {
    /// When it started (the client message).
    pub started_at: DateTime<Utc>,
    /// When to warn, if the line warns.
    pub warn_at: Option<DateTime<Utc>>,
    /// When the target is breached.
    pub due_at: DateTime<Utc>,
    /// Where it stands.
    pub state: SlaState,
    /// When it stopped (answered, or the session closed); `None` while it
    /// runs.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// A running clock started at `started_at`.
    pub fn start(started_at: DateTime<Utc>, due: SlaDue) -> Self {
        Self {
            started_at,
            warn_at: due.warn_at,
            due_at: due.due_at,
            state: SlaState::Ok,
            stopped_at: None,
        }
    }

    /// Whether it still runs.
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none()
    }

    /// The instant its timer is due next: the warning time while the state
    /// is ok (and the line warns), else the due time; `None` once stopped
    /// or breached.
    pub fn next_alarm(&self) -> Option<DateTime<Utc>> {
        if !self.is_running() {
            return None;
        }
        match self.state {
            SlaState::Ok => Some(self.warn_at.unwrap_or(self.due_at)),
            SlaState::Warning => Some(self.due_at),
            SlaState::Breached => None,
        }
    }
}

/// A session's clocks against its line's targets (see the
/// [module](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SessionSla {
    /// The first-response clock.
    pub first_response: Option<SlaClock>,
    /// The latest next-response clock.
    pub next_response: Option<SlaClock>,
    /// The resolution clock.
    pub resolution: Option<SlaClock>,
    /// Whether an operator has replied since the last client message that
    /// could start a next-response clock.
    pub answered: bool,
}

impl SessionSla {
    /// The clock of `target`.
    pub fn clock(&self, target: SlaTarget) -> Option<&SlaClock> {
        match target {
            SlaTarget::FirstResponse => self.first_response.as_ref(),
            SlaTarget::NextResponse => self.next_response.as_ref(),
            SlaTarget::Resolution => self.resolution.as_ref(),
        }
    }

    /// The clock of `target`, to change.
    pub fn clock_mut(&mut self, target: SlaTarget) -> &mut Option<SlaClock> {
        match target {
            SlaTarget::FirstResponse => &mut self.first_response,
            SlaTarget::NextResponse => &mut self.next_response,
            SlaTarget::Resolution => &mut self.resolution,
        }
    }

    /// The worst state of its clocks (breached over warning over ok),
    /// counting stopped clocks that breached; `None` without clocks.
    pub fn worst(&self) -> Option<SlaState> {
        SlaTarget::ALL
            .into_iter()
            .filter_map(|t| self.clock(t))
            .map(|c| c.state)
            .max_by_key(|s| match s {
                SlaState::Ok => 0,
                SlaState::Warning => 1,
                SlaState::Breached => 2,
            })
    }

    /// The running clock due first, with its target.
    pub fn next_due(&self) -> Option<(SlaTarget, &SlaClock)> {
        SlaTarget::ALL
            .into_iter()
            .filter_map(|t| self.clock(t).map(|c| (t, c)))
            .filter(|(_, c)| c.is_running())
            .min_by_key(|(_, c)| c.due_at)
    }
}

/// What happened that moves a session's clocks
/// ([`Transition::Sla`](crate::Transition::Sla)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlaChange {
    /// The client wrote at `at`; `dues` are the line's targets counted
    /// from then. Starts the first-response and resolution clocks of a
    /// session without clocks, and a next-response clock after an
    /// operator reply.
    ClientWrote {
        /// When the message was stored.
        at: DateTime<Utc>,
        /// The line's targets counted from `at`.
        dues: SlaDues,
    },
    /// An operator replied: stops the running response clocks.
    OperatorReplied,
}

/// A breached target, kept for reports ([`Hub::sla_breaches`](crate::Hub::sla_breaches)).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlaBreach {
    /// The session.
    pub session: SessionId,
    /// Its line.
    pub line: LineId,
    /// Its client.
    pub contact: ContactId,
    /// The target breached.
    pub target: SlaTarget,
    /// When the target was due.
    pub due_at: DateTime<Utc>,
    /// When the breach was recorded (the timer fired).
    pub breached_at: DateTime<Utc>,
    /// The operator the session was assigned to then, if any.
    pub operator: Option<UserId>,
}

impl SlaBreach {
    /// A breach record (used by the machine and by stores loading rows).
    pub fn new(
        session: SessionId,
        line: LineId,
        contact: ContactId,
        target: SlaTarget,
        due_at: DateTime<Utc>,
        breached_at: DateTime<Utc>,
        operator: Option<UserId>,
    ) -> Self {
        Self {
            session,
            line,
            contact,
            target,
            due_at,
            breached_at,
            operator,
        }
    }
}
