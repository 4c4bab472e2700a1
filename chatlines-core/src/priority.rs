//! Session priority: who is served first when several clients wait.
//!
//! Every session has a [`Priority`] (normal unless something sets it):
//!
//! * the host sets it when the client's message is stored
//!   ([`Hub::ingest_with`](crate::Hub::ingest_with) with
//!   [`IngestOptions::priority`]);
//! * otherwise a rule of the line sets it when the session opens
//!   ([`PriorityRules`]: by the source the client wrote through, or by the
//!   client's linked account item), the highest matching rule winning;
//!   either is written in the store call that stores the message and opens
//!   the session ([`InboundFollowUp::opening_priority`](crate::InboundFollowUp::opening_priority));
//! * a supervisor of the line changes it
//!   ([`Hub::set_priority`](crate::Hub::set_priority));
//! * an SLA breach raises it on a line that says so
//!   ([`TimerSettings::sla_breach_priority`](crate::TimerSettings::sla_breach_priority),
//!   through [`machine::raise_priority`](crate::machine::raise_priority)).
//!
//! Every change is a transition decided in core
//! ([`Transition::SetPriority`](crate::Transition::SetPriority)) and logs
//! [`SessionPriorityChanged`](crate::Event::SessionPriorityChanged). A
//! priority change is not a routing change: the session keeps its status,
//! reason, `updated_at` and armed timers (the store moves them to the new
//! version, see [`Changeset::keep_timers`](crate::machine::Changeset::keep_timers)).
//!
//! # Order
//!
//! Queues, offers and drains ([`SessionStore::queued_sessions`](crate::SessionStore::queued_sessions),
//! [`offered_sessions`](crate::SessionStore::offered_sessions)) serve the
//! highest priority first, then the longest waiting (oldest opening).
//!
//! # Bounded wait: aging
//!
//! With [`TimerSettings::priority_aging_secs`](crate::TimerSettings::priority_aging_secs)
//! set to `A`, each priority step is worth `A` seconds of waiting: sessions
//! are served in ascending order of [`queue_key`] — the opening time minus
//! `rank × A` — so a session's effective priority rises one step for every
//! `A` seconds it waits, without bound and without any timer. The bound:
//! a session of priority `p` is never served after a session opened more
//! than `(Urgent − p) × A` seconds after it (`3 × A` for a low one), so it
//! leaves the queue once the sessions opened before that moment are
//! served — however many urgent sessions keep arriving.
//!
//! Without aging (the default) the order is strict: priority, then
//! opening time; the stores read it from an index on
//! `(line, status, priority, opened)`. With aging the order is a computed
//! key: the stores read the line's waiting sessions of that status through
//! the `(line, status)` index and sort them (a cost in the length of that
//! line's queue, not of the store).

use crate::ids::{ItemId, SourceId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How urgently a session should be served. Ordered: `Low < Normal < High
/// < Urgent`; the default is `Normal`.
///
/// ```
/// use chatlines_core::Priority;
/// assert!(Priority::Urgent > Priority::Normal);
/// assert_eq!(Priority::default(), Priority::Normal);
/// assert_eq!(Priority::from_rank(2), Some(Priority::High));
/// assert_eq!(Priority::Low.raised(), Priority::Normal);
/// assert_eq!(Priority::Urgent.raised(), Priority::Urgent);
/// assert_eq!("urgent".parse::<Priority>().unwrap(), Priority::Urgent);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Served after every other priority (rank 0).
    Low,
    /// The default (rank 1).
    #[default]
    Normal,
    /// Served before normal sessions (rank 2).
    High,
    /// Served first (rank 3).
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    /// The highest priority.
    pub const TOP: Priority = Priority::Urgent;

    /// The number stores keep: 0 (low) to 3 (urgent).
    pub fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// The priority of a [`rank`](Self::rank), if any.
    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    /// A short stable name: `low`, `normal`, `high`, `urgent`.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// The priority named by [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One step higher (urgent stays urgent).
    pub fn raised(self) -> Self {
        Self::from_rank(self.rank().saturating_add(1)).unwrap_or(Priority::TOP)
    }

    /// The priority a session of this priority, opened at `opened_at`, has
    /// at `now` on a line that ages priorities every `aging` (see the
    /// [module](self)): one step per whole period waited, at most urgent.
    /// For display; the queue order is [`queue_key`].
    pub fn effective(
        self,
        opened_at: DateTime<Utc>,
        now: DateTime<Utc>,
        aging: Option<chrono::Duration>,
    ) -> Self {
        let Some(step) = aging.filter(|a| *a > chrono::Duration::zero()) else {
            return self;
        };
        let waited = now.signed_duration_since(opened_at);
        let steps = waited
            .num_milliseconds()
            .checked_div(step.num_milliseconds())
            .unwrap_or(0)
            .clamp(0, 3);
        let rank = i64::from(self.rank()).saturating_add(steps).min(3);
        Self::from_rank(u8::try_from(rank).unwrap_or(3)).unwrap_or(Priority::TOP)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A text that names no [`Priority`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a priority: expected low, normal, high or urgent")]
pub struct BadPriority(String);

impl std::str::FromStr for Priority {
    type Err = BadPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| BadPriority(s.chars().take(32).collect()))
    }
}

/// The key a line with aging serves its waiting sessions by, smallest
/// first: the opening time in nanoseconds since the epoch minus
/// `rank × aging` (see the [module](self)); stores compute the same in
/// SQL. Ties are served by opening order.
///
/// ```
/// use chatlines_core::{priority::queue_key, Priority};
/// let t0 = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
/// let minute = chrono::Duration::seconds(60);
/// // A low session opened at t0 goes before a high one opened 2½ minutes
/// // later when a step is worth a minute…
/// let low = queue_key(Priority::Low, t0, minute);
/// let high = queue_key(Priority::High, t0 + chrono::Duration::seconds(150), minute);
/// assert!(low < high);
/// // …and after one opened 1½ minutes later.
/// let high = queue_key(Priority::High, t0 + chrono::Duration::seconds(90), minute);
/// assert!(high < low);
/// ```
pub fn queue_key(priority: Priority, opened_at: DateTime<Utc>, aging: chrono::Duration) -> i64 {
    let opened = opened_at
        .timestamp_nanos_opt()
        .unwrap_or_else(|| opened_at.timestamp_millis().saturating_mul(1_000_000));
    let step = aging.num_nanoseconds().unwrap_or(i64::MAX);
    opened.saturating_sub(i64::from(priority.rank()).saturating_mul(step))
}

/// Who or what set a session's priority, as
/// [`SessionPriorityChanged`](crate::Event::SessionPriorityChanged) records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PriorityCause {
    /// The host, when the client's message was stored.
    Host,
    /// A rule of the line ([`PriorityRules`]) when the session opened.
    Rule,
    /// A supervisor of the line.
    Supervisor {
        /// The supervisor.
        user: UserId,
    },
    /// A breach of the session's service-level target (raised by an SLA
    /// handler through [`machine::raise_priority`](crate::machine::raise_priority)).
    SlaBreach,
}

/// Which sessions a [`SourcePriority`] rule matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "match", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceMatch {
    /// Messages through one messenger account.
    Source(SourceId),
    /// Messages through any source of a messenger kind (`whatsapp`, …).
    Kind(String),
    /// Messages of internal clients (written in the platform).
    Internal,
}

/// A rule: sessions opened through matching sources get `priority`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SourcePriority {
    /// Which sessions it matches.
    pub source: SourceMatch,
    /// The priority they get.
    pub priority: Priority,
}

impl SourcePriority {
    /// A rule by source.
    pub fn new(source: SourceMatch, priority: Priority) -> Self {
        Self { source, priority }
    }
}

/// A rule: sessions of clients linked to the account item `item` (of the
/// line's account app) get `priority`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountPriority {
    /// The account item.
    pub item: ItemId,
    /// The priority its sessions get.
    pub priority: Priority,
}

impl AccountPriority {
    /// A rule by linked account.
    pub fn new(item: impl Into<ItemId>, priority: Priority) -> Self {
        Self {
            item: item.into(),
            priority,
        }
    }
}

/// A line's priority rules, applied when a session opens without a
/// priority from the host: the highest priority of the matching rules;
/// normal when none matches. Empty (off) by default.
///
/// ```
/// use chatlines_core::priority::{PriorityRules, SourceMatch};
/// use chatlines_core::{LineConfig, Priority};
/// let config = LineConfig::new("Desk")
///     .operators("ops")
///     .account_app("crm")
///     .priority_by_source(SourceMatch::Kind("whatsapp".into()), Priority::High)
///     .priority_by_account("acme", Priority::Urgent);
/// let rules = &config.priority;
/// assert_eq!(rules.sources.len(), 1);
/// assert_eq!(rules.decide(Some("whatsapp"), None, None), Priority::High);
/// assert_eq!(rules.decide(None, None, Some(&"acme".into())), Priority::Urgent);
/// assert_eq!(PriorityRules::default().decide(Some("whatsapp"), None, None), Priority::Normal);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PriorityRules {
    /// Rules by source.
    pub sources: Vec<SourcePriority>,
    /// Rules by linked account item (the line needs an account app).
    pub accounts: Vec<AccountPriority>,
}

impl PriorityRules {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.accounts.is_empty()
    }

    /// The priority of a session opened through a source of messenger
    /// `kind` with id `source` (both `None` for an internal client), of a
    /// client linked to account item `item`: the highest matching rule's,
    /// else normal.
    pub fn decide(
        &self,
        kind: Option<&str>,
        source: Option<SourceId>,
        item: Option<&ItemId>,
    ) -> Priority {
        let by_source = self.sources.iter().filter(|r| match &r.source {
            SourceMatch::Source(id) => source == Some(*id),
            SourceMatch::Kind(k) => kind == Some(k.as_str()),
            SourceMatch::Internal => kind.is_none() && source.is_none(),
        });
        let by_account = self
            .accounts
            .iter()
            .filter(|r| item == Some(&r.item))
            .map(|r| r.priority);
        by_source
            .map(|r| r.priority)
            .chain(by_account)
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_priority_rises_one_step_per_period_up_to_urgent() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let step = Some(chrono::Duration::seconds(60));
        let at = |s| t0 + chrono::Duration::seconds(s);
        assert_eq!(Priority::Low.effective(t0, at(59), step), Priority::Low);
        assert_eq!(Priority::Low.effective(t0, at(60), step), Priority::Normal);
        assert_eq!(Priority::Low.effective(t0, at(180), step), Priority::Urgent);
        assert_eq!(
            Priority::Low.effective(t0, at(10_000), step),
            Priority::Urgent
        );
        assert_eq!(Priority::Low.effective(t0, at(10_000), None), Priority::Low);
    }

    #[test]
    fn ranks_and_names_round_trip() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
            assert_eq!(Priority::from_name(p.name()), Some(p));
        }
        assert_eq!(Priority::from_rank(4), None);
        assert!("top".parse::<Priority>().is_err());
    }

    #[test]
    fn internal_rule_matches_only_internal_clients() {
        let rules = PriorityRules {
            sources: vec![SourcePriority::new(SourceMatch::Internal, Priority::Low)],
            accounts: Vec::new(),
        };
        assert_eq!(rules.decide(None, None, None), Priority::Low);
        assert_eq!(rules.decide(Some("telegram"), None, None), Priority::Normal);
    }
}
