//! Generic webhook connector settings.

use crate::http::HttpConfig;
use crate::Secret;
use serde::{Deserialize, Serialize};

/// How to talk to a system speaking the generic signed-webhook protocol.
///
/// ```
/// let c = chatlines_connectors::generic::GenericConfig::new("whsec-1", "https://example.org/out");
/// assert!(!format!("{c:?}").contains("whsec-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenericConfig {
    /// Shared secret for HMAC-SHA256 signatures in both directions.
    pub signing_secret: Secret,
    /// Where outbound messages are POSTed.
    pub outbound_url: String,
    /// How far a request's timestamp may be from now, in seconds, either
    /// way (default 300). Older requests are refused as replays.
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_tolerance() -> u64 {
    300
}

impl GenericConfig {
    /// A configuration with the default replay window.
    pub fn new(signing_secret: impl Into<Secret>, outbound_url: impl Into<String>) -> Self {
        Self {
            signing_secret: signing_secret.into(),
            outbound_url: outbound_url.into(),
            tolerance_secs: default_tolerance(),
            http: HttpConfig::default(),
        }
    }

    /// Sets the replay window in seconds.
    pub fn with_tolerance_secs(mut self, secs: u64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    /// Sets the HTTP client settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}
