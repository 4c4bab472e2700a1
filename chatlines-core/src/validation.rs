//! Validation of a line's configuration, and of an inbound message before
//! anything of it is stored ([`prepare_inbound`]).

use crate::apps::{AppCatalog, FieldKind};
use crate::directory::Directory;
use crate::error::Error;
use crate::hours::TimeZones;
use crate::ids::{AppId, FieldId, GroupId};
use crate::line::{Audience, LineConfig, RoutingRule};
use crate::message::MessageLimits;
use crate::messenger::InboundMessage;
use crate::timer::MAX_TIMEOUT_SECS;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One thing wrong with a line configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineProblem {
    /// The name is empty or too long.
    BadName {
        /// What is wrong.
        reason: String,
    },
    /// An app named in the Applications block does not exist.
    UnknownApp {
        /// The app.
        app: AppId,
        /// Where it is named: [`LineField::AccountApp`] or
        /// [`LineField::RequestApps`].
        at: LineField,
    },
    /// The account-linking app has no field of kind Account.
    AccountAppWithoutAccountField {
        /// The app.
        app: AppId,
    },
    /// A request app has no field of kind Account.
    RequestAppWithoutAccountField {
        /// The app.
        app: AppId,
    },
    /// The Responsible rule needs an account-linking app.
    ResponsibleWithoutAccountApp,
    /// The Responsible rule names a field that is not a User field of the
    /// account app.
    ResponsibleFieldNotUser {
        /// The field.
        field: FieldId,
    },
    /// No operators group is set.
    NoOperatorsGroup,
    /// A named group does not exist.
    UnknownGroup {
        /// The group.
        group: GroupId,
        /// Where it is named: [`LineField::Operators`],
        /// [`LineField::Supervisors`] or [`LineField::Clients`].
        at: LineField,
    },
    /// A capacity of zero can never assign anything.
    ZeroCapacity,
    /// A timer's duration is out of range.
    BadTimeout {
        /// The setting (`offer_timeout_secs`).
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// An overflow group is set without an offer timeout (it would never
    /// be used).
    OverflowWithoutOfferTimeout,
    /// The working hours are malformed (unknown time zone, an interval
    /// that closes before it opens, a date given twice, a bad reply).
    BadHours {
        /// What is wrong.
        reason: String,
    },
    /// `max_no_answer` is set without an accept timeout (it would never
    /// count), or is zero.
    BadMaxNoAnswer {
        /// What is wrong.
        reason: String,
    },
    /// Wrap-up is set on a line without capacity (its rule is not least
    /// loaded): no slot to hold.
    WrapUpWithoutCapacity,
    /// The bot stage's settings are malformed (an empty, too long or
    /// repeated keyword, too many keywords, a bad name).
    BadBot {
        /// What is wrong.
        reason: String,
    },
    /// A bot timeout is set on a line without the bot stage (it would
    /// never run).
    BotTimeoutWithoutBot,
    /// A service-level setting is out of range, or the block sets no
    /// target, or counts working hours on a line without them.
    BadSla {
        /// The setting (`first_response_secs`, `next_response_secs`,
        /// `resolution_secs`, `warning_percent`, `working_hours_only`).
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// A priority rule is malformed: a source rule with an empty or
    /// over-long kind, two rules for the same source or account item.
    BadPriorityRule {
        /// What is wrong.
        reason: String,
    },
    /// A priority rule by linked account is set on a line without an
    /// account-linking app (it would never match).
    AccountPriorityWithoutAccountApp,
    /// The inactivity warning is malformed: set without inactivity,
    /// not before the close (zero, or not shorter than the inactivity
    /// time), or without a text (or a text without a time).
    BadInactivityWarning {
        /// What is wrong.
        reason: String,
    },
    /// The store cannot carry out the routing rule (it does not declare the
    /// capability, see [`StoreCapabilities`](crate::StoreCapabilities)).
    RuleNotSupportedByStore {
        /// The rule's name (`round_robin`, `least_loaded`).
        rule: String,
    },
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::BadName { reason } => write!(f, "name: {reason}"),
            LineProblem::UnknownApp { app, .. } => write!(f, "application {app} does not exist"),
            LineProblem::AccountAppWithoutAccountField { app } => write!(
                f,
                "account-linking application {app} has no field of type Account"
            ),
            LineProblem::RequestAppWithoutAccountField { app } => {
                write!(f, "request application {app} has no field of type Account")
            }
            LineProblem::ResponsibleWithoutAccountApp => write!(
                f,
                "the Responsible rule needs an account-linking application"
            ),
            LineProblem::ResponsibleFieldNotUser { field } => write!(
                f,
                "Responsible field {field} is not a User field of the account-linking application"
            ),
            LineProblem::NoOperatorsGroup => write!(f, "no operators group is set"),
            LineProblem::UnknownGroup { group, .. } => write!(f, "group {group} does not exist"),
            LineProblem::ZeroCapacity => write!(f, "least-loaded capacity must be at least 1"),
            LineProblem::BadTimeout { setting, reason } => write!(f, "{setting}: {reason}"),
            LineProblem::OverflowWithoutOfferTimeout => write!(
                f,
                "an overflow group needs an offer timeout; set offer_timeout_secs or remove the overflow group"
            ),
            LineProblem::BadHours { reason } => write!(f, "working hours: {reason}"),
            LineProblem::BadMaxNoAnswer { reason } => write!(f, "max_no_answer: {reason}"),
            LineProblem::WrapUpWithoutCapacity => write!(
                f,
                "wrap-up holds a slot of a line with capacity; use the least loaded rule or remove wrap_up_secs"
            ),
            LineProblem::BadPriorityRule { reason } => write!(f, "priority rules: {reason}"),
            LineProblem::AccountPriorityWithoutAccountApp => write!(
                f,
                "a priority rule by linked account needs an account-linking application"
            ),
            LineProblem::BadBot { reason } => write!(f, "bot: {reason}"),
            LineProblem::BotTimeoutWithoutBot => write!(
                f,
                "a bot timeout needs the bot stage; turn the bot on or remove bot_timeout_secs"
            ),
            LineProblem::BadSla { setting, reason } => write!(f, "sla.{setting}: {reason}"),
            LineProblem::BadInactivityWarning { reason } => {
                write!(f, "inactivity warning: {reason}")
            }
            LineProblem::RuleNotSupportedByStore { rule } => write!(
                f,
                "the store cannot carry out the {rule} rule; choose another rule or a store that supports it"
            ),
        }
    }
}

/// The setting of a line configuration a [`LineProblem`] concerns: what a
/// form shows the problem next to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineField {
    /// The line's name.
    Name,
    /// Applications block: the account-linking app.
    AccountApp,
    /// Applications block: the request-registration apps.
    RequestApps,
    /// Clients block: the users, groups and org units admitted.
    Clients,
    /// Employees block: the routing rule's type.
    Rule,
    /// Employees block: the Responsible rule's User field.
    ResponsibleField,
    /// Employees block: the least-loaded rule's capacity.
    Capacity,
    /// Employees block: the operators group.
    Operators,
    /// Employees block: the supervisors group.
    Supervisors,
    /// Timers: the offer timeout.
    OfferTimeout,
    /// Timers: the overflow group of unanswered offers.
    Overflow,
    /// Working hours: the zone, the schedule, the exceptions, the reply.
    Hours,
    /// Working hours: the operators group of off-hours sessions.
    OffHoursGroup,
    /// Timers: the accept timeout of sessions assigned by a rule.
    AcceptTimeout,
    /// Timers: consecutive lapses before an operator is set away.
    MaxNoAnswer,
    /// Timers: the grace period before an absent operator's sessions
    /// return to routing.
    OfflineGrace,
    /// Timers: how long a closed session keeps its operator's slot.
    WrapUp,
    /// The bot stage: its keywords and name.
    Bot,
    /// Timers: how long a session stays with the bot at most.
    BotTimeout,
    /// SLA: the first-response target.
    SlaFirstResponse,
    /// SLA: the next-response target.
    SlaNextResponse,
    /// SLA: the resolution target.
    SlaResolution,
    /// SLA: the warning percentage.
    SlaWarning,
    /// SLA: counting in working hours only.
    SlaWorkingHours,
    /// Priority: the rules by source and by linked account.
    PriorityRules,
    /// Timers: the priority aging step.
    PriorityAging,
    /// Timers: how long a silent client's session stays open.
    Inactivity,
    /// Timers: the warning before the inactivity close.
    InactivityWarning,
    /// Timers: how long after a close a client's message reopens it.
    Reopen,
}

impl LineField {
    /// A short stable name: `name`, `account_app`, `request_apps`,
    /// `clients`, `rule`, `responsible_field`, `capacity`, `operators`,
    /// `supervisors`, `offer_timeout`, `overflow`, `accept_timeout`,
    /// `max_no_answer`, `offline_grace`, `wrap_up`, `hours`, `off_hours_group`,
    /// `bot`, `bot_timeout`, `sla_first_response`, `sla_next_response`,
    /// `sla_resolution`, `sla_warning`, `sla_working_hours`, `priority_rules`,
    /// `priority_aging`, `inactivity`, `inactivity_warning`, `reopen`.
    pub fn name(self) -> &'static str {
        match self {
            LineField::Name => "name",
            LineField::AccountApp => "account_app",
            LineField::RequestApps => "request_apps",
            LineField::Clients => "clients",
            LineField::Rule => "rule",
            LineField::ResponsibleField => "responsible_field",
            LineField::Capacity => "capacity",
            LineField::Operators => "operators",
            LineField::Supervisors => "supervisors",
            LineField::OfferTimeout => "offer_timeout",
            LineField::Overflow => "overflow",
            LineField::Hours => "hours",
            LineField::OffHoursGroup => "off_hours_group",
            LineField::AcceptTimeout => "accept_timeout",
            LineField::MaxNoAnswer => "max_no_answer",
            LineField::OfflineGrace => "offline_grace",
            LineField::WrapUp => "wrap_up",
            LineField::Bot => "bot",
            LineField::BotTimeout => "bot_timeout",
            LineField::SlaFirstResponse => "sla_first_response",
            LineField::SlaNextResponse => "sla_next_response",
            LineField::SlaResolution => "sla_resolution",
            LineField::SlaWarning => "sla_warning",
            LineField::SlaWorkingHours => "sla_working_hours",
            LineField::PriorityRules => "priority_rules",
            LineField::PriorityAging => "priority_aging",
            LineField::Inactivity => "inactivity",
            LineField::InactivityWarning => "inactivity_warning",
            LineField::Reopen => "reopen",
        }
    }
}

impl fmt::Display for LineField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl LineProblem {
    /// The setting this problem concerns.
    ///
    /// ```
    /// use chatlines_core::{LineField, LineProblem};
    /// assert_eq!(LineProblem::NoOperatorsGroup.field(), LineField::Operators);
    /// assert_eq!(LineProblem::ZeroCapacity.field(), LineField::Capacity);
    /// ```
    pub fn field(&self) -> LineField {
        match self {
            LineProblem::BadName { .. } => LineField::Name,
            LineProblem::UnknownApp { at, .. } | LineProblem::UnknownGroup { at, .. } => *at,
            LineProblem::AccountAppWithoutAccountField { .. } => LineField::AccountApp,
            LineProblem::RequestAppWithoutAccountField { .. } => LineField::RequestApps,
            LineProblem::ResponsibleWithoutAccountApp
            | LineProblem::RuleNotSupportedByStore { .. } => LineField::Rule,
            LineProblem::ResponsibleFieldNotUser { .. } => LineField::ResponsibleField,
            LineProblem::NoOperatorsGroup => LineField::Operators,
            LineProblem::ZeroCapacity => LineField::Capacity,
            LineProblem::BadTimeout { setting, .. } if setting == "accept_timeout_secs" => {
                LineField::AcceptTimeout
            }
            LineProblem::BadTimeout { setting, .. } if setting == "offline_grace_secs" => {
                LineField::OfflineGrace
            }
            LineProblem::BadTimeout { setting, .. } if setting == "wrap_up_secs" => {
                LineField::WrapUp
            }
            LineProblem::BadTimeout { setting, .. } if setting == "bot_timeout_secs" => {
                LineField::BotTimeout
            }
            LineProblem::BadTimeout { setting, .. } if setting == "priority_aging_secs" => {
                LineField::PriorityAging
            }
            LineProblem::WrapUpWithoutCapacity => LineField::WrapUp,
            LineProblem::BadBot { .. } => LineField::Bot,
            LineProblem::BotTimeoutWithoutBot => LineField::BotTimeout,
            LineProblem::BadPriorityRule { .. } | LineProblem::AccountPriorityWithoutAccountApp => {
                LineField::PriorityRules
            }
            LineProblem::BadTimeout { setting, .. } if setting == "inactivity_secs" => {
                LineField::Inactivity
            }
            LineProblem::BadTimeout { setting, .. } if setting == "reopen_secs" => {
                LineField::Reopen
            }
            LineProblem::BadInactivityWarning { .. } => LineField::InactivityWarning,
            LineProblem::BadTimeout { .. } => LineField::OfferTimeout,
            LineProblem::OverflowWithoutOfferTimeout => LineField::Overflow,
            LineProblem::BadHours { .. } => LineField::Hours,
            LineProblem::BadMaxNoAnswer { .. } => LineField::MaxNoAnswer,
            LineProblem::BadSla { setting, .. } => match setting.as_str() {
                "next_response_secs" => LineField::SlaNextResponse,
                "resolution_secs" => LineField::SlaResolution,
                "warning_percent" => LineField::SlaWarning,
                "working_hours_only" => LineField::SlaWorkingHours,
                _ => LineField::SlaFirstResponse,
            },
        }
    }

    /// A short stable name of the problem, as its serialized `problem`
    /// tag: `bad_name`, `unknown_app`, `unknown_group`, ….
    pub fn code(&self) -> &'static str {
        match self {
            LineProblem::BadName { .. } => "bad_name",
            LineProblem::UnknownApp { .. } => "unknown_app",
            LineProblem::AccountAppWithoutAccountField { .. } => {
                "account_app_without_account_field"
            }
            LineProblem::RequestAppWithoutAccountField { .. } => {
                "request_app_without_account_field"
            }
            LineProblem::ResponsibleWithoutAccountApp => "responsible_without_account_app",
            LineProblem::ResponsibleFieldNotUser { .. } => "responsible_field_not_user",
            LineProblem::NoOperatorsGroup => "no_operators_group",
            LineProblem::UnknownGroup { .. } => "unknown_group",
            LineProblem::ZeroCapacity => "zero_capacity",
            LineProblem::RuleNotSupportedByStore { .. } => "rule_not_supported_by_store",
            LineProblem::BadTimeout { .. } => "bad_timeout",
            LineProblem::OverflowWithoutOfferTimeout => "overflow_without_offer_timeout",
            LineProblem::BadHours { .. } => "bad_hours",
            LineProblem::BadMaxNoAnswer { .. } => "bad_max_no_answer",
            LineProblem::WrapUpWithoutCapacity => "wrap_up_without_capacity",
            LineProblem::BadBot { .. } => "bad_bot",
            LineProblem::BotTimeoutWithoutBot => "bot_timeout_without_bot",
            LineProblem::BadSla { .. } => "bad_sla",
            LineProblem::BadPriorityRule { .. } => "bad_priority_rule",
            LineProblem::AccountPriorityWithoutAccountApp => "account_priority_without_account_app",
            LineProblem::BadInactivityWarning { .. } => "bad_inactivity_warning",
        }
    }
}

/// The longest messenger kind a priority rule names, in characters.
const MAX_KIND: usize = 64;

/// What is wrong with a line's priority rules.
fn priority_problems(config: &LineConfig) -> Vec<LineProblem> {
    use crate::priority::SourceMatch;
    let rules = &config.priority;
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rule in &rules.sources {
        if let SourceMatch::Kind(kind) = &rule.source {
            if kind.trim().is_empty() || kind.chars().count() > MAX_KIND || kind.contains('\0') {
                problems.push(LineProblem::BadPriorityRule {
                    reason: format!(
                        "a messenger kind must be 1 to {MAX_KIND} characters without NUL"
                    ),
                });
            }
        }
        if !seen.insert(&rule.source) {
            problems.push(LineProblem::BadPriorityRule {
                reason: format!("two rules for the same source ({:?})", rule.source),
            });
        }
    }
    let mut items = std::collections::HashSet::new();
    for rule in &rules.accounts {
        if rule.item.as_str().is_empty() || rule.item.as_str().contains('\0') {
            problems.push(LineProblem::BadPriorityRule {
                reason: "an account item id must not be empty or hold NUL".into(),
            });
        }
        if !items.insert(&rule.item) {
            problems.push(LineProblem::BadPriorityRule {
                reason: format!("two rules for the same account item {}", rule.item),
            });
        }
    }
    if !rules.accounts.is_empty() && config.apps.account_app.is_none() {
        problems.push(LineProblem::AccountPriorityWithoutAccountApp);
    }
    problems
}

/// One problem of an input, named by the field it concerns, for a form to
/// show next to that field ([`Error::field_problems`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldProblem {
    /// The field: a [`LineField`] name for a line configuration, the
    /// input's name for [`Error::InvalidInput`].
    pub field: String,
    /// What is wrong, for people.
    pub problem: String,
    /// A short stable name of the problem ([`LineProblem::code`], or
    /// `invalid` for other inputs).
    pub code: String,
}

impl FieldProblem {
    /// A problem of `field`.
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            code: code.into(),
        }
    }
}

impl From<&LineProblem> for FieldProblem {
    fn from(p: &LineProblem) -> Self {
        FieldProblem::new(p.field().name(), p.to_string(), p.code())
    }
}

/// Every problem found in a line configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblems(pub Vec<LineProblem>);

impl LineProblems {
    /// Whether a given problem is among them.
    pub fn contains(&self, problem: &LineProblem) -> bool {
        self.0.contains(problem)
    }

    /// Each problem with the field it concerns, in order.
    pub fn by_field(&self) -> Vec<FieldProblem> {
        self.0.iter().map(FieldProblem::from).collect()
    }
}

impl fmt::Display for LineProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The longest line name accepted, in characters.
pub const MAX_LINE_NAME: usize = 200;

/// Refuses a configuration whose routing rule the store cannot carry out,
/// so that a line is refused when it is created or changed, not at its
/// first routing.
///
/// ```
/// use chatlines_core::{check_store_supports, LineConfig, RoutingRule, StoreCapabilities};
/// let config = LineConfig::new("Desk").operators("ops").rule(RoutingRule::RoundRobin);
/// assert!(check_store_supports(&config, StoreCapabilities::ALL).is_ok());
/// assert!(check_store_supports(&config, StoreCapabilities::NONE).is_err());
/// ```
pub fn check_store_supports(
    config: &LineConfig,
    capabilities: crate::StoreCapabilities,
) -> Result<(), Error> {
    let rule = &config.employees.rule;
    let supported = match rule {
        RoutingRule::RoundRobin => capabilities.round_robin,
        RoutingRule::LeastLoaded { .. } => capabilities.least_loaded,
        _ => true,
    };
    if supported {
        return Ok(());
    }
    Err(Error::InvalidLine(LineProblems(vec![
        LineProblem::RuleNotSupportedByStore {
            rule: rule.name().to_owned(),
        },
    ])))
}

/// The problems of a line's SLA block: each target from 1 second to
/// [`MAX_SLA_SECS`](crate::sla::MAX_SLA_SECS), at least one target, a
/// warning percentage from 1 to 99, working hours counted only on a line
/// that has them.
fn sla_problems(sla: &crate::sla::SlaSettings, has_hours: bool) -> Vec<LineProblem> {
    use crate::sla::MAX_SLA_SECS;
    let mut problems = Vec::new();
    let bad = |setting: &str, reason: String| LineProblem::BadSla {
        setting: setting.into(),
        reason,
    };
    for (setting, value) in [
        ("first_response_secs", sla.first_response_secs),
        ("next_response_secs", sla.next_response_secs),
        ("resolution_secs", sla.resolution_secs),
    ] {
        match value {
            Some(0) => problems.push(bad(setting, "must be at least 1 second".into())),
            Some(secs) if secs > MAX_SLA_SECS => problems.push(bad(
                setting,
                format!("{secs} is over the limit of {MAX_SLA_SECS} seconds (30 days)"),
            )),
            _ => {}
        }
    }
    if !sla.any() {
        problems.push(bad(
            "first_response_secs",
            "the SLA block sets no target; set one or remove the block".into(),
        ));
    }
    if let Some(p) = sla.warning_percent.filter(|p| !(1..100).contains(p)) {
        problems.push(bad(
            "warning_percent",
            format!("{p} is not a percentage from 1 to 99"),
        ));
    }
    if sla.working_hours_only && !has_hours {
        problems.push(bad(
            "working_hours_only",
            "counts the line's working hours; set hours or turn it off".into(),
        ));
    }
    problems
}

/// Checks a configuration against the host's directory, apps and time-zone
/// database, returning every problem at once.
pub async fn validate_line(
    config: &LineConfig,
    directory: &dyn Directory,
    apps: &dyn AppCatalog,
    zones: &dyn TimeZones,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    let name = config.name.trim();
    if name.is_empty() {
        problems.push(LineProblem::BadName {
            reason: "must not be empty".into(),
        });
    } else if config.name.chars().count() > MAX_LINE_NAME {
        problems.push(LineProblem::BadName {
            reason: format!("longer than {MAX_LINE_NAME} characters"),
        });
    } else if config.name.contains('\0') {
        problems.push(LineProblem::BadName {
            reason: "holds a NUL character (U+0000)".into(),
        });
    }

    let mut account_schema = None;
    if let Some(app) = &config.apps.account_app {
        match apps.schema(app).await.map_err(Error::apps)? {
            None => problems.push(LineProblem::UnknownApp {
                app: app.clone(),
                at: LineField::AccountApp,
            }),
            Some(schema) => {
                if schema.first_field_of(FieldKind::Account).is_none() {
                    problems.push(LineProblem::AccountAppWithoutAccountField { app: app.clone() });
                }
                account_schema = Some(schema);
            }
        }
    }
    for app in &config.apps.request_apps {
        match apps.schema(app).await.map_err(Error::apps)? {
            None => problems.push(LineProblem::UnknownApp {
                app: app.clone(),
                at: LineField::RequestApps,
            }),
            Some(schema) => {
                if schema.first_field_of(FieldKind::Account).is_none() {
                    problems.push(LineProblem::RequestAppWithoutAccountField { app: app.clone() });
                }
            }
        }
    }

    match &config.employees.rule {
        RoutingRule::Responsible { field } => match (&config.apps.account_app, &account_schema) {
            (None, _) => problems.push(LineProblem::ResponsibleWithoutAccountApp),
            (Some(_), Some(schema)) => {
                if schema.field(field).map(|f| f.kind) != Some(FieldKind::User) {
                    problems.push(LineProblem::ResponsibleFieldNotUser {
                        field: field.clone(),
                    });
                }
            }
            // The app is unknown: already reported.
            (Some(_), None) => {}
        },
        RoutingRule::LeastLoaded { capacity: 0 } => problems.push(LineProblem::ZeroCapacity),
        _ => {}
    }

    let timers = &config.timers;
    match timers.offer_timeout_secs {
        Some(0) => problems.push(LineProblem::BadTimeout {
            setting: "offer_timeout_secs".into(),
            reason: "must be at least 1 second".into(),
        }),
        Some(secs) if secs > MAX_TIMEOUT_SECS => problems.push(LineProblem::BadTimeout {
            setting: "offer_timeout_secs".into(),
            reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
        }),
        Some(_) => {}
        None if timers.overflow.is_some() => {
            problems.push(LineProblem::OverflowWithoutOfferTimeout);
        }
        None => {}
    }
    for (setting, value) in [
        ("accept_timeout_secs", timers.accept_timeout_secs),
        ("bot_timeout_secs", timers.bot_timeout_secs),
    ] {
        match value {
            Some(0) => problems.push(LineProblem::BadTimeout {
                setting: setting.into(),
                reason: "must be at least 1 second".into(),
            }),
            Some(secs) if secs > MAX_TIMEOUT_SECS => problems.push(LineProblem::BadTimeout {
                setting: setting.into(),
                reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
            }),
            _ => {}
        }
    }
    if let Some(secs) = timers.offline_grace_secs.filter(|s| *s > MAX_TIMEOUT_SECS) {
        problems.push(LineProblem::BadTimeout {
            setting: "offline_grace_secs".into(),
            reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
        });
    }
    match timers.wrap_up_secs {
        Some(secs) if secs > MAX_TIMEOUT_SECS => problems.push(LineProblem::BadTimeout {
            setting: "wrap_up_secs".into(),
            reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
        }),
        Some(_) if !matches!(config.employees.rule, RoutingRule::LeastLoaded { .. }) => {
            problems.push(LineProblem::WrapUpWithoutCapacity);
        }
        _ => {}
    }
    match timers.priority_aging_secs {
        Some(0) => problems.push(LineProblem::BadTimeout {
            setting: "priority_aging_secs".into(),
            reason: "must be at least 1 second".into(),
        }),
        Some(secs) if secs > MAX_TIMEOUT_SECS => problems.push(LineProblem::BadTimeout {
            setting: "priority_aging_secs".into(),
            reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
        }),
        _ => {}
    }
    problems.extend(priority_problems(config));
    problems.extend(inactivity_problems(timers));
    match (timers.max_no_answer, timers.accept_timeout_secs) {
        (Some(0), _) => problems.push(LineProblem::BadMaxNoAnswer {
            reason: "must be at least 1".into(),
        }),
        (Some(_), None) => problems.push(LineProblem::BadMaxNoAnswer {
            reason: "counts lapses of the accept timeout; set accept_timeout_secs or remove it"
                .into(),
        }),
        _ => {}
    }

    match &config.bot {
        Some(bot) => problems.extend(
            bot_problems(bot)
                .into_iter()
                .map(|reason| LineProblem::BadBot { reason }),
        ),
        None if timers.bot_timeout_secs.is_some() => {
            problems.push(LineProblem::BotTimeoutWithoutBot)
        }
        None => {}
    }

    if let Some(sla) = &config.sla {
        problems.extend(sla_problems(sla, config.hours.is_some()));
    }

    if let Some(hours) = &config.hours {
        problems.extend(
            hours
                .problems(zones)
                .into_iter()
                .map(|reason| LineProblem::BadHours { reason }),
        );
    }

    let mut groups: Vec<(&GroupId, LineField)> = Vec::new();
    match &config.employees.operators {
        None => problems.push(LineProblem::NoOperatorsGroup),
        Some(g) => groups.push((g, LineField::Operators)),
    }
    if let Some(g) = &config.employees.supervisors {
        groups.push((g, LineField::Supervisors));
    }
    if let Some(g) = &timers.overflow {
        groups.push((g, LineField::Overflow));
    }
    if let Some(g) = config
        .hours
        .as_ref()
        .and_then(|h| h.off_hours_group.as_ref())
    {
        groups.push((g, LineField::OffHoursGroup));
    }
    for audience in &config.clients.members {
        if let Audience::Group(g) = audience {
            groups.push((g, LineField::Clients));
        }
    }
    for (group, at) in groups {
        if !directory
            .group_exists(group)
            .await
            .map_err(Error::directory)?
        {
            let problem = LineProblem::UnknownGroup {
                group: group.clone(),
                at,
            };
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidLine(LineProblems(problems)))
    }
}

/// What is wrong with a line's bot stage settings.
fn bot_problems(bot: &crate::bot::BotSettings) -> Vec<String> {
    use crate::bot::{MAX_KEYWORDS, MAX_KEYWORD_CHARS};
    let mut problems = Vec::new();
    if bot.keywords.len() > MAX_KEYWORDS {
        problems.push(format!(
            "{} keywords is over the limit of {MAX_KEYWORDS}",
            bot.keywords.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for keyword in &bot.keywords {
        let k = keyword.trim().to_lowercase();
        if k.is_empty() {
            problems.push("a keyword is empty".into());
        } else if keyword.chars().count() > MAX_KEYWORD_CHARS {
            problems.push(format!(
                "keyword {keyword:?} is longer than {MAX_KEYWORD_CHARS} characters"
            ));
        } else if keyword.chars().any(char::is_control) {
            problems.push(format!("keyword {keyword:?} holds a control character"));
        } else if !seen.insert(k) {
            problems.push(format!("keyword {keyword:?} is given twice"));
        }
    }
    if let Some(name) = &bot.name {
        if name.trim().is_empty() {
            problems.push("the name is empty; remove it to show the line's name".into());
        } else if name.chars().count() > MAX_LINE_NAME {
            problems.push(format!(
                "the name is longer than {MAX_LINE_NAME} characters"
            ));
        } else if name.chars().any(char::is_control) {
            problems.push("the name holds a control character".into());
        }
    }
    problems
}

/// The character that replaces a control character in metadata (U+FFFD).
pub const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// Metadata as it can be stored and shown: every control character (NUL,
/// escape, newline, the C1 range…) becomes U+FFFD. Names come from people
/// and messengers; refusing one would make a messenger deliver the message
/// again forever, so names are cleaned, never refused.
///
/// ```
/// use chatlines_core::validation::clean_metadata;
/// assert_eq!(clean_metadata("Ann Lee"), "Ann Lee");
/// assert_eq!(clean_metadata("Ann\0\u{1b}[31m"), "Ann\u{fffd}\u{fffd}[31m");
/// ```
pub fn clean_metadata(value: &str) -> std::borrow::Cow<'_, str> {
    if value.chars().any(char::is_control) {
        value
            .chars()
            .map(|c| if c.is_control() { REPLACEMENT } else { c })
            .collect::<String>()
            .into()
    } else {
        value.into()
    }
}

/// Checks and cleans an inbound message before anything of it is stored:
/// the one validation [`Hub::ingest`](crate::Hub::ingest) runs, and that a
/// webhook endpoint runs for every message of a request before storing the
/// first, so a request is stored whole or not at all.
///
/// - the body passes [`check_body`](crate::check_body) (text holding NUL,
///   an empty message, limits: a clear [`Error::InvalidInput`]);
/// - the external message id and user id are 1 to
///   [`MAX_EXTERNAL_ID`](crate::MAX_EXTERNAL_ID) bytes without NUL, and the
///   reply address at most that long without NUL (they are identities and
///   addresses: changing one would misdirect, so they are refused);
/// - the display name and the attachments' names and MIME types are
///   metadata: control characters in them are replaced (see
///   [`clean_metadata`]), never refused; a send time outside
///   [`SENT_AT_RANGE`](crate::message::SENT_AT_RANGE) is dropped.
///
/// ```
/// use chatlines_core::{prepare_inbound, InboundMessage, MessageLimits};
/// let limits = MessageLimits::default();
/// let m = InboundMessage::text("m1", "u1", "Eve\0", "hello");
/// assert_eq!(prepare_inbound(m, &limits).unwrap().display_name, "Eve\u{fffd}");
/// let bad = InboundMessage::text("m\01", "u1", "Eve", "hello");
/// assert!(prepare_inbound(bad, &limits).is_err());
/// ```
pub fn prepare_inbound(
    mut inbound: InboundMessage,
    limits: &MessageLimits,
) -> Result<InboundMessage, Error> {
    use crate::hub::MAX_EXTERNAL_ID;
    clean_in_place(&mut inbound.display_name);
    for a in &mut inbound.body.attachments {
        clean_in_place(&mut a.name);
        clean_in_place(&mut a.mime_type);
    }
    if let Some(sent_at) = inbound.sent_at {
        use chrono::Datelike;
        if !crate::message::SENT_AT_RANGE.contains(&sent_at.year()) {
            tracing::debug!(%sent_at, "send time outside the kept years dropped");
            inbound.sent_at = None;
        }
    }
    crate::hub::check_body(&inbound.body, limits)?;
    for (field, value) in [
        ("external_message_id", &inbound.external_message_id),
        ("external_user", &inbound.external_user),
    ] {
        if value.is_empty() || value.len() > MAX_EXTERNAL_ID {
            return Err(Error::invalid(
                field,
                format!("must be 1 to {MAX_EXTERNAL_ID} bytes"),
            ));
        }
        crate::hub::check_no_nul(field, value)?;
    }
    if let Some(address) = &inbound.reply_address {
        if address.len() > MAX_EXTERNAL_ID {
            return Err(Error::invalid(
                "reply_address",
                format!("must be at most {MAX_EXTERNAL_ID} bytes"),
            ));
        }
        crate::hub::check_no_nul("reply_address", address)?;
    }
    Ok(inbound)
}

fn clean_in_place(value: &mut String) {
    if let std::borrow::Cow::Owned(clean) = clean_metadata(value) {
        *value = clean;
    }
}

/// The problems of a line's inactivity and reopen settings.
fn inactivity_problems(timers: &crate::timer::TimerSettings) -> Vec<LineProblem> {
    let mut problems = Vec::new();
    for (setting, value) in [
        ("inactivity_secs", timers.inactivity_secs),
        ("reopen_secs", timers.reopen_secs),
    ] {
        match value {
            Some(0) => problems.push(LineProblem::BadTimeout {
                setting: setting.into(),
                reason: "must be at least 1 second".into(),
            }),
            Some(secs) if secs > MAX_TIMEOUT_SECS => problems.push(LineProblem::BadTimeout {
                setting: setting.into(),
                reason: format!("{secs} is over the limit of {MAX_TIMEOUT_SECS} seconds (a week)"),
            }),
            _ => {}
        }
    }
    let bad = |reason: &str| LineProblem::BadInactivityWarning {
        reason: reason.into(),
    };
    let text = timers.inactivity_warning.as_deref();
    match (timers.inactivity_warning_secs, timers.inactivity_secs) {
        (None, _) if text.is_some() => {
            problems.push(bad("a warning text needs inactivity_warning_secs"));
        }
        (None, _) => {}
        (Some(_), None) => problems.push(bad(
            "warns before the inactivity close; set inactivity_secs or remove it",
        )),
        (Some(0), Some(_)) => problems.push(bad("must be at least 1 second before the close")),
        (Some(w), Some(t)) if w >= t => problems.push(bad(&format!(
            "{w} seconds before the close is not within the inactivity time of {t} seconds"
        ))),
        (Some(_), Some(_)) => match text {
            None => problems.push(bad("set the warning text (inactivity_warning)")),
            Some(t) if t.trim().is_empty() => problems.push(bad("the warning text is empty")),
            Some(t) if t.chars().count() > crate::hours::MAX_OFF_HOURS_REPLY => {
                problems.push(bad(&format!(
                    "the warning text is longer than {} characters",
                    crate::hours::MAX_OFF_HOURS_REPLY
                )))
            }
            Some(t) if t.contains('\0') => {
                problems.push(bad("the warning text holds a NUL character"))
            }
            Some(_) => {}
        },
    }
    problems
}

#[cfg(test)]
mod inbound_tests {
    use super::*;
    use crate::message::{Attachment, Body};

    fn limits() -> MessageLimits {
        MessageLimits::default()
    }

    #[test]
    fn names_are_cleaned_not_refused() {
        let m = InboundMessage::text("m", "u", "\0Bad\u{7}\nName\u{9b}", "hi").with_body(
            Body::text("hi").with_attachment(Attachment::new("a\0.png", "image/png\r", 1, "b")),
        );
        let m = prepare_inbound(m, &limits()).expect("stored after cleaning");
        assert_eq!(m.display_name, "\u{fffd}Bad\u{fffd}\u{fffd}Name\u{fffd}");
        assert_eq!(m.body.attachments[0].name, "a\u{fffd}.png");
        assert_eq!(m.body.attachments[0].mime_type, "image/png\u{fffd}");
        assert_eq!(m.body.text, "hi");
    }

    #[test]
    fn send_times_no_store_can_keep_are_dropped() {
        use chrono::{DateTime, TimeZone, Utc};
        let at = |t: DateTime<Utc>| {
            let mut m = InboundMessage::text("m", "u", "n", "hi");
            m.sent_at = Some(t);
            prepare_inbound(m, &limits()).expect("stored").sent_at
        };
        let fine = Utc
            .with_ymd_and_hms(2026, 12, 2, 12, 0, 0)
            .single()
            .expect("time");
        assert_eq!(at(fine), Some(fine));
        let far = DateTime::<Utc>::from_timestamp(i64::from(i32::MAX) * 400, 0).expect("time");
        assert_eq!(at(far), None);
        let early = Utc
            .with_ymd_and_hms(1900, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        assert_eq!(at(early), None);
    }

    #[test]
    fn identities_and_text_are_refused() {
        let ok = || InboundMessage::text("m", "u", "n", "hi");
        let long = "x".repeat(crate::MAX_EXTERNAL_ID + 1);
        let cases: Vec<(&str, InboundMessage)> = vec![
            ("text", ok().with_body(Body::text("a\0b"))),
            ("body", ok().with_body(Body::text("  "))),
            (
                "external_message_id",
                InboundMessage::text("", "u", "n", "hi"),
            ),
            (
                "external_message_id",
                InboundMessage::text("m\0", "u", "n", "hi"),
            ),
            ("external_user", InboundMessage::text("m", "u\0", "n", "hi")),
            (
                "external_user",
                InboundMessage::text("m", long.clone(), "n", "hi"),
            ),
            ("reply_address", ok().with_reply_address("12\u{0}34")),
            ("reply_address", ok().with_reply_address(long.clone())),
            (
                "attachments",
                ok().with_body(
                    Body::text("").with_attachment(Attachment::new("a", "t/p", 1, "blob\0")),
                ),
            ),
        ];
        for (field, m) in cases {
            match prepare_inbound(m.clone(), &limits()) {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{m:?}"),
                other => panic!("{m:?} gave {other:?}"),
            }
        }
        assert!(prepare_inbound(ok().with_reply_address("-100:7"), &limits()).is_ok());
    }
}
