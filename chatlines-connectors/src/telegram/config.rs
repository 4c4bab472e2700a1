//! Telegram connector settings.

use crate::http::HttpConfig;
use crate::Secret;
use serde::{Deserialize, Serialize};

/// How to reach one Telegram bot.
///
/// Secrets never appear in `Debug` output:
///
/// ```
/// let c = chatlines_connectors::telegram::TelegramConfig::new("123:ABC", "s3cret");
/// assert!(!format!("{c:?}").contains("ABC"));
/// assert!(!format!("{c:?}").contains("s3cret"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub bot_token: Secret,
    /// The `secret_token` given to `setWebhook`; every webhook request must
    /// carry it in `X-Telegram-Bot-Api-Secret-Token`.
    pub webhook_secret: Secret,
    /// Bot API base URL (default `https://api.telegram.org`); tests point it
    /// at a local server.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpConfig,
    /// Largest inbound file fetched into the blob store (default 20 MiB,
    /// the Bot API's own download limit).
    #[serde(default = "default_max_media")]
    pub max_media_bytes: u64,
    /// Whether messages in groups and supergroups become conversations
    /// (default off: only private chats are, and group messages are
    /// ignored and counted). When on, a group chat (or one forum topic of
    /// it) is one conversation, replies go into that chat, and each message
    /// shows its author; it never mixes with a member's private chat.
    #[serde(default)]
    pub groups: bool,
}

fn default_api_base() -> String {
    "https://api.telegram.org".to_owned()
}

fn default_max_media() -> u64 {
    20 * 1024 * 1024
}

impl TelegramConfig {
    /// A configuration with defaults for everything but the secrets.
    pub fn new(bot_token: impl Into<Secret>, webhook_secret: impl Into<Secret>) -> Self {
        Self {
            bot_token: bot_token.into(),
            webhook_secret: webhook_secret.into(),
            api_base: default_api_base(),
            http: HttpConfig::default(),
            max_media_bytes: default_max_media(),
            groups: false,
        }
    }

    /// Sets the Bot API base URL.
    pub fn with_api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// Makes group chats conversations of their own (see
    /// [`TelegramConfig::groups`]).
    pub fn with_groups(mut self, groups: bool) -> Self {
        self.groups = groups;
        self
    }

    /// Sets the HTTP client settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}
