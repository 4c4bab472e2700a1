//! Messages, attachments and the limits that apply to them.

use crate::ids::{ContactId, LineId, MessageId, SessionId, SourceId, UserId};
use crate::media::AttachmentState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metadata of an attached file. The bytes live in the host's blob storage;
/// chatlines keeps only the reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attachment {
    /// File name as shown to people.
    pub name: String,
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The host's reference to the stored bytes (a blob key, a URL); while
    /// [`Pending`](AttachmentState::Pending), the messenger's reference.
    pub blob: String,
    /// Whether the bytes are stored yet (default: available).
    #[serde(default, skip_serializing_if = "AttachmentState::is_available")]
    pub state: AttachmentState,
    /// The messenger's reference the bytes were (or are to be) fetched
    /// from, e.g. `tg:<file_id>` or `wa:<media id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl Attachment {
    /// Describes an attachment.
    pub fn new(
        name: impl Into<String>,
        mime_type: impl Into<String>,
        size: u64,
        blob: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            mime_type: mime_type.into(),
            size,
            blob: blob.into(),
            state: AttachmentState::Available,
            remote: None,
        }
    }

    /// Marks the attachment as still at the messenger: its `blob` is the
    /// messenger's reference, kept in `remote`, and a fetch job is written
    /// with the message ([`machine::media_jobs`](crate::machine::media_jobs)).
    ///
    /// ```
    /// use chatlines_core::{Attachment, AttachmentState};
    /// let mut a = Attachment::new("photo.jpg", "image/jpeg", 0, "tg:AgAD");
    /// a.mark_pending();
    /// assert_eq!(a.state, AttachmentState::Pending);
    /// assert_eq!(a.remote.as_deref(), Some("tg:AgAD"));
    /// ```
    pub fn mark_pending(&mut self) {
        self.remote = Some(self.blob.clone());
        self.state = AttachmentState::Pending;
    }
}

/// What somebody writes: text and/or attachments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Body {
    /// The text, possibly empty when there are attachments.
    pub text: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
}

impl Body {
    /// A text-only body.
    ///
    /// ```
    /// let body = chatlines_core::Body::text("hello");
    /// assert_eq!(body.text, "hello");
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    /// Adds an attachment.
    pub fn with_attachment(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }
}

/// Limits a body must respect; checked before anything is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageLimits {
    /// Maximum text length in bytes (UTF-8). Default 16 KiB.
    pub max_text_bytes: usize,
    /// Maximum number of attachments per message. Default 10.
    pub max_attachments: usize,
    /// Maximum size of one attachment in bytes. Default 100 MiB.
    pub max_attachment_bytes: u64,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            max_text_bytes: 16 * 1024,
            max_attachments: 10,
            max_attachment_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    /// The session's client.
    Client,
    /// An operator (or supervisor) of the line.
    Operator {
        /// The employee.
        user: UserId,
    },
    /// The system (notes, automatic messages).
    System,
    /// The line's bot (see [`Bot`](crate::Bot)): delivered like a reply.
    Bot,
}

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client to the line.
    Inbound,
    /// From the line to the client.
    Outbound,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The session it belongs to.
    pub session: SessionId,
    /// The line.
    pub line: LineId,
    /// The client of the session.
    pub contact: ContactId,
    /// Position in the session, starting at 1, without gaps.
    pub seq: u64,
    /// Direction.
    pub direction: Direction,
    /// Author.
    pub author: Author,
    /// Content.
    pub body: Body,
    /// For messages that came from a messenger: the source and the
    /// messenger's message id (the idempotency key of ingest).
    pub external: Option<ExternalRef>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When the messenger says the client sent it (inbound messages from a
    /// messenger that reports it; see [`SENT_AT_RANGE`]).
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// The years of a messenger's send time that are kept: every store can hold
/// these; a send time outside them is dropped (not refused) by
/// [`prepare_inbound`](crate::prepare_inbound).
pub const SENT_AT_RANGE: std::ops::RangeInclusive<i32> = 1970..=2200;

impl Message {
    /// Builds a message record (used by stores when appending or loading).
    #[allow(clippy::too_many_arguments)] // one argument per stored column
    pub fn new(
        id: MessageId,
        session: SessionId,
        line: LineId,
        contact: ContactId,
        seq: u64,
        direction: Direction,
        author: Author,
        body: Body,
        external: Option<ExternalRef>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            session,
            line,
            contact,
            seq,
            direction,
            author,
            body,
            external,
            created_at,
            sent_at: None,
        }
    }

    /// Sets when the messenger says the message was sent.
    #[must_use]
    pub fn with_sent_at(mut self, sent_at: Option<DateTime<Utc>>) -> Self {
        self.sent_at = sent_at;
        self
    }
}

/// The messenger-side identity of a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalRef {
    /// The source it came through.
    pub source: SourceId,
    /// The messenger's id of the message.
    pub message_id: String,
}

/// Where to start reading a session's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", content = "seq", rename_all = "snake_case")]
pub enum Cursor {
    /// From the first message.
    Start,
    /// Messages with `seq` greater than this.
    After(u64),
    /// Messages with `seq` less than this (the page is still returned oldest first).
    Before(u64),
    /// The newest messages (returned oldest first).
    End,
}
