//! Mapping driver errors to [`StoreError`] and retrying transient ones.

use chatlines_core::StoreError;
use std::future::Future;
use tokio_postgres::error::SqlState;

/// How many times a transaction that lost a deadlock or serialization race
/// is run again before the error is returned as `Unavailable`.
const ATTEMPTS: usize = 8;

/// A failure inside one attempt of a store call.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A final answer for the caller.
    Store(StoreError),
    /// The attempt lost a race (deadlock, serialization failure, or a
    /// concurrent duplicate detected by the ingest function); run it again.
    Retry(String),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || c.code() == "CLDUP" =>
            {
                Fail::Retry(describe(&e))
            }
            _ => Fail::Store(store_error(e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Fail::Store(pool_error(e))
    }
}

/// A failure to get a pooled connection as a store error.
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::{PoolError, TimeoutType};
    match e {
        PoolError::Backend(e) => store_error(e),
        PoolError::Timeout(kind) => StoreError::Unavailable(
            match kind {
                TimeoutType::Wait => {
                    "no pooled PostgreSQL connection became free within pool_wait_timeout \
                     (all are busy: raise pool_size or lighten the load)"
                }
                TimeoutType::Create => {
                    "opening a PostgreSQL connection took longer than pool_create_timeout \
                     (the server is unreachable, frozen or overloaded)"
                }
                TimeoutType::Recycle => {
                    "checking a pooled PostgreSQL connection took longer than \
                     pool_recycle_timeout (the server is frozen or overloaded)"
                }
            }
            .to_owned(),
        ),
        PoolError::Closed => {
            StoreError::Unavailable("the PostgreSQL connection pool is closed".to_owned())
        }
        other => StoreError::Unavailable(format!("no PostgreSQL connection available: {other}")),
    }
}

/// A PostgreSQL error with the server's own words: code, message, detail
/// and hint (the driver's `Display` says only "db error").
#[derive(Debug)]
pub(crate) struct DbFailure {
    text: String,
    source: tokio_postgres::Error,
}

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DbFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The error in words: the server's message, code, detail and hint for a
/// database error, the driver's text (with its cause) otherwise.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "PostgreSQL {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    match std::error::Error::source(e) {
        Some(cause) if !e.to_string().contains(&cause.to_string()) => format!("{e}: {cause}"),
        _ => e.to_string(),
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Store(StoreError::Backend(Box::new(e)))
    }
}

/// A driver error as a store error.
pub(crate) fn store_error(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable(format!(
            "PostgreSQL connection lost ({}): the server closed it, or sent no answer within \
             answer_timeout; retry (the pool opens a new connection)",
            describe(&e)
        ));
    }
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            let what = match db.table() {
                Some("lines") => "line",
                Some("sources") => "source",
                Some("contacts") => "contact",
                Some("sessions") => "session",
                Some("messages") => "message",
                Some("outbox") => "outbox entry",
                Some("requests") => "request",
                _ => "record",
            };
            return StoreError::AlreadyExists {
                what,
                id: db.detail().unwrap_or(db.message()).to_owned(),
            };
        }
        if db.code().code() == "CLLNF" {
            return StoreError::NotFound {
                what: "line",
                id: db
                    .message()
                    .trim_start_matches("line ")
                    .trim_end_matches(" not found")
                    .to_owned(),
            };
        }
    }
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::QUERY_CANCELED
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            StoreError::Unavailable(describe(&e))
        }
        Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::UNDEFINED_FUNCTION => {
            StoreError::Unusable(format!(
                "the chatlines schema is missing or incomplete ({}); connect with \
                 PostgresStore::connect so migrations run",
                describe(&e)
            ))
        }
        None if std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()) =>
        {
            StoreError::Unavailable(format!("PostgreSQL unreachable: {}", describe(&e)))
        }
        Some(_) => StoreError::Backend(Box::new(DbFailure {
            text: describe(&e),
            source: e,
        })),
        None => StoreError::Backend(Box::new(e)),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has lost
/// [`ATTEMPTS`] races.
pub(crate) async fn retry<T, F, Fut>(what: &'static str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Fail>>,
{
    let mut last = String::new();
    for n in 0..ATTEMPTS {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Fail::Store(e)) => return Err(e),
            Err(Fail::Retry(why)) => {
                tracing::debug!(what, attempt = n + 1, %why, "retrying a transaction that lost a race");
                last = why;
                if n >= 2 {
                    tokio::time::sleep(std::time::Duration::from_millis(1 << n.min(6))).await;
                }
            }
        }
    }
    Err(StoreError::Unavailable(format!(
        "{what} kept losing races with concurrent writers ({last}); retry later"
    )))
}
