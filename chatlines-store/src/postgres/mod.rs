//! PostgreSQL store: several hub instances over one database.
//!
//! [`PostgresStore`] keeps every record in one schema of a PostgreSQL
//! database and enforces the [`Store`](chatlines_core::Store) contract with
//! the database's own guarantees, so any number of hub processes may share a
//! schema:
//!
//! * ingest runs in batches: concurrent `append_inbound` calls on one
//!   instance share one round trip to a PL/pgSQL function and one commit
//!   (see [`PostgresConfig::ingest_batch`]); it dedupes on
//!   `UNIQUE (ext_source, ext_id)`, upserts the contact with
//!   `ON CONFLICT DO NOTHING`, and at most one open session per
//!   (line, contact) through a partial unique index (a lost race appends to
//!   the winner's session);
//! * transitions take the session's advisory locks, lock its row
//!   (`SELECT … FOR UPDATE`), answer core's roster question in the same
//!   transaction and write the changeset core decided;
//! * outbox claims use `FOR UPDATE SKIP LOCKED` and a lease (token +
//!   expiry);
//! * every call logs its events in its transaction; after the commit the
//!   store sends a `NOTIFY` (outside the transaction, so notifying writers
//!   do not commit one after the other), and [`PgEventListener`] reads the
//!   log after that wake-up, so a reconnect loses nothing.
//!
//! ```no_run
//! # async fn run() -> Result<(), chatlines_core::StoreError> {
//! use chatlines_store::postgres::{PostgresConfig, PostgresStore};
//! let config = PostgresConfig::new("postgres://chat@db.internal/chat").schema("tenant_acme");
//! let store = PostgresStore::connect(config).await?;
//! let listener = store.event_listener(chatlines_core::EventPosition::START).await?;
//! let mut events = listener.subscribe(); // events of every instance
//! # let _ = events.try_recv();
//! # Ok(()) }
//! ```

mod config;
mod connect;
mod error;
mod events;
mod ingest;
mod lines;
mod locks;
mod log;
mod media;
mod messages;
mod migrate;
mod outbox;
mod roster;
mod rows;
mod sessions;
mod store;
mod timers;
mod updates;
mod wake;

pub use config::{PostgresConfig, URL_ENV};
pub use events::PgEventListener;

use chatlines_core::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::fmt;
use std::str::FromStr;

/// A [`Store`](chatlines_core::Store) on PostgreSQL.
///
/// Cheap to clone (the pool is shared). Create it with
/// [`connect`](PostgresStore::connect).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
    /// Wakes the listeners of the events channel after event-writing
    /// commits.
    wake: wake::Wake,
    /// The key of the schema's writer lock (see the module docs).
    writer: i32,
    /// `None` when batching is off (`ingest_batch == 1`).
    batcher: Option<ingest::Batcher>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Builds the connection pool and brings the schema to the current
    /// version (creating it if needed).
    ///
    /// Call it on the Tokio runtime that will use the store: with ingest
    /// batching on (the default) it starts the batching task there, which
    /// ends when the last clone of the store is dropped.
    ///
    /// Fails with [`StoreError::Unusable`] when the settings are invalid or
    /// the schema was written by a newer chatlines (nothing is changed), and
    /// with [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect(config: PostgresConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let mut pg = tokio_postgres::Config::from_str(&config.url).map_err(|e| {
            StoreError::Unusable(format!(
                "invalid PostgreSQL URL {}: {e}",
                config::redact(&config.url)
            ))
        })?;
        if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
            return Err(StoreError::Unusable(format!(
                "the PostgreSQL URL {} names no host",
                config::redact(&config.url)
            )));
        }
        // Every pooled connection resolves table names in the store's
        // schema, and its statements end at the statement timeout.
        let mut options = format!("-c search_path={}", config.schema);
        if let Some(t) = config.statement_timeout {
            options.push_str(&format!(" -c statement_timeout={}", t.as_millis()));
        }
        pg.options(options);
        if pg.get_application_name().is_none() {
            pg.application_name("chatlines");
        }
        pg.connect_timeout(config.connect_timeout);
        match config.tcp_keepalive {
            Some(idle) => pg.keepalives(true).keepalives_idle(idle),
            None => pg.keepalives(false),
        };
        let manager = Manager::from_connect(
            pg,
            connect::PgConnect {
                answer_timeout: config.answer_timeout(),
            },
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.pool_wait_timeout))
            .create_timeout(Some(config.pool_create_timeout))
            .recycle_timeout(Some(config.pool_recycle_timeout))
            .build()
            .map_err(|e| StoreError::Unusable(format!("cannot build the pool: {e}")))?;
        let mut client = pooled(&pool).await?;
        migrate::migrate(&mut client, &config.schema).await?;
        drop(client);
        let wake = wake::Wake::start(pool.clone(), config.channel());
        let writer = locks::writer_key(&config.schema);
        let batcher = (config.ingest_batch > 1).then(|| {
            ingest::Batcher::start(
                pool.clone(),
                wake.clone(),
                writer,
                config.ingest_batch,
                config.ingest_pipelines,
            )
        });
        Ok(Self {
            pool,
            config,
            wake,
            writer,
            batcher,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// The schema version this build of chatlines writes.
    pub fn schema_version() -> i32 {
        migrate::latest()
    }

    /// Opens a dedicated connection that follows this store's event log
    /// from just after `after` (use [`EventPosition::START`](chatlines_core::EventPosition::START)
    /// for the whole log): woken by the `NOTIFY` sent after every
    /// event-writing commit, it reads the events from the log, so nothing is
    /// lost while it reconnects. See [`PgEventListener`].
    pub async fn event_listener(
        &self,
        after: chatlines_core::EventPosition,
    ) -> Result<PgEventListener, StoreError> {
        PgEventListener::connect(&self.config, after).await
    }

    /// Commits `tx`, which wrote events, and wakes the listeners.
    pub(crate) async fn commit(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        tx.commit().await?;
        self.wake.committed();
        Ok(())
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        pooled(&self.pool).await
    }

    /// Stores an inbound message, in a batch with concurrent ones unless
    /// batching is off.
    pub(crate) async fn ingest(
        &self,
        new: chatlines_core::NewInbound,
    ) -> Result<chatlines_core::Appended, StoreError> {
        match &self.batcher {
            Some(batcher) => batcher.append(&self.pool, new).await,
            None => ingest::append_alone(&self.pool, &self.wake, self.writer, &new).await,
        }
    }
}

/// A connection from `pool`.
pub(crate) async fn pooled(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(error::pool_error)
}
