//! The routing port: who gets a new or returned session.

use crate::apps::{AccountLink, AppCatalog};
use crate::directory::Directory;
use crate::error::Error;
use crate::ids::UserId;
use crate::line::Line;
use crate::session::{RouteReason, Session};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a [`Router`] decided. The store carries the plan out in one atomic
/// transition (see [`Transition::Route`](crate::Transition::Route)).
///
/// `RoundRobin` and `LeastLoaded` are executed *by the store* against the
/// line's operator roster, so that the cursor advance and the capacity check
/// are part of the same atomic write as the assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoutePlan {
    /// Assign to this user.
    Assign {
        /// The operator.
        operator: UserId,
        /// Why.
        reason: RouteReason,
    },
    /// Offer to the line's operators group; the first `take` wins.
    Offer {
        /// Why.
        reason: RouteReason,
    },
    /// Leave it queued.
    Queue {
        /// Why.
        reason: RouteReason,
    },
    /// Assign to the next eligible roster member after the line's cursor
    /// (in user-id order, wrapping), advancing the cursor; queue when nobody
    /// is eligible.
    RoundRobin,
    /// Assign to the eligible roster member with the fewest open sessions on
    /// the line (ties by user id) whose load is below `capacity`; queue when
    /// everyone is at capacity.
    LeastLoaded {
        /// Maximum open sessions per operator.
        capacity: u32,
    },
}

/// What a router may look at.
#[non_exhaustive]
pub struct RoutingContext<'a> {
    /// The session's line.
    pub line: &'a Line,
    /// The session (queued).
    pub session: &'a Session,
    /// The client's linked account item on this line, if any.
    pub account: Option<&'a AccountLink>,
    /// The host's directory.
    pub directory: &'a dyn Directory,
    /// The host's applications.
    pub apps: &'a dyn AppCatalog,
}

impl<'a> RoutingContext<'a> {
    /// Bundles a routing context.
    pub fn new(
        line: &'a Line,
        session: &'a Session,
        account: Option<&'a AccountLink>,
        directory: &'a dyn Directory,
        apps: &'a dyn AppCatalog,
    ) -> Self {
        Self {
            line,
            session,
            account,
            directory,
            apps,
        }
    }
}

/// Decides who gets a session. Implementations live in `chatlines-routing`;
/// a host may write its own.
///
/// Contract: a router never returns `Assign` for a user who is absent,
/// blocked, or (for operator-group strategies) not a member of the line's
/// operators group.
#[async_trait]
pub trait Router: Send + Sync {
    /// Plans the routing of a queued session.
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error>;
}
