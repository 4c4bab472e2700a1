//! Reader threads: each owns a read-only connection and runs reads handed
//! to it, beside the writer (WAL) and off the async runtime.
//!
//! A read goes to the reader that became idle last: its connection's page
//! cache holds what it read just before, and it is likely still looking
//! for work (for [`SqliteConfig::reader_spin`](super::SqliteConfig::reader_spin)
//! before it sleeps), so a caller reading page after page finds it awake.
//! With every reader busy, reads wait in one queue, oldest first.
//!
//! A read made while no other is in flight runs on the caller's own thread,
//! on a connection kept for that
//! ([`SqliteConfig::inline_reads`](super::SqliteConfig::inline_reads)): it
//! then costs no hand-over and no wake-up of either thread.

use super::schema::open_reader;
use super::writer::InFlight;
use chatlines_core::StoreError;
use rusqlite::Connection;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One read, type-erased: run on a connection, then answered.
trait Job: Send {
    /// Runs the read and keeps its outcome.
    fn run(&mut self, conn: &Connection);
    /// Sends the outcome; a read that panicked sends none, and its caller
    /// learns it from the dropped reply.
    fn reply(self: Box<Self>);
}

type ReadJob = Box<dyn Job>;

struct Read<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Read<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) {
        if let Some(work) = self.work.take() {
            self.outcome = Some(work(conn));
        }
    }

    fn reply(self: Box<Self>) {
        if let Some(outcome) = self.outcome {
            // The caller may have gone away; nothing to do then.
            let _ = self.reply.send(outcome);
        }
    }
}

/// Which readers wait for work, and the reads waiting for a reader.
#[derive(Default)]
struct State {
    /// Idle readers, the one idle last on top.
    idle: Vec<usize>,
    /// Reads made while every reader was busy.
    queue: VecDeque<ReadJob>,
}

/// A pool of reader threads.
pub(crate) struct Readers {
    state: Arc<Mutex<State>>,
    /// One hand-off channel per reader, by index.
    slots: Vec<mpsc::Sender<ReadJob>>,
    /// The connection a lone caller reads on itself, if inline reads are
    /// on.
    own: Option<Mutex<Connection>>,
    /// Reads made and not yet answered.
    in_flight: AtomicUsize,
}

impl Readers {
    /// Opens `count` (at least one) read connections on `path` and starts a
    /// thread for each; an idle thread looks for work for `spin` before it
    /// sleeps. With `inline`, one more connection serves lone callers on
    /// their own thread.
    pub(crate) fn start(
        path: &Path,
        count: usize,
        busy_timeout: Duration,
        spin: Duration,
        inline: bool,
    ) -> Result<Self, StoreError> {
        let state = Arc::new(Mutex::new(State::default()));
        let mut slots = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let conn = open_reader(path, busy_timeout)?;
            let (tx, rx) = mpsc::channel::<ReadJob>();
            let reader = Reader {
                index: i,
                conn,
                jobs: rx,
                state: Arc::clone(&state),
                spin,
            };
            std::thread::Builder::new()
                .name(format!("chatlines-sqlite-reader-{i}"))
                .spawn(move || reader.serve())
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot start a SQLite reader thread: {e}"))
                })?;
            slots.push(tx);
        }
        let own = if inline {
            Some(Mutex::new(open_reader(path, busy_timeout)?))
        } else {
            None
        };
        Ok(Self {
            state,
            slots,
            own,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Runs `work` on a read connection.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (_in_flight, alone) = InFlight::enter(&self.in_flight);
        let work = match self.read_inline(alone, work) {
            Ok(outcome) => return outcome,
            Err(work) => work,
        };
        let (reply, rx) = oneshot::channel();
        self.hand(Box::new(Read {
            work: Some(work),
            outcome: None,
            reply,
        }))?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `work` on this thread if the read is `alone` and the inline
    /// connection is free; hands `work` back otherwise.
    fn read_inline<T, F>(&self, alone: bool, work: F) -> Result<Result<T, StoreError>, F>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let conn = match &self.own {
            Some(own) if alone => own.try_lock().ok(),
            _ => None,
        };
        let Some(conn) = conn else {
            return Err(work);
        };
        // A panicking read (a bug) fails that call only; the guard is
        // still held here, so the connection's mutex is not poisoned.
        Ok(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&conn))).unwrap_or_else(
                |_| {
                    tracing::error!("a SQLite read request panicked");
                    Err(stopped())
                },
            ),
        )
    }

    /// Gives `job` to the reader idle last, or queues it.
    fn hand(&self, job: ReadJob) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(index) = state.idle.pop() else {
            state.queue.push_back(job);
            return Ok(());
        };
        drop(state);
        self.slots
            .get(index)
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable(
        "the SQLite read failed before answering (readers stopped or the read panicked); retry"
            .to_owned(),
    )
}

/// One reader thread's side.
struct Reader {
    index: usize,
    conn: Connection,
    jobs: mpsc::Receiver<ReadJob>,
    state: Arc<Mutex<State>>,
    spin: Duration,
}

impl Reader {
    fn serve(self) {
        let mut next = self.queued_or_idle().or_else(|| self.handed());
        while let Some(mut job) = next {
            // A panicking read (a bug) fails that call only; the thread
            // goes on.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&self.conn)))
                .is_err()
            {
                tracing::error!("a SQLite read request panicked");
            }
            // Idle before answering: the caller's next read then comes
            // here.
            let queued = self.queued_or_idle();
            job.reply();
            next = queued.or_else(|| self.handed());
        }
    }

    /// The oldest queued read; with none, marks this reader idle.
    fn queued_or_idle(&self) -> Option<ReadJob> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = state.queue.pop_front();
        if queued.is_none() {
            state.idle.push(self.index);
        }
        queued
    }

    /// The next read handed to this (idle) reader; `None` once the pool
    /// is gone.
    fn handed(&self) -> Option<ReadJob> {
        if !self.spin.is_zero() {
            let start = Instant::now();
            loop {
                match self.jobs.try_recv() {
                    Ok(job) => return Some(job),
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                    Err(mpsc::TryRecvError::Empty) if start.elapsed() >= self.spin => break,
                    Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                }
            }
        }
        self.jobs.recv().ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn database(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("readers.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);
             INSERT INTO t (id) VALUES (1), (2), (3);",
        )
        .unwrap();
        path
    }

    fn reader_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// Waits until all `n` readers have started and wait for work.
    async fn all_idle(readers: &Readers, n: usize) {
        while readers.state.lock().unwrap().idle.len() < n {
            tokio::task::yield_now().await;
        }
    }

    /// Reads made one after another go to the same reader, the one idle
    /// last, whether it is still looking for work or asleep.
    #[tokio::test(flavor = "current_thread")]
    async fn reads_in_turn_go_to_the_reader_idle_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir);
        for spin in [Duration::from_millis(5), Duration::ZERO] {
            let readers = Readers::start(&path, 3, Duration::from_secs(1), spin, false).unwrap();
            all_idle(&readers, 3).await;
            let mut names = std::collections::BTreeSet::new();
            for _ in 0..20 {
                let (name, count) = readers
                    .read(|c| {
                        let count: i64 = c
                            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                            .map_err(super::super::rows::db_err)?;
                        Ok((reader_name(), count))
                    })
                    .await
                    .unwrap();
                assert_eq!(count, 3);
                names.insert(name);
            }
            assert_eq!(names.len(), 1, "{names:?}");
        }
    }

    /// With every reader busy, further reads wait in the queue and are all
    /// answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_beyond_the_readers_wait_and_are_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir);
        let readers = Arc::new(
            Readers::start(&path, 2, Duration::from_secs(1), Duration::ZERO, false).unwrap(),
        );
        all_idle(&readers, 2).await;
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release_tx, release) = std::sync::mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        // Both readers are held until the other reads are queued.
        let held: Vec<_> = (0..2)
            .map(|_| {
                let readers = Arc::clone(&readers);
                let (started_tx, release) = (started_tx.clone(), Arc::clone(&release));
                tokio::spawn(async move {
                    readers
                        .read(move |_| {
                            let _ = started_tx.send(());
                            let _ = release.lock().unwrap().recv();
                            Ok(reader_name())
                        })
                        .await
                })
            })
            .collect();
        let mut running = 0;
        while running < 2 {
            match started.try_recv() {
                Ok(()) => running += 1,
                Err(_) => tokio::task::yield_now().await,
            }
        }
        let waiting: Vec<_> = (0..10i64)
            .map(|i| {
                let readers = Arc::clone(&readers);
                tokio::spawn(async move { readers.read(move |_| Ok(i)).await })
            })
            .collect();
        while readers.state.lock().unwrap().queue.len() < 10 {
            tokio::task::yield_now().await;
        }
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        let mut names = std::collections::BTreeSet::new();
        for h in held {
            names.insert(h.await.unwrap().unwrap());
        }
        assert_eq!(names.len(), 2);
        for (i, w) in waiting.into_iter().enumerate() {
            assert_eq!(w.await.unwrap().unwrap(), i as i64);
        }
    }

    /// With inline reads on, a lone read runs on its caller's thread; one
    /// that finds the inline connection taken goes to a reader thread.
    #[tokio::test(flavor = "current_thread")]
    // The test holds the inline connection while the read runs.
    #[allow(clippy::await_holding_lock)]
    async fn a_lone_read_runs_on_the_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir);
        let readers =
            Readers::start(&path, 2, Duration::from_secs(1), Duration::ZERO, true).unwrap();
        let caller = reader_name();
        assert_eq!(readers.read(|_| Ok(reader_name())).await.unwrap(), caller);
        let panicked = readers
            .read(|_| -> Result<(), StoreError> { panic!("a bug in a read") })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))));

        let taken = readers.own.as_ref().unwrap().lock().unwrap();
        let name = readers.read(|_| Ok(reader_name())).await.unwrap();
        assert!(name.starts_with("chatlines-sqlite-reader-"), "{name}");
        drop(taken);
        assert_eq!(readers.read(|_| Ok(reader_name())).await.unwrap(), caller);
    }
}
