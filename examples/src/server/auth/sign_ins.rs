//! Where sign-in sessions are kept: a small table of the server's own
//! (`server_sign_ins`) in the server's database, next to the store's
//! tables — the SQLite file when the server runs on SQLite, the store's
//! schema when it runs on PostgreSQL. Every server process over one
//! database therefore sees the same sessions: a browser signed in
//! through one is signed in on all, and a sign-out or expiry in one
//! applies everywhere. A private `:memory:` database keeps them in the
//! process.
//!
//! A row holds the SHA-256 of the cookie's secret, never the secret: a
//! reader of the database cannot sign in with what it finds. It also
//! holds the user, the session's CSRF token and its expiry (Unix
//! milliseconds by the server's clock).
//!
//! The table is versioned like the store's schema: each migration runs
//! once, in one transaction with its row in `server_migrations` (on
//! PostgreSQL under an advisory lock, so processes starting together
//! apply it once); a database written by a newer server is refused.

use crate::config::ServerConfig;
use crate::BoxError;
use chatlines_core::UserId;
use chrono::{DateTime, Utc};
use deadpool_postgres::tokio_postgres;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The server's own migrations, in order: (version, SQL). The SQL is
/// read by SQLite and PostgreSQL alike.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE server_sign_ins (
         digest     TEXT PRIMARY KEY,
         user_id    TEXT NOT NULL,
         csrf       TEXT NOT NULL,
         expires_at BIGINT NOT NULL
     );
     CREATE INDEX server_sign_ins_user ON server_sign_ins (user_id);
     CREATE INDEX server_sign_ins_expiry ON server_sign_ins (expires_at);",
)];

/// The version the migrations bring a database to.
fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// How long a SQLite call waits for the store's writer to finish.
const SQLITE_BUSY: Duration = Duration::from_secs(5);

/// Connections of the PostgreSQL pool: a sign-in lookup is one indexed
/// read.
const PG_POOL: usize = 4;

/// A signed-in browser session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignIn {
    pub(crate) user: UserId,
    pub(crate) csrf: String,
    pub(crate) expires: DateTime<Utc>,
}

/// A sign-in table could not be read or written (retryable: HTTP 503).
#[derive(Debug)]
pub struct SignInsError(String);

impl std::fmt::Display for SignInsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the sign-in table failed: {}", self.0)
    }
}

impl std::error::Error for SignInsError {}

fn fail(e: impl std::fmt::Display) -> SignInsError {
    SignInsError(e.to_string())
}

/// The sign-in sessions of a server, wherever they are kept. Cheap to
/// clone.
#[derive(Clone)]
pub struct SignIns(Backend);

#[derive(Clone)]
enum Backend {
    Memory(Arc<Mutex<HashMap<String, SignIn>>>),
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(deadpool_postgres::Pool),
}

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            Backend::Memory(_) => "memory",
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_tuple("SignIns").field(&kind).finish()
    }
}

impl Default for SignIns {
    fn default() -> Self {
        Self::memory()
    }
}

impl SignIns {
    /// Sessions kept in this process only (lost on restart, not shared).
    pub fn memory() -> Self {
        Self(Backend::Memory(Arc::default()))
    }

    /// The table in the database `config.database` names (see the module
    /// docs), migrated to this build's version.
    pub async fn open(config: &ServerConfig) -> Result<Self, BoxError> {
        let database = config.database.as_str();
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            return Self::postgres(&config.postgres.to_store_config(database)).await;
        }
        if database == ":memory:" {
            return Ok(Self::memory());
        }
        Self::sqlite(database).await
    }

    /// The table in the SQLite file at `path`.
    pub async fn sqlite(path: &str) -> Result<Self, BoxError> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<_, BoxError> {
            let mut conn = rusqlite::Connection::open(&path)?;
            conn.busy_timeout(SQLITE_BUSY)?;
            migrate_sqlite(&mut conn)?;
            Ok(conn)
        })
        .await??;
        Ok(Self(Backend::Sqlite(Arc::new(Mutex::new(conn)))))
    }

    /// The table in the schema `config` names, over a small pool of its
    /// own with `config`'s timeouts.
    pub async fn postgres(
        config: &chatlines_store::postgres::PostgresConfig,
    ) -> Result<Self, BoxError> {
        let schema = config.schema.as_str();
        let plain = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !plain {
            return Err(format!("the PostgreSQL schema name {schema:?} is not allowed").into());
        }
        let mut pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
        let mut options = format!("-c search_path={schema}");
        if let Some(t) = config.statement_timeout {
            options.push_str(&format!(" -c statement_timeout={}", t.as_millis()));
        }
        pg.options(options);
        if pg.get_application_name().is_none() {
            pg.application_name("chatlines-server");
        }
        pg.connect_timeout(config.connect_timeout);
        match config.tcp_keepalive {
            Some(idle) => pg.keepalives(true).keepalives_idle(idle),
            None => pg.keepalives(false),
        };
        let manager = deadpool_postgres::Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(PG_POOL)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.pool_wait_timeout))
            .create_timeout(Some(config.pool_create_timeout))
            .recycle_timeout(Some(config.pool_recycle_timeout))
            .build()?;
        let mut client = pool.get().await?;
        migrate_postgres(&mut client, schema).await?;
        drop(client);
        Ok(Self(Backend::Postgres(pool)))
    }

    /// Stores a new session under `digest` and forgets the sessions that
    /// expired by `now`.
    pub(crate) async fn insert(
        &self,
        digest: &str,
        session: &SignIn,
        now: DateTime<Utc>,
    ) -> Result<(), SignInsError> {
        let expires = session.expires.timestamp_millis();
        let now = now.timestamp_millis();
        match &self.0 {
            Backend::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                map.retain(|_, s| s.expires.timestamp_millis() > now);
                map.insert(digest.to_owned(), session.clone());
                Ok(())
            }
            Backend::Sqlite(conn) => {
                let (digest, user, csrf) = (
                    digest.to_owned(),
                    session.user.to_string(),
                    session.csrf.clone(),
                );
                sqlite(conn, move |c| {
                    let tx = c.transaction()?;
                    tx.execute("DELETE FROM server_sign_ins WHERE expires_at <= ?1", [now])?;
                    tx.execute(
                        "INSERT INTO server_sign_ins (digest, user_id, csrf, expires_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![digest, user, csrf, expires],
                    )?;
                    tx.commit()
                })
                .await
            }
            Backend::Postgres(pool) => {
                let client = pool.get().await.map_err(fail)?;
                client
                    .execute(
                        "DELETE FROM server_sign_ins WHERE expires_at <= $1",
                        &[&now],
                    )
                    .await
                    .map_err(fail)?;
                client
                    .execute(
                        "INSERT INTO server_sign_ins (digest, user_id, csrf, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                        &[&digest, &session.user.as_str(), &session.csrf, &expires],
                    )
                    .await
                    .map_err(fail)?;
                Ok(())
            }
        }
    }

    /// The session stored under `digest`, if it is live at `now`; an
    /// expired one is removed.
    pub(crate) async fn get(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignIn>, SignInsError> {
        let found = match &self.0 {
            Backend::Memory(map) => map
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(digest)
                .cloned(),
            Backend::Sqlite(conn) => {
                let digest = digest.to_owned();
                let row = sqlite(conn, move |c| {
                    use rusqlite::OptionalExtension;
                    c.query_row(
                        "SELECT user_id, csrf, expires_at FROM server_sign_ins WHERE digest = ?1",
                        [digest],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                })
                .await?;
                row.and_then(|(user, csrf, ms): (String, String, i64)| from_row(user, csrf, ms))
            }
            Backend::Postgres(pool) => {
                let client = pool.get().await.map_err(fail)?;
                let row = client
                    .query_opt(
                        "SELECT user_id, csrf, expires_at FROM server_sign_ins WHERE digest = $1",
                        &[&digest],
                    )
                    .await
                    .map_err(fail)?;
                match row {
                    Some(r) => from_row(
                        r.try_get(0).map_err(fail)?,
                        r.try_get(1).map_err(fail)?,
                        r.try_get(2).map_err(fail)?,
                    ),
                    None => None,
                }
            }
        };
        match found {
            Some(s) if s.expires > now => Ok(Some(s)),
            Some(_) => {
                self.remove(digest, false).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Ends the session under `digest`; with `everywhere`, every session
    /// of its user.
    pub(crate) async fn remove(&self, digest: &str, everywhere: bool) -> Result<(), SignInsError> {
        const ONE: &str = "DELETE FROM server_sign_ins WHERE digest = $1";
        const ALL: &str = "DELETE FROM server_sign_ins WHERE user_id = \
                           (SELECT user_id FROM server_sign_ins WHERE digest = $1)";
        let sql = if everywhere { ALL } else { ONE };
        match &self.0 {
            Backend::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(s) = map.remove(digest) {
                    if everywhere {
                        map.retain(|_, other| other.user != s.user);
                    }
                }
                Ok(())
            }
            Backend::Sqlite(conn) => {
                let digest = digest.to_owned();
                // SQLite reads `$1` as a numbered parameter too.
                sqlite(conn, move |c| c.execute(sql, [digest]).map(drop)).await
            }
            Backend::Postgres(pool) => {
                let client = pool.get().await.map_err(fail)?;
                client.execute(sql, &[&digest]).await.map_err(fail)?;
                Ok(())
            }
        }
    }
}

fn from_row(user: String, csrf: String, expires_ms: i64) -> Option<SignIn> {
    Some(SignIn {
        user: UserId::from(user.as_str()),
        csrf,
        expires: DateTime::from_timestamp_millis(expires_ms)?,
    })
}

/// Runs `f` on the SQLite connection off the async threads.
async fn sqlite<T: Send + 'static>(
    conn: &Arc<Mutex<rusqlite::Connection>>,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, SignInsError> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    })
    .await
    .map_err(fail)?
    .map_err(fail)
}

fn newer(current: i32) -> BoxError {
    format!(
        "the server's tables are at version {current}, written by a newer server (this one \
         knows up to {}); upgrade the server or use another database",
        latest()
    )
    .into()
}

fn migrate_sqlite(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS server_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
         );",
    )?;
    let current: i32 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM server_migrations",
        [],
        |r| r.get(0),
    )?;
    if current > latest() {
        return Err(newer(current));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tracing::info!(version, "applying the server's SQLite migration");
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO server_migrations (version) VALUES (?1)",
            [version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

async fn migrate_postgres(
    client: &mut deadpool_postgres::Object,
    schema: &str,
) -> Result<(), BoxError> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('chatlines server migrate ' || $1, 0))",
        &[&schema],
    )
    .await?;
    // `schema` was checked to be a plain lowercase identifier.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.server_migrations (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.server_migrations"),
            &[],
        )
        .await?
        .try_get(0)?;
    if current > latest() {
        return Err(newer(current));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tracing::info!(
            schema,
            version,
            "applying the server's PostgreSQL migration"
        );
        tx.batch_execute(&format!("SET LOCAL search_path TO {schema}; {sql}"))
            .await?;
        tx.execute(
            &format!("INSERT INTO {schema}.server_migrations (version) VALUES ($1)"),
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
