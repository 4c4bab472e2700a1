//! The messenger port: what a connector for one messenger implements.

use crate::ids::MessageId;
use crate::message::Body;
use crate::source::Source;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A webhook request as received by the host's HTTP server.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct WebhookRequest<'a> {
    /// HTTP method, upper case (`GET`, `POST`).
    pub method: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(String, String)],
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

impl<'a> WebhookRequest<'a> {
    /// Bundles a request.
    pub fn new(
        method: &'a str,
        headers: &'a [(String, String)],
        query: &'a str,
        body: &'a [u8],
    ) -> Self {
        Self {
            method,
            headers,
            query,
            body,
        }
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client's message parsed from a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The messenger's id of the message, unique per source (idempotency key).
    pub external_message_id: String,
    /// The messenger's id of the sender.
    pub external_user: String,
    /// Where replies go (e.g. the chat id), when it differs from the user id.
    pub reply_address: Option<String>,
    /// The sender's display name.
    pub display_name: String,
    /// The content.
    pub body: Body,
    /// When the messenger says it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

impl InboundMessage {
    /// A text message.
    pub fn text(
        external_message_id: impl Into<String>,
        external_user: impl Into<String>,
        display_name: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            external_message_id: external_message_id.into(),
            external_user: external_user.into(),
            reply_address: None,
            display_name: display_name.into(),
            body: Body::text(text),
            sent_at: None,
        }
    }

    /// Sets the reply address.
    pub fn with_reply_address(mut self, address: impl Into<String>) -> Self {
        self.reply_address = Some(address.into());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// A delivery status reported by the messenger for an outbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by the messenger.
    Sent,
    /// Reached the device.
    Delivered,
    /// Read by the client.
    Read,
    /// Could not be delivered.
    Failed,
}

/// A status update parsed from a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusUpdate {
    /// The messenger's id of the outbound message.
    pub external_message_id: String,
    /// The new status.
    pub status: DeliveryStatus,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// Why delivery failed, as the messenger says (with [`DeliveryStatus::Failed`]).
    pub error: Option<DeliveryFailure>,
}

impl StatusUpdate {
    /// A status update.
    pub fn new(
        external_message_id: impl Into<String>,
        status: DeliveryStatus,
        at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            external_message_id: external_message_id.into(),
            status,
            at,
            error: None,
        }
    }

    /// Sets the messenger's reason for a failure.
    pub fn with_error(mut self, error: DeliveryFailure) -> Self {
        self.error = Some(error);
        self
    }
}

/// The messenger's reason for a failed delivery (e.g. WhatsApp's error code
/// and title).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryFailure {
    /// The messenger's error code, as text (`"131047"`).
    pub code: String,
    /// The messenger's short description.
    pub title: String,
}

impl DeliveryFailure {
    /// A failure with the messenger's code and title.
    pub fn new(code: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            title: title.into(),
        }
    }
}

/// A client's change to a message it sent earlier, parsed from a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundEdit {
    /// The messenger's id of the message that changed (the id it was
    /// ingested with).
    pub external_message_id: String,
    /// The messenger's id of the sender.
    pub external_user: String,
    /// What changed.
    pub change: EditKind,
    /// When the messenger says the change was made.
    pub at: Option<DateTime<Utc>>,
}

impl InboundEdit {
    /// An edit of `external_message_id` to `body`.
    pub fn edited(
        external_message_id: impl Into<String>,
        external_user: impl Into<String>,
        body: Body,
    ) -> Self {
        Self {
            external_message_id: external_message_id.into(),
            external_user: external_user.into(),
            change: EditKind::Edited(body),
            at: None,
        }
    }

    /// The sender deleted `external_message_id` for everyone.
    pub fn revoked(
        external_message_id: impl Into<String>,
        external_user: impl Into<String>,
    ) -> Self {
        Self {
            external_message_id: external_message_id.into(),
            external_user: external_user.into(),
            change: EditKind::Revoked,
            at: None,
        }
    }

    /// Sets when the change was made.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }
}

/// What an [`InboundEdit`] does to the stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EditKind {
    /// The message now reads as this body (a new revision; the earlier one
    /// stays in the message's history).
    Edited(Body),
    /// The sender deleted the message for everyone.
    Revoked,
}

/// A client's reaction to a message, parsed from a webhook. A reaction is an
/// event on the referenced message, never a message of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundReaction {
    /// The messenger's id of the message reacted to (inbound or outbound).
    pub external_message_id: String,
    /// The messenger's id of the person reacting.
    pub external_user: String,
    /// The emoji; `None` when the reaction was removed.
    pub emoji: Option<String>,
    /// When the messenger says it happened.
    pub at: Option<DateTime<Utc>>,
}

impl InboundReaction {
    /// A reaction (`Some(emoji)`) or its removal (`None`).
    pub fn new(
        external_message_id: impl Into<String>,
        external_user: impl Into<String>,
        emoji: Option<String>,
    ) -> Self {
        Self {
            external_message_id: external_message_id.into(),
            external_user: external_user.into(),
            emoji,
            at: None,
        }
    }
}

/// An update a connector deliberately did not store: its kind and why.
/// Hosts count these (nothing a client wrote disappears without a trace).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IgnoredUpdate {
    /// The messenger's name of the update kind (`"channel_post"`,
    /// `"group_message"`, `"unknown_phone_number"`).
    pub kind: String,
    /// Why it was not stored.
    pub reason: String,
}

impl IgnoredUpdate {
    /// An ignored update of `kind`.
    pub fn new(kind: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            reason: reason.into(),
        }
    }
}

/// What a webhook request contained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedWebhook {
    /// Client messages to ingest.
    pub messages: Vec<InboundMessage>,
    /// Delivery status updates.
    pub statuses: Vec<StatusUpdate>,
    /// Edits and revokes of earlier client messages.
    pub edits: Vec<InboundEdit>,
    /// Reactions to messages.
    pub reactions: Vec<InboundReaction>,
    /// Updates deliberately not stored (log at debug and count them).
    pub ignored: Vec<IgnoredUpdate>,
    /// A body to answer with (e.g. a verification challenge), instead of the
    /// default empty 200.
    pub reply: Option<String>,
    /// Updates addressed to another account of the same messenger (e.g.
    /// another WhatsApp number of the same app, which shares one callback
    /// URL), by that account's id (see [`Messenger::account_id`]). The
    /// endpoint hands them to the source bound to that account, or ignores
    /// and counts them when none is.
    pub other_accounts: std::collections::BTreeMap<String, ParsedWebhook>,
}

/// Why a webhook request was refused. Nothing is stored on any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// Missing or wrong secret or signature (HTTP 401).
    #[error("webhook authentication failed: {0}")]
    Unauthorized(String),
    /// A verification request with the wrong token (HTTP 403).
    #[error("webhook verification refused: {0}")]
    Forbidden(String),
    /// The body or query is not what the messenger sends (HTTP 400).
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// The body exceeds the size limit (HTTP 413).
    #[error("webhook body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The method is not used by this messenger (HTTP 405).
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
}

/// An outbound message to send.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OutboundMessage<'a> {
    /// The source to send through.
    pub source: &'a Source,
    /// The messenger address (chat id, phone number).
    pub address: &'a str,
    /// The content.
    pub body: &'a Body,
    /// The stored message being delivered: the same on every retry, so a
    /// connector can offer it to the messenger as an idempotency key.
    pub message: Option<MessageId>,
    /// The client's display name as stored (the messenger profile name),
    /// for a connector that fills it into what it sends (e.g. a template
    /// parameter); `None` when unknown.
    pub contact_name: Option<&'a str>,
}

impl<'a> OutboundMessage<'a> {
    /// Bundles an outbound message.
    pub fn new(source: &'a Source, address: &'a str, body: &'a Body) -> Self {
        Self {
            source,
            address,
            body,
            message: None,
            contact_name: None,
        }
    }

    /// Names the stored message being delivered.
    pub fn with_message(mut self, message: MessageId) -> Self {
        self.message = Some(message);
        self
    }

    /// Gives the client's display name.
    pub fn with_contact_name(mut self, name: &'a str) -> Self {
        self.contact_name = Some(name);
        self
    }
}

/// What a connector reports about a message it sent: the messenger's id
/// of it, and what it sent instead of the message as written, when it
/// sent a substitute (e.g. an approved template because the messenger
/// refused free text). The dispatcher records both on the outbox entry
/// and in the delivery event, so the operator sees what the client got.
///
/// ```
/// use chatlines_core::SendReceipt;
/// let plain = SendReceipt::new("wamid.1");
/// assert_eq!(plain.substitute, None);
/// let templated = SendReceipt::new("wamid.2").with_substitute("template follow_up (en_US)");
/// assert_eq!(templated.substitute.as_deref(), Some("template follow_up (en_US)"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendReceipt {
    /// The messenger's id of the sent message.
    pub external_id: String,
    /// What was sent in place of the message as written, described for
    /// an operator (`"template follow_up (en_US)"`); `None` when the
    /// message went out as written.
    pub substitute: Option<String>,
}

impl SendReceipt {
    /// The message went out as written, with the messenger's id.
    pub fn new(external_id: impl Into<String>) -> Self {
        Self {
            external_id: external_id.into(),
            substitute: None,
        }
    }

    /// Says what was sent in place of the message as written.
    #[must_use]
    pub fn with_substitute(mut self, substitute: impl Into<String>) -> Self {
        self.substitute = Some(substitute.into());
        self
    }
}

impl From<String> for SendReceipt {
    fn from(external_id: String) -> Self {
        Self::new(external_id)
    }
}

/// Why a send failed, and whether to retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The messenger asks to wait; retry after `retry_after`.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// A temporary failure (5xx, connection error); retry with back-off.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The request was sent but no answer came: the message may or may not
    /// have been delivered.
    #[error("delivery uncertain: {0}")]
    Uncertain(String),
    /// Will never succeed (bad request, bot blocked, outside the window).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Permanent(_))
    }
}

/// What a connector can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Text messages.
    pub text: bool,
    /// Images and files.
    pub media: bool,
    /// Captions on media.
    pub captions: bool,
    /// Editing sent messages.
    pub edits: bool,
    /// Delivery and read receipts.
    pub receipts: bool,
    /// The longest text one message may carry, in characters (`None`: no
    /// limit known). The dispatcher refuses a longer reply with a clear
    /// permanent failure instead of sending it to fail.
    pub max_text_chars: Option<usize>,
}

/// A connector for one messenger kind.
#[async_trait]
pub trait Messenger: Send + Sync {
    /// The kind this connector serves (matches [`Source::kind`]).
    fn kind(&self) -> &str;

    /// What it supports.
    fn capabilities(&self) -> Capabilities;

    /// The messenger's id of the account this connector serves, when one
    /// callback URL may carry updates of several accounts (a WhatsApp
    /// `phone_number_id`); `None` by default.
    fn account_id(&self) -> Option<&str> {
        None
    }

    /// Whether [`send`](Self::send) reads
    /// [`OutboundMessage::contact_name`] (a template that greets the
    /// client by name, say); `true` by default. The dispatcher reads the
    /// client from the store for each reply only when this is `true`.
    fn uses_contact_name(&self) -> bool {
        true
    }

    /// Verifies and parses a webhook request. Must not panic on any input.
    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError>;

    /// Sends a message; returns the messenger's id of it.
    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError>;

    /// Sends a message and reports what went out: the messenger's id, and
    /// a description of the substitute when the connector sent something
    /// else in the message's place (the dispatcher calls this one). The
    /// default calls [`send`](Self::send) and reports no substitute; a
    /// connector that may substitute overrides it, and its `send` returns
    /// this method's id.
    async fn send_with_receipt(
        &self,
        message: OutboundMessage<'_>,
    ) -> Result<SendReceipt, SendError> {
        self.send(message).await.map(SendReceipt::new)
    }
}
