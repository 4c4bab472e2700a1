//! Who may do what: the questions every Hub call asks first.

use super::Hub;
use crate::directory::Availability;
use crate::error::Error;
use crate::ids::{UnitId, UserId};
use crate::line::{Audience, Line};
use crate::session::Session;

/// Guards against cycles in a host's org tree.
const MAX_UNIT_DEPTH: usize = 64;

impl Hub {
    /// Whether `user` is an administrator (configures lines and messenger
    /// accounts), as the host's directory says. A console asks it to
    /// decide which pages to show; every call still checks for itself.
    pub async fn is_administrator(&self, user: &UserId) -> Result<bool, Error> {
        self.is_admin(user).await
    }

    pub(crate) async fn is_admin(&self, user: &UserId) -> Result<bool, Error> {
        self.inner
            .directory
            .is_admin(user)
            .await
            .map_err(Error::directory)
    }

    pub(crate) async fn is_supervisor(&self, line: &Line, user: &UserId) -> Result<bool, Error> {
        match line.supervisors() {
            Some(g) => self
                .inner
                .directory
                .is_member(g, user)
                .await
                .map_err(Error::directory),
            None => Ok(false),
        }
    }

    pub(crate) async fn is_operator(&self, line: &Line, user: &UserId) -> Result<bool, Error> {
        match line.operators() {
            Some(g) => self
                .inner
                .directory
                .is_member(g, user)
                .await
                .map_err(Error::directory),
            None => Ok(false),
        }
    }

    pub(crate) async fn availability(&self, user: &UserId) -> Result<Availability, Error> {
        self.inner
            .directory
            .availability(user)
            .await
            .map_err(Error::directory)
    }

    /// Whether the session is offered to a second group the user is a
    /// member of: the overflow group of an unanswered offer, or the line's
    /// off-hours group.
    pub(crate) async fn in_overflow(
        &self,
        session: &Session,
        user: &UserId,
    ) -> Result<bool, Error> {
        match &session.reason {
            crate::session::RouteReason::Unanswered {
                overflow: Some(group),
                ..
            }
            | crate::session::RouteReason::OffHours {
                group: Some(group), ..
            } if session.status == crate::session::SessionStatus::Offered => self
                .inner
                .directory
                .is_member(group, user)
                .await
                .map_err(Error::directory),
            _ => Ok(false),
        }
    }

    /// A user who is present.
    pub(crate) async fn require_present(
        &self,
        user: &UserId,
        action: &'static str,
    ) -> Result<(), Error> {
        match self.availability(user).await? {
            Availability::Present => Ok(()),
            Availability::Absent => Err(Hub::forbidden(user, action, "the user is absent")),
            Availability::Blocked => Err(Hub::forbidden(user, action, "the user is blocked")),
        }
    }

    /// An operator of the line who is present.
    pub(crate) async fn require_working_operator(
        &self,
        line: &Line,
        user: &UserId,
        action: &'static str,
    ) -> Result<(), Error> {
        if !self.is_operator(line, user).await? {
            return Err(Hub::forbidden(
                user,
                action,
                format!("not in the operators group of line {:?}", line.name()),
            ));
        }
        match self.availability(user).await? {
            Availability::Present => Ok(()),
            Availability::Absent => Err(Hub::forbidden(user, action, "the user is absent")),
            Availability::Blocked => Err(Hub::forbidden(user, action, "the user is blocked")),
        }
    }

    /// The assigned operator, or a supervisor of the line.
    pub(crate) async fn require_session_worker(
        &self,
        line: &Line,
        session: &Session,
        user: &UserId,
        action: &'static str,
    ) -> Result<(), Error> {
        if session.operator() == Some(user) || self.is_supervisor(line, user).await? {
            Ok(())
        } else {
            Err(Hub::forbidden(
                user,
                action,
                "only the session's operator or a supervisor of the line may do this",
            ))
        }
    }

    /// Whether the line's Clients block admits the user.
    pub(crate) async fn admits(
        &self,
        line: &Line,
        user: &UserId,
        units: &mut Option<Vec<UnitId>>,
    ) -> Result<bool, Error> {
        for audience in &line.config.clients.members {
            let hit = match audience {
                Audience::User(u) => u == user,
                Audience::Group(g) => self
                    .inner
                    .directory
                    .is_member(g, user)
                    .await
                    .map_err(Error::directory)?,
                Audience::Unit(unit) => {
                    if units.is_none() {
                        *units = Some(self.unit_chain(user).await?);
                    }
                    units.as_ref().is_some_and(|chain| chain.contains(unit))
                }
            };
            if hit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The user's unit and all its ancestors.
    async fn unit_chain(&self, user: &UserId) -> Result<Vec<UnitId>, Error> {
        let dir = &self.inner.directory;
        let mut chain = Vec::new();
        let mut next = dir.unit_of(user).await.map_err(Error::directory)?;
        while let Some(unit) = next {
            if chain.contains(&unit) || chain.len() >= MAX_UNIT_DEPTH {
                break;
            }
            next = dir.parent_unit(&unit).await.map_err(Error::directory)?;
            chain.push(unit);
        }
        Ok(chain)
    }
}
