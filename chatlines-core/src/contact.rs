//! Clients ("contacts"): who writes to a line.

use crate::ids::{ContactId, SourceId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The identity of a client: an internal platform user, or a person on an
/// external messenger reached through a bound [`Source`](crate::Source).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContactKey {
    /// A user of the host platform writing from its own chat.
    Internal {
        /// The user.
        user: UserId,
    },
    /// A messenger user, identified by the source and the messenger's own id.
    External {
        /// The messenger account the client wrote to.
        source: SourceId,
        /// The messenger's id of the user (e.g. a Telegram user id, a phone).
        external_user: String,
    },
}

impl ContactKey {
    /// Whether replies to this client go through a messenger.
    pub fn is_external(&self) -> bool {
        matches!(self, ContactKey::External { .. })
    }
}

/// A client as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// The contact's id.
    pub id: ContactId,
    /// Who the contact is.
    pub key: ContactKey,
    /// A display name (the messenger profile name, or the user's name).
    pub display_name: String,
    /// For external contacts: where replies are sent (e.g. the Telegram chat
    /// id). `None` means "the same as the external user id".
    pub reply_address: Option<String>,
    /// When the contact first wrote.
    pub created_at: DateTime<Utc>,
}

impl Contact {
    /// Builds a contact record.
    pub fn new(
        id: ContactId,
        key: ContactKey,
        display_name: impl Into<String>,
        reply_address: Option<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            key,
            display_name: display_name.into(),
            reply_address,
            created_at,
        }
    }

    /// The address a messenger should send replies to, for external contacts.
    pub fn reply_address(&self) -> Option<&str> {
        match &self.key {
            ContactKey::External { external_user, .. } => {
                Some(self.reply_address.as_deref().unwrap_or(external_user))
            }
            ContactKey::Internal { .. } => None,
        }
    }
}
