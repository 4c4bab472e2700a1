//! Telegram Bot API connector (feature `telegram`).
//!
//! Supports: inbound messages of every kind (text with `text_link` URLs
//! kept; photos, documents, animations, audio, video, video notes, voice
//! and stickers as attachments with their captions; locations, venues,
//! contacts, polls, dice and the like as described placeholders), edits of
//! them and reactions to messages; private chats by default, groups and
//! forum topics as conversations of their own when
//! [`TelegramConfig::groups`] is on; every other update kind recognised and
//! ignored on purpose (see [`parse_update_with`]). Outbound text
//! (`sendMessage`), photos (`sendPhoto`) and other files (`sendDocument`)
//! with a caption, into a forum topic when the address is
//! `<chat_id>:<message_thread_id>`; `setWebhook` with a secret token;
//! inbound file download (`getFile`) into a [`BlobStore`]. No delivery
//! receipts (the Bot API has none).

mod config;
mod content;
mod parse;
mod send;
mod types;

pub use config::TelegramConfig;
pub use parse::{parse_update, parse_update_with, ParseOptions, FILE_REF_PREFIX, GROUP_PREFIX};

use crate::blobs::{BlobStore, Downloaded, FetchMedia};
use crate::config::ConfigError;
use crate::http::{self, read_limited, transport_error};
use async_trait::async_trait;
use chatlines_core::{
    Capabilities, Messenger, OutboundMessage, ParsedWebhook, SendError, WebhookError,
    WebhookRequest,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// The header carrying the webhook secret token.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// A connector for one Telegram bot.
#[derive(Clone)]
pub struct TelegramMessenger {
    config: TelegramConfig,
    api_base: String,
    client: reqwest::Client,
    blobs: Option<Arc<dyn BlobStore>>,
}

impl std::fmt::Debug for TelegramMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramMessenger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TelegramMessenger {
    /// Builds the connector. Fails if the token, the webhook secret or the
    /// base URL is unusable.
    pub fn new(config: TelegramConfig) -> Result<Self, ConfigError> {
        if config.bot_token.is_empty() {
            return Err(ConfigError::Invalid {
                field: "bot_token",
                reason: "empty; take it from @BotFather".to_owned(),
            });
        }
        if config.webhook_secret.is_empty() {
            return Err(ConfigError::Invalid {
                field: "webhook_secret",
                reason: "empty; every webhook must be authenticated".to_owned(),
            });
        }
        let api_base = http::base_url("api_base", &config.api_base)?;
        let client = http::client(&config.http)?;
        Ok(Self {
            config,
            api_base,
            client,
            blobs: None,
        })
    }

    /// Uploads outbound attachments from (and downloads inbound files into)
    /// this blob store.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TelegramConfig {
        &self.config
    }

    /// Points the bot's webhook at `url` with the configured secret token
    /// (`setWebhook`).
    pub async fn set_webhook(&self, url: &str) -> Result<(), SendError> {
        self.call_json(
            "setWebhook",
            &json!({
                "url": url,
                "secret_token": self.config.webhook_secret.expose(),
                "allowed_updates": ["message", "edited_message", "message_reaction"],
            }),
        )
        .await
        .map(|_| ())
    }

    fn method_url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.api_base,
            self.config.bot_token.expose()
        )
    }

    pub(crate) async fn call_json(
        &self,
        method: &str,
        payload: &Value,
    ) -> Result<Value, SendError> {
        let response = self
            .client
            .post(self.method_url(method))
            .json(payload)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        send::read_answer(response).await
    }

    pub(crate) async fn call_multipart(
        &self,
        method: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Value, SendError> {
        let response = self
            .client
            .post(self.method_url(method))
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        send::read_answer(response).await
    }

    /// Downloads a file received from Telegram (`getFile`, then the file
    /// URL), refusing files over `max_media_bytes`.
    pub async fn download_file(&self, file_id: &str) -> Result<Downloaded, SendError> {
        let file = self
            .call_json("getFile", &json!({ "file_id": file_id }))
            .await?;
        let limit = self.config.max_media_bytes;
        if let Some(size) = file.get("file_size").and_then(Value::as_u64) {
            if size > limit {
                return Err(SendError::Permanent(format!(
                    "file of {size} bytes is over the limit of {limit} bytes"
                )));
            }
        }
        let path = file
            .get("file_path")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Permanent("getFile answered without file_path".to_owned()))?;
        let path = escape_file_path(path)?;
        let url = format!(
            "{}/file/bot{}/{path}",
            self.api_base,
            self.config.bot_token.expose()
        );
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(if status.is_server_error() {
                SendError::Transient(format!("file download failed: HTTP {status}"))
            } else {
                SendError::Permanent(format!("file download failed: HTTP {status}"))
            });
        }
        let mime_type = http::mime_type(response.headers());
        let bytes = read_limited(response, limit)
            .await
            .map_err(|e| SendError::Permanent(format!("file download refused: {e}")))?;
        Ok(Downloaded { bytes, mime_type })
    }
}

/// Percent-encodes each `/`-separated segment of a `getFile` `file_path`
/// (every byte but RFC 3986's unreserved characters), so `?`, `#`, `%` and
/// spaces reach the server as part of the path. A `.` or `..` segment
/// (which a URL resolves away, reaching another path) and an empty path are
/// refused.
pub(crate) fn escape_file_path(path: &str) -> Result<String, SendError> {
    if path.is_empty() {
        return Err(SendError::Permanent(
            "getFile answered with an empty file_path".to_owned(),
        ));
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if matches!(segment, "." | "..") {
            return Err(SendError::Permanent(format!(
                "getFile answered with a file_path holding a {segment:?} segment"
            )));
        }
        if i > 0 {
            out.push('/');
        }
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl Messenger for TelegramMessenger {
    fn kind(&self) -> &str {
        "telegram"
    }

    fn uses_contact_name(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.text = true;
        c.media = true;
        c.captions = true;
        // The messenger's documented limit of one text message.
        c.max_text_chars = Some(4096);
        c
    }

    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        if request.method != "POST" {
            return Err(WebhookError::MethodNotAllowed(request.method.to_owned()));
        }
        match request.header(SECRET_HEADER) {
            Some(token) if self.config.webhook_secret.matches(token) => {}
            Some(_) => return Err(WebhookError::Unauthorized("wrong secret token".to_owned())),
            None => {
                return Err(WebhookError::Unauthorized(format!(
                    "missing {SECRET_HEADER} header"
                )))
            }
        }
        parse_update_with(
            request.body,
            ParseOptions::default().with_groups(self.config.groups),
        )
    }

    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError> {
        send::send(self, message).await
    }
}

#[async_trait]
impl FetchMedia for TelegramMessenger {
    fn blob_store(&self) -> Option<&Arc<dyn BlobStore>> {
        self.blobs.as_ref()
    }

    fn remote_file<'a>(&self, blob: &'a str) -> Option<&'a str> {
        blob.strip_prefix(FILE_REF_PREFIX)
    }

    async fn download(&self, file: &str) -> Result<Downloaded, SendError> {
        self.download_file(file).await
    }
}

#[cfg(test)]
mod tests {
    use super::escape_file_path;

    #[test]
    fn file_paths_are_escaped_per_segment() {
        assert_eq!(
            escape_file_path("photos/file_12.jpg").expect("plain"),
            "photos/file_12.jpg"
        );
        assert_eq!(
            escape_file_path("documents/a b?c#d%e.pdf").expect("escaped"),
            "documents/a%20b%3Fc%23d%25e.pdf"
        );
        assert_eq!(
            escape_file_path("docs/ünï.txt").expect("utf-8"),
            "docs/%C3%BCn%C3%AF.txt"
        );
        assert_eq!(escape_file_path("a..b/c").expect("dots inside"), "a..b/c");
        for bad in ["", "../secret", "photos/../../x", "./x", "a/."] {
            assert!(escape_file_path(bad).is_err(), "{bad:?}");
        }
    }
}
