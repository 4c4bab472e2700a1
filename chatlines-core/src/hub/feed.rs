//! The event log as one person may see it: what a live console follows.

use super::Hub;
use crate::error::Error;
use crate::events::{EventPosition, LoggedEvent};
use crate::ids::{LineId, SessionId, UserId};
use std::collections::HashMap;

/// A page of the event log filtered for one user (see [`Hub::events_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct EventFeed {
    /// The events the user may see, in log order.
    pub events: Vec<LoggedEvent>,
    /// Where to continue: the position of the last event read, whether the
    /// user could see it or not (`after` when the log had nothing new).
    pub next: EventPosition,
}

impl Hub {
    /// Up to `limit` events of the log after `after`, keeping those `user`
    /// may see: administrators see every event; operators and supervisors
    /// see the events of their lines (an event without a line, such as a
    /// delivery outcome, by the line of its session; an event this version
    /// cannot decode, only administrators). Continue from
    /// [`EventFeed::next`]: the filtered-out events are not read again.
    ///
    /// ```
    /// # async fn follow(hub: chatlines_core::Hub, user: chatlines_core::UserId) -> Result<(), chatlines_core::Error> {
    /// use chatlines_core::EventPosition;
    /// let mut at = EventPosition::START;
    /// let feed = hub.events_for(&user, at, 100).await?;
    /// for logged in &feed.events {
    ///     println!("{} {:?}", logged.position, logged.event().map(|e| e.name()));
    /// }
    /// at = feed.next;
    /// # let _ = at; Ok(()) }
    /// ```
    pub async fn events_for(
        &self,
        user: &UserId,
        after: EventPosition,
        limit: usize,
    ) -> Result<EventFeed, Error> {
        let page = self.inner.store.events_after(after, limit).await?;
        let next = page.last().map_or(after, |e| e.position);
        if self.is_admin(user).await? {
            return Ok(EventFeed { events: page, next });
        }
        let mut lines: HashMap<LineId, bool> = HashMap::new();
        let mut sessions: HashMap<SessionId, Option<LineId>> = HashMap::new();
        let mut events = Vec::with_capacity(page.len());
        for logged in page {
            let event = match logged.event() {
                Ok(event) => event,
                Err(error) => {
                    // Its line cannot be told: only administrators see it.
                    tracing::warn!(%error, "event feed: an event is hidden from a non-administrator");
                    continue;
                }
            };
            let line = match (event.line(), event.session()) {
                (Some(line), _) => Some(line),
                (None, Some(session)) => match sessions.get(&session) {
                    Some(line) => *line,
                    None => {
                        let line = self.inner.store.session(session).await?.map(|s| s.line);
                        sessions.insert(session, line);
                        line
                    }
                },
                (None, None) => None,
            };
            let Some(line) = line else { continue };
            let visible = match lines.get(&line) {
                Some(v) => *v,
                None => {
                    let v = self.may_follow(user, line).await?;
                    lines.insert(line, v);
                    v
                }
            };
            if visible {
                events.push(logged);
            }
        }
        Ok(EventFeed { events, next })
    }

    /// Whether `user` operates or supervises `line` (a deleted line: no).
    async fn may_follow(&self, user: &UserId, line: LineId) -> Result<bool, Error> {
        let Some(line) = self.inner.store.line(line).await? else {
            return Ok(false);
        };
        Ok(self.is_operator(&line, user).await? || self.is_supervisor(&line, user).await?)
    }
}
