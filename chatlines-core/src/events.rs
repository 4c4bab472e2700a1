//! Events: what changed, recorded in the event log in the same atomic store
//! call as the change, and delivered to the host by a
//! [`Relay`](crate::Relay).
//!
//! Every event carries what a UI needs to render the change without reading
//! anything back (line, session, contact, operator, session version, message
//! sequence number and author kind), and never a secret.

use crate::error::BoxError;
use crate::ids::{
    AppId, ContactId, GroupId, ItemId, LineId, MessageId, OutboxId, RequestId, SessionId, SourceId,
    UserId,
};
use crate::message::Author;
use crate::messenger::{DeliveryFailure, DeliveryStatus};
use crate::session::{CloseReason, HandOverReason, RouteReason};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

mod logged;

pub use logged::{LoggedEvent, UnreadableEvent};

/// Something that happened.
///
/// As JSON (how stores keep it), the kind comes first and the fields after
/// it, so reading it back needs no buffering:
///
/// ```
/// use chatlines_core::{Event, LineId};
/// let line = LineId::from_uuid(uuid::Uuid::nil());
/// let json = serde_json::to_string(&Event::LineCreated { line }).unwrap();
/// assert_eq!(json, r#"{"event":"line_created","data":{"line":"00000000-0000-0000-0000-000000000000"}}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A line was created.
    LineCreated {
        /// The line.
        line: LineId,
    },
    /// A line's configuration changed.
    LineUpdated {
        /// The line.
        line: LineId,
        /// Its version after the change.
        version: u64,
    },
    /// A line was deleted (its open sessions were closed, each with its own
    /// [`SessionClosed`](Event::SessionClosed)).
    LineDeleted {
        /// The line.
        line: LineId,
    },
    /// A source was bound to a line.
    SourceBound {
        /// The source.
        source: SourceId,
        /// The line.
        line: LineId,
    },
    /// A source was unbound.
    SourceUnbound {
        /// The source.
        source: SourceId,
        /// The line it was bound to.
        line: LineId,
    },
    /// A session opened (queued).
    SessionOpened {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
    },
    /// Offered to the line's operators.
    SessionOffered {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The session's version after the change.
        version: u64,
        /// Why.
        reason: RouteReason,
    },
    /// An offered session nobody took within the line's offer timeout;
    /// logged again every period until it is taken or closed.
    SessionUnanswered {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The session's version after the change.
        version: u64,
        /// Since when it has been offered without an answer.
        offered_since: DateTime<Utc>,
        /// How many offer periods have lapsed (1 for the first).
        lapses: u32,
        /// The operators group it overflowed to, when the line sets one.
        overflow: Option<GroupId>,
    },
    /// The assigned operator accepted a session assigned by a rule: by
    /// [`Hub::accept`](crate::Hub::accept) or by their first reply.
    SessionAccepted {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator.
        operator: UserId,
        /// The session's version after the change.
        version: u64,
    },
    /// The operator a rule assigned the session to neither accepted it nor
    /// replied within the line's accept timeout; the event that follows
    /// says where it went (reason [`RouteReason::NotAccepted`]).
    SessionNotAccepted {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator who let it lapse.
        operator: UserId,
        /// The session's version after the change.
        version: u64,
        /// The operator's consecutive lapses on the line, this one included.
        lapses: u32,
    },
    /// An operator reached the line's `max_no_answer` consecutive lapses
    /// and is set away on the line: not eligible for routing until their
    /// availability changes or a supervisor resets them.
    OperatorAway {
        /// The line.
        line: LineId,
        /// The operator.
        user: UserId,
        /// Their consecutive lapses.
        lapses: u32,
    },
    /// The operator of the session became absent: it returns to routing
    /// at `returns_at` unless they are back in time
    /// ([`SessionOperatorBack`](Event::SessionOperatorBack)).
    SessionOperatorAbsent {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator.
        operator: UserId,
        /// The session's version after the change.
        version: u64,
        /// When the session returns to routing.
        returns_at: DateTime<Utc>,
    },
    /// The absent operator of the session was back within the grace
    /// period: the session stays theirs.
    SessionOperatorBack {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator.
        operator: UserId,
        /// The session's version after the change.
        version: u64,
    },
    /// The wrap-up time after a closed session ended: the operator's
    /// slot on the line is free again.
    WrapUpEnded {
        /// The closed session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The operator.
        operator: UserId,
    },
    /// A new session went to the line's bot (see [`crate::bot`]): not
    /// offered or queued until handed over.
    SessionWithBot {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The session's version after the change.
        version: u64,
    },
    /// The line's bot stage handed the session over to the routing rule
    /// (the routing event follows).
    SessionHandedOver {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The session's version after the change.
        version: u64,
        /// Why.
        reason: HandOverReason,
    },
    /// A session's service-level clock passed its warning time (see
    /// [`sla`](crate::sla)).
    SlaWarning {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The target.
        target: crate::sla::SlaTarget,
        /// When the target is due.
        due_at: chrono::DateTime<chrono::Utc>,
        /// The operator the session is assigned to, if any.
        operator: Option<UserId>,
    },
    /// A session's service-level target was breached: its clock passed the
    /// due time before it stopped (kept as a
    /// [`SlaBreach`](crate::SlaBreach) for reports).
    SlaBreached {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The target.
        target: crate::sla::SlaTarget,
        /// When the target was due.
        due_at: chrono::DateTime<chrono::Utc>,
        /// The operator the session is assigned to, if any.
        operator: Option<UserId>,
    },
    /// The session's priority changed (see [`priority`](crate::priority)).
    SessionPriorityChanged {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The priority before.
        from: crate::priority::Priority,
        /// The priority now.
        to: crate::priority::Priority,
        /// Who or what changed it.
        cause: crate::priority::PriorityCause,
        /// The session's version after the change.
        version: u64,
    },
    /// The client has been silent since an operator's last message: the
    /// inactivity warning is due (the hub writes the line's warning text
    /// to the client), and the session closes at `closes_at` unless the
    /// client writes.
    SessionInactivityWarning {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator it is assigned to, if any.
        operator: Option<UserId>,
        /// When it closes as inactive.
        closes_at: DateTime<Utc>,
        /// The session's version after the change.
        version: u64,
    },
    /// The line's inactivity time passed: the client was silent after an
    /// operator's last message ([`CloseReason::Inactive`]), or no
    /// operator answered ([`CloseReason::NeverAnswered`]). With `closed`
    /// the session was closed (a [`SessionClosed`](Event::SessionClosed)
    /// follows); without, it stays open and this is the escalation.
    SessionInactive {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator it was assigned to, if any.
        operator: Option<UserId>,
        /// Why.
        reason: CloseReason,
        /// Whether it was closed (else escalated).
        closed: bool,
        /// The session's version after the change.
        version: u64,
    },
    /// The client wrote within the line's reopen window after the session
    /// was closed: it is open again (queued; the hub gives it back to
    /// `operator` if present, else routes it by the line's rule).
    SessionReopened {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator it had when it was closed, if known.
        operator: Option<UserId>,
        /// The session's version after the change.
        version: u64,
    },
    /// Left in (or returned to) the queue.
    SessionQueued {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The session's version after the change.
        version: u64,
        /// Why.
        reason: RouteReason,
    },
    /// Assigned to an operator (routed, taken or assigned by a supervisor).
    SessionAssigned {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator.
        operator: UserId,
        /// The session's version after the change.
        version: u64,
        /// Why.
        reason: RouteReason,
    },
    /// Transferred to another operator or back to the queue.
    SessionTransferred {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The previous operator.
        from: UserId,
        /// The new operator, `None` for the queue.
        to: Option<UserId>,
        /// The session's version after the change.
        version: u64,
    },
    /// Closed.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The operator it was assigned to, if any.
        operator: Option<UserId>,
        /// The session's version after the change.
        version: u64,
    },
    /// A client's message was stored.
    MessageIn {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
    },
    /// An operator's (or the system's) message was stored.
    MessageOut {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
        /// Who wrote it.
        author: Author,
    },
    /// A client edited one of its messages (the earlier content stays in
    /// the message's revisions).
    MessageEdited {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
        /// The new revision (1 for the first edit).
        revision: u32,
    },
    /// A client deleted one of its messages for everyone.
    MessageRevoked {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
    },
    /// Somebody reacted to a message, or took a reaction back.
    MessageReacted {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
        /// The messenger's id of the person reacting.
        by: String,
        /// The emoji; `None` when the reaction was removed.
        emoji: Option<String>,
    },
    /// The messenger reported a further delivery status of an outbound
    /// message (sent, delivered, read, or failed with its reason).
    DeliveryStatusChanged {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The message.
        message: MessageId,
        /// Its sequence number in the session.
        seq: u64,
        /// The status now.
        status: DeliveryStatus,
        /// The messenger's reason, when failed.
        error: Option<DeliveryFailure>,
    },
    /// The client's account item was linked on a line.
    AccountLinked {
        /// The line.
        line: LineId,
        /// The client.
        contact: ContactId,
        /// The account app.
        app: AppId,
        /// The item.
        item: ItemId,
    },
    /// A request was registered from a session.
    RequestRegistered {
        /// The session.
        session: SessionId,
        /// The request.
        request: RequestId,
        /// The request app.
        app: AppId,
        /// The created item.
        item: ItemId,
    },
    /// An outbound message reached the messenger.
    DeliverySucceeded {
        /// The outbox entry.
        entry: OutboxId,
        /// The message.
        message: MessageId,
        /// The session.
        session: SessionId,
        /// What the connector sent in place of the message as written (an
        /// approved template when the messenger refused free text),
        /// described for the operator; `None` when it went out as written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        substitute: Option<String>,
    },
    /// An outbound message could not be delivered and will not be retried.
    DeliveryFailed {
        /// The outbox entry.
        entry: OutboxId,
        /// The message.
        message: MessageId,
        /// The session.
        session: SessionId,
        /// The last error.
        error: String,
    },
    /// An inbound attachment was fetched from the messenger and stored.
    AttachmentAvailable {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The message.
        message: MessageId,
        /// The attachment's position in the message's body.
        index: u32,
        /// The blob key of the stored bytes.
        blob: String,
        /// Their size in bytes.
        size: u64,
        /// Their MIME type.
        mime_type: String,
    },
    /// An inbound attachment could not be fetched and will not be retried.
    AttachmentFailed {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The message.
        message: MessageId,
        /// The attachment's position in the message's body.
        index: u32,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The session the event is about, if any.
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Event::SessionOpened { session, .. }
            | Event::SessionOffered { session, .. }
            | Event::SessionUnanswered { session, .. }
            | Event::SessionAccepted { session, .. }
            | Event::SessionNotAccepted { session, .. }
            | Event::SessionOperatorAbsent { session, .. }
            | Event::SessionOperatorBack { session, .. }
            | Event::WrapUpEnded { session, .. }
            | Event::SessionWithBot { session, .. }
            | Event::SessionHandedOver { session, .. }
            | Event::SlaWarning { session, .. }
            | Event::SlaBreached { session, .. }
            | Event::SessionPriorityChanged { session, .. }
            | Event::SessionInactivityWarning { session, .. }
            | Event::SessionInactive { session, .. }
            | Event::SessionReopened { session, .. }
            | Event::SessionQueued { session, .. }
            | Event::SessionAssigned { session, .. }
            | Event::SessionTransferred { session, .. }
            | Event::SessionClosed { session, .. }
            | Event::MessageIn { session, .. }
            | Event::MessageOut { session, .. }
            | Event::MessageEdited { session, .. }
            | Event::MessageRevoked { session, .. }
            | Event::MessageReacted { session, .. }
            | Event::DeliveryStatusChanged { session, .. }
            | Event::RequestRegistered { session, .. }
            | Event::DeliverySucceeded { session, .. }
            | Event::DeliveryFailed { session, .. }
            | Event::AttachmentAvailable { session, .. }
            | Event::AttachmentFailed { session, .. } => Some(*session),
            _ => None,
        }
    }

    /// The session version the event leaves behind, for events that change a
    /// session's state.
    pub fn session_version(&self) -> Option<u64> {
        match self {
            Event::SessionOffered { version, .. }
            | Event::SessionUnanswered { version, .. }
            | Event::SessionAccepted { version, .. }
            | Event::SessionNotAccepted { version, .. }
            | Event::SessionOperatorAbsent { version, .. }
            | Event::SessionOperatorBack { version, .. }
            | Event::SessionWithBot { version, .. }
            | Event::SessionHandedOver { version, .. }
            | Event::SessionInactivityWarning { version, .. }
            | Event::SessionReopened { version, .. }
            | Event::SessionQueued { version, .. }
            | Event::SessionPriorityChanged { version, .. }
            | Event::SessionAssigned { version, .. }
            | Event::SessionTransferred { version, .. }
            | Event::SessionClosed { version, .. } => Some(*version),
            Event::SessionOpened { .. } => Some(1),
            _ => None,
        }
    }

    /// The line the event is about, if it names one.
    pub fn line(&self) -> Option<LineId> {
        match self {
            Event::LineCreated { line }
            | Event::LineUpdated { line, .. }
            | Event::LineDeleted { line }
            | Event::SourceBound { line, .. }
            | Event::SourceUnbound { line, .. }
            | Event::SessionOpened { line, .. }
            | Event::SessionOffered { line, .. }
            | Event::SessionUnanswered { line, .. }
            | Event::SessionAccepted { line, .. }
            | Event::SessionNotAccepted { line, .. }
            | Event::OperatorAway { line, .. }
            | Event::SessionOperatorAbsent { line, .. }
            | Event::SessionOperatorBack { line, .. }
            | Event::WrapUpEnded { line, .. }
            | Event::SessionWithBot { line, .. }
            | Event::SessionHandedOver { line, .. }
            | Event::SlaWarning { line, .. }
            | Event::SlaBreached { line, .. }
            | Event::SessionPriorityChanged { line, .. }
            | Event::SessionInactivityWarning { line, .. }
            | Event::SessionInactive { line, .. }
            | Event::SessionReopened { line, .. }
            | Event::SessionQueued { line, .. }
            | Event::SessionAssigned { line, .. }
            | Event::SessionTransferred { line, .. }
            | Event::SessionClosed { line, .. }
            | Event::MessageIn { line, .. }
            | Event::MessageOut { line, .. }
            | Event::MessageEdited { line, .. }
            | Event::MessageRevoked { line, .. }
            | Event::MessageReacted { line, .. }
            | Event::DeliveryStatusChanged { line, .. }
            | Event::AccountLinked { line, .. }
            | Event::AttachmentAvailable { line, .. }
            | Event::AttachmentFailed { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// A short stable name of the kind of event (`session_assigned`, …), as
    /// in its serialized `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Event::LineCreated { .. } => "line_created",
            Event::LineUpdated { .. } => "line_updated",
            Event::LineDeleted { .. } => "line_deleted",
            Event::SourceBound { .. } => "source_bound",
            Event::SourceUnbound { .. } => "source_unbound",
            Event::SessionOpened { .. } => "session_opened",
            Event::SessionOffered { .. } => "session_offered",
            Event::SessionUnanswered { .. } => "session_unanswered",
            Event::SessionAccepted { .. } => "session_accepted",
            Event::SessionNotAccepted { .. } => "session_not_accepted",
            Event::OperatorAway { .. } => "operator_away",
            Event::SessionOperatorAbsent { .. } => "session_operator_absent",
            Event::SessionOperatorBack { .. } => "session_operator_back",
            Event::WrapUpEnded { .. } => "wrap_up_ended",
            Event::SessionWithBot { .. } => "session_with_bot",
            Event::SessionHandedOver { .. } => "session_handed_over",
            Event::SlaWarning { .. } => "sla_warning",
            Event::SlaBreached { .. } => "sla_breached",
            Event::SessionPriorityChanged { .. } => "session_priority_changed",
            Event::SessionInactivityWarning { .. } => "session_inactivity_warning",
            Event::SessionInactive { .. } => "session_inactive",
            Event::SessionReopened { .. } => "session_reopened",
            Event::SessionQueued { .. } => "session_queued",
            Event::SessionAssigned { .. } => "session_assigned",
            Event::SessionTransferred { .. } => "session_transferred",
            Event::SessionClosed { .. } => "session_closed",
            Event::MessageIn { .. } => "message_in",
            Event::MessageOut { .. } => "message_out",
            Event::MessageEdited { .. } => "message_edited",
            Event::MessageRevoked { .. } => "message_revoked",
            Event::MessageReacted { .. } => "message_reacted",
            Event::DeliveryStatusChanged { .. } => "delivery_status_changed",
            Event::AccountLinked { .. } => "account_linked",
            Event::RequestRegistered { .. } => "request_registered",
            Event::DeliverySucceeded { .. } => "delivery_succeeded",
            Event::DeliveryFailed { .. } => "delivery_failed",
            Event::AttachmentAvailable { .. } => "attachment_available",
            Event::AttachmentFailed { .. } => "attachment_failed",
        }
    }
}

/// Where an event sits in the log. Positions only grow in the order readers
/// may see events: a reader that has seen position `p` never later finds a
/// new event at a position at or before `p`.
///
/// A position has two parts so that a store whose writers commit
/// concurrently (PostgreSQL) can order events by the transaction that wrote
/// them (`tx`) and then by their order inside it (`seq`); a store with one
/// writer keeps `tx` at zero. Its text form (`"tx.seq"`, see
/// [`Display`](fmt::Display) and [`FromStr`]) is what an SSE id or a URL
/// carries.
///
/// ```
/// use chatlines_core::EventPosition;
/// let p = EventPosition::new(7, 42);
/// assert_eq!(p.to_string(), "7.42");
/// assert_eq!("7.42".parse::<EventPosition>().unwrap(), p);
/// assert!(EventPosition::START < p);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventPosition {
    /// The writing transaction's order (0 for single-writer stores).
    pub tx: u64,
    /// The order inside it (single-writer stores: the global sequence).
    pub seq: u64,
}

impl EventPosition {
    /// Before every event: reading after it reads the whole log.
    pub const START: EventPosition = EventPosition { tx: 0, seq: 0 };

    /// A position from its two parts.
    pub const fn new(tx: u64, seq: u64) -> Self {
        Self { tx, seq }
    }
}

impl fmt::Display for EventPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.seq)
    }
}

/// A text that is not an [`EventPosition`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event position: expected two numbers joined by a dot, such as \"0.42\"")]
pub struct BadPosition(String);

impl FromStr for EventPosition {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPosition(s.chars().take(64).collect());
        let (tx, seq) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            tx: tx.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// Where a [`Relay`](crate::Relay) delivers the event log, implemented by the
/// host (UI push, webhooks, a message bus).
///
/// Delivery is at least once, in log order: after a crash, or when
/// `publish` failed, the relay delivers the same event again (same
/// [`id`](LoggedEvent::id)). A sink that cannot take an event now returns an
/// error; the relay retries from that event and delivers nothing after it
/// until it succeeds.
///
/// The event's content is decoded when the sink first asks for it
/// ([`LoggedEvent::event`]), so a sink that only counts, routes by
/// position or forwards the stored JSON ([`LoggedEvent::json`]) never
/// decodes it:
///
/// ```
/// use chatlines_core::{BoxError, Event, EventSink, LoggedEvent};
///
/// struct Closed(std::sync::atomic::AtomicUsize);
///
/// #[async_trait::async_trait]
/// impl EventSink for Closed {
///     async fn publish(&self, logged: &LoggedEvent) -> Result<(), BoxError> {
///         if let Event::SessionClosed { .. } = logged.event()? {
///             self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Delivers one event.
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError>;
}

/// A sink that discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _event: &LoggedEvent) -> Result<(), BoxError> {
        Ok(())
    }
}
