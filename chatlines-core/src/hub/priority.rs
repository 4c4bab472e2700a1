//! Session priority: set by the host at ingest, by the line's rules when a
//! session opens, and by supervisors (see [`crate::priority`]).

use super::ingest::Posted;
use super::Hub;
use crate::error::{Error, StoreError};
use crate::ids::{SessionId, SourceId, UserId};
use crate::line::Line;
use crate::messenger::InboundMessage;
use crate::priority::{Priority, PriorityCause};
use crate::session::Session;
use crate::store::Transition;

/// What the host adds to an ingested message
/// ([`Hub::ingest_with`]); the default adds nothing.
///
/// ```
/// use chatlines_core::IngestOptions;
/// use chatlines_core::Priority;
/// let options = IngestOptions::default().priority(Priority::Urgent);
/// assert_eq!(options.priority, Some(Priority::Urgent));
/// assert_eq!(IngestOptions::default().priority, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestOptions {
    /// The priority of the session this message opens (a message that
    /// continues an open session leaves its priority alone). `None`: the
    /// line's [`PriorityRules`](crate::PriorityRules) decide.
    pub priority: Option<Priority>,
}

impl IngestOptions {
    /// Sets the priority of the session the message opens.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }
}

/// Where a newly opened session came from, for the line's priority rules.
pub(crate) struct Opening<'a> {
    /// The host's priority, if it gave one.
    pub(crate) priority: Option<Priority>,
    /// The source's messenger kind and id (`None`: an internal client).
    pub(crate) source: Option<(&'a str, SourceId)>,
}

impl Hub {
    /// As [`ingest`](Hub::ingest), with what the host adds: a session the
    /// message opens gets `options.priority` (else the line's rules
    /// decide), written before the session is routed.
    pub async fn ingest_with(
        &self,
        source: SourceId,
        inbound: InboundMessage,
        options: IngestOptions,
    ) -> Result<Posted, Error> {
        self.ingest_inner(source, inbound, options).await
    }

    /// A supervisor of the session's line (or an administrator) sets its
    /// priority: queues, offers and drains serve it accordingly from now
    /// on ([`SessionPriorityChanged`](crate::Event::SessionPriorityChanged)
    /// is logged). Setting the priority it has changes nothing. Others who
    /// see the line get [`Error::Forbidden`]; a closed session is
    /// [`Error::InvalidState`].
    pub async fn set_priority(
        &self,
        actor: &UserId,
        id: SessionId,
        priority: Priority,
    ) -> Result<Session, Error> {
        let (session, line) = self.visible_session(actor, id).await?;
        if !self.is_supervisor(&line, actor).await? && !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "set the session's priority",
                "only supervisors of the line set priorities",
            ));
        }
        if session.priority == priority && session.is_open() {
            return Ok(session);
        }
        let change = Transition::SetPriority {
            priority,
            cause: PriorityCause::Supervisor {
                user: actor.clone(),
            },
        };
        Ok(self
            .inner
            .store
            .transition(id, change, self.inner.clock.now())
            .await?)
    }

    /// The priority of a session just opened: the host's, else the line's
    /// rules'; written (before routing) when it is not normal. A failure
    /// to decide or write it leaves the session normal (logged), never
    /// unrouted.
    pub(crate) async fn open_with_priority(
        &self,
        session: Session,
        line: Option<&Line>,
        opening: &Opening<'_>,
    ) -> Result<Session, Error> {
        match self.opening_priority(&session, line, opening).await {
            Ok(Some(set)) => Ok(set),
            Ok(None) => Ok(session),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "the priority of a new session was not set; it stays normal");
                Ok(self
                    .inner
                    .store
                    .session(session.id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(session))
            }
        }
    }

    /// The session with the priority of its opening written, `None` when
    /// nothing is to be written (normal, or no rule matches).
    async fn opening_priority(
        &self,
        session: &Session,
        line: Option<&Line>,
        opening: &Opening<'_>,
    ) -> Result<Option<Session>, Error> {
        let (priority, cause) = match opening.priority {
            Some(p) => (p, PriorityCause::Host),
            None => {
                let Some(line) = self.line_for(line, session.line).await? else {
                    return Ok(None);
                };
                let line: &Line = &line;
                let rules = &line.config.priority;
                if rules.is_empty() {
                    return Ok(None);
                }
                let item = if rules.accounts.is_empty() {
                    None
                } else {
                    self.inner
                        .store
                        .account_link(line.id, session.contact)
                        .await?
                        .map(|link| link.item)
                };
                let (kind, source) = match opening.source {
                    Some((kind, id)) => (Some(kind), Some(id)),
                    None => (None, None),
                };
                (
                    rules.decide(kind, source, item.as_ref()),
                    PriorityCause::Rule,
                )
            }
        };
        if priority == session.priority {
            return Ok(None);
        }
        let change = Transition::SetPriority { priority, cause };
        match self
            .inner
            .store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(set) => Ok(Some(set)),
            Err(e @ (StoreError::InvalidState { .. } | StoreError::Conflict { .. })) => {
                tracing::debug!(session = %session.id, error = %e, "priority not set: session changed meanwhile");
                Ok(self.inner.store.session(session.id).await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}
