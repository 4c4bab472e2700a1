//! The media fetch worker (feature `media`): downloads inbound attachments
//! off the webhook request path.
//!
//! The webhook endpoint stores a message with each attachment still at the
//! messenger marked [`Pending`](chatlines_core::AttachmentState::Pending),
//! and the store queues one fetch job per such attachment in the same
//! atomic call (a redelivered webhook queues nothing). Each round this
//! worker claims a batch of due jobs with a lease
//! ([`MediaStore::claim_media`]), downloads each through its source's
//! [`FetchMedia`] connector, puts the bytes into that connector's
//! [`BlobStore`](crate::BlobStore) under `<kind>/<file id>`, and records the
//! outcome ([`MediaStore::finish_media`]): the attachment becomes available
//! (blob key, real size) with an
//! [`AttachmentAvailable`](chatlines_core::Event::AttachmentAvailable)
//! event, or failed with
//! [`AttachmentFailed`](chatlines_core::Event::AttachmentFailed) — on a
//! permanent error (a file over the size limit, an unknown file) or after
//! `max_attempts`. Transient errors retry with back-off.
//!
//! Several workers may run over one store: the lease makes one of them
//! fetch a job at a time, and a job that was stored is never claimed again.
//! A worker that dies mid-fetch leaves its jobs to others once their lease
//! expires. A panic while fetching one job (a connector bug) is caught: the
//! job is retried later and the worker goes on.
//!
//! ```no_run
//! # async fn demo(store: chatlines_store::MemoryStore, messengers: chatlines_connectors::Messengers) {
//! use chatlines_connectors::media::MediaWorker;
//! let worker = MediaWorker::builder(store, messengers).build().spawn();
//! // … serve webhooks; call `worker.wake()` after one stored media …
//! worker.shutdown().await;
//! # }
//! ```

use crate::blobs::FetchMedia;
use crate::config::duration_ms;
use crate::dispatcher::Backoff;
use crate::registry::Messengers;
use chatlines_core::{
    Clock, MediaJob, MediaJobStatus, MediaOutcome, MediaStore, SendError, StoreError, SystemClock,
};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Tunables of a [`MediaWorker`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MediaConfig {
    /// How long a claim lasts (default 5 min; a download of a large file
    /// must fit in it). A worker that dies mid-fetch leaves the job to
    /// others after this.
    #[serde(with = "duration_ms")]
    pub lease: Duration,
    /// Jobs claimed per round (default 16).
    pub batch: usize,
    /// Downloads in parallel (default 4).
    pub concurrency: usize,
    /// Wait between rounds when there was nothing (more) to do (default 1 s).
    #[serde(with = "duration_ms")]
    pub poll_interval: Duration,
    /// Attempts before an attachment is marked failed (default 6).
    pub max_attempts: u32,
    /// Back-off between attempts.
    pub backoff: Backoff,
    /// The largest file stored, in bytes (default 100 MiB, the hub's
    /// default attachment limit); a larger one fails with that reason.
    pub max_bytes: u64,
    /// The longest wait a messenger's rate limit may impose (default 1 h).
    #[serde(with = "duration_ms")]
    pub max_retry_after: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            batch: 16,
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
            max_attempts: 6,
            backoff: Backoff::default(),
            max_bytes: 100 * 1024 * 1024,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl MediaConfig {
    /// Sets the lease length.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the attempt limit (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the back-off.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the largest file stored.
    pub fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the batch size (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }
}

/// What a worker has done since it started: its health, for the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// Rounds run.
    pub rounds: u64,
    /// Jobs claimed.
    pub claimed: u64,
    /// Attachments stored (now available).
    pub stored: u64,
    /// Attempts that will be retried.
    pub retried: u64,
    /// Attachments marked failed.
    pub failed: u64,
    /// Fetches that panicked (caught; the job was retried).
    pub panics: u64,
    /// Store calls that failed (claims and outcomes).
    pub store_errors: u64,
    /// The last error seen, if any.
    pub last_error: Option<String>,
}

/// Downloads pending inbound attachments; see the [module docs](self).
#[derive(Clone)]
pub struct MediaWorker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn MediaStore>,
    messengers: Messengers,
    clock: Arc<dyn Clock>,
    config: MediaConfig,
    stopping: AtomicBool,
    stats: watch::Sender<MediaStats>,
}

impl std::fmt::Debug for MediaWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaWorker")
            .field("config", &self.inner.config)
            .field("messengers", &self.inner.messengers)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MediaWorker`].
#[must_use]
pub struct MediaWorkerBuilder {
    store: Arc<dyn MediaStore>,
    messengers: Messengers,
    clock: Arc<dyn Clock>,
    config: MediaConfig,
}

impl MediaWorkerBuilder {
    /// The clock (default: system time). Due times, leases and back-off
    /// are computed from it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tunables.
    pub fn config(mut self, config: MediaConfig) -> Self {
        self.config = config;
        self
    }

    /// Finishes the worker.
    pub fn build(self) -> MediaWorker {
        MediaWorker {
            inner: Arc::new(Inner {
                store: self.store,
                messengers: self.messengers,
                clock: self.clock,
                config: self.config,
                stopping: AtomicBool::new(false),
                stats: watch::Sender::new(MediaStats::default()),
            }),
        }
    }
}

/// Wakes a running [`MediaWorker`] for an immediate round; cheap to clone
/// (hand it to the webhook endpoint with
/// [`WebhookEndpoint::with_media_wake`](crate::WebhookEndpoint::with_media_wake)).
#[derive(Clone, Debug)]
pub struct MediaWake(Arc<Notify>);

impl MediaWake {
    /// Asks for a round now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A running worker; stop it with [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct MediaWorkerHandle {
    worker: MediaWorker,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaWorkerHandle {
    /// Stops claiming, lets fetches in flight finish, releases claimed jobs
    /// not yet attempted (due again at once, counted as an attempt), and
    /// waits for all of it.
    pub async fn shutdown(self) {
        self.worker.inner.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "media worker task ended abnormally");
        }
    }

    /// Stops the worker at once, as a crash would: fetches in flight are
    /// dropped and their jobs stay leased until the lease expires, when
    /// another worker fetches them.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Wakes the worker for an immediate round.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A waker to hand to whoever stores media (the webhook endpoint).
    pub fn waker(&self) -> MediaWake {
        MediaWake(Arc::clone(&self.wake))
    }

    /// The worker's counters, updated after every job and round.
    pub fn stats(&self) -> watch::Receiver<MediaStats> {
        self.worker.stats()
    }
}

impl MediaWorker {
    /// Starts building a worker over a store (any [`MediaStore`]: every
    /// store, an `Arc<dyn Store>` included) and the connectors (sources
    /// registered with [`Messengers::insert_with_media`]).
    pub fn builder<S>(store: S, messengers: Messengers) -> MediaWorkerBuilder
    where
        S: MediaStore + 'static,
    {
        MediaWorkerBuilder {
            store: Arc::new(store),
            messengers,
            clock: Arc::new(SystemClock),
            config: MediaConfig::default(),
        }
    }

    /// The worker's counters.
    pub fn stats(&self) -> watch::Receiver<MediaStats> {
        self.inner.stats.subscribe()
    }

    /// Runs rounds in a background task until [`MediaWorkerHandle::shutdown`].
    /// Needs a Tokio runtime.
    pub fn spawn(self) -> MediaWorkerHandle {
        let wake = Arc::new(Notify::new());
        let this = self.clone();
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move { this.run(woken).await });
        MediaWorkerHandle {
            worker: self,
            wake,
            task,
        }
    }

    async fn run(&self, wake: Arc<Notify>) {
        let config = &self.inner.config;
        while !self.stopping() {
            // A panic in a round (outside the per-job isolation) must not
            // end the worker either.
            let round = AssertUnwindSafe(self.run_once()).catch_unwind().await;
            let claimed = match round {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "media claim failed; retrying after the poll interval");
                    self.note(|s| {
                        s.store_errors += 1;
                        s.last_error = Some(e.to_string());
                    });
                    0
                }
                Err(_) => {
                    tracing::error!("a media round panicked; going on");
                    self.note(|s| s.panics += 1);
                    0
                }
            };
            if claimed >= config.batch.max(1) {
                continue;
            }
            if self.stopping() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = wake.notified() => {}
            }
        }
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    fn note(&self, change: impl FnOnce(&mut MediaStats)) {
        self.inner.stats.send_modify(change);
    }

    /// One round: claims up to `batch` due jobs and fetches them. Returns
    /// how many were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let lease = chrono::Duration::from_std(inner.config.lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let until = now.checked_add_signed(lease).unwrap_or(now);
        let jobs = inner
            .store
            .claim_media(now, until, inner.config.batch.max(1))
            .await?;
        let claimed = jobs.len();
        self.note(|s| {
            s.rounds += 1;
            s.claimed += claimed as u64;
        });
        futures::stream::iter(jobs)
            .for_each_concurrent(inner.config.concurrency.max(1), |job| self.process(job))
            .await;
        Ok(claimed)
    }

    async fn process(&self, job: MediaJob) {
        let inner = &self.inner;
        let Some(lease) = job.lease else {
            tracing::warn!(message = %job.message, index = job.index, "claimed media job without a lease; skipped");
            return;
        };
        let outcome = if self.stopping() {
            MediaOutcome::Retry {
                at: inner.clock.now(),
                error: "media worker stopped before fetching; released".to_owned(),
            }
        } else {
            match AssertUnwindSafe(self.attempt(&job)).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::error!(message = %job.message, index = job.index, "media fetch panicked");
                    self.note(|s| s.panics += 1);
                    self.give_up(&job, "the connector panicked while fetching".to_owned())
                }
            }
        };
        match inner
            .store
            .finish_media(job.message, job.index, lease.token, outcome, inner.clock.now())
            .await
        {
            Ok(done) => self.note(|s| match done.status {
                MediaJobStatus::Done => s.stored += 1,
                MediaJobStatus::Failed => {
                    tracing::warn!(message = %done.message, index = done.index,
                        error = done.last_error.as_deref().unwrap_or(""), "inbound media failed for good");
                    s.failed += 1;
                    s.last_error.clone_from(&done.last_error);
                }
                _ => {
                    s.retried += 1;
                    s.last_error.clone_from(&done.last_error);
                }
            }),
            Err(e) => {
                tracing::warn!(message = %job.message, index = job.index, error = %e,
                    "cannot record the media outcome");
                self.note(|s| {
                    s.store_errors += 1;
                    s.last_error = Some(e.to_string());
                });
            }
        }
    }

    /// Retry later with back-off, or fail once the attempts are used up.
    fn give_up(&self, job: &MediaJob, error: String) -> MediaOutcome {
        let config = &self.inner.config;
        let attempt = job.attempts.saturating_add(1);
        if attempt >= config.max_attempts {
            MediaOutcome::Failed {
                reason: format!("gave up after {attempt} attempts: {error}"),
            }
        } else {
            self.retry_in(config.backoff.delay(attempt), error)
        }
    }

    fn retry_in(&self, wait: Duration, error: String) -> MediaOutcome {
        let now = self.inner.clock.now();
        let wait = wait.min(self.inner.config.max_retry_after);
        let at = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        MediaOutcome::Retry { at, error }
    }

    async fn attempt(&self, job: &MediaJob) -> MediaOutcome {
        let inner = &self.inner;
        let Some(fetcher) = inner.messengers.media(job.source) else {
            return self.give_up(
                job,
                format!("no media connector registered for source {}", job.source),
            );
        };
        let kind = inner
            .messengers
            .get(job.source)
            .map_or_else(|| "media".to_owned(), |m| m.kind().to_owned());
        fetch(self, fetcher.as_ref(), &kind, job).await
    }
}

/// Downloads one job's file and stores it; the outcome to record.
async fn fetch(
    worker: &MediaWorker,
    fetcher: &dyn FetchMedia,
    kind: &str,
    job: &MediaJob,
) -> MediaOutcome {
    let config = &worker.inner.config;
    let Some(blobs) = fetcher.blob_store() else {
        return worker.give_up(job, format!("the {kind} connector has no blob store"));
    };
    let Some(file) = fetcher.remote_file(&job.remote) else {
        return MediaOutcome::Failed {
            reason: format!(
                "the {kind} connector does not know the reference {:?}",
                job.remote
            ),
        };
    };
    let downloaded = match fetcher.download(file).await {
        Ok(downloaded) => downloaded,
        Err(SendError::Permanent(reason)) => return MediaOutcome::Failed { reason },
        Err(SendError::RateLimited { retry_after })
            if job.attempts.saturating_add(1) < config.max_attempts =>
        {
            return worker.retry_in(retry_after, format!("rate limited by {kind}"));
        }
        Err(e) => return worker.give_up(job, e.to_string()),
    };
    let bytes = downloaded.bytes;
    let size = bytes.len() as u64;
    if size > config.max_bytes {
        return MediaOutcome::Failed {
            reason: format!(
                "file of {size} bytes exceeds the limit of {} bytes",
                config.max_bytes
            ),
        };
    }
    let key = format!("{kind}/{file}");
    if let Err(e) = blobs.put(&key, &bytes).await {
        return worker.give_up(job, format!("cannot store the file: {e}"));
    }
    MediaOutcome::Stored {
        blob: key,
        size,
        mime_type: downloaded.mime_type,
    }
}
