//! Settings of a [`SqliteStore`](super::SqliteStore).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to open a [`SqliteStore`](super::SqliteStore).
///
/// ```
/// use chatlines_store::sqlite::SqliteConfig;
/// let config = SqliteConfig::new("/var/lib/chatlines/chatlines.db")
///     .readers(2)
///     .max_batch(256);
/// assert_eq!(config.readers, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file (created if missing). Default `chatlines.db`.
    pub path: PathBuf,
    /// Read connections, each on its own thread. Default 4.
    pub readers: usize,
    /// Most write requests committed in one transaction (group commit).
    /// Default 512.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another process
    /// before failing with [`StoreError::Unavailable`](chatlines_core::StoreError::Unavailable).
    /// Default 5 s.
    pub busy_timeout: Duration,
    /// How long a line or source read by id is served from memory. Changes
    /// made through the store are seen at once whatever this is; changes
    /// another process makes to the same file are seen after at most this
    /// long. Zero turns the cache off. Default 1 s.
    pub config_cache_ttl: Duration,
    /// How long the writer thread, having committed everything queued,
    /// keeps looking for the next request before it sleeps. A request that
    /// arrives meanwhile starts at once instead of first waking the thread.
    /// With [`inline_writes`](Self::inline_writes) off, this takes about a
    /// third off a lone caller's append when it awaits each answer before
    /// sending the next. While it looks, the thread yields to any other
    /// runnable thread. Zero: sleep at once. Default 50 µs.
    pub writer_spin: Duration,
    /// How long a reader thread, having finished a read with none waiting,
    /// keeps looking for the next before it sleeps. A read goes to the
    /// reader idle last, so a caller reading page after page finds it
    /// awake, with the pages it read before still in its cache. While it
    /// looks, the thread yields to any other runnable thread. Zero: sleep
    /// at once. Default 50 µs.
    pub reader_spin: Duration,
    /// Whether a write made while no other write is in flight commits on
    /// the caller's own thread, as a group of one, instead of being handed
    /// to the writer thread. It then costs no hand-over and no wake-up,
    /// which roughly halves a lone caller's write; the caller's task is
    /// blocked for that commit (tens of microseconds: a commit writes the
    /// WAL without waiting for the disk). Writes made while others are in
    /// flight always join the thread's next group and share its commit.
    /// Default `true`; `false` sends every write through the thread.
    pub inline_writes: bool,
    /// Whether a read made while no other read is in flight runs on the
    /// caller's own thread, on a connection kept for that (one more than
    /// [`readers`](Self::readers)), instead of being handed to a reader
    /// thread. It then costs no hand-over and no wake-up; the caller's task
    /// is blocked for that read (a lookup takes microseconds, a page of a
    /// few hundred rows a few hundred). Reads made while others are in
    /// flight always go to the reader threads. Default `true`; `false`
    /// sends every read to the reader threads.
    pub inline_reads: bool,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("chatlines.db"),
            readers: 4,
            max_batch: 512,
            busy_timeout: Duration::from_secs(5),
            config_cache_ttl: Duration::from_secs(1),
            writer_spin: Duration::from_micros(50),
            reader_spin: Duration::from_micros(50),
            inline_writes: true,
            inline_reads: true,
        }
    }
}

impl SqliteConfig {
    /// Defaults, with the database at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            ..Self::default()
        }
    }

    /// Sets the number of read connections (at least one is used).
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Sets the group-commit cap (at least one).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// Sets how long to wait for another process's lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets how long a line or source read by id is served from memory
    /// (zero: always read from the file).
    pub fn config_cache_ttl(mut self, ttl: Duration) -> Self {
        self.config_cache_ttl = ttl;
        self
    }

    /// Sets how long the idle writer looks for the next request before it
    /// sleeps (zero: at once).
    pub fn writer_spin(mut self, spin: Duration) -> Self {
        self.writer_spin = spin;
        self
    }

    /// Sets how long an idle reader thread looks for the next read before
    /// it sleeps (zero: at once).
    pub fn reader_spin(mut self, spin: Duration) -> Self {
        self.reader_spin = spin;
        self
    }

    /// Sets whether a read made while no other is in flight runs on the
    /// caller's thread (see [`SqliteConfig::inline_reads`]).
    pub fn inline_reads(mut self, inline: bool) -> Self {
        self.inline_reads = inline;
        self
    }

    /// Sets whether a write finding the writer idle commits on the
    /// caller's thread (see [`SqliteConfig::inline_writes`]).
    pub fn inline_writes(mut self, inline: bool) -> Self {
        self.inline_writes = inline;
        self
    }
}
