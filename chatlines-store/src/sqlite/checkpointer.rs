//! The checkpointer thread: copies committed pages from the WAL back into
//! the database file, off the writer's path.
//!
//! A checkpoint writes pages and `fsync`s the database file; run by the
//! writer (SQLite's auto-checkpoint), it stalls every commit queued behind
//! it. Here the writer only nudges this thread after a commit, and the
//! thread runs a `PASSIVE` checkpoint on its own connection (it never blocks
//! the writer or readers), at most once per [`INTERVAL`].
//!
//! The WAL file starts over only once a checkpoint has copied all of it
//! back. Under sustained writes a passive checkpoint never quite catches
//! up, so the writer keeps SQLite's auto-checkpoint with a far larger
//! threshold (100,000 pages, ~400 MB) as a backstop: it then checkpoints the
//! little that is left itself and the log restarts (and is truncated to
//! 64 MiB). Any pause in writing longer than a checkpoint does the same.

use super::rows::DbResult;
use super::schema::open_checkpointer;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The shortest time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// Handle to the thread; dropping it ends the thread and waits for it, so
/// its connection is closed when the drop returns.
pub(crate) struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    /// Dropped to end the thread's rest between checkpoints at once.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection on the (migrated) database at `path` and starts
    /// the thread.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let conn = open_checkpointer(path, busy_timeout)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("chatlines-sqlite-checkpoint".to_owned())
            .spawn(move || run(&conn, &nudged, &stopped))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite checkpoint thread: {e}"))
            })?;
        Ok(Self {
            nudge: Some(nudge),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Says that a commit added pages to the WAL. Never blocks, and wakes
    /// the thread only when it waits for work: while it checkpoints or
    /// rests, the one queued nudge makes the next checkpoint due.
    pub(crate) fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a checkpoint is already due.
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Disconnecting wakes the thread, waiting or resting, and it ends.
        self.nudge = None;
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite checkpoint thread panicked");
            }
        }
    }
}

/// Checkpoints after nudges, at most once per [`INTERVAL`]; returns when
/// the handle is dropped.
fn run(conn: &Connection, nudged: &mpsc::Receiver<()>, stopped: &mpsc::Receiver<()>) {
    while nudged.recv().is_ok() {
        match checkpoint(conn) {
            Ok((wal, copied)) => tracing::trace!(wal, copied, "SQLite checkpoint"),
            Err(e) => {
                tracing::warn!(error = %e, "SQLite checkpoint failed; retrying after the next commit")
            }
        }
        // Rest without taking nudges (they wait in the channel), unless
        // told to stop.
        match stopped.recv_timeout(INTERVAL) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One passive checkpoint: (frames in the WAL, frames copied back).
fn checkpoint(conn: &Connection) -> Result<(i64, i64), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
    .db()
}
