//! External sources: messenger accounts bound to lines.

use crate::ids::{LineId, SourceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A messenger account (a bot, a phone number) bound to a line.
///
/// It holds no secrets: `config_ref` names where the host keeps the
/// connector's configuration (tokens live there, never here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Source {
    /// The source's id (also the webhook path segment).
    pub id: SourceId,
    /// The line it feeds.
    pub line: LineId,
    /// The messenger kind, e.g. `telegram`, `whatsapp`, `webhook`.
    pub kind: String,
    /// A name for people, e.g. `@acme_support_bot`.
    pub display_name: String,
    /// The host's reference to the connector configuration.
    pub config_ref: String,
    /// When it was bound.
    pub created_at: DateTime<Utc>,
}

impl Source {
    /// Builds a source record.
    pub fn new(
        id: SourceId,
        line: LineId,
        kind: impl Into<String>,
        display_name: impl Into<String>,
        config_ref: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            line,
            kind: kind.into(),
            display_name: display_name.into(),
            config_ref: config_ref.into(),
            created_at,
        }
    }
}

/// What an administrator supplies to bind a messenger account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewSource {
    /// The messenger kind, e.g. `telegram`.
    pub kind: String,
    /// A name for people.
    pub display_name: String,
    /// The host's reference to the connector configuration.
    pub config_ref: String,
}

impl NewSource {
    /// Describes a source to bind.
    pub fn new(
        kind: impl Into<String>,
        display_name: impl Into<String>,
        config_ref: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            display_name: display_name.into(),
            config_ref: config_ref.into(),
        }
    }
}
