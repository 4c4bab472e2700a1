//! What operators and supervisors do with sessions.

use super::page::{Page, PageRequest, Position};
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
use crate::timer::TimerKind;

impl Hub {
    /// Sessions offered to this operator, highest priority first, then
    /// oldest: those waiting on
    /// every line where the routing roster has them eligible (members of
    /// the line's operators group who are present, as kept by
    /// [`sync_roster`](Hub::sync_roster) and
    /// [`availability_changed`](Hub::availability_changed)). Empty while
    /// the operator is not present. One indexed store query, whatever the
    /// number of lines.
    pub async fn offered_sessions(
        &self,
        operator: &UserId,
        page: PageRequest,
    ) -> Result<Page<Session>, Error> {
        let after = session_position(&page, "offered")?;
        if self.availability(operator).await? != Availability::Present {
            return Ok(Page::empty());
        }
        let items = self
            .inner
            .store
            .offered_to(operator, after, page.limit() + 1)
            .await?;
        Ok(session_page(items, page.limit(), "offered", |s| s.id))
    }

    /// Open sessions assigned to this operator, oldest first.
    pub async fn assigned_sessions(
        &self,
        operator: &UserId,
        page: PageRequest,
    ) -> Result<Page<Session>, Error> {
        let after = session_position(&page, "assigned")?;
        let items = self
            .inner
            .store
            .assigned_sessions(operator, after, page.limit() + 1)
            .await?;
        Ok(session_page(items, page.limit(), "assigned", |s| s.id))
    }

    /// A session, for its operator, the line's operators and supervisors
    /// and administrators (also once the line is deleted). Anyone else gets
    /// [`Error::NotFound`], as for a missing session.
    pub async fn session(&self, actor: &UserId, id: SessionId) -> Result<Session, Error> {
        self.readable_session(actor, id).await
    }

    /// A page of a session's messages, oldest first, for those who may
    /// read the [`session`](Hub::session) (anyone else: [`Error::NotFound`]).
    /// An administrator still reads the history of a deleted line.
    pub async fn messages(
        &self,
        actor: &UserId,
        id: SessionId,
        page: PageRequest,
    ) -> Result<Page<Message>, Error> {
        self.readable_session(actor, id).await?;
        let after = match page.position("messages")? {
            None => 0,
            Some(Position::Seq(seq)) => seq,
            Some(_) => return Err(bad_token()),
        };
        let mut items = self
            .inner
            .store
            .messages(id, Cursor::After(after), page.limit() + 1)
            .await?;
        let next = if items.len() > page.limit() {
            items.truncate(page.limit());
            items.last().map(|m| Position::Seq(m.seq).token("messages"))
        } else {
            None
        };
        Ok(Page::new(items, next))
    }

    /// First come: the operator takes an offered or queued session. Of any
    /// number of concurrent calls exactly one succeeds; the others get
    /// [`Error::AlreadyTaken`]. Only present members of the line's operators
    /// group may take — and, once the offer went unanswered on a line with
    /// an overflow group ([`RouteReason::Unanswered`](crate::RouteReason::Unanswered)),
    /// or while it is offered to the line's off-hours group
    /// ([`RouteReason::OffHours`](crate::RouteReason::OffHours)), present
    /// members of that group.
    pub async fn take(&self, operator: &UserId, id: SessionId) -> Result<Session, Error> {
        let (session, _) = self.session_and_line(id).await?;
        if self.in_overflow(&session, operator).await? {
            self.require_present(operator, "take the session").await?;
        } else {
            let (_, line) = self.visible_session(operator, id).await?;
            self.require_working_operator(&line, operator, "take the session")
                .await?;
        }
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

    /// The assigned operator accepts a session a rule assigned to them.
    ///
    /// On a line with an accept timeout
    /// ([`LineConfig::accept_timeout`](crate::LineConfig::accept_timeout)),
    /// a session assigned by a rule (responsible, round robin, least
    /// loaded) waits for its operator to acknowledge it: either this call
    /// or the operator's first [`reply`](Hub::reply) in it (which accepts
    /// before it is stored). Accepting cancels the timeout, resets the
    /// operator's consecutive lapses on the line and logs
    /// [`SessionAccepted`](crate::Event::SessionAccepted); otherwise, when
    /// the timeout lapses, the session goes to the next operator by the
    /// rule. Only the assigned operator accepts ([`Error::Forbidden`] for
    /// others who see the session); accepting again is allowed and logs
    /// the event again.
    pub async fn accept(&self, operator: &UserId, id: SessionId) -> Result<Session, Error> {
        let (session, _line) = self.visible_session(operator, id).await?;
        if session.operator() != Some(operator) {
            return Err(Hub::forbidden(
                operator,
                "accept the session",
                "only the operator the session is assigned to accepts it",
            ));
        }
        self.record_accept(operator, id).await
    }

    /// The store's accept transition, for [`accept`](Hub::accept) and a
    /// first [`reply`](Hub::reply).
    async fn record_accept(&self, operator: &UserId, id: SessionId) -> Result<Session, Error> {
        let transition = Transition::Accept {
            operator: operator.clone(),
        };
        let now = self.inner.clock.now();
        Ok(self.inner.store.transition(id, transition, now).await?)
    }

    /// The assigned operator answers. For a messenger client the reply is
    /// stored together with its outbox entry (the dispatcher sends it).
    /// A session still waiting for its operator's acceptance (see
    /// [`accept`](Hub::accept)) is accepted first: a reply after the
    /// session moved on is refused and stores nothing.
    pub async fn reply(
        &self,
        operator: &UserId,
        id: SessionId,
        body: Body,
    ) -> Result<Message, Error> {
        let (session, line) = self.visible_session(operator, id).await?;
        if session.operator() != Some(operator) {
            return Err(Hub::forbidden(
                operator,
                "reply in the session",
                "only the assigned operator replies; take the session first",
            ));
        }
        self.check_body(&body)?;
        let store = &self.inner.store;
        if line.timers().accept_timeout().is_some()
            && store
                .session_timers(id)
                .await?
                .iter()
                .any(|t| t.kind == TimerKind::AcceptTimeout)
        {
            // The first reply accepts: before it is stored, so that a
            // reply never lands in a session that moved on meanwhile.
            self.record_accept(operator, id).await?;
        }
        let author = Author::Operator {
            user: operator.clone(),
        };
        // The store stops the session's response clocks with the reply
        // (`machine::outbound_follow_up`).
        self.write_to_client(&session, author, body, Some(operator.clone()))
            .await
    }

    /// Stores a message to the session's client, with its outbox entry
    /// when the client writes from a messenger (the dispatcher sends it).
    pub(crate) async fn write_to_client(
        &self,
        session: &Session,
        author: Author,
        body: Body,
        require_operator: Option<UserId>,
    ) -> Result<Message, Error> {
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
                session: session.id,
                message_id,
                author,
                body,
                require_operator,
                outbox,
                now,
            })
            .await?;
        Ok(message)
    }

    /// The assigned operator hands the session to another present operator
    /// of the line.
    pub async fn transfer_to(
        &self,
        operator: &UserId,
        id: SessionId,
        to: &UserId,
    ) -> Result<Session, Error> {
        let line = self
            .require_assigned(operator, id, "transfer the session")
            .await?;
        self.require_target(&line, to).await?;
        let moved = self
            .inner
            .store
            .transition(
                id,
                Transition::Transfer {
                    from: operator.clone(),
                    to: to.clone(),
                },
                self.inner.clock.now(),
            )
            .await?;
        // The freed slot may let a queued session through.
        self.drain_line(&line).await?;
        Ok(moved)
    }

    /// The assigned operator returns the session to the queue, where it is
    /// routed again by the line's rule.
    pub async fn return_to_queue(
        &self,
        operator: &UserId,
        id: SessionId,
    ) -> Result<Session, Error> {
        let line = self
            .require_assigned(operator, id, "return the session to the queue")
            .await?;
        let moved = self
            .inner
            .store
            .transition(
                id,
                Transition::Return {
                    from: operator.clone(),
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
        let (_, line) = self.visible_session(supervisor, id).await?;
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
        let (session, line) = self.visible_session(actor, id).await?;
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

    /// A session and its live line, for code that has checked (or needs
    /// no) policy. A session of a deleted line is not found.
    pub(crate) async fn session_and_line(&self, id: SessionId) -> Result<(Session, Line), Error> {
        let session = self
            .inner
            .store
            .session(id)
            .await?
            .ok_or_else(|| session_not_found(id))?;
        let line = self
            .inner
            .store
            .line(session.line)
            .await?
            .ok_or_else(|| session_not_found(id))?;
        Ok((session, line))
    }

    /// The session and its line if `actor` may see it (its operator, an
    /// operator or supervisor of the line, an administrator); otherwise the same
    /// [`Error::NotFound`] as for a missing session.
    pub(crate) async fn visible_session(
        &self,
        actor: &UserId,
        id: SessionId,
    ) -> Result<(Session, Line), Error> {
        let (session, line) = self.session_and_line(id).await?;
        if session.operator() == Some(actor) || self.sees_line(&line, actor).await? {
            Ok((session, line))
        } else {
            Err(session_not_found(id))
        }
    }

    /// A session `actor` may read: as [`visible_session`](Self::visible_session),
    /// and for administrators also a session of a deleted line.
    pub(crate) async fn readable_session(
        &self,
        actor: &UserId,
        id: SessionId,
    ) -> Result<Session, Error> {
        let store = &self.inner.store;
        let session = store
            .session(id)
            .await?
            .ok_or_else(|| session_not_found(id))?;
        let visible = match store.line(session.line).await? {
            Some(line) => session.operator() == Some(actor) || self.sees_line(&line, actor).await?,
            None => self.is_admin(actor).await?,
        };
        if visible {
            Ok(session)
        } else {
            Err(session_not_found(id))
        }
    }

    /// The line of a session `operator` may see and is assigned.
    async fn require_assigned(
        &self,
        operator: &UserId,
        id: SessionId,
        action: &'static str,
    ) -> Result<Line, Error> {
        let (session, line) = self.visible_session(operator, id).await?;
        if session.operator() != Some(operator) {
            return Err(Hub::forbidden(
                operator,
                action,
                "only the assigned operator hands a session on",
            ));
        }
        Ok(line)
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

pub(crate) fn session_not_found(id: SessionId) -> Error {
    Error::NotFound {
        what: "session",
        id: id.to_string(),
    }
}

pub(crate) fn bad_token() -> Error {
    Error::invalid(
        "page",
        "the page token was not issued by this list; start again from the first page",
    )
}

/// The session a session list's page starts after.
pub(crate) fn session_position(
    page: &PageRequest,
    list: &'static str,
) -> Result<Option<SessionId>, Error> {
    match page.position(list)? {
        None => Ok(None),
        Some(Position::Session(id)) => Ok(Some(id)),
        Some(_) => Err(bad_token()),
    }
}

/// A page from up to `limit + 1` items read: the extra one only says that
/// more follow.
pub(crate) fn session_page<T>(
    mut items: Vec<T>,
    limit: usize,
    list: &'static str,
    id: impl Fn(&T) -> SessionId,
) -> Page<T> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| Position::Session(id(t)).token(list))
    } else {
        None
    };
    Page::new(items, next)
}
