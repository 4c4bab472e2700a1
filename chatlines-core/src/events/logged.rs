//! Where a stored event becomes a typed [`Event`]: on first access, not
//! when the log is read.
//!
//! A store reads an event's id, position and time, and its body as stored
//! (JSON); [`LoggedEvent::event`] decodes the body the first time it is
//! asked for and keeps the result. A sink that routes by position, counts,
//! or forwards the stored JSON ([`LoggedEvent::json`]) never pays for
//! decoding, and an event this version cannot decode (written by a newer
//! chatlines) fails only the sink that needs its content.

use super::{Event, EventPosition};
use crate::error::BoxError;
use crate::ids::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

/// An event as the log keeps it: its stable id, its position, its time,
/// and what happened ([`event`](Self::event)).
///
/// Read from a store, the event's content is the stored JSON, decoded on
/// the first call of [`event`](Self::event) (later calls return the same
/// decoded event):
///
/// ```
/// use chatlines_core::{Event, EventId, EventPosition, LineId, LoggedEvent};
/// let line = LineId::from_uuid(uuid::Uuid::nil());
/// let json = r#"{"event":"line_created","data":{"line":"00000000-0000-0000-0000-000000000000"}}"#;
/// let logged = LoggedEvent::from_json(
///     EventId::from_uuid(uuid::Uuid::nil()),
///     EventPosition::new(0, 1),
///     chrono::Utc::now(),
///     json,
/// );
/// assert_eq!(logged.json().unwrap(), json); // as stored, not decoded
/// assert_eq!(logged.event().unwrap(), &Event::LineCreated { line });
/// ```
///
/// As JSON (the example server's live stream sends it so), a logged event
/// is an object with `id`, `position`, `at` and `event`.
#[derive(Clone)]
#[non_exhaustive]
pub struct LoggedEvent {
    /// Stable id (the same on every delivery).
    pub id: EventId,
    /// Where it sits in the log.
    pub position: EventPosition,
    /// When the change happened.
    pub at: DateTime<Utc>,
    body: Body,
}

/// What happened, typed or as stored.
#[derive(Clone)]
enum Body {
    /// Built from a typed event (stores that keep events in memory).
    Typed(Event),
    /// The stored JSON, and the event once decoded from it.
    Stored {
        json: Box<str>,
        decoded: OnceLock<Event>,
    },
}

/// A stored event this version of chatlines cannot decode: its body is not
/// an [`Event`] it knows (written by a newer chatlines, or damaged).
///
/// The event stays in the log; a sink that needs its content may skip it
/// (log it and return `Ok`) or refuse it, and the relay then stops at it
/// until this instance is upgraded.
#[derive(Debug, thiserror::Error)]
#[error(
    "event {id} at {position} cannot be read ({source}); it was probably written by a newer \
     chatlines: upgrade this instance"
)]
#[non_exhaustive]
pub struct UnreadableEvent {
    /// The event's id.
    pub id: EventId,
    /// Its position in the log.
    pub position: EventPosition,
    /// Why it cannot be decoded.
    #[source]
    pub source: BoxError,
}

impl LoggedEvent {
    /// A logged event from a typed event (a store that keeps events in
    /// memory).
    pub fn new(id: EventId, position: EventPosition, at: DateTime<Utc>, event: Event) -> Self {
        Self {
            id,
            position,
            at,
            body: Body::Typed(event),
        }
    }

    /// A logged event from its stored JSON (the layout of [`Event`]'s
    /// `Serialize`), decoded on the first call of [`event`](Self::event).
    /// Nothing is checked here: a body that is not an event is reported by
    /// [`event`](Self::event).
    pub fn from_json(
        id: EventId,
        position: EventPosition,
        at: DateTime<Utc>,
        json: impl Into<Box<str>>,
    ) -> Self {
        Self {
            id,
            position,
            at,
            body: Body::Stored {
                json: json.into(),
                decoded: OnceLock::new(),
            },
        }
    }

    /// What happened: the stored body, decoded on the first call and kept.
    ///
    /// Fails only for an event this version cannot decode (see
    /// [`UnreadableEvent`]); in a sink, `logged.event()?` refuses such an
    /// event, so the relay delivers it again after an upgrade.
    pub fn event(&self) -> Result<&Event, UnreadableEvent> {
        match &self.body {
            Body::Typed(event) => Ok(event),
            Body::Stored { json, decoded } => {
                if let Some(event) = decoded.get() {
                    return Ok(event);
                }
                let event = decode(self.id, self.position, json)?;
                Ok(decoded.get_or_init(|| event))
            }
        }
    }

    /// What happened, taken out of the envelope (decoded if it was not yet).
    pub fn into_event(self) -> Result<Event, UnreadableEvent> {
        match self.body {
            Body::Typed(event) => Ok(event),
            Body::Stored { json, decoded } => match decoded.into_inner() {
                Some(event) => Ok(event),
                None => decode(self.id, self.position, &json),
            },
        }
    }

    /// What happened as JSON (the layout of [`Event`]'s `Serialize`): the
    /// stored text as read, without decoding it, or the typed event
    /// serialized. For a sink that forwards events as they are.
    pub fn json(&self) -> Result<Cow<'_, str>, UnreadableEvent> {
        match &self.body {
            Body::Stored { json, .. } => Ok(Cow::Borrowed(json)),
            Body::Typed(event) => serde_json::to_string(event)
                .map(Cow::Owned)
                .map_err(|e| unreadable(self.id, self.position, e)),
        }
    }

    /// Whether the content was decoded already (or built typed): for tests
    /// and diagnostics.
    pub fn is_decoded(&self) -> bool {
        match &self.body {
            Body::Typed(_) => true,
            Body::Stored { decoded, .. } => decoded.get().is_some(),
        }
    }
}

fn decode(id: EventId, position: EventPosition, json: &str) -> Result<Event, UnreadableEvent> {
    serde_json::from_str(json).map_err(|e| unreadable(id, position, e))
}

fn unreadable(id: EventId, position: EventPosition, e: serde_json::Error) -> UnreadableEvent {
    UnreadableEvent {
        id,
        position,
        source: Box::new(e),
    }
}

impl fmt::Debug for LoggedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("LoggedEvent");
        s.field("id", &self.id)
            .field("position", &self.position)
            .field("at", &self.at);
        match &self.body {
            Body::Typed(event) => s.field("event", event),
            Body::Stored { json, decoded } => match decoded.get() {
                Some(event) => s.field("event", event),
                None => s.field("json", json),
            },
        };
        s.finish()
    }
}

/// Equal when id, position, time and content are; two events that cannot
/// be decoded are equal when their stored bodies are.
impl PartialEq for LoggedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.position == other.position
            && self.at == other.at
            && match (self.event(), other.event()) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => self.json().ok() == other.json().ok(),
                _ => false,
            }
    }
}

impl Eq for LoggedEvent {}

#[derive(Serialize)]
struct Borrowed<'a> {
    id: EventId,
    position: EventPosition,
    at: DateTime<Utc>,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Owned {
    id: EventId,
    position: EventPosition,
    at: DateTime<Utc>,
    event: Event,
}

/// `{"id", "position", "at", "event"}`; an event that cannot be decoded
/// cannot be serialized.
impl Serialize for LoggedEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.event().map_err(serde::ser::Error::custom)?;
        Borrowed {
            id: self.id,
            position: self.position,
            at: self.at,
            event,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LoggedEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let o = Owned::deserialize(deserializer)?;
        Ok(Self::new(o.id, o.position, o.at, o.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, LineId, SessionId};

    fn id(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    fn opened() -> Event {
        Event::SessionOpened {
            session: SessionId::from_uuid(id(1)),
            line: LineId::from_uuid(id(2)),
            contact: ContactId::from_uuid(id(3)),
        }
    }

    fn stored(json: &str) -> LoggedEvent {
        LoggedEvent::from_json(
            EventId::from_uuid(id(9)),
            EventPosition::new(0, 7),
            DateTime::from_timestamp_nanos(1_000),
            json,
        )
    }

    #[test]
    fn a_stored_event_is_decoded_on_first_access_and_kept() {
        let json = serde_json::to_string(&opened()).expect("ok");
        let logged = stored(&json);
        assert!(!logged.is_decoded());
        assert_eq!(logged.json().expect("ok"), json);
        assert!(!logged.is_decoded(), "json() does not decode");
        let first: *const Event = logged.event().expect("ok");
        assert!(logged.is_decoded());
        assert_eq!(logged.event().expect("ok"), &opened());
        assert!(std::ptr::eq(first, logged.event().expect("ok")));
        assert_eq!(logged.clone().into_event().expect("ok"), opened());
    }

    #[test]
    fn a_stored_event_equals_the_typed_one_and_serializes_alike() {
        let typed = LoggedEvent::new(
            EventId::from_uuid(id(9)),
            EventPosition::new(0, 7),
            DateTime::from_timestamp_nanos(1_000),
            opened(),
        );
        let logged = stored(&serde_json::to_string(&opened()).expect("ok"));
        assert_eq!(logged, typed);
        let as_json = serde_json::to_value(&logged).expect("ok");
        assert_eq!(as_json, serde_json::to_value(&typed).expect("ok"));
        assert_eq!(as_json["event"]["event"], "session_opened");
        let back: LoggedEvent = serde_json::from_value(as_json).expect("ok");
        assert_eq!(back, typed);
        assert_eq!(
            typed.json().expect("ok"),
            serde_json::to_string(&opened()).expect("ok")
        );
    }

    #[test]
    fn an_unknown_event_fails_only_when_its_content_is_asked_for() {
        let json = r#"{"event":"from_the_future","data":{}}"#;
        let logged = stored(json);
        assert_eq!(logged.json().expect("ok"), json);
        let error = logged.event().expect_err("unreadable");
        assert_eq!(error.id, logged.id);
        assert_eq!(error.position, EventPosition::new(0, 7));
        assert!(error.to_string().contains("newer chatlines"), "{error}");
        assert!(
            logged.event().is_err(),
            "the failure is not cached as an event"
        );
        assert!(serde_json::to_string(&logged).is_err());
        assert_eq!(logged, logged.clone());
        assert_ne!(logged, stored(r#"{"event":"other","data":{}}"#));
        assert!(logged.into_event().is_err());
    }
}
