//! `GET /api/events`: the event log as Server-Sent Events, filtered for the
//! signed-in user ([`Hub::events_for`]).
//!
//! Each SSE event's `id` is the log position (`tx.seq`), its `event` the
//! event's name and its `data` the [`LoggedEvent`] as JSON. A browser that
//! reconnects sends `Last-Event-ID` and continues after it: events are read
//! from the durable log, so a reconnect misses nothing. Without either
//! `Last-Event-ID` or `?after=POSITION` the stream starts at the newest
//! event this server has relayed (what happens from now on).

use crate::auth::{Actor, Auth, HasAuth};
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use chatlines_core::{BoxError, EventPosition, EventSink, Hub, LoggedEvent, UserId};
use futures::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;

/// Events read from the log per query.
const PAGE: usize = 200;
/// How long a stream waits for news before it reads the log anyway (events
/// written by another server process over the same database).
const POLL: Duration = Duration::from_secs(1);

/// The newest position the server's relay delivered; streams wait on it.
#[derive(Clone)]
pub struct Tail {
    positions: watch::Sender<EventPosition>,
}

impl Default for Tail {
    fn default() -> Self {
        Self {
            positions: watch::channel(EventPosition::START).0,
        }
    }
}

impl Tail {
    /// The newest relayed position.
    pub fn position(&self) -> EventPosition {
        *self.positions.borrow()
    }

    /// A receiver that changes with each newer relayed position.
    pub fn watch(&self) -> watch::Receiver<EventPosition> {
        self.positions.subscribe()
    }
}

/// Passes each relayed event's position to the [`Tail`].
pub struct TailSink(pub Tail);

#[async_trait::async_trait]
impl EventSink for TailSink {
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError> {
        self.0.positions.send_if_modified(|at| {
            let newer = event.position > *at;
            if newer {
                *at = event.position;
            }
            newer
        });
        Ok(())
    }
}

#[derive(Clone)]
pub(crate) struct Live {
    hub: Hub,
    tail: Tail,
    auth: Auth,
}

impl HasAuth for Live {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The `/api/events` route.
pub fn router(hub: Hub, auth: Auth, tail: Tail) -> Router {
    Router::new()
        .route("/api/events", get(events))
        .with_state(Live { hub, tail, auth })
}

#[derive(Deserialize)]
pub(crate) struct After {
    /// Continue after this position.
    after: Option<String>,
}

fn position(raw: &str) -> Result<EventPosition, ApiError> {
    raw.trim().parse().map_err(|_| {
        ApiError::bad_request("the event position is not of the form TX.SEQ (e.g. 0.42)")
    })
}

#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    description = "Server-Sent Events: every change the user may see, in log order. The SSE id is the log position; reconnect with Last-Event-ID (or ?after=) to continue after it.",
    params(("after" = Option<String>, Query, description = "continue after this position (TX.SEQ)")),
    responses(
        (status = 200, description = "an event stream (text/event-stream)", content_type = "text/event-stream", body = crate::openapi::StreamedEvent),
        (status = 400, description = "the position is malformed", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn events(
    State(live): State<Live>,
    Actor(user): Actor,
    headers: HeaderMap,
    Query(query): Query<After>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.after);
    let after = match resume {
        Some(raw) => position(&raw)?,
        None => live.tail.position(),
    };
    let waiting = live.tail.positions.subscribe();
    let state = Follow {
        hub: live.hub,
        user,
        after,
        waiting,
        ready: VecDeque::new(),
    };
    let stream = futures::stream::unfold(state, |mut f| async move {
        let event = f.next().await;
        Some((Ok(event), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One stream's place in the log.
struct Follow {
    hub: Hub,
    user: UserId,
    after: EventPosition,
    waiting: watch::Receiver<EventPosition>,
    ready: VecDeque<LoggedEvent>,
}

impl Follow {
    /// The next event the user may see, waiting for it if need be.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(logged) = self.ready.pop_front() {
                return sse(&logged);
            }
            match self.hub.events_for(&self.user, self.after, PAGE).await {
                Ok(feed) => {
                    let read_any = feed.next != self.after;
                    self.after = feed.next;
                    self.ready.extend(feed.events);
                    if read_any {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, user = %self.user, "event stream: reading the log failed; trying again");
                }
            }
            // Nothing new: wait for the relay to pass something on, or poll.
            let _ = tokio::time::timeout(POLL, self.waiting.changed()).await;
        }
    }
}

fn sse(logged: &LoggedEvent) -> SseEvent {
    let name = match logged.event() {
        Ok(event) => event.name(),
        Err(error) => {
            tracing::warn!(%error, "event stream: an event could not be read");
            "unreadable"
        }
    };
    let event = SseEvent::default()
        .id(logged.position.to_string())
        .event(name);
    match event.clone().json_data(logged) {
        Ok(with_data) => with_data,
        Err(error) => {
            tracing::warn!(%error, "event stream: an event could not be encoded");
            event.data("{}")
        }
    }
}
