//! What operators and supervisors do with sessions.

use super::Hub;
use crate::contact::ContactKey;
use crate::directory::Availability;
use crate::error::Error;
use crate::ids::{SessionId, UserId};
use crate::line::Line;
use crate::message::{Author, Body, Cursor, Message};
use crate::outbox::OutboxEntry;
use crate::session::Session;
use crate::store::{NewOutbound, Transition};

impl Hub {
    /// Sessions offered to this operator: those waiting on every line whose
    /// operators group includes them, while they are present.
    pub async fn offered_sessions(&self, operator: &UserId) -> Result<Vec<Session>, Error> {
        if self.availability(operator).await? != Availability::Present {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for line in self.inner.store.lines().await? {
            if self.is_operator(&line, operator).await? {
                out.extend(
                    self.inner
                        .store
                        .offered_sessions(line.id, self.inner.config.list_limit)
                        .await?,
                );
            }
        }
        Ok(out)
    }

    /// Open sessions assigned to this operator.
    pub async fn assigned_sessions(&self, operator: &UserId) -> Result<Vec<Session>, Error> {
        Ok(self.inner.store.assigned_sessions(operator).await?)
    }

    /// A session, for its operator, the line's operators and supervisors.
    pub async fn session(&self, actor: &UserId, id: SessionId) -> Result<Session, Error> {
        let (session, line) = self.session_and_line(id).await?;
        self.require_viewer(&line, &session, actor).await?;
        Ok(session)
    }

    /// A page of a session's messages, for its operator, the line's
    /// operators and supervisors.
    pub async fn messages(
        &self,
        actor: &UserId,
        id: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<Message>, Error> {
        let (session, line) = self.session_and_line(id).await?;
        self.require_viewer(&line, &session, actor).await?;
        Ok(self.inner.store.messages(id, cursor, limit).await?)
    }

    /// First come: the operator takes an offered or queued session. Of any
    /// number of concurrent calls exactly one succeeds; the others get
    /// [`Error::AlreadyTaken`]. Only present members of the line's operators
    /// group may take.
    pub async fn take(&self, operator: &UserId, id: SessionId) -> Result<Session, Error> {
        let (_, line) = self.session_and_line(id).await?;
        self.require_working_operator(&line, operator, "take the session")
            .await?;
        let session = self
            .inner
            .store
            .transition(
                id,
                Transition::Take {
                    operator: operator.clone(),
                },
                self.inner.clock.now(),
            )
            .await?;
        Ok(session)
    }

    /// The assigned operator answers. For a messenger client the reply is
    /// stored together with its outbox entry (the dispatcher sends it).
    pub async fn reply(
        &self,
        operator: &UserId,
        id: SessionId,
        body: Body,
    ) -> Result<Message, Error> {
        self.check_body(&body)?;
        let (session, _line) = self.session_and_line(id).await?;
        if session.operator() != Some(operator) {
            return Err(Hub::forbidden(
                operator,
                "reply in the session",
                "only the assigned operator replies; take the session first",
            ));
        }
        let store = &self.inner.store;
        let contact = store
            .contact(session.contact)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "contact",
                id: session.contact.to_string(),
            })?;
        let clock = &self.inner.clock;
        let now = clock.now();
        let message_id = clock.new_id().into();
        let outbox = match (&contact.key, contact.reply_address()) {
            (ContactKey::External { source, .. }, Some(address)) => Some(OutboxEntry::pending(
                clock.new_id().into(),
                message_id,
                session.id,
                *source,
                address,
                now,
            )),
            _ => None,
        };
        let message = store
            .append_outbound(NewOutbound {
                session: id,
                message_id,
                author: Author::Operator {
                    user: operator.clone(),
                },
                body,
                require_operator: Some(operator.clone()),
                outbox,
                now,
            })
            .await?;
        Ok(message)
    }

    /// The assigned operator hands the session to another present operator
    /// of the line, or back to the queue (`to: None`), where it is routed
    /// again.
    pub async fn transfer(
        &self,
        operator: &UserId,
        id: SessionId,
        to: Option<UserId>,
    ) -> Result<Session, Error> {
        let (session, line) = self.session_and_line(id).await?;
        if session.operator() != Some(operator) {
            return Err(Hub::forbidden(
                operator,
                "transfer the session",
                "only the assigned operator transfers a session",
            ));
        }
        if let Some(target) = &to {
            self.require_target(&line, target).await?;
        }
        let moved = self
            .inner
            .store
            .transition(
                id,
                match to {
                    Some(to) => Transition::Transfer {
                        from: operator.clone(),
                        to,
                    },
                    None => Transition::Return {
                        from: operator.clone(),
                    },
                },
                self.inner.clock.now(),
            )
            .await?;
        let routed = self.route_session(moved, Some(&line)).await?;
        // The freed slot may let a queued session through.
        self.drain_line(&line).await?;
        Ok(routed)
    }

    /// A supervisor of the line assigns an open session to a present
    /// operator of the line, overriding an offer or a previous assignee.
    pub async fn assign(
        &self,
        supervisor: &UserId,
        id: SessionId,
        operator: &UserId,
    ) -> Result<Session, Error> {
        let (_, line) = self.session_and_line(id).await?;
        if !self.is_supervisor(&line, supervisor).await? {
            return Err(Hub::forbidden(
                supervisor,
                "assign the session",
                "only supervisors of the line assign sessions",
            ));
        }
        self.require_target(&line, operator).await?;
        let session = self
            .inner
            .store
            .transition(
                id,
                Transition::Assign {
                    operator: operator.clone(),
                    by: supervisor.clone(),
                },
                self.inner.clock.now(),
            )
            .await?;
        // Taking the session from a previous assignee frees their slot,
        // which may let a queued session through.
        self.drain_line(&line).await?;
        Ok(session)
    }

    /// Closes a session: its operator or a supervisor of the line. The
    /// client's next message opens a new session.
    pub async fn close(&self, actor: &UserId, id: SessionId) -> Result<Session, Error> {
        let (session, line) = self.session_and_line(id).await?;
        self.require_session_worker(&line, &session, actor, "close the session")
            .await?;
        let by_operator =
            if session.operator() == Some(actor) && !self.is_supervisor(&line, actor).await? {
                Some(actor.clone())
            } else {
                None
            };
        let closed = self
            .inner
            .store
            .transition(
                id,
                Transition::Close { by_operator },
                self.inner.clock.now(),
            )
            .await?;
        self.drain_line(&line).await?;
        Ok(closed)
    }

    pub(crate) async fn session_and_line(&self, id: SessionId) -> Result<(Session, Line), Error> {
        let session = self
            .inner
            .store
            .session(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "session",
                id: id.to_string(),
            })?;
        let line = self.line_or_not_found(session.line).await?;
        Ok((session, line))
    }

    async fn require_viewer(
        &self,
        line: &Line,
        session: &Session,
        actor: &UserId,
    ) -> Result<(), Error> {
        if session.operator() == Some(actor)
            || self.is_operator(line, actor).await?
            || self.is_supervisor(line, actor).await?
        {
            Ok(())
        } else {
            Err(Hub::forbidden(
                actor,
                "view the session",
                "not an operator or supervisor of the line",
            ))
        }
    }

    /// A transfer or assignment target: a present member of the operators group.
    async fn require_target(&self, line: &Line, target: &UserId) -> Result<(), Error> {
        if !self.is_operator(line, target).await? {
            return Err(Error::invalid(
                "operator",
                format!(
                    "{target} is not in the operators group of line {:?}",
                    line.name()
                ),
            ));
        }
        match self.availability(target).await? {
            Availability::Present => Ok(()),
            other => Err(Error::invalid(
                "operator",
                format!("{target} is {other:?}; pick a present operator"),
            )),
        }
    }
}
