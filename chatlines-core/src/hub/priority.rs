//! Session priority: set by the host at ingest, by the line's rules when a
//! session opens, and by supervisors (see [`crate::priority`]).

use super::ingest::Posted;
use super::Hub;
use crate::contact::ContactKey;
use crate::error::Error;
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

    /// The priority a session opened by a client's message gets: the
    /// host's, else the line's rules'; `None` when it stays normal. Read
    /// before the message is stored and written with it
    /// ([`InboundFollowUp::opening_priority`](crate::InboundFollowUp::opening_priority)).
    /// A failure to read the client's account link is logged and leaves
    /// the session normal, never unstored or unrouted.
    pub(crate) async fn opening_priority(
        &self,
        line: &Line,
        key: &ContactKey,
        opening: &Opening<'_>,
    ) -> Option<(Priority, PriorityCause)> {
        if let Some(priority) = opening.priority {
            return Some((priority, PriorityCause::Host));
        }
        let rules = &line.config.priority;
        if rules.is_empty() {
            return None;
        }
        let item = if rules.accounts.is_empty() {
            None
        } else {
            // Boxed: only lines with account rules read the link, and
            // inline it would make every message's future larger.
            match Box::pin(self.account_item(line, key)).await {
                Ok(item) => item,
                Err(e) => {
                    tracing::warn!(line = %line.id, error = %e, "the client's account link was not read; a session it opens stays normal");
                    return None;
                }
            }
        };
        let (kind, source) = match opening.source {
            Some((kind, id)) => (Some(kind), Some(id)),
            None => (None, None),
        };
        let priority = rules.decide(kind, source, item.as_ref());
        (priority != Priority::Normal).then_some((priority, PriorityCause::Rule))
    }

    /// The business item the client is linked to on the line, if any.
    async fn account_item(
        &self,
        line: &Line,
        key: &ContactKey,
    ) -> Result<Option<crate::ids::ItemId>, Error> {
        let store = &self.inner.store;
        let Some(contact) = store.contact_by_key(key).await? else {
            return Ok(None);
        };
        Ok(store
            .account_link(line.id, contact.id)
            .await?
            .map(|link| link.item))
    }
}
