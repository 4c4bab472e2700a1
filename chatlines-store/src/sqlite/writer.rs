//! The writer thread: owns the write connection and commits queued
//! requests in groups.
//!
//! Callers queue a request and await a oneshot reply. The thread takes the
//! first waiting request, drains whatever else is queued (up to the batch
//! cap), and runs the whole group in one `BEGIN IMMEDIATE` transaction, each
//! request inside its own `SAVEPOINT` so that a request's error rolls back
//! that request only. Replies are sent after `COMMIT` returned, so an `Ok`
//! is durable.
//!
//! With the queue empty the thread keeps looking for a new request for
//! [`SqliteConfig::writer_spin`](super::SqliteConfig::writer_spin),
//! yielding between looks, before it sleeps: a caller awaiting each answer
//! before it sends the next then finds the thread awake.

use super::checkpointer::Checkpointer;
use super::rows::db_err;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One queued request, type-erased.
trait Job: Send {
    /// Runs the request on the connection (inside its savepoint); returns
    /// whether it succeeded, i.e. whether its writes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the reply once the group's fate is known: `Ok` after COMMIT,
    /// or the reason the group's transaction failed.
    fn reply(self: Box<Self>, committed: Result<(), &str>);
}

struct Request<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Request<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panic in a request (a bug) must not take the writer down: it
        // becomes that request's error and its writes are rolled back.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| {
                tracing::error!("a SQLite write request panicked; its writes were rolled back");
                Err(StoreError::Backend(
                    "the write request panicked (a bug in chatlines); nothing was written".into(),
                ))
            });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn reply(self: Box<Self>, committed: Result<(), &str>) {
        let outcome = match (self.outcome, committed) {
            // A request that failed wrote nothing: its own error stands.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(why)) | (None, Err(why)) => Err(StoreError::Unavailable(format!(
                "the write was rolled back: {why}; retry"
            ))),
            (None, Ok(())) => Err(StoreError::Unavailable(
                "the write was not run; retry".to_owned(),
            )),
        };
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(outcome);
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// How the writer thread groups and waits for requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterSettings {
    /// Most requests in one transaction (at least one).
    pub(crate) max_batch: usize,
    /// How long an idle writer looks for the next request before sleeping.
    pub(crate) spin: Duration,
}

impl WriterSettings {
    pub(crate) fn of(config: &super::SqliteConfig) -> Self {
        Self {
            max_batch: config.max_batch.max(1),
            spin: config.writer_spin,
        }
    }
}

/// Handle to the writer thread. Dropping it (with every clone of the
/// sender) lets the thread finish its queue and close the connection.
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the thread with the (already migrated) write connection,
    /// nudging `checkpointer` (if any) after each commit.
    pub(crate) fn start(
        conn: Connection,
        settings: WriterSettings,
        checkpointer: Option<Checkpointer>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let _handle: JoinHandle<()> = std::thread::Builder::new()
            .name("chatlines-sqlite-writer".to_owned())
            .spawn(move || run(conn, rx, settings, checkpointer))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}"))
            })?;
        Ok(Self { tx })
    }

    /// Runs `work` in the next group commit and returns its result once
    /// committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Request {
            work: Some(work),
            outcome: None,
            reply,
        };
        self.tx
            .send(Msg::Job(Box::new(job)))
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Asks the thread to finish the queue, close the connection and stop;
    /// returns when it did.
    pub(crate) async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The error of a write after the writer stopped.
fn stopped() -> StoreError {
    StoreError::Unavailable(
        "the SQLite writer has stopped (store closed or its thread failed); reopen the store"
            .to_owned(),
    )
}

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Msg>,
    settings: WriterSettings,
    checkpointer: Option<Checkpointer>,
) {
    let max_batch = settings.max_batch;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    let mut closing: Option<oneshot::Sender<()>> = None;
    while let Some(first) = next_request(&rx, settings.spin) {
        // Take what is queued now, up to the cap: requests that arrive while
        // this group commits form the next group. (Waiting for more before
        // committing was measured slower: it idles the writer.)
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => batch.push(job),
                Msg::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_group(&conn, &mut batch);
            if let Some(checkpointer) = &checkpointer {
                checkpointer.nudge();
            }
        }
        if closing.is_some() {
            break;
        }
    }
    // The checkpointer ends first, so this connection closes last and
    // folds the WAL into the database.
    drop(checkpointer);
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite write connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// The next request, or `None` once every sender is gone: looks at the
/// queue for up to `spin` (yielding the CPU between looks) before it
/// sleeps. With one caller, going to sleep and being woken took about a
/// fifth of the thread's time per request, and that caller's next request
/// comes tens of microseconds after the last answer.
fn next_request(rx: &mpsc::Receiver<Msg>, spin: Duration) -> Option<Msg> {
    if !spin.is_zero() {
        let start = Instant::now();
        loop {
            match rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(mpsc::TryRecvError::Disconnected) => return None,
                Err(mpsc::TryRecvError::Empty) if start.elapsed() >= spin => break,
                Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
    }
    rx.recv().ok()
}

/// Runs one group in one transaction and replies to every request.
fn commit_group(conn: &Connection, batch: &mut Vec<Box<dyn Job>>) {
    let failure = match run_group(conn, batch) {
        Ok(()) => None,
        Err(e) => {
            if !conn.is_autocommit() {
                if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                    tracing::error!(error = %rollback, "rolling back a failed group commit failed");
                }
            }
            tracing::warn!(error = %e, requests = batch.len(), "SQLite group commit failed");
            Some(e.to_string())
        }
    };
    for job in batch.drain(..) {
        job.reply(match &failure {
            None => Ok(()),
            Some(why) => Err(why.as_str()),
        });
    }
}

fn run_group(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    exec(conn, "BEGIN IMMEDIATE")?;
    // A request alone needs no savepoint: the transaction is its own, and a
    // failed request rolls all of it back.
    if let [job] = batch {
        return if job.run(conn) {
            exec(conn, "COMMIT")
        } else {
            exec(conn, "ROLLBACK")
        };
    }
    for job in batch.iter_mut() {
        exec(conn, "SAVEPOINT request")?;
        if !job.run(conn) {
            exec(conn, "ROLLBACK TO request")?;
        }
        exec(conn, "RELEASE request")?;
    }
    exec(conn, "COMMIT")
}

/// Runs one cached statement without parameters.
fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(db_err)
}
