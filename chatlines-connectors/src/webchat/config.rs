//! Web chat widget settings.

use crate::http::HttpConfig;
use crate::Secret;
use serde::{Deserialize, Serialize};

/// How a web chat widget source behaves: its secret, the sites that may
/// embed it, and the limits a visitor works within.
///
/// ```
/// let c = chatlines_connectors::webchat::WebchatConfig::new("widget-secret")
///     .with_allowed_origins(["https://shop.example"]);
/// assert_eq!(c.allowed_origins, ["https://shop.example"]);
/// assert!(!format!("{c:?}").contains("widget-secret"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebchatConfig {
    /// The widget secret: signs visitor cookies and verifies the identities
    /// a host signs for its signed-in users (HMAC-SHA256 of the user id).
    pub secret: Secret,
    /// Origins (`https://shop.example`, no path) whose pages may call the
    /// widget's endpoints; a browser request from any other origin is
    /// refused with 403.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Also allow pages served by the host itself (an `Origin` whose
    /// authority equals the request's `Host`). Default `true`.
    #[serde(default = "yes")]
    pub allow_same_origin: bool,
    /// Messages and uploads one visitor may send per minute (default 20);
    /// more are answered 429 with `Retry-After`.
    #[serde(default = "default_per_minute")]
    pub messages_per_minute: u32,
    /// Visitors one client address may start per minute (default 30);
    /// more are answered 429 with `Retry-After`. The address is the
    /// connection's peer (axum's `ConnectInfo<SocketAddr>`): behind a
    /// proxy, every visitor shares the proxy's. Without `ConnectInfo`
    /// the limit does not apply.
    #[serde(default = "default_starts_per_minute")]
    pub visitors_per_minute_per_address: u32,
    /// The longest text of one visitor message, in characters (default
    /// 4000).
    #[serde(default = "default_max_text")]
    pub max_text_chars: usize,
    /// Attachments per message at most (default 5).
    #[serde(default = "default_max_attachments")]
    pub max_attachments: usize,
    /// The largest uploaded file, in bytes (default 10 MiB).
    #[serde(default = "default_max_file")]
    pub max_file_bytes: usize,
    /// Mark the visitor cookie `Secure` (set it when served over HTTPS).
    #[serde(default)]
    pub secure_cookie: bool,
    /// Where each delivered reply is also announced, signed like the
    /// generic webhook (`X-Chatlines-Timestamp`, `X-Chatlines-Signature`):
    /// another process serving the visitors' streams (its
    /// `POST /webchat/{source}/push`). `None` (the default): visitors are
    /// served by this process only.
    #[serde(default)]
    pub push_url: Option<String>,
    /// HTTP client settings for `push_url`.
    #[serde(default)]
    pub http: HttpConfig,
}

fn yes() -> bool {
    true
}

fn default_per_minute() -> u32 {
    20
}

fn default_starts_per_minute() -> u32 {
    30
}

fn default_max_text() -> usize {
    4000
}

fn default_max_attachments() -> usize {
    5
}

fn default_max_file() -> usize {
    10 * 1024 * 1024
}

impl WebchatConfig {
    /// A configuration with the default limits and no allowed foreign
    /// origin.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            allowed_origins: Vec::new(),
            allow_same_origin: true,
            messages_per_minute: default_per_minute(),
            visitors_per_minute_per_address: default_starts_per_minute(),
            max_text_chars: default_max_text(),
            max_attachments: default_max_attachments(),
            max_file_bytes: default_max_file(),
            secure_cookie: false,
            push_url: None,
            http: HttpConfig::default(),
        }
    }

    /// Sets the origins allowed to embed the widget.
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Allows or refuses pages served by the host itself.
    pub fn with_same_origin(mut self, allow: bool) -> Self {
        self.allow_same_origin = allow;
        self
    }

    /// Sets the per-visitor rate of messages and uploads per minute.
    pub fn with_messages_per_minute(mut self, n: u32) -> Self {
        self.messages_per_minute = n;
        self
    }

    /// Sets how many visitors one client address may start per minute.
    pub fn with_visitors_per_minute_per_address(mut self, n: u32) -> Self {
        self.visitors_per_minute_per_address = n;
        self
    }

    /// Sets the largest uploaded file in bytes.
    pub fn with_max_file_bytes(mut self, n: usize) -> Self {
        self.max_file_bytes = n;
        self
    }

    /// Marks the visitor cookie `Secure`.
    pub fn with_secure_cookie(mut self, on: bool) -> Self {
        self.secure_cookie = on;
        self
    }

    /// Announces each delivered reply to `url` as well.
    pub fn with_push_url(mut self, url: impl Into<String>) -> Self {
        self.push_url = Some(url.into());
        self
    }
}
