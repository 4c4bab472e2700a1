//! Lines and their configuration blocks.

use crate::bot::BotSettings;
use crate::hours::WorkingHours;
use crate::ids::{AppId, FieldId, GroupId, ItemId, LineId, UnitId, UserId};
use crate::priority::{AccountPriority, Priority, PriorityRules, SourceMatch, SourcePriority};
use crate::sla::SlaSettings;
use crate::timer::TimerSettings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who a line's Clients block admits: a user, a group, or an org-structure
/// unit (with all its sub-units).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Audience {
    /// One specific user.
    User(UserId),
    /// Every member of a group.
    Group(GroupId),
    /// Every user in an org-structure unit or any of its sub-units.
    Unit(UnitId),
}

/// The Applications block: which host applications hold client data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppsBlock {
    /// "For account linking": the app whose items describe the client. Must
    /// have a field of kind [`FieldKind::Account`](crate::FieldKind::Account).
    pub account_app: Option<AppId>,
    /// "For registering requests": apps an operator may create items of from
    /// a session. Each must have an Account field.
    pub request_apps: Vec<AppId>,
}

/// The Clients block: which internal users may write to the line.
///
/// Empty for lines that serve only external (messenger) clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientsBlock {
    /// Users, groups and org units admitted as clients.
    pub members: Vec<Audience>,
    /// "Operator name → Display": when on, clients see the operator's name as
    /// the author of replies; when off, the line's name.
    pub show_operator_name: bool,
}

/// How a line's new sessions are distributed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoutingRule {
    /// Offered to every available operator; the first to take it gets it.
    #[default]
    FirstCome,
    /// Assigned to the user held in a User field of the client's linked
    /// account item; first come among operators when that user is absent,
    /// blocked, or not known.
    Responsible {
        /// A field of kind [`FieldKind::User`](crate::FieldKind::User) of the
        /// line's account app.
        field: FieldId,
    },
    /// Fair rotation among available operators.
    RoundRobin,
    /// The available operator with the fewest open sessions on this line,
    /// never above `capacity`; queued when everyone is at capacity.
    LeastLoaded {
        /// Maximum open sessions per operator on this line.
        capacity: u32,
    },
}

impl RoutingRule {
    /// A short stable name of the rule, e.g. `"first_come"`.
    pub fn name(&self) -> &'static str {
        match self {
            RoutingRule::FirstCome => "first_come",
            RoutingRule::Responsible { .. } => "responsible",
            RoutingRule::RoundRobin => "round_robin",
            RoutingRule::LeastLoaded { .. } => "least_loaded",
        }
    }
}

/// The Employees block: who works the line and how sessions are distributed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmployeesBlock {
    /// The routing rule.
    pub rule: RoutingRule,
    /// The operators group; every rule needs one.
    pub operators: Option<GroupId>,
    /// The supervisors group, who moderate the line.
    pub supervisors: Option<GroupId>,
}

/// Everything an administrator fills in when creating or editing a line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LineConfig {
    /// The line's name, shown to clients.
    pub name: String,
    /// The Applications block.
    pub apps: AppsBlock,
    /// The Clients block.
    pub clients: ClientsBlock,
    /// The Employees block.
    pub employees: EmployeesBlock,
    /// Timers (offer timeout, overflow, accept timeout, max no-answer,
    /// offline grace, wrap-up): all off by default.
    #[serde(default)]
    pub timers: TimerSettings,
    /// Working hours; `None` (the default): always open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<WorkingHours>,
    /// The bot stage (see [`crate::bot`]); `None` (the default): new
    /// sessions go straight to the routing rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotSettings>,
    /// Service-level targets (see [`sla`](crate::sla)); `None` (the
    /// default): no SLA clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaSettings>,
    /// Priority rules applied when a session opens (by source, by linked
    /// account); none by default. Aging is a timer setting
    /// ([`TimerSettings::priority_aging_secs`]).
    #[serde(default, skip_serializing_if = "PriorityRules::is_empty")]
    pub priority: PriorityRules,
}

impl LineConfig {
    /// Starts a configuration with a name and defaults everywhere else
    /// (first come, no apps, no internal clients).
    ///
    /// ```
    /// use chatlines_core::{Audience, LineConfig, RoutingRule};
    /// let config = LineConfig::new("IT support")
    ///     .operators("it-staff")
    ///     .supervisors("it-leads")
    ///     .client(Audience::Group("everyone".into()))
    ///     .show_operator_name(true)
    ///     .rule(RoutingRule::RoundRobin);
    /// assert_eq!(config.name, "IT support");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the operators group.
    pub fn operators(mut self, group: impl Into<GroupId>) -> Self {
        self.employees.operators = Some(group.into());
        self
    }

    /// Sets the supervisors group.
    pub fn supervisors(mut self, group: impl Into<GroupId>) -> Self {
        self.employees.supervisors = Some(group.into());
        self
    }

    /// Sets the routing rule.
    pub fn rule(mut self, rule: RoutingRule) -> Self {
        self.employees.rule = rule;
        self
    }

    /// Adds an entry to the Clients block.
    pub fn client(mut self, audience: Audience) -> Self {
        self.clients.members.push(audience);
        self
    }

    /// Sets "display operator name".
    pub fn show_operator_name(mut self, on: bool) -> Self {
        self.clients.show_operator_name = on;
        self
    }

    /// Sets the account-linking app.
    pub fn account_app(mut self, app: impl Into<AppId>) -> Self {
        self.apps.account_app = Some(app.into());
        self
    }

    /// Turns on the offer timeout: an offered session nobody took within
    /// `after` (whole seconds, at least one) logs
    /// [`SessionUnanswered`](crate::Event::SessionUnanswered), again every
    /// `after` until taken or closed.
    pub fn offer_timeout(mut self, after: std::time::Duration) -> Self {
        self.timers.offer_timeout_secs = Some(after.as_secs());
        self
    }

    /// Sets the operators group an unanswered offer overflows to.
    pub fn overflow(mut self, group: impl Into<GroupId>) -> Self {
        self.timers.overflow = Some(group.into());
        self
    }

    /// Sets the line's working hours (validated against the hub's
    /// [`TimeZones`](crate::hours::TimeZones)).
    ///
    /// ```
    /// use chatlines_core::{LineConfig, OpenInterval, WorkingHours};
    /// use chrono::{NaiveTime, Weekday};
    /// let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    /// let six = NaiveTime::from_hms_opt(18, 0, 0).unwrap();
    /// let config = LineConfig::new("Desk").operators("ops").hours(
    ///     WorkingHours::new("UTC")
    ///         .weekly(&[Weekday::Mon, Weekday::Fri], OpenInterval::new(nine, six))
    ///         .off_hours_reply("We answer on weekdays from 9 to 18."),
    /// );
    /// assert!(config.hours.is_some());
    /// ```
    pub fn hours(mut self, hours: WorkingHours) -> Self {
        self.hours = Some(hours);
        self
    }

    /// Turns on the accept timeout: a session assigned by a rule whose
    /// operator neither accepted it nor replied within `after` (whole
    /// seconds, at least one) goes to the next operator by the same rule.
    ///
    /// ```
    /// use chatlines_core::{LineConfig, RoutingRule};
    /// let config = LineConfig::new("Desk")
    ///     .operators("ops")
    ///     .rule(RoutingRule::RoundRobin)
    ///     .accept_timeout(std::time::Duration::from_secs(60))
    ///     .max_no_answer(3);
    /// assert_eq!(config.timers.accept_timeout_secs, Some(60));
    /// assert_eq!(config.timers.max_no_answer, Some(3));
    /// ```
    pub fn accept_timeout(mut self, after: std::time::Duration) -> Self {
        self.timers.accept_timeout_secs = Some(after.as_secs());
        self
    }

    /// With an accept timeout: sets an operator away on the line after
    /// `lapses` consecutive lapses.
    pub fn max_no_answer(mut self, lapses: u32) -> Self {
        self.timers.max_no_answer = Some(lapses);
        self
    }

    /// Turns on the offline grace period: the sessions of an operator who
    /// becomes absent return to routing after `grace` (whole seconds; zero
    /// is at once) unless they are back in time; a blocked operator's at
    /// once.
    ///
    /// ```
    /// use chatlines_core::LineConfig;
    /// let config = LineConfig::new("Desk")
    ///     .operators("ops")
    ///     .offline_grace(std::time::Duration::from_secs(300));
    /// assert_eq!(config.timers.offline_grace_secs, Some(300));
    /// ```
    pub fn offline_grace(mut self, grace: std::time::Duration) -> Self {
        self.timers.offline_grace_secs = Some(grace.as_secs());
        self
    }

    /// Turns on inactivity: a session whose client is silent for `after`
    /// (whole seconds, at least one) after an operator's last message
    /// closes as inactive; a session no operator answered within `after`
    /// of being routed escalates (see [`never_answered`](Self::never_answered)).
    ///
    /// ```
    /// use chatlines_core::{LineConfig, NeverAnswered};
    /// use std::time::Duration;
    /// let config = LineConfig::new("Desk")
    ///     .operators("ops")
    ///     .inactivity(Duration::from_secs(600))
    ///     .inactivity_warning(Duration::from_secs(60), "Are you still there?")
    ///     .never_answered(NeverAnswered::Close)
    ///     .reopen(Duration::from_secs(300));
    /// assert_eq!(config.timers.inactivity_secs, Some(600));
    /// assert_eq!(config.timers.inactivity_warning_secs, Some(60));
    /// assert_eq!(config.timers.reopen_secs, Some(300));
    /// ```
    pub fn inactivity(mut self, after: std::time::Duration) -> Self {
        self.timers.inactivity_secs = Some(after.as_secs());
        self
    }

    /// With inactivity: warns the client `before` the close (whole
    /// seconds) with `text`, a message from the line.
    pub fn inactivity_warning(
        mut self,
        before: std::time::Duration,
        text: impl Into<String>,
    ) -> Self {
        self.timers.inactivity_warning_secs = Some(before.as_secs());
        self.timers.inactivity_warning = Some(text.into());
        self
    }

    /// With inactivity: what happens to a session no operator answered.
    pub fn never_answered(mut self, then: crate::timer::NeverAnswered) -> Self {
        self.timers.never_answered = then;
        self
    }

    /// Turns on reopening: a client writing within `window` (whole
    /// seconds, at least one) after their session was closed reopens it.
    pub fn reopen(mut self, window: std::time::Duration) -> Self {
        self.timers.reopen_secs = Some(window.as_secs());
        self
    }

    /// Turns on wrap-up (a line with capacity only): after a session
    /// assigned to an operator is closed, their slot stays taken for
    /// `time` (whole seconds).
    ///
    /// ```
    /// use chatlines_core::{LineConfig, RoutingRule};
    /// let config = LineConfig::new("Desk")
    ///     .operators("ops")
    ///     .rule(RoutingRule::LeastLoaded { capacity: 2 })
    ///     .wrap_up(std::time::Duration::from_secs(30));
    /// assert_eq!(config.timers.wrap_up_secs, Some(30));
    /// ```
    pub fn wrap_up(mut self, time: std::time::Duration) -> Self {
        self.timers.wrap_up_secs = Some(time.as_secs());
        self
    }

    /// Turns on the bot stage: new sessions are with the hub's
    /// [`Bot`](crate::Bot) until it hands them over (see [`crate::bot`]).
    pub fn bot(mut self, settings: BotSettings) -> Self {
        self.bot = Some(settings);
        self
    }

    /// With the bot stage: a session still with the bot `after` it
    /// entered the stage (whole seconds, at least one) is handed over.
    pub fn bot_timeout(mut self, after: std::time::Duration) -> Self {
        self.timers.bot_timeout_secs = Some(after.as_secs());
        self
    }

    /// Sets the line's service-level targets (see [`sla`](crate::sla)).
    pub fn sla(mut self, sla: SlaSettings) -> Self {
        self.sla = Some(sla);
        self
    }

    /// Adds a priority rule: sessions opened through sources matching
    /// `source` get `priority` (see [`PriorityRules`]).
    pub fn priority_by_source(mut self, source: SourceMatch, priority: Priority) -> Self {
        self.priority
            .sources
            .push(SourcePriority::new(source, priority));
        self
    }

    /// Adds a priority rule: sessions of clients linked to the account
    /// item `item` get `priority` (the line needs an account app).
    pub fn priority_by_account(mut self, item: impl Into<ItemId>, priority: Priority) -> Self {
        self.priority
            .accounts
            .push(AccountPriority::new(item, priority));
        self
    }

    /// With service-level targets: a breach raises the session's priority
    /// to `priority` (see [`TimerSettings::sla_breach_priority`]).
    ///
    /// ```
    /// use chatlines_core::{LineConfig, Priority};
    /// let config = LineConfig::new("Support").raise_priority_on_sla_breach(Priority::Urgent);
    /// assert_eq!(config.timers.sla_breach_priority, Some(Priority::Urgent));
    /// ```
    pub fn raise_priority_on_sla_breach(mut self, priority: Priority) -> Self {
        self.timers.sla_breach_priority = Some(priority);
        self
    }

    /// Turns on priority aging: a waiting session's effective priority
    /// rises one step per `step` (whole seconds, at least one) it waits,
    /// so a low one leaves the queue in bounded time (see
    /// [`priority`](crate::priority)).
    ///
    /// ```
    /// use chatlines_core::LineConfig;
    /// let config = LineConfig::new("Desk")
    ///     .operators("ops")
    ///     .priority_aging(std::time::Duration::from_secs(300));
    /// assert_eq!(config.timers.priority_aging_secs, Some(300));
    /// ```
    pub fn priority_aging(mut self, step: std::time::Duration) -> Self {
        self.timers.priority_aging_secs = Some(step.as_secs());
        self
    }

    /// Adds a request-registration app.
    pub fn request_app(mut self, app: impl Into<AppId>) -> Self {
        self.apps.request_apps.push(app.into());
        self
    }
}

/// A configured line, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Line {
    /// The line's id.
    pub id: LineId,
    /// Optimistic-concurrency version; incremented by every update.
    pub version: u64,
    /// The configuration.
    pub config: LineConfig,
    /// When the line was created.
    pub created_at: DateTime<Utc>,
    /// When the line was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Line {
    /// Builds a line record (used by stores when loading rows).
    pub fn new(
        id: LineId,
        version: u64,
        config: LineConfig,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            version,
            config,
            created_at,
            updated_at,
        }
    }

    /// The line's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The operators group, if configured.
    pub fn operators(&self) -> Option<&GroupId> {
        self.config.employees.operators.as_ref()
    }

    /// The supervisors group, if configured.
    pub fn supervisors(&self) -> Option<&GroupId> {
        self.config.employees.supervisors.as_ref()
    }

    /// The timer settings.
    pub fn timers(&self) -> &TimerSettings {
        &self.config.timers
    }

    /// The service-level targets, if any.
    pub fn sla(&self) -> Option<&SlaSettings> {
        self.config.sla.as_ref()
    }

    /// The routing rule.
    pub fn rule(&self) -> &RoutingRule {
        &self.config.employees.rule
    }
}
