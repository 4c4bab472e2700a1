//! What supervisors see of their line: its open sessions and its roster.

use super::operators::{bad_token, session_page, session_position};
use super::page::{Page, PageRequest, Position};
use super::Hub;
use crate::directory::Availability;
use crate::error::Error;
use crate::ids::{LineId, UserId};
use crate::line::Line;
use crate::session::{SessionOverview, SessionState};
use crate::store::RosterEntry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One operator of a line as a supervisor sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperatorStatus {
    /// The operator.
    pub user: UserId,
    /// Whether they are in the line's operators group now (an operator
    /// who left it is listed while they still hold sessions of the line).
    pub member: bool,
    /// Their availability in the host's directory.
    pub availability: Availability,
    /// Whether routing may pick them (as the roster holds it).
    pub eligible: bool,
    /// Open sessions of the line assigned to them.
    pub load: u32,
    /// Their consecutive lapses of the line's accept timeout.
    pub no_answer: u32,
    /// Set away on the line after `max_no_answer` consecutive lapses
    /// (reset with [`Hub::reset_no_answer`]).
    pub away: bool,
}

impl Hub {
    /// The open sessions of a line, oldest first, each with its status,
    /// operator, since when its client waits and when the client and an
    /// operator last wrote; only those in `state` when given. Supervisors
    /// of the line only ([`Error::Forbidden`] for others who see the line,
    /// [`Error::NotFound`] for those who do not).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use chatlines_core::testing::{MemoryApps, MemoryDirectory};
    /// # use chatlines_core::*;
    /// # let runtime = tokio::runtime::Runtime::new().unwrap();
    /// # runtime.block_on(async {
    /// let directory = Arc::new(MemoryDirectory::new());
    /// directory.add_admin("root");
    /// directory.add_to_group("ops", "ann");
    /// directory.add_to_group("sups", "sue");
    /// directory.add_to_group("staff", "carl");
    /// let hub = Hub::builder(
    ///     Arc::new(chatlines_store::MemoryStore::new()),
    ///     directory,
    ///     Arc::new(MemoryApps::new()),
    ///     Arc::new(chatlines_routing::RuleRouter::new()),
    /// )
    /// .build();
    /// let config = LineConfig::new("Help")
    ///     .operators("ops")
    ///     .supervisors("sups")
    ///     .client(Audience::Group("staff".into()));
    /// let line = hub.create_line(&UserId::new("root"), config).await?;
    /// hub.write(&UserId::new("carl"), line.id, Body::text("hello")).await?;
    ///
    /// let sue = UserId::new("sue");
    /// let board = hub.line_sessions(&sue, line.id, None, PageRequest::default()).await?;
    /// assert_eq!(board.items.len(), 1);
    /// assert!(board.items[0].waiting_since.is_some());
    /// assert_eq!(board.next, None);
    /// // An operator of the line sees the line, not its board.
    /// let ann = UserId::new("ann");
    /// let refused = hub.line_sessions(&ann, line.id, None, PageRequest::default()).await;
    /// assert!(matches!(refused, Err(Error::Forbidden { .. })));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn line_sessions(
        &self,
        supervisor: &UserId,
        line: LineId,
        state: Option<SessionState>,
        page: PageRequest,
    ) -> Result<Page<SessionOverview>, Error> {
        let line = self
            .require_line_supervisor(supervisor, line, "see the line's sessions")
            .await?;
        let after = session_position(&page, "board")?;
        let items = self
            .inner
            .store
            .line_sessions(line.id, state, after, page.limit() + 1)
            .await?;
        Ok(session_page(items, page.limit(), "board", |o| o.session.id))
    }

    /// The line's operators in user-id order, each with availability,
    /// eligibility and load. Supervisors of the line only (as for
    /// [`line_sessions`](Hub::line_sessions)).
    pub async fn line_roster(
        &self,
        supervisor: &UserId,
        line: LineId,
        page: PageRequest,
    ) -> Result<Page<OperatorStatus>, Error> {
        let line = self
            .require_line_supervisor(supervisor, line, "see the line's operators")
            .await?;
        let after = match page.position("roster")? {
            None => None,
            Some(Position::User(u)) => Some(u),
            Some(_) => return Err(bad_token()),
        };
        let members = match line.operators() {
            Some(group) => self
                .inner
                .directory
                .members(group)
                .await
                .map_err(Error::directory)?,
            None => Vec::new(),
        };
        // (member, roster entry) per user.
        let mut rows: BTreeMap<UserId, (bool, RosterEntry)> = members
            .into_iter()
            .map(|u| (u.clone(), (true, RosterEntry::new(u, false, 0))))
            .collect();
        for entry in self.inner.store.roster(line.id).await? {
            match rows.get_mut(&entry.user) {
                Some(row) => row.1 = entry,
                None if entry.load > 0 => {
                    rows.insert(entry.user.clone(), (false, entry));
                }
                None => {}
            }
        }
        let limit = page.limit();
        let mut items = Vec::with_capacity(limit);
        let mut more = false;
        for (user, (member, entry)) in rows
            .into_iter()
            .filter(|(u, _)| after.as_ref().is_none_or(|a| u > a))
        {
            if items.len() == limit {
                more = true;
                break;
            }
            let availability = self.availability(&user).await?;
            items.push(OperatorStatus {
                user,
                member,
                availability,
                eligible: entry.eligible,
                load: entry.load,
                no_answer: entry.no_answer,
                away: entry.away,
            });
        }
        let next = match items.last() {
            Some(last) if more => Some(Position::User(last.user.clone()).token("roster")),
            _ => None,
        };
        Ok(Page::new(items, next))
    }

    /// A supervisor of the line resets an operator set away on it after
    /// `max_no_answer` consecutive lapses (see
    /// [`TimerSettings::max_no_answer`](crate::TimerSettings::max_no_answer)):
    /// their lapses go back to zero and, when they are a present member of
    /// the operators group, routing may pick them again (queued sessions
    /// are routed at once). Supervisors of the line only (as for
    /// [`line_sessions`](Hub::line_sessions)).
    pub async fn reset_no_answer(
        &self,
        supervisor: &UserId,
        line: LineId,
        operator: &UserId,
    ) -> Result<(), Error> {
        let line = self
            .require_line_supervisor(supervisor, line, "reset an operator's lapses")
            .await?;
        let working = self.is_operator(&line, operator).await?
            && self.availability(operator).await? == Availability::Present;
        let store = &self.inner.store;
        // Eligible clears the lapses and the away mark; an operator who may
        // not work is reset and left ineligible.
        store.set_eligible(line.id, operator, true).await?;
        if working {
            self.drain_line(&line).await?;
        } else {
            store.set_eligible(line.id, operator, false).await?;
        }
        Ok(())
    }

    async fn require_line_supervisor(
        &self,
        actor: &UserId,
        line: LineId,
        action: &'static str,
    ) -> Result<Line, Error> {
        let line = self.visible_line(actor, line).await?;
        if !self.is_supervisor(&line, actor).await? {
            return Err(Hub::forbidden(
                actor,
                action,
                "only supervisors of the line see its board",
            ));
        }
        Ok(line)
    }
}
