//! What internal clients do: find lines, write, read their conversation.

use super::ingest::Posted;
use super::Hub;
use crate::contact::ContactKey;
use crate::error::Error;
use crate::ids::{LineId, SessionId, UserId};
use crate::line::Line;
use crate::message::{Author, Body, Cursor, Direction};
use crate::store::NewInbound;
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

/// Where the next page of a conversation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// The session to continue in.
    pub session: SessionId,
    /// The last sequence number already read in it.
    pub after_seq: u64,
}

/// A page of a client's conversation with a line, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<ClientMessage>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<HistoryCursor>,
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
    /// session; later ones join it until it is closed.
    pub async fn write(&self, user: &UserId, line: LineId, body: Body) -> Result<Posted, Error> {
        self.check_body(&body)?;
        let line = self.line_or_not_found(line).await?;
        if !self.admits(&line, user, &mut None).await? {
            return Err(Hub::forbidden(
                user,
                "write to the line",
                format!(
                    "the Clients block of line {:?} does not include the user",
                    line.name()
                ),
            ));
        }
        let display_name = self
            .inner
            .directory
            .display_name(user)
            .await
            .map_err(Error::directory)?;
        let clock = &self.inner.clock;
        let new = NewInbound {
            line: line.id,
            contact_key: ContactKey::Internal { user: user.clone() },
            display_name,
            reply_address: None,
            contact_id: clock.new_id().into(),
            session_id: clock.new_id().into(),
            message_id: clock.new_id().into(),
            body,
            external: None,
            sent_at: None,
            now: clock.now(),
        };
        let appended = self.inner.store.append_inbound(new).await?;
        self.after_inbound(appended, Some(&line)).await
    }

    /// The user's conversation with a line across all their sessions,
    /// oldest first, `limit` messages per page.
    pub async fn conversation(
        &self,
        user: &UserId,
        line: LineId,
        from: Option<HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage, Error> {
        let line = self.line_or_not_found(line).await?;
        let store = &self.inner.store;
        let key = ContactKey::Internal { user: user.clone() };
        let Some(contact) = store.contact_by_key(&key).await? else {
            return Ok(HistoryPage {
                messages: Vec::new(),
                next: None,
            });
        };
        let sessions = store.contact_sessions(line.id, contact.id).await?;
        let start = match from {
            None => 0,
            Some(c) => sessions
                .iter()
                .position(|s| s.id == c.session)
                .ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "the cursor names a session of another conversation",
                    )
                })?,
        };
        let limit = limit.max(1);
        let mut messages = Vec::new();
        let mut next = None;
        for (i, session) in sessions.iter().enumerate().skip(start) {
            let after = match from {
                Some(c) if i == start => c.after_seq,
                _ => 0,
            };
            let want = limit - messages.len();
            let page = store
                .messages(session.id, Cursor::After(after), want)
                .await?;
            for m in page {
                let author_name = match &m.author {
                    Author::Client => contact.display_name.clone(),
                    Author::Operator { user } if line.config.clients.show_operator_name => self
                        .inner
                        .directory
                        .display_name(user)
                        .await
                        .map_err(Error::directory)?,
                    Author::Operator { .. } | Author::System => line.config.name.clone(),
                };
                next = Some(HistoryCursor {
                    session: session.id,
                    after_seq: m.seq,
                });
                messages.push(ClientMessage {
                    session: m.session,
                    seq: m.seq,
                    direction: m.direction,
                    author_name,
                    body: m.body,
                    at: m.created_at,
                });
            }
            if messages.len() >= limit {
                break;
            }
        }
        if messages.len() < limit {
            next = None;
        }
        Ok(HistoryPage { messages, next })
    }

    pub(crate) async fn after_inbound(
        &self,
        appended: crate::store::Appended,
        line: Option<&Line>,
    ) -> Result<Posted, Error> {
        let mut session = appended.session;
        if !appended.duplicate && appended.opened {
            session = self.route_session(session, line).await?;
        }
        Ok(Posted {
            message: appended.message,
            session,
            contact: appended.contact,
            opened: appended.opened,
            duplicate: appended.duplicate,
        })
    }
}
