//! Web chat widget connector (feature `webchat`).
//!
//! Visitors of a site write to a line from a widget on the page; the
//! widget talks to [`router`]'s endpoints over HTTP and receives replies
//! over Server-Sent Events. Supports: text and attachments (uploaded to
//! the host's [`BlobStore`], within [`WebchatConfig`]'s limits), replies
//! with the operator's name or the line's name as the line's Clients block
//! says, per-visitor rate limits and a per-address limit on starting
//! visitors, allowed site origins (CORS). No edits
//! and no receipts.
//!
//! Identity: an anonymous visitor gets a signed token (cookie
//! [`COOKIE`], or header [`TOKEN_HEADER`] where third-party cookies are
//! blocked). A host whose customer is signed in passes the user id and
//! its HMAC-SHA256 with the widget secret (hex), computed on the host's
//! server; that visitor is the same contact (the user id) on every device, so their history
//! follows them. A visitor reads only their own conversation: every read
//! goes through [`Hub::external_conversation`](chatlines_core::Hub::external_conversation)
//! with the visitor's own id.
//!
//! Delivery: a reply is stored with its outbox entry when the operator
//! writes it; the dispatcher's [`Messenger::send`] then wakes the
//! visitor's open streams, which read the stored history after the last
//! message they sent. A visitor who was away reconnects with the last
//! message's id (`Last-Event-ID`) and gets everything after it. With
//! several processes, the one that delivers a reply may not hold the
//! visitor's stream: follow the shared event log and call
//! [`WebchatSources::notify`] for each message of a widget conversation
//! (the example server does), or set `push_url`.
//!
//! Off-hours answers: a line's working hours
//! ([`WorkingHours`](chatlines_core::WorkingHours)) send their off-hours
//! reply through the hub as a message of the conversation, so the visitor
//! sees it in the widget like any reply.

mod config;
mod identity;
mod routes;

pub use config::WebchatConfig;
pub use identity::{request_token, Visitor, COOKIE, MAX_USER_ID, TOKEN_HEADER};
pub use routes::{router, WebchatSources, PUSH_PATH};

use crate::blobs::BlobStore;
use crate::config::ConfigError;
use crate::http;
use crate::signing::signature_header;
use async_trait::async_trait;
use chatlines_core::{
    Attachment, Body, Capabilities, Clock, InboundMessage, Messenger, OutboundMessage,
    ParsedWebhook, SendError, SystemClock, WebhookError, WebhookRequest,
};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The header with the Unix time (seconds) a push was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Chatlines-Timestamp";
/// The header with `sha256=<hex>` of `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "X-Chatlines-Signature";

/// The longest client message id the widget may send, in bytes.
pub const MAX_CLIENT_ID: usize = 64;

/// A visitor message as the widget posts it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VisitorMessage {
    /// The widget's id of the message (letters, digits, `-`, `_`; at most
    /// [`MAX_CLIENT_ID`] bytes): resending the same id stores nothing new.
    pub id: String,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Files uploaded before (each as the upload answered).
    #[serde(default)]
    pub attachments: Vec<VisitorFile>,
}

/// A file a visitor uploaded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VisitorFile {
    /// The blob key the upload answered.
    pub blob: String,
    /// The file name.
    pub name: String,
    /// The MIME type.
    pub mime_type: String,
    /// The size in bytes.
    pub size: u64,
}

/// What a push to another process carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushPayload {
    /// The delivered message's id.
    pub id: String,
    /// The source.
    pub source: String,
    /// The visitor (their id on the source).
    pub to: String,
    /// The text.
    pub text: String,
}

/// A web chat widget source: parses visitor messages, wakes visitor
/// streams on delivery, keeps per-visitor rate limits.
pub struct WebchatMessenger {
    config: WebchatConfig,
    streams: Mutex<HashMap<String, watch::Sender<u64>>>,
    limiter: DefaultKeyedRateLimiter<String>,
    starts: DefaultKeyedRateLimiter<IpAddr>,
    blobs: Option<Arc<dyn BlobStore>>,
    clock: Arc<dyn Clock>,
    push: Option<(String, reqwest::Client)>,
}

impl std::fmt::Debug for WebchatMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebchatMessenger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebchatMessenger {
    /// Builds the connector. Fails if the secret is empty, a rate is 0,
    /// an origin is not `scheme://host[:port]`, or the push URL is not
    /// http(s).
    pub fn new(config: WebchatConfig) -> Result<Self, ConfigError> {
        if config.secret.is_empty() {
            return Err(ConfigError::Invalid {
                field: "secret",
                reason: "empty; use a long random secret shared only with the host's server"
                    .to_owned(),
            });
        }
        let per_minute =
            NonZeroU32::new(config.messages_per_minute).ok_or_else(|| ConfigError::Invalid {
                field: "messages_per_minute",
                reason: "0 would refuse every message; allow at least 1".to_owned(),
            })?;
        let starts = NonZeroU32::new(config.visitors_per_minute_per_address).ok_or_else(|| {
            ConfigError::Invalid {
                field: "visitors_per_minute_per_address",
                reason: "0 would refuse every visitor; allow at least 1".to_owned(),
            }
        })?;
        for origin in &config.allowed_origins {
            let ok = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
            });
            if !ok {
                return Err(ConfigError::Invalid {
                    field: "allowed_origins",
                    reason: format!(
                        "{origin:?} is not an origin; write scheme://host[:port] without a path"
                    ),
                });
            }
        }
        let push = match &config.push_url {
            Some(url) => Some((
                http::base_url("push_url", url)?,
                http::client(&config.http)?,
            )),
            None => None,
        };
        Ok(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            starts: RateLimiter::keyed(Quota::per_minute(starts)),
            config,
            streams: Mutex::new(HashMap::new()),
            blobs: None,
            clock: Arc::new(SystemClock),
            push,
        })
    }

    /// Stores visitor uploads in `blobs` (without a blob store, uploads
    /// are refused and messages carry text only).
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Uses `clock` for push timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WebchatConfig {
        &self.config
    }

    fn secret(&self) -> &[u8] {
        self.config.secret.expose().as_bytes()
    }

    /// The visitor a request's token (header or cookie) names.
    pub fn visitor(&self, request: &WebhookRequest<'_>) -> Result<Visitor, WebhookError> {
        let token = request_token(request.header(TOKEN_HEADER), request.header("cookie"))
            .ok_or_else(|| {
                WebhookError::Unauthorized(
                    "no visitor token; start with POST /webchat/{source}/visitor".to_owned(),
                )
            })?;
        Visitor::from_token(self.secret(), token).ok_or_else(|| {
            WebhookError::Unauthorized(
                "the visitor token is not signed by this widget; start a new visitor".to_owned(),
            )
        })
    }

    /// Spends one of the visitor's messages; `Err(wait)` when the visitor
    /// is over the rate.
    pub fn check_rate(&self, visitor: &Visitor) -> Result<(), Duration> {
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&visitor.key().to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Spends one of `addr`'s visitor starts; `Err(wait)` when the
    /// address started too many visitors lately.
    pub fn check_start(&self, addr: IpAddr) -> Result<(), Duration> {
        if self.starts.len() > 10_000 {
            self.starts.retain_recent();
        }
        self.starts
            .check_key(&addr)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// A receiver that changes whenever something new is in the
    /// visitor's conversation (a delivered reply, their own message from
    /// another tab).
    pub fn subscribe(&self, visitor: &str) -> watch::Receiver<u64> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if streams.len() > 1024 {
            streams.retain(|_, tx| tx.receiver_count() > 0);
        }
        streams
            .entry(visitor.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes the visitor's open streams.
    pub fn notify(&self, visitor: &str) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = streams.get(visitor) {
            if tx.receiver_count() == 0 {
                streams.remove(visitor);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Stores an uploaded file for `visitor`; the answer names it in a
    /// later message. Refused when no blob store is set or the file is too
    /// large.
    pub async fn upload(
        &self,
        visitor: &Visitor,
        name: &str,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<VisitorFile, UploadError> {
        let blobs = self.blobs.as_ref().ok_or(UploadError::Disabled)?;
        if bytes.len() > self.config.max_file_bytes {
            return Err(UploadError::TooLarge {
                size: bytes.len(),
                limit: self.config.max_file_bytes,
            });
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(UploadError::BadName);
        }
        let blob = format!("{}{}", blob_prefix(visitor), uuid::Uuid::new_v4().simple());
        blobs
            .put(&blob, bytes)
            .await
            .map_err(|e| UploadError::Storage(e.to_string()))?;
        Ok(VisitorFile {
            blob,
            name: name.to_owned(),
            mime_type: mime_type.to_owned(),
            size: bytes.len() as u64,
        })
    }

    fn parse_message(
        &self,
        visitor: &Visitor,
        body: &[u8],
    ) -> Result<InboundMessage, WebhookError> {
        if !body.trim_ascii_start().starts_with(b"{") {
            return Err(WebhookError::Malformed(
                "not a widget message: expected a JSON object".to_owned(),
            ));
        }
        let m: VisitorMessage = serde_json::from_slice(body)
            .map_err(|e| WebhookError::Malformed(format!("not a widget message: {e}")))?;
        let id_ok = !m.id.is_empty()
            && m.id.len() <= MAX_CLIENT_ID
            && m.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(WebhookError::Malformed(format!(
                "the message id must be 1 to {MAX_CLIENT_ID} letters, digits, '-' or '_'"
            )));
        }
        if m.text.chars().count() > self.config.max_text_chars {
            return Err(WebhookError::Malformed(format!(
                "the text is longer than {} characters",
                self.config.max_text_chars
            )));
        }
        if m.attachments.len() > self.config.max_attachments {
            return Err(WebhookError::Malformed(format!(
                "at most {} attachments per message",
                self.config.max_attachments
            )));
        }
        if m.text.trim().is_empty() && m.attachments.is_empty() {
            return Err(WebhookError::Malformed(
                "the message has neither text nor attachments".to_owned(),
            ));
        }
        let own = blob_prefix(visitor);
        let mut body = Body::text(m.text);
        for a in m.attachments {
            if !a.blob.starts_with(&own) {
                return Err(WebhookError::Malformed(
                    "an attachment was not uploaded by this visitor".to_owned(),
                ));
            }
            body = body.with_attachment(Attachment::new(a.name, a.mime_type, a.size, a.blob));
        }
        let key = visitor.key();
        Ok(
            InboundMessage::text(format!("{key}/{}", m.id), key, visitor.display_name(), "")
                .with_reply_address(key)
                .with_body(body),
        )
    }
}

/// Where a visitor's uploads are kept (so that a message can only name
/// the visitor's own files).
fn blob_prefix(visitor: &Visitor) -> String {
    format!(
        "webchat/{}/",
        hex::encode(crate::signing::hmac_sha256(
            b"chatlines-webchat-blobs",
            &[visitor.key().as_bytes()]
        ))
        .get(..32)
        .unwrap_or_default()
    )
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The widget has no blob store (HTTP 404).
    #[error("attachments are off for this widget (no blob store configured)")]
    Disabled,
    /// The file exceeds `max_file_bytes` (HTTP 413).
    #[error("the file of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The file size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file name is missing, too long or has control characters
    /// (HTTP 400).
    #[error("give the file a name of 1 to 255 characters without control characters")]
    BadName,
    /// The blob store failed (HTTP 503); try again.
    #[error("the file could not be stored: {0}")]
    Storage(String),
}

#[async_trait]
impl Messenger for WebchatMessenger {
    fn kind(&self) -> &str {
        "webchat"
    }

    fn uses_contact_name(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.text = true;
        c.media = true;
        c.captions = true;
        c
    }

    /// A visitor message (`POST /webchat/{source}/messages`): the
    /// visitor's token, then the JSON of [`VisitorMessage`].
    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if request.method != "POST" {
            return Err(WebhookError::MethodNotAllowed(request.method.to_owned()));
        }
        let visitor = self.visitor(&request)?;
        let message = self.parse_message(&visitor, request.body)?;
        let mut parsed = ParsedWebhook::default();
        parsed.messages.push(message);
        Ok(parsed)
    }

    /// The reply is already in the visitor's stored history: wake their
    /// streams, and announce it to `push_url` when one is set.
    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError> {
        let id = message
            .message
            .map(|m| m.to_string())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.notify(message.address);
        let Some((url, client)) = &self.push else {
            return Ok(id);
        };
        let payload = PushPayload {
            id: id.clone(),
            source: message.source.id.to_string(),
            to: message.address.to_owned(),
            text: message.body.text.clone(),
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|e| SendError::Permanent(format!("cannot encode the push: {e}")))?;
        let timestamp = self.clock.now().timestamp().to_string();
        let signature = signature_header(self.secret(), &[timestamp.as_bytes(), b".", &body]);
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| http::transport_error(&e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(id),
            429 => Err(SendError::RateLimited {
                retry_after: http::retry_after_header(response.headers())
                    .unwrap_or(Duration::from_secs(1)),
            }),
            408 | 500..=599 => Err(SendError::Transient(format!(
                "the push receiver answered HTTP {status}"
            ))),
            _ => Err(SendError::Permanent(format!(
                "the push receiver refused the message with HTTP {status}"
            ))),
        }
    }
}
