//! The writer: a thread that commits queued requests in groups on the one
//! write connection, which a lone caller may also use itself.
//!
//! Callers queue a request and await a oneshot reply. The thread takes the
//! first waiting request, drains whatever else is queued (up to the batch
//! cap), and runs the whole group in one `BEGIN IMMEDIATE` transaction.
//! Replies are sent after `COMMIT` returned, so an `Ok` is durable.
//!
//! A request's error must roll back that request only. The group first
//! runs without savepoints: a savepoint makes SQLite copy every page a
//! request changes into its statement journal, which cost the writer about
//! a tenth of its time per message. When a request fails, the whole
//! transaction is rolled back and the group runs again with a savepoint
//! around each request, the failed one left out (it keeps its error).
//! Requests are therefore closures that can run more than once (`FnMut`);
//! only the outcome of the run that committed is answered. Each request
//! runs at most twice, and failures are rare (a missing record, a version
//! conflict), so the common group costs no savepoint at all.
//!
//! With the queue empty the thread keeps looking for a new request for
//! [`SqliteConfig::writer_spin`](super::SqliteConfig::writer_spin),
//! yielding between looks, before it sleeps: a caller awaiting each answer
//! before it sends the next then finds the thread awake.
//!
//! A request made while no other is in flight commits on the caller's own
//! thread, as a group of one
//! ([`SqliteConfig::inline_writes`](super::SqliteConfig::inline_writes)):
//! a lone caller's write then costs no hand-over to the thread and no
//! wake-up of the caller's. Only then: with other writes in flight, the
//! request joins the thread's next group, whose commit it shares (a commit
//! of one each was measured far slower under concurrent load). The
//! connection sits behind a mutex that the thread holds for each group; a
//! caller only ever tries it, and queues its request when it is taken.

use super::checkpointer::Checkpointer;
use super::rows::db_err;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One queued request, type-erased.
trait Job: Send {
    /// Runs the request on the connection; returns whether it succeeded,
    /// i.e. whether its writes are to be kept. May be called again after
    /// the transaction was rolled back; the last run's outcome is answered.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether the last run failed: its error is the answer, and the
    /// request is not run again.
    fn failed(&self) -> bool;
    /// Sends the reply once the group's fate is known: `Ok` after COMMIT,
    /// or the reason the group's transaction failed.
    fn reply(self: Box<Self>, committed: Result<(), &str>);
}

struct Request<T, F> {
    work: F,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Request<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let work = &mut self.work;
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

    fn failed(&self) -> bool {
        matches!(self.outcome, Some(Err(_)))
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
    /// Whether a request made while no other is in flight commits on its
    /// caller's thread.
    pub(crate) inline: bool,
}

impl WriterSettings {
    pub(crate) fn of(config: &super::SqliteConfig) -> Self {
        Self {
            max_batch: config.max_batch.max(1),
            spin: config.writer_spin,
            inline: config.inline_writes,
        }
    }
}

/// The write connection and what is nudged after each commit: held by the
/// thread for each group, or by a caller committing inline.
struct Held {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
}

impl Held {
    fn commit(&self, batch: &mut Vec<Box<dyn Job>>) {
        commit_group(&self.conn, batch);
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.nudge();
        }
    }
}

/// What the thread and the callers share.
struct Shared {
    /// `None` once the thread closed the connection.
    held: Mutex<Option<Held>>,
    /// Requests made and not yet answered.
    in_flight: AtomicUsize,
}

/// Counts a request in flight until dropped (answered or abandoned).
pub(super) struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    /// Counts one more; returns the guard and whether it is the only one.
    pub(super) fn enter(count: &'a AtomicUsize) -> (Self, bool) {
        let alone = count.fetch_add(1, Ordering::AcqRel) == 0;
        (Self(count), alone)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Handle to the writer thread. Dropping it (with every clone of the
/// sender) lets the thread finish its queue and close the connection.
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    inline: bool,
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
        let shared = Arc::new(Shared {
            held: Mutex::new(Some(Held { conn, checkpointer })),
            in_flight: AtomicUsize::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        let _handle: JoinHandle<()> = std::thread::Builder::new()
            .name("chatlines-sqlite-writer".to_owned())
            .spawn(move || run(&thread_shared, rx, settings))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}"))
            })?;
        Ok(Self {
            tx,
            shared,
            inline: settings.inline,
        })
    }

    /// Runs `work` in the next group commit and returns its result once
    /// committed. `work` may run more than once (see the module docs); the
    /// answer is the outcome of the run that committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Request {
            work,
            outcome: None,
            reply,
        });
        let (_in_flight, alone) = InFlight::enter(&self.shared.in_flight);
        // Committed inline, the answer is already in `rx`.
        let job = if alone && self.inline {
            self.commit_inline(job)
        } else {
            Some(job)
        };
        if let Some(job) = job {
            self.tx.send(Msg::Job(job)).map_err(|_| stopped())?;
        }
        rx.await.map_err(|_| stopped())?
    }

    /// Commits `job` alone on this thread if the connection is free;
    /// otherwise hands it back, to be queued.
    fn commit_inline(&self, job: Box<dyn Job>) -> Option<Box<dyn Job>> {
        let held = match self.shared.held.try_lock() {
            Ok(held) => held,
            // A panic outside any request (requests catch their own) left
            // the mutex poisoned; the connection is still consistent: every
            // group ends in COMMIT or ROLLBACK before the lock is let go.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Some(job),
        };
        let Some(held) = held.as_ref() else {
            // Closed: the thread answers, or the send fails.
            return Some(job);
        };
        let mut batch = vec![job];
        held.commit(&mut batch);
        None
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

fn run(shared: &Shared, rx: mpsc::Receiver<Msg>, settings: WriterSettings) {
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
            let held = shared.held.lock().unwrap_or_else(PoisonError::into_inner);
            match held.as_ref() {
                Some(held) => held.commit(&mut batch),
                None => batch.clear(),
            }
        }
        if closing.is_some() {
            break;
        }
    }
    let held = shared
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(Held { conn, checkpointer }) = held {
        // The checkpointer ends first, so this connection closes last and
        // folds the WAL into the database.
        drop(checkpointer);
        if let Err((_, e)) = conn.close() {
            tracing::warn!(error = %e, "closing the SQLite write connection failed");
        }
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
    for job in batch.iter_mut() {
        if !job.run(conn) {
            // Its writes may be half done: start over without it.
            rollback(conn)?;
            if batch.len() == 1 {
                return Ok(());
            }
            return run_guarded(conn, batch);
        }
    }
    exec(conn, "COMMIT")
}

/// Runs the group again after a request failed, each request inside its
/// own savepoint so that a failure rolls back that request only. Requests
/// that already failed keep their error and are not run again.
fn run_guarded(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut().filter(|job| !job.failed()) {
        exec(conn, "SAVEPOINT request")?;
        if !job.run(conn) {
            exec(conn, "ROLLBACK TO request")?;
        }
        exec(conn, "RELEASE request")?;
    }
    exec(conn, "COMMIT")
}

/// Rolls back the open transaction, if an error has not already done so.
fn rollback(conn: &Connection) -> Result<(), StoreError> {
    if conn.is_autocommit() {
        return Ok(());
    }
    exec(conn, "ROLLBACK")
}

/// Runs one cached statement without parameters.
fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(db_err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn insert(conn: &Connection, id: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (id) VALUES (?1)", [id])
            .map(|_| ())
            .map_err(db_err)
    }

    fn ids(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// Queues a request inserting `id` that counts its runs in `runs`.
    fn counted_insert(
        writer: &Arc<Writer>,
        runs: &Arc<AtomicUsize>,
        id: i64,
    ) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let (writer, runs) = (Arc::clone(writer), Arc::clone(runs));
        tokio::spawn(async move {
            writer
                .write(move |c| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    insert(c, id)
                })
                .await
        })
    }

    /// A group whose requests fail half-way (an error after a write, a
    /// panic after a write) keeps the other requests' writes and none of
    /// the failed ones', and answers each request with its own outcome.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_request_rolls_back_alone_and_the_group_commits() {
        let writer = table_writer(false);

        // The first request holds the writer until the others are queued,
        // so that they form one group.
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = std::sync::Mutex::new(released);
        let holder = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .write(move |c| {
                        let _ = started_tx.send(());
                        let _ = released.lock().unwrap().recv();
                        insert(c, 1)
                    })
                    .await
            }
        });
        while started.try_recv().is_err() {
            tokio::task::yield_now().await;
        }

        let runs_before = Arc::new(AtomicUsize::new(0));
        let runs_after = Arc::new(AtomicUsize::new(0));
        let before = counted_insert(&writer, &runs_before, 2);
        let fails = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .write(|c| {
                        insert(c, 3)?;
                        insert(c, 2).map(|()| "not reached")
                    })
                    .await
            }
        });
        let after = counted_insert(&writer, &runs_after, 4);
        let panics = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .write(|c| -> Result<(), StoreError> {
                        insert(c, 5)?;
                        panic!("a bug in a request")
                    })
                    .await
            }
        });
        let last = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move { writer.write(|c| insert(c, 6)).await }
        });
        // Every request above is queued once each task has run to its await.
        tokio::task::yield_now().await;
        release.send(()).unwrap();

        holder.await.unwrap().unwrap();
        before.await.unwrap().unwrap();
        assert!(matches!(
            fails.await.unwrap(),
            Err(StoreError::AlreadyExists { .. }) | Err(StoreError::Backend(_))
        ));
        after.await.unwrap().unwrap();
        assert!(matches!(panics.await.unwrap(), Err(StoreError::Backend(_))));
        last.await.unwrap().unwrap();
        // The request before the first failure ran again after the
        // rollback; the one after it ran once, in savepoint mode, where
        // the panic rolled back only its own request.
        assert_eq!(runs_before.load(Ordering::SeqCst), 2);
        assert_eq!(runs_after.load(Ordering::SeqCst), 1);

        let seen = writer.write(|c| Ok(ids(c))).await.unwrap();
        assert_eq!(seen, vec![1, 2, 4, 6]);
        writer.close().await;
    }

    fn table_writer(inline: bool) -> Arc<Writer> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .unwrap();
        let settings = WriterSettings {
            max_batch: 16,
            spin: Duration::ZERO,
            inline,
        };
        Arc::new(Writer::start(conn, settings, None).unwrap())
    }

    fn on_writer_thread() -> bool {
        std::thread::current().name() == Some("chatlines-sqlite-writer")
    }

    /// With inline writes on, a write that finds the writer idle runs on
    /// its caller's thread, and a failing or panicking one there rolls
    /// back alone; with them off, every write runs on the writer thread.
    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_write_commits_on_the_callers_thread_when_allowed() {
        let inline = table_writer(true);
        let ran_on_writer = inline
            .write(|c| insert(c, 1).map(|()| on_writer_thread()))
            .await
            .unwrap();
        assert!(!ran_on_writer);
        let failed = inline
            .write(|c| {
                insert(c, 2)?;
                insert(c, 1)
            })
            .await;
        assert!(failed.is_err());
        let panicked = inline
            .write(|c| -> Result<(), StoreError> {
                insert(c, 3)?;
                panic!("a bug in a request")
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Backend(_))));
        assert_eq!(inline.write(|c| Ok(ids(c))).await.unwrap(), vec![1]);
        inline.close().await;
        assert!(inline.write(|c| insert(c, 4)).await.is_err());

        let queued = table_writer(false);
        let ran_on_writer = queued
            .write(|c| insert(c, 1).map(|()| on_writer_thread()))
            .await
            .unwrap();
        assert!(ran_on_writer);
        queued.close().await;
    }

    /// A write that finds the connection taken is queued for the writer
    /// thread rather than waiting for the lock, and runs there once the
    /// connection is free.
    #[tokio::test(flavor = "current_thread")]
    // The test holds the connection as the writer thread would, while the
    // spawned write runs on this same thread.
    #[allow(clippy::await_holding_lock)]
    async fn a_write_finding_the_connection_taken_is_queued() {
        let writer = table_writer(true);
        let held = writer.shared.held.lock().unwrap();
        insert(&held.as_ref().unwrap().conn, 1).unwrap();
        let second = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move { writer.write(|c| Ok((ids(c), on_writer_thread()))).await }
        });
        // The spawned write has tried the lock and queued itself.
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(held);
        let (seen, ran_on_writer) = second.await.unwrap().unwrap();
        assert_eq!(seen, vec![1]);
        assert!(ran_on_writer);
        writer.close().await;
    }
}
