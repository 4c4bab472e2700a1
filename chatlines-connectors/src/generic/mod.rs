//! Generic signed JSON webhook connector (feature `webhook`).
//!
//! Supports: inbound text and attachments (by URL) and delivery statuses
//! in the documented JSON shape, authenticated by `X-Chatlines-Timestamp`
//! and `X-Chatlines-Signature: sha256=<hex>` = HMAC-SHA256 of
//! `"{timestamp}.{raw body}"`, with replays outside a window (default 5
//! minutes either way) refused; outbound messages POSTed to a configured
//! URL, signed the same way. No edits.

mod config;
mod parse;
mod send;

pub use config::GenericConfig;
pub use parse::{parse_payload, GenericAttachment, GenericMessage, GenericStatus, InboundPayload};
pub use send::OutboundPayload;

use crate::config::ConfigError;
use crate::http;
use crate::signing::SigningKey;
use async_trait::async_trait;
use chatlines_core::{
    Capabilities, Clock, Messenger, OutboundMessage, ParsedWebhook, SendError, SystemClock,
    WebhookError, WebhookRequest,
};
use std::sync::Arc;

/// The header with the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Chatlines-Timestamp";
/// The header with `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Chatlines-Signature";
/// Header of an outbound request carrying the stored message's id: the
/// same on every resend of one message, so the receiver can drop a
/// duplicate (a resend after an answer that was lost on the way back).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// A connector speaking the generic signed-webhook protocol.
#[derive(Clone)]
pub struct GenericWebhook {
    config: GenericConfig,
    outbound_url: String,
    /// `outbound_url` parsed once; `None` when it does not parse, and then
    /// every send fails as the client refuses the text.
    outbound: Option<reqwest::Url>,
    /// The signing secret, made ready once for every signature.
    key: SigningKey,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GenericWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericWebhook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GenericWebhook {
    /// Builds the connector. Fails if the secret is empty or the URL is
    /// not http(s).
    pub fn new(config: GenericConfig) -> Result<Self, ConfigError> {
        if config.signing_secret.is_empty() {
            return Err(ConfigError::Invalid {
                field: "signing_secret",
                reason: "empty; share a random secret with the other system".to_owned(),
            });
        }
        let outbound_url = http::base_url("outbound_url", &config.outbound_url)?;
        let client = http::client(&config.http)?;
        let outbound = reqwest::Url::parse(&outbound_url).ok();
        let key = SigningKey::new(config.signing_secret.expose().as_bytes());
        Ok(Self {
            config,
            outbound_url,
            outbound,
            key,
            client,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for the replay window and outbound timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &GenericConfig {
        &self.config
    }

    /// Checks the timestamp and signature headers of a request.
    pub fn verify(&self, request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let ts = request.header(TIMESTAMP_HEADER).ok_or_else(|| {
            WebhookError::Unauthorized(format!("missing {TIMESTAMP_HEADER} header"))
        })?;
        let signature = request.header(SIGNATURE_HEADER).ok_or_else(|| {
            WebhookError::Unauthorized(format!("missing {SIGNATURE_HEADER} header"))
        })?;
        let secs: i64 = ts.trim().parse().map_err(|_| {
            WebhookError::Unauthorized(format!("{TIMESTAMP_HEADER} is not Unix seconds"))
        })?;
        let now = self.clock.now().timestamp();
        let tolerance = i64::try_from(self.config.tolerance_secs).unwrap_or(i64::MAX);
        if now.saturating_sub(secs).unsigned_abs() > tolerance.unsigned_abs() {
            return Err(WebhookError::Unauthorized(format!(
                "timestamp {secs} is more than {tolerance} s from now; refused as a replay"
            )));
        }
        if !self
            .key
            .verify_signature_header(&[ts.as_bytes(), b".", request.body], signature)
        {
            return Err(WebhookError::Unauthorized("bad signature".to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl Messenger for GenericWebhook {
    fn kind(&self) -> &str {
        "webhook"
    }

    fn uses_contact_name(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.text = true;
        c.media = true;
        c.captions = true;
        c.receipts = true;
        c
    }

    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if request.method != "POST" {
            return Err(WebhookError::MethodNotAllowed(request.method.to_owned()));
        }
        self.verify(&request)?;
        parse_payload(request.body)
    }

    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError> {
        send::send(self, message).await
    }
}
