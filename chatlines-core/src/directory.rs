//! The host's users, groups and org structure.

use crate::error::PortError;
use crate::ids::{GroupId, UnitId, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whether a user can work right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// At work.
    Present,
    /// Away (vacation, sick leave, off shift).
    Absent,
    /// Blocked (account disabled).
    Blocked,
}

/// The host's directory of users, implemented by the host.
///
/// Calls are on the hot path of permission checks; implementations should
/// answer from memory or a cache. Unknown users are not errors: they belong
/// to no group (so they can neither operate nor supervise a line); what
/// availability they report is the host's choice, and only matters for the
/// Responsible rule, where a user who is not [`Availability::Present`] makes
/// the session fall back to first come.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Whether the user is in the host's administrators group.
    async fn is_admin(&self, user: &UserId) -> Result<bool, PortError>;

    /// Whether the group exists.
    async fn group_exists(&self, group: &GroupId) -> Result<bool, PortError>;

    /// Whether the user is a member of the group.
    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, PortError>;

    /// Every member of the group.
    async fn members(&self, group: &GroupId) -> Result<Vec<UserId>, PortError>;

    /// The org-structure unit the user belongs to directly, if any.
    async fn unit_of(&self, user: &UserId) -> Result<Option<UnitId>, PortError>;

    /// The parent of a unit, `None` at the root.
    async fn parent_unit(&self, unit: &UnitId) -> Result<Option<UnitId>, PortError>;

    /// The user's availability.
    async fn availability(&self, user: &UserId) -> Result<Availability, PortError>;

    /// The name shown to clients for an operator.
    async fn display_name(&self, user: &UserId) -> Result<String, PortError>;
}
