//! Timers: due times armed by session transitions, fired once by any hub.
//!
//! A timer is data, never an in-process sleep: the transition that needs
//! one (an offer that may lapse) returns it in its
//! [`Changeset`](crate::machine::Changeset) and the store writes it in the
//! same atomic unit as the session. [`Hub::run_due`](crate::Hub::run_due)
//! claims what is due with a lease and fires each timer through
//! [`machine::fire`](crate::machine::fire), so however many hubs run it,
//! each timer has one effect, and a crash only delays it.
//!
//! A session has at most one timer of each [`TimerKind`]; arming a kind
//! again replaces the earlier one. The inactivity kinds
//! ([`TimerKind::MESSAGE_KINDS`]) are armed and cancelled by messages, in
//! the message's store call (see
//! [`machine::inactivity`](crate::machine::inactivity)).

use crate::ids::{GroupId, LineId, SessionId};
use crate::session::Session;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a timer is for. One timer per (session, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimerKind {
    /// An offered (first come) session nobody took in time.
    OfferTimeout,
    /// A session assigned by a rule whose operator neither accepted it nor
    /// replied in time.
    AcceptTimeout,
    /// The assigned operator became absent: the session returns to
    /// routing when the line's grace period ends.
    OfflineGrace,
    /// A session waiting outside the line's working hours: the opening.
    HoursOpen,
    /// An operator closed a session on a line with wrap-up: their slot
    /// is released when it fires.
    WrapUp,
    /// A session with the line's bot: handed over when it fires.
    BotTimeout,
    /// The session's first-response clock: its warning, then its due time
    /// (see [`sla`](crate::sla)).
    SlaFirstResponse,
    /// The session's next-response clock: its warning, then its due time.
    SlaNextResponse,
    /// The session's resolution clock: its warning, then its due time.
    SlaResolution,
    /// The operator wrote and the client has been silent since: the
    /// warning before the inactivity close is due (armed by an operator's
    /// message, cancelled by the client's).
    InactivityWarning,
    /// The operator wrote and the client has been silent since: the
    /// session closes as inactive (armed by an operator's message,
    /// cancelled by the client's).
    Inactivity,
    /// A session no operator has answered yet, on a line with inactivity:
    /// it escalates or closes (see [`NeverAnswered`]); an operator's
    /// message cancels it.
    NeverAnswered,
}

impl TimerKind {
    /// Every kind.
    pub const ALL: [TimerKind; 12] = [
        TimerKind::OfferTimeout,
        TimerKind::AcceptTimeout,
        TimerKind::OfflineGrace,
        TimerKind::WrapUp,
        TimerKind::HoursOpen,
        TimerKind::BotTimeout,
        TimerKind::SlaFirstResponse,
        TimerKind::SlaNextResponse,
        TimerKind::SlaResolution,
        TimerKind::InactivityWarning,
        TimerKind::Inactivity,
        TimerKind::NeverAnswered,
    ];

    /// The kinds a message re-arms or cancels (not a transition): their
    /// row is current by construction, see
    /// [`machine::timers`](crate::machine::timers).
    pub const MESSAGE_KINDS: [TimerKind; 3] = [
        TimerKind::InactivityWarning,
        TimerKind::Inactivity,
        TimerKind::NeverAnswered,
    ];

    /// A short stable name, as stores keep it: `offer_timeout`,
    /// `accept_timeout`, `offline_grace`, `wrap_up`, `hours_open`,
    /// `bot_timeout`, `sla_first_response`, `sla_next_response`,
    /// `sla_resolution`, `inactivity_warning`, `inactivity`,
    /// `never_answered`.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::OfferTimeout => "offer_timeout",
            TimerKind::AcceptTimeout => "accept_timeout",
            TimerKind::OfflineGrace => "offline_grace",
            TimerKind::HoursOpen => "hours_open",
            TimerKind::WrapUp => "wrap_up",
            TimerKind::BotTimeout => "bot_timeout",
            TimerKind::SlaFirstResponse => "sla_first_response",
            TimerKind::SlaNextResponse => "sla_next_response",
            TimerKind::SlaResolution => "sla_resolution",
            TimerKind::InactivityWarning => "inactivity_warning",
            TimerKind::Inactivity => "inactivity",
            TimerKind::NeverAnswered => "never_answered",
        }
    }

    /// The kind named by [`name`](Self::name), if any.
    ///
    /// ```
    /// use chatlines_core::TimerKind;
    /// assert_eq!(TimerKind::from_name("offer_timeout"), Some(TimerKind::OfferTimeout));
    /// assert_eq!(TimerKind::from_name("nap"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for TimerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One armed timer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Timer {
    /// The session it belongs to.
    pub session: SessionId,
    /// The session's line.
    pub line: LineId,
    /// What it is for.
    pub kind: TimerKind,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The session's version when it was armed: firing it on a session that
    /// changed since is a stale no-op.
    pub armed_version: u64,
}

impl Timer {
    /// A timer (used by core's machine and by stores loading rows).
    pub fn new(
        session: SessionId,
        line: LineId,
        kind: TimerKind,
        due_at: DateTime<Utc>,
        armed_version: u64,
    ) -> Self {
        Self {
            session,
            line,
            kind,
            due_at,
            armed_version,
        }
    }
}

/// A timer claimed by [`claim_timers`](crate::TimerStore::claim_timers):
/// leased to the claimer until `lease_until` under `token`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimedTimer {
    /// The timer as claimed.
    pub timer: Timer,
    /// The lease token; [`fire_timer`](crate::TimerStore::fire_timer) acts
    /// only while the timer still holds it.
    pub token: Uuid,
    /// Until when the lease holds; after it, another claim may take the
    /// timer again.
    pub lease_until: DateTime<Utc>,
}

impl ClaimedTimer {
    /// A claimed timer (used by stores).
    pub fn new(timer: Timer, token: Uuid, lease_until: DateTime<Utc>) -> Self {
        Self {
            timer,
            token,
            lease_until,
        }
    }
}

/// What [`fire_timer`](crate::TimerStore::fire_timer) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FireOutcome {
    /// The timer's effect was written (the session as it is now).
    Fired(Session),
    /// The session changed since the timer was armed (or closed, or the
    /// setting was turned off): the timer was deleted, nothing else written.
    Stale,
    /// The timer is gone, re-armed, or leased to another claimer: nothing
    /// was written (another hub fired it, or a transition replaced it).
    Gone,
}

/// A line's timer settings; everything off by default.
///
/// ```
/// use chatlines_core::{LineConfig, TimerSettings};
/// let config = LineConfig::new("Desk")
///     .operators("ops")
///     .offer_timeout(std::time::Duration::from_secs(120))
///     .overflow("seniors");
/// assert_eq!(config.timers.offer_timeout_secs, Some(120));
/// assert_eq!(TimerSettings::default().offer_timeout(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TimerSettings {
    /// An offered (first come) session nobody took within this many
    /// seconds logs [`SessionUnanswered`](crate::Event::SessionUnanswered),
    /// and again every period until taken or closed. Off when `None`.
    pub offer_timeout_secs: Option<u64>,
    /// With an offer timeout: the second operators group an unanswered
    /// session overflows to (its members may take it, and the event names
    /// the group so a UI can show it to them).
    pub overflow: Option<GroupId>,
    /// A session assigned by a rule (responsible, round robin, least
    /// loaded) whose operator neither accepted it
    /// ([`Hub::accept`](crate::Hub::accept)) nor replied within this many
    /// seconds goes to the next operator by the same rule, excluding those
    /// who let it lapse ([`RouteReason::NotAccepted`](crate::RouteReason::NotAccepted)).
    /// Off when `None`.
    pub accept_timeout_secs: Option<u64>,
    /// With an accept timeout: after this many consecutive lapses an
    /// operator is set away on the line (not eligible for routing) until
    /// their availability changes or a supervisor resets them
    /// ([`Hub::reset_no_answer`](crate::Hub::reset_no_answer)). Never when
    /// `None`.
    pub max_no_answer: Option<u32>,
    /// When the operator a session is assigned to becomes absent (told
    /// through [`Hub::availability_changed`](crate::Hub::availability_changed)),
    /// the session returns to routing after this many seconds unless they
    /// are back in time; blocked operators' sessions return at once, and a
    /// client writing into a session of an absent operator is routed again
    /// at once ([`RouteReason::OperatorAbsent`](crate::RouteReason::OperatorAbsent)).
    /// Off when `None` (sessions stay with absent operators).
    pub offline_grace_secs: Option<u64>,
    /// On a line with capacity (least loaded): after a session assigned
    /// to an operator is closed, their slot stays taken for this many
    /// seconds ([`RouteReason::WrapUp`](crate::RouteReason::WrapUp)).
    /// Off when `None`.
    pub wrap_up_secs: Option<u64>,
    /// On a line with the bot stage ([`LineConfig::bot`](crate::LineConfig::bot)):
    /// a session still with the bot this many seconds after it entered
    /// the stage is handed over ([`HandOverReason::Timeout`](crate::HandOverReason::Timeout)).
    /// Off when `None`.
    pub bot_timeout_secs: Option<u64>,
    /// Priority aging: each priority step is worth this many seconds of
    /// waiting, so a waiting session's effective priority rises one step
    /// per period and a low one is never overtaken by sessions opened more
    /// than three periods after it (see [`priority`](crate::priority)).
    /// Off when `None` (strict order: priority, then waiting time). Needs
    /// no timer: the stores order by [`queue_key`](crate::priority::queue_key).
    pub priority_aging_secs: Option<u64>,
    /// On a line with service-level targets ([`LineConfig::sla`](crate::LineConfig::sla)):
    /// a breach raises the session's priority to this level (never
    /// lowers it), in the same atomic change that records the breach
    /// ([`PriorityCause::SlaBreach`](crate::PriorityCause::SlaBreach)).
    /// Off when `None`.
    pub sla_breach_priority: Option<crate::priority::Priority>,
    /// Inactivity: a session whose client has been silent this many
    /// seconds after an operator's last message closes as inactive
    /// ([`CloseReason::Inactive`](crate::CloseReason::Inactive)); a
    /// session no operator answered this long after it was routed is
    /// handled as [`never_answered`](Self::never_answered) says. Off when
    /// `None`.
    pub inactivity_secs: Option<u64>,
    /// With inactivity: the client is warned this many seconds before the
    /// close, with [`inactivity_warning`](Self::inactivity_warning) as a
    /// message from the line. No warning when `None`.
    pub inactivity_warning_secs: Option<u64>,
    /// The text of the inactivity warning.
    pub inactivity_warning: Option<String>,
    /// With inactivity: what happens to a session no operator answered.
    pub never_answered: NeverAnswered,
    /// A client writing within this many seconds after their session was
    /// closed reopens it ([`Event::SessionReopened`](crate::Event::SessionReopened))
    /// instead of opening a new one. Off when `None`.
    pub reopen_secs: Option<u64>,
}

/// What happens, on a line with inactivity, to a session no operator has
/// answered when the inactivity time has passed since it was routed; an
/// event ([`Event::SessionInactive`](crate::Event::SessionInactive)) is
/// logged either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NeverAnswered {
    /// It stays open; the event tells supervisors (the default).
    #[default]
    Escalate,
    /// It is closed ([`CloseReason::NeverAnswered`](crate::CloseReason::NeverAnswered)).
    Close,
}

/// The longest offer timeout accepted (one week), in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

impl TimerSettings {
    /// The offer timeout, when on.
    pub fn offer_timeout(&self) -> Option<chrono::Duration> {
        self.offer_timeout_secs
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The accept timeout, when on.
    pub fn accept_timeout(&self) -> Option<chrono::Duration> {
        self.accept_timeout_secs
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The offline grace period, when on (zero: at once).
    pub fn offline_grace(&self) -> Option<chrono::Duration> {
        self.offline_grace_secs
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The wrap-up time, when on.
    pub fn wrap_up(&self) -> Option<chrono::Duration> {
        self.wrap_up_secs
            .filter(|s| *s > 0)
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The bot timeout, when on.
    pub fn bot_timeout(&self) -> Option<chrono::Duration> {
        self.bot_timeout_secs
            .filter(|s| *s > 0)
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The priority aging step, when on.
    pub fn priority_aging(&self) -> Option<chrono::Duration> {
        self.priority_aging_secs
            .filter(|s| *s > 0)
            .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
    }

    /// The inactivity time, when on.
    pub fn inactivity(&self) -> Option<chrono::Duration> {
        secs(self.inactivity_secs)
    }

    /// How long before the inactivity close the warning is due, and its
    /// text, when on (with inactivity).
    pub fn inactivity_warning(&self) -> Option<(chrono::Duration, &str)> {
        self.inactivity()?;
        let before = secs(self.inactivity_warning_secs)?;
        let text = self
            .inactivity_warning
            .as_deref()
            .filter(|t| !t.is_empty())?;
        Some((before, text))
    }

    /// The reopen window, when on.
    pub fn reopen(&self) -> Option<chrono::Duration> {
        secs(self.reopen_secs)
    }

    /// Whether any timer is on.
    pub fn any(&self) -> bool {
        self.offer_timeout_secs.is_some()
            || self.accept_timeout_secs.is_some()
            || self.offline_grace_secs.is_some()
            || self.wrap_up_secs.is_some()
            || self.bot_timeout_secs.is_some()
            || self.inactivity_secs.is_some()
    }
}

/// A setting in whole seconds as a duration, when on (zero is off).
fn secs(value: Option<u64>) -> Option<chrono::Duration> {
    value
        .filter(|s| *s > 0)
        .map(|s| chrono::Duration::seconds(i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0)))
}
