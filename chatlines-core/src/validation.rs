//! Validation of a line's configuration.

use crate::apps::{AppCatalog, FieldKind};
use crate::directory::Directory;
use crate::error::Error;
use crate::ids::{AppId, FieldId, GroupId};
use crate::line::{Audience, LineConfig, RoutingRule};
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
    },
    /// A capacity of zero can never assign anything.
    ZeroCapacity,
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
            LineProblem::UnknownApp { app } => write!(f, "application {app} does not exist"),
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
            LineProblem::UnknownGroup { group } => write!(f, "group {group} does not exist"),
            LineProblem::ZeroCapacity => write!(f, "least-loaded capacity must be at least 1"),
            LineProblem::RuleNotSupportedByStore { rule } => write!(
                f,
                "the store cannot carry out the {rule} rule; choose another rule or a store that supports it"
            ),
        }
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

/// Checks a configuration against the host's directory and apps, returning
/// every problem at once.
pub async fn validate_line(
    config: &LineConfig,
    directory: &dyn Directory,
    apps: &dyn AppCatalog,
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
            None => problems.push(LineProblem::UnknownApp { app: app.clone() }),
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
            None => problems.push(LineProblem::UnknownApp { app: app.clone() }),
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

    let mut groups: Vec<&GroupId> = Vec::new();
    match &config.employees.operators {
        None => problems.push(LineProblem::NoOperatorsGroup),
        Some(g) => groups.push(g),
    }
    if let Some(g) = &config.employees.supervisors {
        groups.push(g);
    }
    for audience in &config.clients.members {
        if let Audience::Group(g) = audience {
            groups.push(g);
        }
    }
    for group in groups {
        if !directory
            .group_exists(group)
            .await
            .map_err(Error::directory)?
        {
            let problem = LineProblem::UnknownGroup {
                group: group.clone(),
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
