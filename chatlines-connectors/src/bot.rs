//! An external bot over HTTP (feature `bot`): a [`Bot`] that POSTs each
//! client message of a session with the bot to a URL, signed like the
//! generic webhook, and reads the decision from the answer.
//!
//! The request is JSON ([`BotRequest`]) with `X-Chatlines-Timestamp` (Unix
//! seconds) and `X-Chatlines-Signature: sha256=<hex>` = HMAC-SHA256 of
//! `"{timestamp}.{raw body}"` under the shared secret, as the generic
//! webhook signs its outbound messages, and `Idempotency-Key` = the
//! client message's id. The bot answers `2xx` with one of:
//!
//! ```json
//! {"action": "reply", "text": "We are open 9 to 18."}
//! {"action": "hand_over", "reason": "asked for a person"}
//! {"action": "close"}
//! {"action": "wait"}
//! ```
//!
//! Anything else (another status, a body that is not one of these, no
//! answer within the timeout) is an error: the hub hands the session over
//! to the line's operators and logs it.

use crate::config::ConfigError;
use crate::http::{self, HttpConfig};
use crate::secret::Secret;
use crate::signing::signature_header;
use async_trait::async_trait;
use chatlines_core::{
    Author, Bot, BotDecision, BotTurn, BoxError, Clock, Direction, Message, SystemClock,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The header with the Unix time (seconds) the request was signed at (as
/// the generic webhook's).
pub const TIMESTAMP_HEADER: &str = "X-Chatlines-Timestamp";
/// The header with `sha256=<hex>` (as the generic webhook's).
pub const SIGNATURE_HEADER: &str = "X-Chatlines-Signature";
/// The header with the client message's id: the same on a retry.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The longest answer body read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How to reach an external bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExternalBotConfig {
    /// Where each client message is POSTed (http or https).
    pub url: String,
    /// Shared secret of the HMAC-SHA256 signature.
    pub signing_secret: Secret,
    /// Client settings (default timeout 30 s; a bot should answer well
    /// within it).
    #[serde(default)]
    pub http: HttpConfig,
}

impl ExternalBotConfig {
    /// A configuration with default HTTP settings.
    pub fn new(url: impl Into<String>, signing_secret: impl Into<Secret>) -> Self {
        Self {
            url: url.into(),
            signing_secret: signing_secret.into(),
            http: HttpConfig::default(),
        }
    }

    /// Sets the HTTP settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}

/// One message of the transcript, as the bot reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotMessage {
    /// The message id.
    pub id: String,
    /// Position in the session.
    pub seq: u64,
    /// Who wrote it: `client`, `bot`, `operator` or `system`.
    pub from: String,
    /// The text.
    pub text: String,
    /// The names of attached files.
    pub attachments: Vec<String>,
}

impl BotMessage {
    fn of(m: &Message) -> Self {
        let from = match (&m.author, m.direction) {
            (Author::Client, _) | (_, Direction::Inbound) => "client",
            (Author::Bot, _) => "bot",
            (Author::Operator { .. }, _) => "operator",
            (Author::System, _) => "system",
        };
        Self {
            id: m.id.to_string(),
            seq: m.seq,
            from: from.to_owned(),
            text: m.body.text.clone(),
            attachments: m.body.attachments.iter().map(|a| a.name.clone()).collect(),
        }
    }
}

/// The body of the POST to the bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotRequest {
    /// The session id.
    pub session: String,
    /// The line id.
    pub line: String,
    /// The line's name.
    pub line_name: String,
    /// The client's contact id.
    pub contact: String,
    /// The client's message.
    pub message: BotMessage,
    /// The session's last messages, oldest first, this one included.
    pub transcript: Vec<BotMessage>,
}

impl BotRequest {
    /// The request of a turn.
    pub fn of(turn: &BotTurn) -> Self {
        Self {
            session: turn.session.id.to_string(),
            line: turn.line.id.to_string(),
            line_name: turn.line.config.name.clone(),
            contact: turn.session.contact.to_string(),
            message: BotMessage::of(&turn.message),
            transcript: turn.transcript.iter().map(BotMessage::of).collect(),
        }
    }
}

/// The bot's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BotAnswer {
    /// Answer the client.
    Reply {
        /// The text.
        text: String,
    },
    /// Hand the session to the line's operators.
    HandOver {
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Close the session.
    Close,
    /// Do nothing now.
    Wait,
}

impl From<BotAnswer> for BotDecision {
    fn from(a: BotAnswer) -> Self {
        match a {
            BotAnswer::Reply { text } => BotDecision::reply(text),
            BotAnswer::HandOver { reason } => BotDecision::hand_over(reason),
            BotAnswer::Close => BotDecision::Close,
            BotAnswer::Wait => BotDecision::Wait,
        }
    }
}

/// A [`Bot`] answered by an external service over HTTP (see the module).
///
/// ```
/// use chatlines_connectors::bot::{ExternalBot, ExternalBotConfig};
/// let bot = ExternalBot::new(ExternalBotConfig::new("https://faq.example/turn", "s3cret"));
/// assert!(bot.is_ok());
/// assert!(ExternalBot::new(ExternalBotConfig::new("ftp://x", "s3cret")).is_err());
/// assert!(ExternalBot::new(ExternalBotConfig::new("https://x", "")).is_err());
/// ```
#[derive(Clone)]
pub struct ExternalBot {
    url: String,
    secret: Secret,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ExternalBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBot")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ExternalBot {
    /// Builds the bot. Fails if the secret is empty or the URL is not
    /// http(s).
    pub fn new(config: ExternalBotConfig) -> Result<Self, ConfigError> {
        if config.signing_secret.is_empty() {
            return Err(ConfigError::Invalid {
                field: "signing_secret",
                reason: "empty; share a random secret with the bot".to_owned(),
            });
        }
        let url = http::base_url("url", &config.url)?;
        let client = http::client(&config.http)?;
        Ok(Self {
            url,
            secret: config.signing_secret,
            client,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for the request timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl Bot for ExternalBot {
    async fn answer(&self, turn: BotTurn) -> Result<BotDecision, BoxError> {
        let body = serde_json::to_vec(&BotRequest::of(&turn))?;
        let timestamp = self.clock.now().timestamp().to_string();
        let signature = signature_header(
            self.secret.expose().as_bytes(),
            &[timestamp.as_bytes(), b".", &body],
        );
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .header(IDEMPOTENCY_HEADER, turn.message.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the bot did not answer: {}", http::transport_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the bot answered HTTP {}", status.as_u16()).into());
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("the bot's answer was cut: {}", http::transport_error(&e)))?;
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the bot's answer is {} bytes, over {MAX_ANSWER_BYTES}",
                bytes.len()
            )
            .into());
        }
        let answer: BotAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the bot's answer is not a decision: {e}"))?;
        Ok(answer.into())
    }
}
