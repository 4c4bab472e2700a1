//! Whom an operator may hand a session to: the operators of its line.

use super::operators::session_not_found;
use super::page::{Page, PageRequest, Position};
use super::Hub;
use crate::directory::Availability;
use crate::error::Error;
use crate::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};

/// One operator of a session's line, as a colleague choosing whom to
/// transfer the session to sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LineOperator {
    /// The operator.
    pub user: UserId,
    /// Their name in the host's directory.
    pub name: String,
    /// Their availability: only a present operator can be given a session.
    pub availability: Availability,
    /// Whether they hold this session now.
    pub assigned: bool,
}

impl Hub {
    /// The members of the operators group of a session's line, in user-id
    /// order, each with their name and availability: the choices for
    /// [`transfer_to`](Hub::transfer_to) (a present one other than the
    /// session's operator) or [`assign`](Hub::assign).
    ///
    /// For the session's operator and the line's operators and
    /// supervisors. Anyone else — an administrator too — gets
    /// [`Error::NotFound`], the same answer as for a session that does not
    /// exist.
    pub async fn session_operators(
        &self,
        actor: &UserId,
        id: SessionId,
        page: PageRequest,
    ) -> Result<Page<LineOperator>, Error> {
        let (session, line) = self.session_and_line(id).await?;
        let allowed = session.operator() == Some(actor)
            || self.is_operator(&line, actor).await?
            || self.is_supervisor(&line, actor).await?;
        if !allowed {
            return Err(session_not_found(id));
        }
        let after = match page.position("operators")? {
            None => None,
            Some(Position::User(u)) => Some(u),
            Some(_) => return Err(super::operators::bad_token()),
        };
        let mut members = match line.operators() {
            Some(group) => self
                .inner
                .directory
                .members(group)
                .await
                .map_err(Error::directory)?,
            None => Vec::new(),
        };
        members.sort();
        members.dedup();
        let limit = page.limit();
        let mut items = Vec::with_capacity(limit.min(members.len()));
        let mut more = false;
        for user in members
            .into_iter()
            .filter(|u| after.as_ref().is_none_or(|a| u > a))
        {
            if items.len() == limit {
                more = true;
                break;
            }
            let name = self
                .inner
                .directory
                .display_name(&user)
                .await
                .map_err(Error::directory)?;
            let availability = self.availability(&user).await?;
            items.push(LineOperator {
                assigned: session.operator() == Some(&user),
                user,
                name,
                availability,
            });
        }
        let next = match items.last() {
            Some(last) if more => Some(Position::User(last.user.clone()).token("operators")),
            _ => None,
        };
        Ok(Page::new(items, next))
    }
}
