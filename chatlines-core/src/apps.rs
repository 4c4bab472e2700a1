//! Linked applications: the host's record types, account links and requests.

use crate::contact::ContactKey;
use crate::error::PortError;
use crate::ids::{AppId, ContactId, FieldId, ItemId, LineId, RequestId, SessionId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The kind of a field on a host application's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// Yes/no.
    Bool,
    /// A date and time.
    DateTime,
    /// An employee ("User" field), e.g. Author, Editor, Account manager.
    User,
    /// A client's identity ("Account" field).
    Account,
}

/// One field of an application's form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldDef {
    /// The field's key.
    pub id: FieldId,
    /// The label shown to people.
    pub label: String,
    /// Its kind.
    pub kind: FieldKind,
}

impl FieldDef {
    /// Describes a field.
    pub fn new(id: impl Into<FieldId>, label: impl Into<String>, kind: FieldKind) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            kind,
        }
    }
}

/// A host application's form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppSchema {
    /// The application.
    pub id: AppId,
    /// Its name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<FieldDef>,
}

impl AppSchema {
    /// Describes an application.
    pub fn new(id: impl Into<AppId>, name: impl Into<String>, fields: Vec<FieldDef>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            fields,
        }
    }

    /// The first field of the given kind.
    pub fn first_field_of(&self, kind: FieldKind) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.kind == kind)
    }

    /// A field by id.
    pub fn field(&self, id: &FieldId) -> Option<&FieldDef> {
        self.fields.iter().find(|f| &f.id == id)
    }
}

/// The value of an Account field: which client an item describes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountValue {
    /// The chatlines contact.
    pub contact: ContactId,
    /// Who the contact is.
    pub key: ContactKey,
    /// The contact's display name.
    pub display_name: String,
}

/// A value written to or read from an item's field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldValue {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// Yes/no.
    Bool(bool),
    /// A date and time.
    DateTime(DateTime<Utc>),
    /// An employee.
    User(UserId),
    /// A client.
    Account(AccountValue),
}

/// Field values keyed by field id.
pub type FieldValues = BTreeMap<FieldId, FieldValue>;

/// The host's applications, as chatlines needs them.
///
/// Implemented by the host. `create_item` must validate the values the way
/// the host's own form would and report problems as
/// [`PortError::Rejected`].
#[async_trait]
pub trait AppCatalog: Send + Sync {
    /// The schema of an application, or `None` if it does not exist.
    async fn schema(&self, app: &AppId) -> Result<Option<AppSchema>, PortError>;

    /// Creates an item and returns its id.
    async fn create_item(&self, app: &AppId, values: FieldValues) -> Result<ItemId, PortError>;

    /// Whether an item of the application exists (checked before an
    /// existing item is linked to a client).
    async fn item_exists(&self, app: &AppId, item: &ItemId) -> Result<bool, PortError>;

    /// Reads one field of an item; `None` when the item or value is absent.
    async fn read_field(
        &self,
        app: &AppId,
        item: &ItemId,
        field: &FieldId,
    ) -> Result<Option<FieldValue>, PortError>;
}

/// A host item linked to a client on a line ("Account" block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountLink {
    /// The line.
    pub line: LineId,
    /// The client.
    pub contact: ContactId,
    /// The account app.
    pub app: AppId,
    /// The item.
    pub item: ItemId,
    /// Who linked it (`None` when the host linked it).
    pub linked_by: Option<UserId>,
    /// When.
    pub linked_at: DateTime<Utc>,
}

impl AccountLink {
    /// Describes a link.
    pub fn new(
        line: LineId,
        contact: ContactId,
        app: AppId,
        item: ItemId,
        linked_by: Option<UserId>,
        linked_at: DateTime<Utc>,
    ) -> Self {
        Self {
            line,
            contact,
            app,
            item,
            linked_by,
            linked_at,
        }
    }
}

/// A request (ticket, complaint…) registered from a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The record's id.
    pub id: RequestId,
    /// The session it was created from.
    pub session: SessionId,
    /// The request app.
    pub app: AppId,
    /// The created item.
    pub item: ItemId,
    /// The operator who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl RequestRecord {
    /// Describes a request record.
    pub fn new(
        id: RequestId,
        session: SessionId,
        app: AppId,
        item: ItemId,
        created_by: UserId,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            session,
            app,
            item,
            created_by,
            created_at,
        }
    }
}
