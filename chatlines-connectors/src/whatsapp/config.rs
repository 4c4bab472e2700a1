//! WhatsApp Cloud API connector settings.

use crate::http::HttpConfig;
use crate::Secret;
use serde::{Deserialize, Serialize};

/// How to reach one WhatsApp Business phone number.
///
/// Secrets never appear in `Debug` output:
///
/// ```
/// let c = chatlines_connectors::whatsapp::WhatsAppConfig::new("1234", "tok-x", "app-y", "ver-z");
/// let shown = format!("{c:?}");
/// assert!(!shown.contains("tok-x") && !shown.contains("app-y") && !shown.contains("ver-z"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WhatsAppConfig {
    /// The phone number id messages are sent from.
    pub phone_number_id: String,
    /// A system-user access token with `whatsapp_business_messaging`.
    pub access_token: Secret,
    /// The app secret: webhook bodies are signed with it.
    pub app_secret: Secret,
    /// The verify token entered in the app dashboard (GET handshake).
    pub verify_token: Secret,
    /// Graph API base URL (default `https://graph.facebook.com`); tests
    /// point it at a local server.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Graph API version (default `v21.0`).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpConfig,
    /// Largest inbound media fetched into the blob store (default 100 MiB).
    #[serde(default = "default_max_media")]
    pub max_media_bytes: u64,
    /// How long to wait after a rate-limit error without a hint, in
    /// seconds (default 60).
    #[serde(default = "default_rate_limit_wait")]
    pub rate_limit_wait_secs: u64,
    /// The approved template sent instead of a reply that WhatsApp refuses
    /// because the 24-hour customer-service window is closed (error
    /// 131047). Without one, such a reply fails permanently with that
    /// reason.
    #[serde(default)]
    pub window_template: Option<WindowTemplate>,
}

/// An approved message template, sent when the customer-service window is
/// closed.
///
/// ```
/// use chatlines_connectors::whatsapp::{TemplateParameter, WindowTemplate};
/// let t = WindowTemplate::new("follow_up", "en_US")
///     .with_parameter(TemplateParameter::Reply);
/// assert_eq!(t.parameters, vec![TemplateParameter::Reply]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowTemplate {
    /// The template's name, as approved in WhatsApp Manager.
    pub name: String,
    /// Its language code (`en_US`, `de`).
    pub language: String,
    /// The values of its body's `{{1}}`, `{{2}}`, … in order.
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
}

impl WindowTemplate {
    /// A template without parameters.
    pub fn new(name: impl Into<String>, language: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            language: language.into(),
            parameters: Vec::new(),
        }
    }

    /// Adds the next body parameter.
    pub fn with_parameter(mut self, parameter: TemplateParameter) -> Self {
        self.parameters.push(parameter);
        self
    }
}

/// Where a template body parameter's value comes from. In TOML or JSON a
/// parameter reads `{ from = "reply" }`, `{ from = "contact_name" }`,
/// `{ from = "address" }` or `{ from = "text", value = "…" }`:
///
/// ```
/// use chatlines_connectors::whatsapp::TemplateParameter;
/// let p: TemplateParameter = serde_json::from_str(r#"{"from": "contact_name"}"#).unwrap();
/// assert_eq!(p, TemplateParameter::ContactName);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TemplateParameter {
    /// A fixed text.
    Text(String),
    /// The operator's reply that could not be sent as it is (its text,
    /// shortened to what a parameter holds).
    Reply,
    /// The client's WhatsApp address (wa_id).
    Address,
    /// The client's display name as stored (their WhatsApp profile name);
    /// `…` when the session's client has none.
    ContactName,
}

fn default_api_base() -> String {
    "https://graph.facebook.com".to_owned()
}

fn default_version() -> String {
    "v21.0".to_owned()
}

fn default_max_media() -> u64 {
    100 * 1024 * 1024
}

fn default_rate_limit_wait() -> u64 {
    60
}

impl WhatsAppConfig {
    /// A configuration with defaults for everything but the number and
    /// the secrets.
    pub fn new(
        phone_number_id: impl Into<String>,
        access_token: impl Into<Secret>,
        app_secret: impl Into<Secret>,
        verify_token: impl Into<Secret>,
    ) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            access_token: access_token.into(),
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            api_base: default_api_base(),
            api_version: default_version(),
            http: HttpConfig::default(),
            max_media_bytes: default_max_media(),
            rate_limit_wait_secs: default_rate_limit_wait(),
            window_template: None,
        }
    }

    /// Sends `template` instead of a reply refused because the 24-hour
    /// window is closed.
    pub fn with_window_template(mut self, template: WindowTemplate) -> Self {
        self.window_template = Some(template);
        self
    }

    /// Sets the Graph API base URL.
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
