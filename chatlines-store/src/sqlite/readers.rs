//! Reader threads: each owns a read-only connection and runs queued reads,
//! so reads never block the async runtime and run beside the writer (WAL).

use super::schema::open_reader;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// A pool of reader threads sharing one queue.
pub(crate) struct Readers {
    tx: mpsc::Sender<ReadJob>,
}

impl Readers {
    /// Opens `count` (at least one) read connections on `path` and starts a
    /// thread for each.
    pub(crate) fn start(
        path: &Path,
        count: usize,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<ReadJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..count.max(1) {
            let conn = open_reader(path, busy_timeout)?;
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("chatlines-sqlite-reader-{i}"))
                .spawn(move || serve(&conn, &rx))
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot start a SQLite reader thread: {e}"))
                })?;
        }
        Ok(Self { tx })
    }

    /// Runs `work` on a read connection.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(work(conn));
        });
        self.tx.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable(
        "the SQLite read failed before answering (readers stopped or the read panicked); retry"
            .to_owned(),
    )
}

fn serve(conn: &Connection, rx: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking read (a bug) fails that call only; the thread goes on.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a SQLite read request panicked");
        }
    }
}
