//! The checkpointer thread: copies committed pages from the WAL back into
//! the database file, off the writer's path.
//!
//! A checkpoint writes pages and `fsync`s the database file; run by the
//! writer (SQLite's auto-checkpoint), it stalls every commit queued behind
//! it. Here the writer only nudges this thread after a commit, and the
//! thread runs a `PASSIVE` checkpoint on its own connection (it never blocks
//! the writer or readers), at most once per [`INTERVAL`]. The writer keeps a
//! far larger auto-checkpoint threshold as a backstop, should this thread
//! fall behind.

use super::rows::DbResult;
use super::schema::open_checkpointer;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// Handle to the thread; dropping it ends the thread and waits for it, so
/// its connection is closed when the drop returns.
pub(crate) struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection on the (migrated) database at `path` and starts
    /// the thread.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let conn = open_checkpointer(path, busy_timeout)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("chatlines-sqlite-checkpoint".to_owned())
            .spawn(move || run(&conn, &nudged))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite checkpoint thread: {e}"))
            })?;
        Ok(Self {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Says that a commit added pages to the WAL. Never blocks.
    pub(crate) fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a checkpoint is already due.
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Disconnecting wakes the thread, which then ends.
        self.nudge = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite checkpoint thread panicked");
            }
        }
    }
}

/// Checkpoints after nudges, at most once per [`INTERVAL`]; returns when
/// the handle is dropped.
fn run(conn: &Connection, nudged: &mpsc::Receiver<()>) {
    let mut due = nudged.recv().is_ok();
    while due {
        match checkpoint(conn) {
            Ok((wal, copied)) => tracing::trace!(wal, copied, "SQLite checkpoint"),
            Err(e) => {
                tracing::warn!(error = %e, "SQLite checkpoint failed; retrying after the next commit")
            }
        }
        // Rest for the interval, but end at once when told to; a nudge
        // meanwhile makes the next checkpoint due right after the rest.
        due = false;
        let until = Instant::now() + INTERVAL;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match nudged.recv_timeout(left) {
                Ok(()) => due = true,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        if !due {
            due = nudged.recv().is_ok();
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
