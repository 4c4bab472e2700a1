//! Connection settings of a [`PostgresStore`](super::PostgresStore).

use chatlines_core::StoreError;
use std::fmt;
use std::time::Duration;

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
/// use std::time::Duration;
/// let config = PostgresConfig::new("postgres://app:s3cret@db.internal/chat")
///     .schema("tenant_acme")
///     .pool_size(8)
///     .statement_timeout(Some(Duration::from_secs(10)));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// // A call waits at most this long for an answer before it fails with a
/// // retryable error.
/// assert_eq!(config.answer_timeout(), Duration::from_secs(15));
/// ```
///
/// # Timeouts
///
/// Every wait on the database is bounded, so a frozen or unreachable
/// server makes calls fail with the retryable
/// [`StoreError::Unavailable`] instead of hanging:
///
/// | setting | default | bounds |
/// |---|---|---|
/// | [`pool_wait_timeout`](Self::pool_wait_timeout) | 5 s | waiting for a free pooled connection |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s | opening the TCP connection |
/// | [`pool_create_timeout`](Self::pool_create_timeout) | 10 s | opening and authenticating a new connection |
/// | [`pool_recycle_timeout`](Self::pool_recycle_timeout) | 5 s | checking a returned connection |
/// | [`statement_timeout`](Self::statement_timeout) | 30 s | one statement, on the server (`statement_timeout`) |
/// | [`answer_timeout`](Self::answer_timeout) | statement timeout + 5 s | waiting for any answer to a request; then the connection is dropped |
/// | [`tcp_keepalive`](Self::tcp_keepalive) | 30 s | idle time before TCP keepalive probes |
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
    /// batches. A batch runs a fixed number of statements whatever its
    /// size, so under load one pipeline stores the most messages per
    /// second; more lower the wait of a message that arrives while a batch
    /// is in flight. Default 1.
    pub ingest_pipelines: usize,
    /// The longest wait for a free pooled connection. Default 5 s.
    pub pool_wait_timeout: Duration,
    /// The longest time to open and authenticate a new connection.
    /// Default 10 s.
    pub pool_create_timeout: Duration,
    /// The longest time to check a connection coming back to the pool.
    /// Default 5 s.
    pub pool_recycle_timeout: Duration,
    /// The longest time to establish the TCP connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Idle time before TCP keepalive probes start; `None` turns them off.
    /// Default 30 s.
    pub tcp_keepalive: Option<Duration>,
    /// The server-side limit on one statement (PostgreSQL's
    /// `statement_timeout`); `None` leaves the server's setting. Default
    /// 30 s. A statement over it fails with the retryable
    /// [`StoreError::Unavailable`].
    pub statement_timeout: Option<Duration>,
    /// How long a request may wait for any answer before the connection is
    /// given up; `None` means the statement timeout plus 5 s (or 35 s
    /// without one). See [`answer_timeout`](Self::answer_timeout).
    pub answer_timeout: Option<Duration>,
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
            ingest_pipelines: 1,
            pool_wait_timeout: Duration::from_secs(5),
            pool_create_timeout: Duration::from_secs(10),
            pool_recycle_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            tcp_keepalive: Some(Duration::from_secs(30)),
            statement_timeout: Some(Duration::from_secs(30)),
            answer_timeout: None,
        }
    }

    /// Sets the longest wait for a free pooled connection.
    pub fn pool_wait_timeout(mut self, d: Duration) -> Self {
        self.pool_wait_timeout = d;
        self
    }

    /// Sets the longest time to open and authenticate a new connection.
    pub fn pool_create_timeout(mut self, d: Duration) -> Self {
        self.pool_create_timeout = d;
        self
    }

    /// Sets the longest time to check a connection coming back to the pool.
    pub fn pool_recycle_timeout(mut self, d: Duration) -> Self {
        self.pool_recycle_timeout = d;
        self
    }

    /// Sets the TCP connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the TCP keepalive idle time (`None`: no keepalive).
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Sets the server-side statement timeout (`None`: the server's own).
    pub fn statement_timeout(mut self, d: Option<Duration>) -> Self {
        self.statement_timeout = d;
        self
    }

    /// Sets how long a request may wait for any answer.
    pub fn with_answer_timeout(mut self, d: Duration) -> Self {
        self.answer_timeout = Some(d);
        self
    }

    /// How long a request waits for any answer from the server before the
    /// connection is dropped and the call fails with
    /// [`StoreError::Unavailable`]: the configured value, or the statement
    /// timeout plus 5 s (35 s without a statement timeout).
    pub fn answer_timeout(&self) -> Duration {
        self.answer_timeout.unwrap_or_else(|| {
            self.statement_timeout.unwrap_or(Duration::from_secs(30)) + Duration::from_secs(5)
        })
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
        let timeouts = [
            ("pool_wait_timeout", Some(self.pool_wait_timeout)),
            ("pool_create_timeout", Some(self.pool_create_timeout)),
            ("pool_recycle_timeout", Some(self.pool_recycle_timeout)),
            ("connect_timeout", Some(self.connect_timeout)),
            ("tcp_keepalive", self.tcp_keepalive),
            ("statement_timeout", self.statement_timeout),
            ("answer_timeout", self.answer_timeout),
        ];
        for (name, d) in timeouts {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(StoreError::Unusable(format!(
                    "{name} must be longer than zero (use None where \"off\" is allowed)"
                )));
            }
        }
        if self
            .statement_timeout
            .is_some_and(|s| s.as_millis() > u128::from(i32::MAX.unsigned_abs()))
        {
            return Err(StoreError::Unusable(
                "statement_timeout is over PostgreSQL's limit (about 24 days)".to_owned(),
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
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("pool_create_timeout", &self.pool_create_timeout)
            .field("pool_recycle_timeout", &self.pool_recycle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .field("statement_timeout", &self.statement_timeout)
            .field("answer_timeout", &self.answer_timeout())
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
    fn zero_timeouts_are_refused_and_the_answer_timeout_follows_the_statement_timeout() {
        let c = PostgresConfig::new("x");
        assert!(c.validate().is_ok());
        assert_eq!(c.answer_timeout(), Duration::from_secs(35));
        let c = c.statement_timeout(None);
        assert_eq!(c.answer_timeout(), Duration::from_secs(35));
        let c = c.with_answer_timeout(Duration::from_millis(300));
        assert_eq!(c.answer_timeout(), Duration::from_millis(300));
        let bad = PostgresConfig::new("x").pool_wait_timeout(Duration::ZERO);
        let err = bad
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("pool_wait_timeout"), "{err}");
        assert!(PostgresConfig::new("x")
            .statement_timeout(Some(Duration::ZERO))
            .validate()
            .is_err());
    }

    #[test]
    fn rejects_schema_names_that_need_quoting() {
        assert!(PostgresConfig::new("x").schema("ok_1").validate().is_ok());
        for bad in ["", "1abc", "Upper", "semi;colon", "a\"b"] {
            assert!(PostgresConfig::new("x").schema(bad).validate().is_err());
        }
    }
}
