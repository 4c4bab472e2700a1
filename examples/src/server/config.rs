//! The server's configuration file (TOML).
//!
//! Secrets never live in the file: every token is named by the environment
//! variable that holds it (`*_env` keys), and [`Secrets`] resolves them at
//! startup. `Debug` output of the resolved connector configurations masks
//! the values.

use chatlines_core::RoutingRule;
use chatlines_store::postgres::PostgresConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the HTTP server listens (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The database: a SQLite file (default `chatlines-server.db`;
    /// `:memory:` for a private in-memory database) or a `postgres://` URL
    /// (see `[postgres]`). `CHATLINES_DB` overrides it.
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
    /// How often due timers (offer timeouts) are fired, in milliseconds
    /// (default 1000): a timer fires at most this late.
    #[serde(default = "default_drain_ms")]
    pub timer_interval_ms: u64,
    /// The host's users and groups.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// Lines created at startup when no line of that name exists.
    #[serde(default)]
    pub lines: Vec<LineSpec>,
    /// Messenger accounts bound to lines at startup.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// The business applications operators link clients to and register
    /// requests in (an in-memory catalog standing in for the host's).
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// Who may use the API and how they prove it.
    #[serde(default)]
    pub auth: AuthConfig,
    /// HTTP timeouts and limits.
    #[serde(default)]
    pub http: HttpConfig,
    /// PostgreSQL settings, used when `database` is a `postgres://` URL.
    #[serde(default)]
    pub postgres: PgSettings,
}

/// PostgreSQL settings (`[postgres]`); every duration is in milliseconds
/// and every unset value keeps `PostgresConfig`'s default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgSettings {
    /// The schema holding the tables (default `chatlines`).
    #[serde(default)]
    pub schema: Option<String>,
    /// Maximum pooled connections (default 16).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// The longest wait for a free pooled connection (default 5000).
    #[serde(default)]
    pub pool_wait_timeout_ms: Option<u64>,
    /// The longest time to open a connection (default 10000).
    #[serde(default)]
    pub pool_create_timeout_ms: Option<u64>,
    /// The longest time to check a returned connection (default 5000).
    #[serde(default)]
    pub pool_recycle_timeout_ms: Option<u64>,
    /// The TCP connect timeout (default 5000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// TCP keepalive idle time; 0 turns keepalive off (default 30000).
    #[serde(default)]
    pub tcp_keepalive_ms: Option<u64>,
    /// The server-side statement timeout; 0 keeps the server's own
    /// (default 30000).
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
    /// How long a request waits for any answer before its connection is
    /// dropped (default: the statement timeout + 5000).
    #[serde(default)]
    pub answer_timeout_ms: Option<u64>,
}

impl PgSettings {
    /// The store settings for `url`.
    pub fn to_store_config(&self, url: &str) -> PostgresConfig {
        let mut c = PostgresConfig::new(url);
        if let Some(schema) = &self.schema {
            c = c.schema(schema.as_str());
        }
        if let Some(n) = self.pool_size {
            c = c.pool_size(n);
        }
        let ms = Duration::from_millis;
        let nonzero = |v: u64| (v > 0).then(|| ms(v));
        if let Some(v) = self.pool_wait_timeout_ms {
            c = c.pool_wait_timeout(ms(v));
        }
        if let Some(v) = self.pool_create_timeout_ms {
            c = c.pool_create_timeout(ms(v));
        }
        if let Some(v) = self.pool_recycle_timeout_ms {
            c = c.pool_recycle_timeout(ms(v));
        }
        if let Some(v) = self.connect_timeout_ms {
            c = c.connect_timeout(ms(v));
        }
        if let Some(v) = self.tcp_keepalive_ms {
            c = c.tcp_keepalive(nonzero(v));
        }
        if let Some(v) = self.statement_timeout_ms {
            c = c.statement_timeout(nonzero(v));
        }
        if let Some(v) = self.answer_timeout_ms {
            c = c.with_answer_timeout(ms(v));
        }
        c
    }
}

/// Sign-in, sessions and API tokens.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Believe the `X-User` header (only behind a trusted proxy that
    /// authenticates and sets it). Default `false`.
    #[serde(default)]
    pub trust_user_header: bool,
    /// How long a sign-in lasts, in seconds (default 28800, 8 hours).
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (set it when the server is reached
    /// over HTTPS). Default `false`.
    #[serde(default)]
    pub secure_cookie: bool,
    /// Sign-in attempts allowed per account per minute (default 5).
    #[serde(default = "default_attempts_account")]
    pub sign_in_per_minute_per_account: u32,
    /// Sign-in attempts allowed per client address per minute (default 20).
    #[serde(default = "default_attempts_address")]
    pub sign_in_per_minute_per_address: u32,
    /// Users who sign in with a password: user id -> argon2id hash
    /// (`server hash-password` prints one).
    #[serde(default)]
    pub passwords: BTreeMap<String, String>,
    /// API tokens for scripts (`server new-token USER` makes one).
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            trust_user_header: false,
            session_ttl_secs: default_session_ttl(),
            secure_cookie: false,
            sign_in_per_minute_per_account: default_attempts_account(),
            sign_in_per_minute_per_address: default_attempts_address(),
            passwords: BTreeMap::new(),
            tokens: Vec::new(),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("trust_user_header", &self.trust_user_header)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("secure_cookie", &self.secure_cookie)
            .field("users", &self.passwords.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

/// An API token, stored as its SHA-256 digest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// The user the token acts as.
    pub user: String,
    /// The token's SHA-256, hex.
    pub sha256: String,
}

/// HTTP timeouts and limits; every duration is in milliseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's headers must arrive within this long of its first byte
    /// (and a new connection must send its first request's headers within
    /// this long). Default 10000.
    #[serde(default = "default_header_ms")]
    pub header_read_timeout_ms: u64,
    /// A request body may pause this long between chunks (default 30000);
    /// a stalled body is answered 408 and the connection closed.
    #[serde(default = "default_body_ms")]
    pub body_timeout_ms: u64,
    /// A kept-alive connection may wait this long for its next request
    /// (default 60000).
    #[serde(default = "default_idle_ms")]
    pub keep_alive_timeout_ms: u64,
    /// At most this many connections at once; more are answered 503 and
    /// closed (default 1024).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The largest API request body in bytes (default 1 MiB); larger ones
    /// get 413.
    #[serde(default = "default_api_body")]
    pub max_api_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: default_header_ms(),
            body_timeout_ms: default_body_ms(),
            keep_alive_timeout_ms: default_idle_ms(),
            max_connections: default_max_connections(),
            max_api_body_bytes: default_api_body(),
        }
    }
}

fn default_session_ttl() -> u64 {
    8 * 60 * 60
}

fn default_attempts_account() -> u32 {
    5
}

fn default_attempts_address() -> u32 {
    20
}

fn default_header_ms() -> u64 {
    10_000
}

fn default_body_ms() -> u64 {
    30_000
}

fn default_idle_ms() -> u64 {
    60_000
}

fn default_max_connections() -> usize {
    1024
}

fn default_api_body() -> usize {
    1024 * 1024
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
    /// The application whose items describe clients ("+ Link").
    #[serde(default)]
    pub account_app: Option<String>,
    /// The applications operators register requests in.
    #[serde(default)]
    pub request_apps: Vec<String>,
    /// Seconds after which an offered session nobody took is reported
    /// unanswered (and again every period); off when absent.
    #[serde(default)]
    pub offer_timeout_secs: Option<u64>,
    /// With `offer_timeout_secs`: the second operators group an unanswered
    /// session overflows to.
    #[serde(default)]
    pub overflow: Option<String>,
    /// Working hours, e.g.
    /// `hours = { time_zone = "Europe/Berlin", weekly = [{ days = ["Mon", "Fri"], from = "09:00", until = "18:00" }], off_hours_reply = "…" }`
    /// (any IANA zone; `exceptions = [{ date = "2026-12-25" }]` closes a
    /// day); always open when absent.
    #[serde(default)]
    pub hours: Option<chatlines_core::WorkingHours>,
    /// The bot stage: new sessions meet the server's FAQ bot first, e.g.
    /// `bot = { keywords = ["operator"], timeout_secs = 600, answers = { hours = "We are open 9 to 18." } }`;
    /// a question the FAQ has no answer for, a keyword, or the timeout
    /// hands the session to the operators. Off when absent.
    #[serde(default)]
    pub bot: Option<crate::faq_bot::BotSpec>,
    /// Service-level targets, e.g.
    /// `sla = { first_response_secs = 300, next_response_secs = 600, resolution_secs = 86400, warning_percent = 80, working_hours_only = true }`
    /// (each target optional; `working_hours_only` needs `hours`); no SLA
    /// clocks when absent.
    #[serde(default)]
    pub sla: Option<chatlines_core::SlaSettings>,
    /// Seconds a client may stay silent after an operator's last message
    /// before the session closes as inactive; a session no operator
    /// answered that long after it was routed escalates (or closes, see
    /// `never_answered`). Off when absent.
    #[serde(default)]
    pub inactivity_secs: Option<u64>,
    /// With `inactivity_secs`: warn the client this many seconds before
    /// the close, with `inactivity_warning` as a message from the line.
    #[serde(default)]
    pub inactivity_warning_secs: Option<u64>,
    /// The text of the inactivity warning.
    #[serde(default)]
    pub inactivity_warning: Option<String>,
    /// With `inactivity_secs`: `"escalate"` (the default: an event, the
    /// session stays open) or `"close"` for a session no operator answered.
    #[serde(default)]
    pub never_answered: Option<chatlines_core::NeverAnswered>,
    /// Seconds after a close within which a client's message reopens the
    /// session (back to its operator if present); off when absent.
    #[serde(default)]
    pub reopen_secs: Option<u64>,
}

/// A business application of the in-memory catalog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Its id (lines name it in `account_app` / `request_apps`).
    pub id: String,
    /// Its name for people.
    pub name: String,
    /// Its fields; an app linked to clients needs one of kind `account`.
    pub fields: Vec<FieldSpec>,
}

/// A field of an [`AppSpec`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's key.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its kind: `text`, `number`, `bool`, `date_time`, `user` or
    /// `account`.
    pub kind: chatlines_core::FieldKind,
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
        /// Whether group and supergroup chats become conversations (the
        /// conversation is the group chat, its members' names shown per
        /// message, never mixed with a member's private chat). Off by
        /// default: only private chats are handled, and group messages
        /// are ignored and counted (`webhook_updates_ignored`). The bot
        /// sees every group message only with its privacy mode off.
        #[serde(default)]
        groups: bool,
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
        /// The approved template sent instead of a reply refused because the
        /// 24-hour customer-service window is closed, e.g.
        /// `{ name = "follow_up", language = "en_US", parameters = [{ from = "reply" }] }`.
        #[serde(default)]
        window_template: Option<chatlines_connectors::whatsapp::WindowTemplate>,
    },
    /// The generic signed JSON webhook.
    Webhook {
        /// The variable holding the shared signing secret.
        signing_secret_env: String,
        /// Where outbound messages are POSTed.
        outbound_url: String,
    },
    /// The web chat widget (`/widget.js` embeds it, `/demo` shows it).
    Webchat {
        /// The variable holding the widget secret (signs visitor cookies;
        /// a host signs its users' ids with it).
        secret_env: String,
        /// Origins of the sites that embed the widget, e.g.
        /// `["https://shop.example"]` (this server's own pages are allowed).
        #[serde(default)]
        allowed_origins: Vec<String>,
        /// Messages and uploads per visitor per minute (default 20).
        #[serde(default)]
        messages_per_minute: Option<u32>,
        /// Visitors one client address may start per minute (default 30).
        #[serde(default)]
        visitors_per_minute_per_address: Option<u32>,
    },
}

impl ConnectorSpec {
    /// The messenger kind stored on the source.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorSpec::Telegram { .. } => "telegram",
            ConnectorSpec::Whatsapp { .. } => "whatsapp",
            ConnectorSpec::Webhook { .. } => "webhook",
            ConnectorSpec::Webchat { .. } => "webchat",
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
