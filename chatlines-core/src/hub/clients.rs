//! What internal clients do: find lines, write, read their conversation.

use super::ingest::Posted;
use super::operators::bad_token;
use super::page::{Page, PageRequest, PageToken, Position};
use super::Hub;
use crate::contact::ContactKey;
use crate::error::Error;
use crate::ids::{LineId, SessionId, SourceId, UserId};
use crate::line::Line;
use crate::message::{Author, Body, Cursor, Direction};
use crate::store::{InboundFollowUp, NewInbound};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A message as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientMessage {
    /// The session.
    pub session: SessionId,
    /// Position in the session.
    pub seq: u64,
    /// Whether the client wrote it.
    pub direction: Direction,
    /// The author as shown: the operator's name when the line displays it,
    /// otherwise the line's name; the client's own name for their messages.
    pub author_name: String,
    /// The content.
    pub body: Body,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

/// The list name of conversation page tokens.
const CONVERSATION: &str = "conversation";

impl ClientMessage {
    /// A token for the conversation after this message: pass it to
    /// [`PageRequest::after`] to read what came later (a client that saw
    /// this message resumes from here).
    pub fn position(&self) -> PageToken {
        Position::SessionSeq(self.session, self.seq).token(CONVERSATION)
    }
}

impl Hub {
    /// The lines whose Clients block admits the user: directly, through a
    /// group, or through an org unit or one of its parents.
    pub async fn lines_for(&self, user: &UserId) -> Result<Vec<Line>, Error> {
        let mut units = None;
        let mut out = Vec::new();
        for line in self.inner.store.lines().await? {
            if self.admits(&line, user, &mut units).await? {
                out.push(line);
            }
        }
        Ok(out)
    }

    /// An internal client writes to a line. The first message opens a
    /// session; later ones join it until it is closed. A user the line's
    /// Clients block does not admit gets [`Error::Forbidden`] when they see
    /// the line otherwise (an operator, a supervisor, an administrator) and
    /// [`Error::NotFound`] when they do not.
    pub async fn write(&self, user: &UserId, line: LineId, body: Body) -> Result<Posted, Error> {
        let line = self.client_line(user, line, "write to the line").await?;
        self.check_body(&body)?;
        let display_name = self
            .inner
            .directory
            .display_name(user)
            .await
            .map_err(Error::directory)?;
        let clock = &self.inner.clock;
        let now = clock.now();
        let contact_key = ContactKey::Internal { user: user.clone() };
        let opening = super::priority::Opening {
            priority: None,
            source: None,
        };
        let opening_priority = self.opening_priority(&line, &contact_key, &opening).await;
        let new = NewInbound {
            line: line.id,
            contact_key,
            display_name,
            reply_address: None,
            contact_id: clock.new_id().into(),
            session_id: clock.new_id().into(),
            message_id: clock.new_id().into(),
            body,
            external: None,
            sent_at: None,
            now,
            follow_up: InboundFollowUp {
                sla: self.sla_dues(&line, now),
                opening_priority,
            },
        };
        let appended = self.inner.store.append_inbound(new).await?;
        self.after_inbound(appended, Some(&line)).await
    }

    /// The user's conversation with a line across all their sessions,
    /// oldest first. Refused as [`write`](Hub::write) is.
    pub async fn conversation(
        &self,
        user: &UserId,
        line: LineId,
        page: PageRequest,
    ) -> Result<Page<ClientMessage>, Error> {
        let line = self
            .client_line(user, line, "read the conversation")
            .await?;
        let key = ContactKey::Internal { user: user.clone() };
        self.contact_conversation(&line, &key, page).await
    }

    /// The conversation of a messenger client with the line of `source`
    /// across all their sessions, oldest first, as the client sees it (the
    /// operator's name or the line's name on replies, as the line's
    /// Clients block says). For connectors that show a client their own
    /// history (the web chat widget): the connector has authenticated
    /// `external_user`, and the contact key scopes every read to that
    /// client, so no other client's messages can appear. A client who never
    /// wrote gets an empty page; an unknown source is [`Error::NotFound`].
    ///
    /// Each message's [`position`](ClientMessage::position) is a token to
    /// read on after it (`PageRequest::after`), e.g. to resume a stream.
    pub async fn external_conversation(
        &self,
        source: SourceId,
        external_user: &str,
        page: PageRequest,
    ) -> Result<Page<ClientMessage>, Error> {
        let store = &self.inner.store;
        let found = store.source(source).await?.ok_or_else(|| Error::NotFound {
            what: "source",
            id: source.to_string(),
        })?;
        let Some(line) = store.line(found.line).await? else {
            return Err(super::admin::line_not_found(found.line));
        };
        let key = ContactKey::External {
            source,
            external_user: external_user.to_owned(),
        };
        self.contact_conversation(&line, &key, page).await
    }

    /// One contact's messages on `line`, oldest first, as the contact sees
    /// them.
    async fn contact_conversation(
        &self,
        line: &Line,
        key: &ContactKey,
        page: PageRequest,
    ) -> Result<Page<ClientMessage>, Error> {
        let from = match page.position(CONVERSATION)? {
            None => None,
            Some(Position::SessionSeq(session, seq)) => Some((session, seq)),
            Some(_) => return Err(bad_token()),
        };
        let store = &self.inner.store;
        let Some(contact) = store.contact_by_key(key).await? else {
            return Ok(Page::empty());
        };
        let sessions = store.contact_sessions(line.id, contact.id).await?;
        let start = match from {
            None => 0,
            Some((session, _)) => sessions
                .iter()
                .position(|s| s.id == session)
                .ok_or_else(bad_token)?,
        };
        let limit = page.limit();
        let mut messages = Vec::new();
        let mut more = false;
        for (i, session) in sessions.iter().enumerate().skip(start) {
            let after = match from {
                Some((_, seq)) if i == start => seq,
                _ => 0,
            };
            // One more than fits tells whether the conversation goes on.
            let want = limit + 1 - messages.len();
            let got = store
                .messages(session.id, Cursor::After(after), want)
                .await?;
            for m in got {
                if messages.len() == limit {
                    more = true;
                    break;
                }
                let author_name = match &m.author {
                    Author::Client => contact.display_name.clone(),
                    Author::Operator { user } if line.config.clients.show_operator_name => self
                        .inner
                        .directory
                        .display_name(user)
                        .await
                        .map_err(Error::directory)?,
                    Author::Bot => line
                        .config
                        .bot
                        .as_ref()
                        .and_then(|b| b.name.clone())
                        .unwrap_or_else(|| line.config.name.clone()),
                    Author::Operator { .. } | Author::System => line.config.name.clone(),
                };
                messages.push(ClientMessage {
                    session: m.session,
                    seq: m.seq,
                    direction: m.direction,
                    author_name,
                    body: m.body,
                    at: m.created_at,
                });
            }
            if more {
                break;
            }
        }
        let next = match messages.last() {
            Some(last) if more => {
                Some(Position::SessionSeq(last.session, last.seq).token(CONVERSATION))
            }
            _ => None,
        };
        Ok(Page::new(messages, next))
    }

    /// The line, if its Clients block admits the user; otherwise
    /// `Forbidden` for someone who sees the line and `NotFound` for anyone
    /// else (as for a missing line).
    async fn client_line(
        &self,
        user: &UserId,
        line: LineId,
        action: &'static str,
    ) -> Result<Line, Error> {
        let found = self.inner.store.line(line).await?;
        let Some(found) = found else {
            return Err(super::admin::line_not_found(line));
        };
        if self.admits(&found, user, &mut None).await? {
            return Ok(found);
        }
        if self.sees_line(&found, user).await? {
            Err(Hub::forbidden(
                user,
                action,
                format!(
                    "the Clients block of line {:?} does not include the user",
                    found.name()
                ),
            ))
        } else {
            Err(super::admin::line_not_found(line))
        }
    }

    pub(crate) async fn after_inbound(
        &self,
        appended: crate::store::Appended,
        line: Option<&Line>,
    ) -> Result<Posted, Error> {
        // The store wrote the message's priority and service-level
        // follow-ups with it (`machine::inbound_follow_up`). The rarer
        // branches are boxed: their futures are large, and inline they
        // would make every message's future as large.
        let mut session = appended.session;
        if !appended.duplicate && appended.reopened {
            session = Box::pin(self.route_reopened(session, line)).await?;
        } else if !appended.duplicate && appended.opened {
            session = Box::pin(self.open_session(session, &appended.message, line)).await?;
        } else if !appended.duplicate && Hub::with_bot(&session) {
            session = Box::pin(self.bot_turn(session, &appended.message, line)).await?;
        } else if !appended.duplicate {
            session = self.client_returned(session, line).await?;
        }
        Ok(Posted {
            message: appended.message,
            session,
            contact: appended.contact,
            opened: appended.opened,
            duplicate: appended.duplicate,
            reopened: appended.reopened,
        })
    }
}
