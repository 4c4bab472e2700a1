//! Identifiers.
//!
//! Records that chatlines owns (lines, sessions, contacts, messages, sources,
//! outbox entries) are identified by UUIDs. Things the *host* owns (users,
//! groups, org-structure units, applications, items, fields) are identified by
//! the host's own string keys, which chatlines never interprets.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Creates the identifier from the host's key.
            pub fn new(key: impl Into<String>) -> Self {
                Self(key.into())
            }
            /// The host's key.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(key: &str) -> Self {
                Self(key.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(key: String) -> Self {
                Self(key)
            }
        }
    };
}

uuid_id!(
    /// Identifies a [`Line`](crate::Line).
    LineId
);
uuid_id!(
    /// Identifies a [`Session`](crate::Session).
    SessionId
);
uuid_id!(
    /// Identifies a [`Contact`](crate::Contact) (a client).
    ContactId
);
uuid_id!(
    /// Identifies a stored [`Message`](crate::Message).
    MessageId
);
uuid_id!(
    /// Identifies a bound messenger account, a [`Source`](crate::Source).
    SourceId
);
uuid_id!(
    /// Identifies an [`OutboxEntry`](crate::OutboxEntry).
    OutboxId
);
uuid_id!(
    /// Identifies a registered request ([`RequestRecord`](crate::RequestRecord)).
    RequestId
);
uuid_id!(
    /// Identifies an event in the event log ([`LoggedEvent`](crate::LoggedEvent));
    /// stable across redeliveries, so a consumer can drop duplicates by it.
    EventId
);

string_id!(
    /// A user of the host platform (an employee or an internal client).
    UserId
);
string_id!(
    /// A group of users in the host platform.
    GroupId
);
string_id!(
    /// A unit of the host's organisational structure.
    UnitId
);
string_id!(
    /// An application (record type) of the host platform.
    AppId
);
string_id!(
    /// An item (record) of a host application.
    ItemId
);
string_id!(
    /// A field of a host application's form.
    FieldId
);
