//! The HTTP client the connectors share, and how transport failures map to
//! [`SendError`].

use crate::config::{duration_ms, ConfigError};
use chatlines_core::SendError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// HTTP client settings of a connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Timeout of one whole request (connect, send, answer). Default 30 s.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Timeout of establishing the connection. Default 10 s.
    #[serde(with = "duration_ms")]
    pub connect_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl HttpConfig {
    /// Sets the request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Builds the shared client (rustls, no system OpenSSL).
pub(crate) fn client(config: &HttpConfig) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .build()
        .map_err(|e| ConfigError::Http(e.to_string()))
}

/// Checks that a base URL is usable and strips a trailing `/`.
pub(crate) fn base_url(field: &'static str, url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(ConfigError::Invalid {
            field,
            reason: format!("{trimmed:?} is not an http(s) URL"),
        });
    }
    Ok(trimmed.to_owned())
}

/// Maps a transport failure: nothing sent (connection refused, DNS) is
/// [`SendError::Transient`]; a failure after the request may have reached
/// the messenger (timeout waiting for the answer, reset) is
/// [`SendError::Uncertain`].
pub(crate) fn transport_error(e: &reqwest::Error) -> SendError {
    let text = without_url(e);
    if e.is_connect() {
        SendError::Transient(format!("cannot connect: {text}"))
    } else if e.is_builder() {
        SendError::Permanent(format!("cannot build the request: {text}"))
    } else if e.is_timeout() {
        SendError::Uncertain(format!("no answer in time: {text}"))
    } else {
        SendError::Uncertain(text)
    }
}

/// The error text without the request URL (it may hold a bot token).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The `Retry-After` header in seconds, if present.
pub(crate) fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Reads at most `limit` bytes of a response body.
#[cfg(any(feature = "telegram", feature = "whatsapp"))]
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, String> {
    if let Some(len) = response.content_length() {
        if len > limit {
            return Err(format!("{len} bytes is over the limit of {limit} bytes"));
        }
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| without_url(&e))? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(format!("more than the limit of {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(any(feature = "telegram", feature = "whatsapp"))]
/// Splits `text` into pieces of at most `max` characters, preferring to
/// cut after a newline or a space.
pub(crate) fn split_text(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let hard = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..hard];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(' '))
            .map(|i| i + 1)
            .filter(|&i| i > 0)
            .unwrap_or(hard);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out.push(rest);
    out
}

/// The `Content-Type` of an answer as a MIME type: its essence
/// (`type/subtype`, lower case, without parameters), or `None` when the
/// header is missing or not a MIME type.
///
/// ```
/// use chatlines_connectors::http::mime_type;
/// let mut headers = reqwest::header::HeaderMap::new();
/// assert_eq!(mime_type(&headers), None);
/// headers.insert("content-type", "Image/JPEG; charset=binary".parse().unwrap());
/// assert_eq!(mime_type(&headers).as_deref(), Some("image/jpeg"));
/// headers.insert("content-type", "nonsense".parse().unwrap());
/// assert_eq!(mime_type(&headers), None);
/// ```
pub fn mime_type(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 127
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
    };
    (token(kind) && token(sub)).then_some(essence)
}
