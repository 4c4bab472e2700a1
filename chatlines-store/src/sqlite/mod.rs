//! [`SqliteStore`]: the embedded default store, one SQLite file.
//!
//! * bundled SQLite (no system library), WAL mode, `synchronous=NORMAL`,
//!   foreign keys on;
//! * one writer thread commits queued requests in groups on the write
//!   connection (one `BEGIN IMMEDIATE` transaction per group, replies after
//!   `COMMIT`; a failed request is rolled back alone); a write made while
//!   no other is in flight commits on the caller's thread instead, which
//!   halves a lone caller's write ([`SqliteConfig::inline_writes`]; its
//!   task is blocked for that one commit);
//! * reader threads with read-only connections serve reads beside the
//!   writer, so a read never waits for a write; a read made while no other
//!   is in flight runs on the caller's thread instead, on a read connection
//!   of its own ([`SqliteConfig::inline_reads`]);
//! * lines and sources read by id are kept in memory (every ingest reads
//!   both): the store's own writes of them are seen at once, another
//!   process's after at most [`SqliteConfig::config_cache_ttl`] (1 s);
//! * a checkpoint thread copies the WAL back into the database file (at
//!   most every 100 ms, after commits), so the writer never stalls on a
//!   checkpoint's writes and `fsync`;
//! * the invariants live in the schema too: unique external message ids,
//!   one open session per (line, contact), versioned updates.
//!
//! Durability: an `Ok` means the transaction is committed to the WAL, so it
//! survives a crash or kill of the process (tested with SIGKILL). With
//! `synchronous=NORMAL` the WAL is synced at checkpoints, not at every
//! commit: a power loss or OS crash may lose the last commits (never
//! corrupt the file).
//!
//! ```no_run
//! # async fn run() -> Result<(), chatlines_core::StoreError> {
//! use chatlines_store::SqliteStore;
//! let store = SqliteStore::open("chatlines.db").await?;
//! # drop(store);
//! # Ok(()) }
//! ```

mod apps;
mod cache;
mod checkpointer;
mod config;
mod events;
mod lines;
mod media;
mod messages;
mod outbox;
mod readers;
mod roster;
mod rows;
mod schema;
mod sessions;
mod timers;
mod updates;
mod writer;

pub use config::SqliteConfig;

use async_trait::async_trait;
use chatlines_core::{
    AccountLink, AppLinkStore, Appended, Contact, ContactId, ContactKey, Cursor, DeliveryOutcome,
    EventLogStore, EventPosition, Line, LineId, LineStore, LoggedEvent, MediaJob, MediaOutcome,
    MediaStore, Message, MessageId, MessagePage, MessageState, MessageStore, MessageUpdate,
    NewInbound, NewOutbound, OutboxEntry, OutboxId, OutboxStore, RequestRecord, RosterEntry,
    Session, SessionId, SessionOverview, SessionState, SessionStore, Source, SourceId, SourceStore,
    StoreCapabilities, StoreError, Transition, UpdateOutcome, UserId,
};
use checkpointer::Checkpointer;
use chrono::{DateTime, Utc};
use readers::Readers;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;
use writer::{Writer, WriterSettings};

/// What opening produces: the write connection, the readers (none in
/// memory) and the checkpointer (none in memory).
type Opened = (Connection, Option<Readers>, Option<Checkpointer>);

/// The embedded store: everything in one SQLite file (or in memory).
///
/// Cheap to clone; clones share the connections. The connections close
/// when the last clone is dropped, or at [`close`](SqliteStore::close).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    /// `None` for an in-memory database: reads then go through the writer.
    readers: Option<Readers>,
    /// Lines and sources by id.
    cache: cache::ConfigCache,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("readers", &self.inner.readers.is_some())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with default settings.
    ///
    /// Fails with [`StoreError::Unusable`] if the file is not a SQLite
    /// database or was written by a newer chatlines (nothing is changed
    /// then), and with [`StoreError::Unavailable`] if another process holds
    /// its write lock for longer than the busy timeout.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::with_config(SqliteConfig::new(path)).await
    }

    /// Opens the database described by `config`.
    pub async fn with_config(config: SqliteConfig) -> Result<Self, StoreError> {
        let (ttl, writer) = (config.config_cache_ttl, WriterSettings::of(&config));
        Self::start(ttl, writer, move || {
            let conn = schema::open_writer(Some(&config.path), config.busy_timeout)?;
            let readers = Readers::start(
                &config.path,
                config.readers,
                config.busy_timeout,
                config.reader_spin,
                config.inline_reads,
            )?;
            let checkpointer = Checkpointer::start(&config.path, config.busy_timeout)?;
            Ok((conn, Some(readers), Some(checkpointer)))
        })
        .await
    }

    /// A private, empty in-memory database (for tests and experiments):
    /// the same schema and code paths, gone when the store is dropped.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let config = SqliteConfig::default();
        let (ttl, writer) = (config.config_cache_ttl, WriterSettings::of(&config));
        Self::start(ttl, writer, move || {
            let conn = schema::open_writer(None, config.busy_timeout)?;
            Ok((conn, None, None))
        })
        .await
    }

    /// Opens on a separate thread (file I/O and migrations block).
    async fn start<F>(
        cache_ttl: std::time::Duration,
        writer: WriterSettings,
        open: F,
    ) -> Result<Self, StoreError>
    where
        F: FnOnce() -> Result<Opened, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("chatlines-sqlite-open".to_owned())
            .spawn(move || {
                let opened = open().and_then(|(conn, readers, checkpointer)| {
                    Ok(Inner {
                        writer: Writer::start(conn, writer, checkpointer)?,
                        readers,
                        cache: cache::ConfigCache::new(cache_ttl),
                    })
                });
                let _ = tx.send(opened);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start a thread: {e}")))?;
        let inner = rx.await.map_err(|_| {
            StoreError::Unavailable("opening the SQLite database stopped unexpectedly".to_owned())
        })??;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Finishes the queued writes and closes the write connection; later
    /// writes fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.inner.writer.close().await;
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(work).await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.inner.readers {
            Some(readers) => readers.read(work).await,
            None => self.inner.writer.write(work).await,
        }
    }
}

#[async_trait]
impl LineStore for SqliteStore {
    async fn insert_line(&self, line: &Line) -> Result<(), StoreError> {
        let line = line.clone();
        let _writing = self.inner.cache.writing();
        self.write(move |c| lines::insert(c, &line)).await
    }

    async fn update_line(&self, line: &Line, expected_version: u64) -> Result<(), StoreError> {
        let line = line.clone();
        let _writing = self.inner.cache.writing();
        self.write(move |c| lines::update(c, &line, expected_version))
            .await
    }

    async fn delete_line(
        &self,
        id: LineId,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _writing = self.inner.cache.writing();
        self.write(move |c| lines::delete(c, id, expected_version, now))
            .await
    }

    async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError> {
        Ok(self.shared_line(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn shared_line(&self, id: LineId) -> Result<Option<Arc<Line>>, StoreError> {
        let ticket = match self.inner.cache.line(id) {
            Ok(line) => return Ok(line),
            Err(ticket) => ticket,
        };
        let line = self.read(move |c| lines::get(c, id)).await?.map(Arc::new);
        if let Some(ticket) = ticket {
            self.inner.cache.put_line(ticket, id, &line);
        }
        Ok(line)
    }

    async fn lines(&self) -> Result<Vec<Line>, StoreError> {
        self.read(lines::list).await
    }
}

#[async_trait]
impl SourceStore for SqliteStore {
    async fn insert_source(&self, source: &Source) -> Result<(), StoreError> {
        let source = source.clone();
        let _writing = self.inner.cache.writing();
        self.write(move |c| lines::insert_source(c, &source)).await
    }

    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let _writing = self.inner.cache.writing();
        self.write(move |c| lines::delete_source(c, id, now)).await
    }

    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> {
        let ticket = match self.inner.cache.source(id) {
            Ok(source) => return Ok(source),
            Err(ticket) => ticket,
        };
        let source = self.read(move |c| lines::source(c, id)).await?;
        if let Some(ticket) = ticket {
            self.inner.cache.put_source(ticket, id, &source);
        }
        Ok(source)
    }

    async fn sources(&self) -> Result<Vec<Source>, StoreError> {
        self.read(lines::sources).await
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn contact(&self, id: ContactId) -> Result<Option<Contact>, StoreError> {
        self.read(move |c| messages::contact(c, id)).await
    }

    async fn contact_by_key(&self, key: &ContactKey) -> Result<Option<Contact>, StoreError> {
        let key = key.clone();
        self.read(move |c| messages::contact_by_key(c, &key)).await
    }

    async fn append_inbound(&self, new: NewInbound) -> Result<Appended, StoreError> {
        self.write(move |c| messages::append_inbound(c, &new)).await
    }

    async fn append_outbound(&self, new: NewOutbound) -> Result<Message, StoreError> {
        self.write(move |c| messages::append_outbound(c, new.clone()))
            .await
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.read(move |c| messages::get(c, id)).await
    }

    async fn messages(
        &self,
        session: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Result<MessagePage, StoreError> {
        self.read(move |c| messages::page(c, session, cursor, limit))
            .await
    }

    async fn update_message(&self, update: MessageUpdate) -> Result<UpdateOutcome, StoreError> {
        self.write(move |c| updates::update_message(c, update.clone()))
            .await
    }

    async fn message_state(&self, id: MessageId) -> Result<MessageState, StoreError> {
        self.read(move |c| updates::state(c, id)).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::ALL
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.read(move |c| sessions::get(c, id)).await
    }

    async fn contact_sessions(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Vec<Session>, StoreError> {
        self.read(move |c| sessions::of_contact(c, line, contact))
            .await
    }

    async fn queued_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.read(move |c| sessions::waiting(c, line, "queued", limit))
            .await
    }

    async fn queued_lines(
        &self,
        after: Option<LineId>,
        limit: usize,
    ) -> Result<Vec<LineId>, StoreError> {
        self.read(move |c| sessions::queued_lines(c, after, limit))
            .await
    }

    async fn offered_sessions(
        &self,
        line: LineId,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.read(move |c| sessions::waiting(c, line, "offered", limit))
            .await
    }

    async fn assigned_sessions(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let operator = operator.clone();
        self.read(move |c| sessions::assigned(c, &operator, after, limit))
            .await
    }

    async fn offered_to(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let operator = operator.clone();
        self.read(move |c| sessions::offered_to(c, &operator, after, limit))
            .await
    }

    async fn line_sessions(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<SessionOverview>, StoreError> {
        self.read(move |c| sessions::of_line(c, line, state, after, limit))
            .await
    }

    async fn transition(
        &self,
        session: SessionId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        self.write(move |c| sessions::transition(c, session, change.clone(), now))
            .await
    }

    async fn replace_roster(&self, line: LineId, eligible: &[UserId]) -> Result<(), StoreError> {
        let eligible = eligible.to_vec();
        self.write(move |c| roster::replace(c, line, &eligible))
            .await
    }

    async fn set_eligible(
        &self,
        line: LineId,
        user: &UserId,
        eligible: bool,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |c| roster::set_eligible(c, line, &user, eligible))
            .await
    }

    async fn roster(&self, line: LineId) -> Result<Vec<RosterEntry>, StoreError> {
        self.read(move |c| roster::list(c, line)).await
    }

    async fn sla_breaches(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<chatlines_core::SlaBreach>, StoreError> {
        self.read(move |c| sessions::sla_breaches(c, line, from, until, limit))
            .await
    }
}

#[async_trait]
impl AppLinkStore for SqliteStore {
    async fn put_account_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let link = link.clone();
        self.write(move |c| apps::put_link(c, &link)).await
    }

    async fn account_link(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<AccountLink>, StoreError> {
        self.read(move |c| apps::link(c, line, contact)).await
    }

    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError> {
        let request = request.clone();
        self.write(move |c| apps::insert_request(c, &request)).await
    }

    async fn requests(&self, session: SessionId) -> Result<Vec<RequestRecord>, StoreError> {
        self.read(move |c| apps::requests(c, session)).await
    }
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn claim_media(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MediaJob>, StoreError> {
        self.write(move |c| media::claim(c, now, lease_until, limit))
            .await
    }

    async fn finish_media(
        &self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, StoreError> {
        self.write(move |c| media::finish(c, message, index, token, outcome.clone(), now))
            .await
    }

    async fn media_jobs(&self, message: MessageId) -> Result<Vec<MediaJob>, StoreError> {
        self.read(move |c| media::for_message(c, message)).await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.write(move |c| outbox::claim(c, now, lease_until, limit))
            .await
    }

    async fn finish_outbox(
        &self,
        id: OutboxId,
        token: Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        self.write(move |c| outbox::finish(c, id, token, outcome.clone(), now))
            .await
    }

    async fn outbox_entry(&self, id: OutboxId) -> Result<Option<OutboxEntry>, StoreError> {
        self.read(move |c| outbox::get(c, id)).await
    }

    async fn outbox_for_message(
        &self,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.read(move |c| outbox::for_message(c, message)).await
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        self.read(outbox::pending).await
    }
}

#[async_trait]
impl EventLogStore for SqliteStore {
    async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        self.read(move |c| events::after(c, after, limit)).await
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventPosition>, StoreError> {
        let consumer = consumer.to_owned();
        self.read(move |c| events::consumer(c, &consumer)).await
    }

    async fn save_consumer_position(
        &self,
        consumer: &str,
        position: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| events::save_consumer(c, &consumer, position, now))
            .await
    }

    async fn remove_consumer(&self, consumer: &str) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| events::remove_consumer(c, &consumer))
            .await
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.write(move |c| events::prune(c, before, limit)).await
    }
}

/// The error of a failed write, for each request it failed: a temporary
/// failure stays one (retried), anything else is a backend error.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        StoreError::Unusable(why) => StoreError::Unusable(why.clone()),
        other => StoreError::Backend(other.to_string().into()),
    }
}

#[async_trait]
impl chatlines_core::TimerStore for SqliteStore {
    async fn claim_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<chatlines_core::ClaimedTimer>, StoreError> {
        self.write(move |c| timers::claim(c, now, lease_until, limit))
            .await
    }

    async fn fire_timer(
        &self,
        claimed: &chatlines_core::ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<chatlines_core::FireOutcome, StoreError> {
        let claimed = claimed.clone();
        self.write(move |c| timers::fire(c, &claimed, now)).await
    }

    /// One write request for the batch (one transaction, a savepoint per
    /// timer), the lines' settings read once.
    async fn fire_timers(
        &self,
        claimed: &[chatlines_core::ClaimedTimer],
        now: DateTime<Utc>,
    ) -> Vec<Result<chatlines_core::FireOutcome, StoreError>> {
        let batch = claimed.to_vec();
        match self
            .write(move |c| timers::fire_batch(c, &batch, now))
            .await
        {
            Ok(outcomes) => outcomes,
            // Nothing of the batch was kept: every timer failed so.
            Err(e) => claimed.iter().map(|_| Err(copy_error(&e))).collect(),
        }
    }

    async fn session_timers(
        &self,
        session: SessionId,
    ) -> Result<Vec<chatlines_core::Timer>, StoreError> {
        self.read(move |c| timers::of_session(c, session)).await
    }

    async fn due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.read(move |c| timers::due(c, now)).await
    }
}
