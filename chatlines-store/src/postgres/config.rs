//! Connection settings of a [`PostgresStore`](super::PostgresStore).

use chatlines_core::StoreError;
use std::fmt;

/// The environment variable [`PostgresConfig::from_env`] reads the URL from.
pub const URL_ENV: &str = "CHATLINES_PG_URL";

/// Where and how a [`PostgresStore`](super::PostgresStore) connects.
///
/// Every store (tenant) lives in its own schema; several hub instances
/// pointed at the same URL and schema share one store. The password is never
/// shown by `Debug`.
///
/// ```
/// use chatlines_store::postgres::PostgresConfig;
/// let config = PostgresConfig::new("postgres://app:s3cret@db.internal/chat")
///     .schema("tenant_acme")
///     .pool_size(8);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// A libpq-style URL (`postgres://user:password@host:port/db`) or
    /// key-value string (`host=… user=… dbname=…`).
    pub url: String,
    /// The schema holding the tables; created by the first
    /// [`connect`](super::PostgresStore::connect). Lowercase ASCII letters,
    /// digits and `_`, starting with a letter or `_`, at most 63 bytes.
    /// Default `chatlines`.
    pub schema: String,
    /// Maximum connections in the pool. Default 16.
    pub pool_size: usize,
    /// The `LISTEN`/`NOTIFY` channel events travel on. Default
    /// `chatlines_events_<schema>`, so tenants never see each other's events.
    pub events_channel: Option<String>,
    /// The most messages one ingest batch holds: concurrent
    /// `append_inbound` calls on one store share a transaction and a commit
    /// (each call still gets its own result, after the commit). `1` turns
    /// batching off. Default 64.
    pub ingest_batch: usize,
    /// How many ingest batches may be in flight at once; messages arriving
    /// while all are busy form the next batch. Fewer pipelines make larger
    /// batches. Default 2.
    pub ingest_pipelines: usize,
}

impl PostgresConfig {
    /// Settings for `url` with defaults everywhere else.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: "chatlines".to_owned(),
            pool_size: 16,
            events_channel: None,
            ingest_batch: 64,
            ingest_pipelines: 2,
        }
    }

    /// Reads the URL from `CHATLINES_PG_URL`; `None` when it is unset.
    pub fn from_env() -> Option<Self> {
        std::env::var(URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(Self::new)
    }

    /// Sets the schema.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the pool size.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the most messages per ingest batch (`1`: no batching).
    pub fn ingest_batch(mut self, max: usize) -> Self {
        self.ingest_batch = max;
        self
    }

    /// Sets how many ingest batches may be in flight at once.
    pub fn ingest_pipelines(mut self, n: usize) -> Self {
        self.ingest_pipelines = n;
        self
    }

    /// Sets the events channel.
    pub fn events_channel(mut self, channel: impl Into<String>) -> Self {
        self.events_channel = Some(channel.into());
        self
    }

    /// The events channel in use.
    pub fn channel(&self) -> String {
        self.events_channel
            .clone()
            .unwrap_or_else(|| format!("chatlines_events_{}", self.schema))
    }

    /// Checks the settings; `Unusable` says what to fix.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        check_identifier("schema", &self.schema)?;
        check_identifier("events channel", &self.channel())?;
        if self.pool_size == 0 {
            return Err(StoreError::Unusable(
                "pool_size must be at least 1".to_owned(),
            ));
        }
        if self.ingest_batch == 0 || self.ingest_pipelines == 0 {
            return Err(StoreError::Unusable(
                "ingest_batch and ingest_pipelines must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Accepts lowercase SQL identifiers that never need quoting.
pub(crate) fn check_identifier(what: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Unusable(format!(
            "{what} name {name:?} is not allowed: use 1 to 63 lowercase ASCII letters, \
             digits and '_', not starting with a digit"
        )))
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        // Query parameters may also carry a password.
        return redact_pairs(url, '&');
    }
    redact_pairs(url, ' ')
}

fn redact_pairs(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let key = lower.rsplit(['?', ' ']).next().unwrap_or(&lower);
            if key.trim_start().starts_with("password=") {
                match part.find('=') {
                    Some(eq) => format!("{}=***", &part[..eq]),
                    None => part.to_owned(),
                }
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("events_channel", &self.events_channel)
            .field("ingest_batch", &self.ingest_batch)
            .field("ingest_pipelines", &self.ingest_pipelines)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        for url in [
            "postgres://app:s3cret@db/chat",
            "postgres://db/chat?user=app&password=s3cret",
            "host=db user=app password=s3cret dbname=chat",
        ] {
            let shown = format!("{:?}", PostgresConfig::new(url));
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn rejects_schema_names_that_need_quoting() {
        assert!(PostgresConfig::new("x").schema("ok_1").validate().is_ok());
        for bad in ["", "1abc", "Upper", "semi;colon", "a\"b"] {
            assert!(PostgresConfig::new("x").schema(bad).validate().is_err());
        }
    }
}
