//! Events the Hub publishes so the host can update its UIs.

use crate::ids::{ContactId, LineId, MessageId, OutboxId, SessionId, SourceId, UserId};
use crate::session::RouteReason;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
    },
    /// A line was deleted.
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
    },
    /// Left in the queue (nobody free).
    SessionQueued {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
    },
    /// Assigned to an operator.
    SessionAssigned {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The operator.
        operator: UserId,
        /// Why.
        reason: RouteReason,
    },
    /// Transferred to another operator or back to the queue.
    SessionTransferred {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
        /// The previous operator.
        from: UserId,
        /// The new operator, `None` for the queue.
        to: Option<UserId>,
    },
    /// Closed.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// The line.
        line: LineId,
    },
    /// A client's message was stored.
    MessageIn {
        /// The session.
        session: SessionId,
        /// The message.
        message: MessageId,
        /// Its sequence number.
        seq: u64,
    },
    /// An operator's message was stored.
    MessageOut {
        /// The session.
        session: SessionId,
        /// The message.
        message: MessageId,
        /// Its sequence number.
        seq: u64,
    },
    /// An outbound message reached the messenger.
    DeliverySucceeded {
        /// The outbox entry.
        entry: OutboxId,
        /// The message.
        message: MessageId,
    },
    /// An outbound message could not be delivered and will not be retried.
    DeliveryFailed {
        /// The outbox entry.
        entry: OutboxId,
        /// The message.
        message: MessageId,
        /// The last error.
        error: String,
    },
}

/// Where the Hub publishes events, implemented by the host (or a store that
/// fans them out to other instances).
///
/// Publishing happens after the state change is stored; a sink must not
/// fail the operation, so it has no error: log and drop, or buffer.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Delivers one event.
    async fn publish(&self, event: &Event);
}

/// A sink that discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _event: &Event) {}
}
