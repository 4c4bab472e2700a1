//! The server's configuration file (TOML).
//!
//! Secrets never live in the file: every token is named by the environment
//! variable that holds it (`*_env` keys), and [`Secrets`] resolves them at
//! startup. `Debug` output of the resolved connector configurations masks
//! the values.

use chatlines_core::RoutingRule;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the HTTP server listens (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The SQLite database file (default `chatlines-server.db`; `:memory:`
    /// for a private in-memory database). `CHATLINES_DB` overrides it.
    #[serde(default = "default_database")]
    pub database: String,
    /// The directory holding media: files clients send through Telegram
    /// and WhatsApp are downloaded into it, and attachments of replies are
    /// read from it (default `chatlines-blobs`).
    #[serde(default = "default_blobs")]
    pub blobs: String,
    /// The administrator the server acts as when it creates lines and binds
    /// sources at startup (must be in `directory.admins`).
    pub admin: String,
    /// How often queued sessions are routed again, in milliseconds
    /// (default 1000).
    #[serde(default = "default_drain_ms")]
    pub drain_interval_ms: u64,
    /// How often the outbox dispatcher polls, in milliseconds (default 250).
    #[serde(default = "default_poll_ms")]
    pub dispatch_poll_ms: u64,
    /// The host's users and groups.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// Lines created at startup when no line of that name exists.
    #[serde(default)]
    pub lines: Vec<LineSpec>,
    /// Messenger accounts bound to lines at startup.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
}

/// The host's users and groups (fed into the example's in-memory
/// directory; a real host answers these from its own user base).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Administrators.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Groups and their members.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Display names by user id.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

/// A line to create if absent (matched by name).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// The line's name.
    pub name: String,
    /// The operators group.
    pub operators: String,
    /// The supervisors group.
    #[serde(default)]
    pub supervisors: Option<String>,
    /// The routing rule, e.g. `{ type = "first_come" }` (the default) or
    /// `{ type = "least_loaded", capacity = 5 }`.
    #[serde(default)]
    pub rule: RoutingRule,
}

/// A messenger account bound to a line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A stable name for this source (stored as its `config_ref`, so the
    /// same source, and its webhook URL, is found again after a restart).
    pub name: String,
    /// A name for people, e.g. `@acme_support_bot`.
    pub display_name: String,
    /// The name of the line it feeds.
    pub line: String,
    /// The connector and where its secrets are.
    pub connector: ConnectorSpec,
}

/// Which connector, with secrets named by environment variable.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ConnectorSpec {
    /// A Telegram bot.
    Telegram {
        /// The variable holding the bot token.
        bot_token_env: String,
        /// The variable holding the `secret_token` given to `setWebhook`.
        webhook_secret_env: String,
        /// Bot API base URL (default `https://api.telegram.org`).
        #[serde(default)]
        api_base: Option<String>,
    },
    /// A WhatsApp Cloud API phone number.
    Whatsapp {
        /// The phone number id.
        phone_number_id: String,
        /// The variable holding the access token.
        access_token_env: String,
        /// The variable holding the app secret.
        app_secret_env: String,
        /// The variable holding the verify token.
        verify_token_env: String,
        /// Graph API base URL (default `https://graph.facebook.com`).
        #[serde(default)]
        api_base: Option<String>,
    },
    /// The generic signed JSON webhook.
    Webhook {
        /// The variable holding the shared signing secret.
        signing_secret_env: String,
        /// Where outbound messages are POSTed.
        outbound_url: String,
    },
}

impl ConnectorSpec {
    /// The messenger kind stored on the source.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorSpec::Telegram { .. } => "telegram",
            ConnectorSpec::Whatsapp { .. } => "whatsapp",
            ConnectorSpec::Webhook { .. } => "webhook",
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_database() -> String {
    "chatlines-server.db".to_owned()
}

fn default_blobs() -> String {
    "chatlines-blobs".to_owned()
}

fn default_drain_ms() -> u64 {
    1000
}

fn default_poll_ms() -> u64 {
    250
}

/// The configuration could not be read.
#[derive(Debug)]
pub struct ConfigFileError(pub String);

impl std::fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigFileError {}

impl ServerConfig {
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigFileError> {
        toml::from_str(text).map_err(|e| ConfigFileError(format!("invalid configuration: {e}")))
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigFileError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }
}

/// Where secrets named in the configuration are looked up.
pub trait Secrets: Send + Sync {
    /// The value of a named secret, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// Secrets from the process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvSecrets;

impl Secrets for EnvSecrets {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Secrets for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}
