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
        }
    }

    /// Sets the Bot API base URL.
    pub fn with_api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into();
        self
    }

    /// Sets the HTTP client settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}
