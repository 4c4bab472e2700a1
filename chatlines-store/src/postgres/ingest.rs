//! Ingest in batches: concurrent `append_inbound` calls share a transaction.
//!
//! A background task of each [`PostgresStore`](super::PostgresStore)
//! gathers the messages handed to `append_inbound` and stores them with one
//! call of `chatlines_ingest_batch` (migration 0016; since migration 0017
//! it runs a fixed number of statements per batch, each over all of the
//! batch's messages): one transaction and one commit for the whole batch.
//! At most
//! [`ingest_pipelines`](super::PostgresConfig::ingest_pipelines) batches
//! are in flight; messages that arrive meanwhile form the next batch, and
//! a batch being gathered lets the other tasks run for as long as that
//! brings it more messages, so callers answered together send together.
//! Under light load a batch holds one message and waits one scheduler round
//! for company.
//!
//! The function takes the session locks of all the batch's messages first
//! (lines, then contacts, each in key order: see the
//! [module docs](super)), looks for sessions to reopen on lines with a
//! reopen window, stores the messages and cancels the timers a client's
//! message cancels; then the events of every stored message are computed
//! with core's [`inbound_events`](chatlines_core::machine::inbound_events)
//! and appended before the commit: two round trips, each pipelining its
//! statements.
//!
//! Every caller gets the answer for its own message, after the batch has
//! committed. A batch that lost a race is run again; one the database could
//! not take (unreachable, overloaded) answers every caller with
//! `Unavailable`; one the database refused is split, each message stored
//! alone, so one bad message fails only its own call.

use super::error::{retry, Fail};
use super::locks::LOCK_SESSIONS;
use super::log::{EventRows, APPEND_EVENTS};
use super::media::{JobRows, INSERT_JOBS};
use super::pooled;
use super::rows::{self, ns, MessageParts, SessionParts};
use super::wake::Wake;
use chatlines_core::machine;
use chatlines_core::{Appended, InboundFollowUp, NewInbound, StoreError};
use deadpool_postgres::Pool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_postgres::types::{Json, ToSql};

/// Sets the send times of the messages just stored (`$1`, `$2`) and reads
/// those of the duplicates (`$3`), in one statement (migration 0008: the
/// batch function does not know the column).
const SENT_TIMES: &str = "WITH set AS (\
         UPDATE messages SET sent_ns = v.sent \
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, sent) \
         WHERE messages.id = v.id RETURNING messages.id) \
     SELECT id, sent_ns FROM messages WHERE id = ANY($3::uuid[])";

/// Takes the batch's locks, looks for sessions to reopen (`$2`), stores
/// the batch, cancels the timers a client's message cancels (`$3`) and
/// reads each session's priority, in one call (migrations 0016, 0017): answers
/// one row with `reopen` true, having stored nothing, when a message
/// reopens a session.
const INGEST_BATCH: &str = "SELECT * FROM chatlines_ingest_batch(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// The items whose client has no open session on the line and whose
/// latest session there was closed within the line's reopen window (a
/// duplicate excepted): what `machine::reopen` is asked about, once
/// [`INGEST_BATCH`] found that the batch reopens a session (the function
/// runs the same query). Only lines with a reopen window can answer, so
/// elsewhere it finds nothing.
const REOPEN_CANDIDATES: &str = "SELECT i.idx, s.id FROM unnest(\
         $1::uuid[], $2::text[], $3::bigint[], $4::uuid[], $5::text[]) \
         WITH ORDINALITY AS i(line, key, now_ns, src, ext, idx) \
     JOIN lines l ON l.id = i.line \
     JOIN contacts c ON c.key = i.key \
     JOIN LATERAL (SELECT x.id, x.status, x.closed_ns FROM sessions x \
         WHERE x.line = i.line AND x.contact = c.id \
         ORDER BY x.opened_ns DESC, x.ord DESC LIMIT 1) s ON s.status = 'closed' \
     WHERE (l.config->'timers'->>'reopen_secs') IS NOT NULL \
       AND s.closed_ns >= i.now_ns - (l.config->'timers'->>'reopen_secs')::bigint * 1000000000 \
       AND NOT EXISTS (SELECT 1 FROM messages m \
           WHERE i.src IS NOT NULL AND m.ext_source = i.src AND m.ext_id = i.ext)";

/// One caller's message and where its answer goes.
struct Job {
    new: NewInbound,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Hands messages to the batching task of one store (shared by its clones;
/// the task ends when the last clone is dropped).
#[derive(Clone)]
pub(super) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
    wake: Wake,
    writer: i32,
}

impl Batcher {
    /// Starts the batching task on the current Tokio runtime.
    pub(super) fn start(
        pool: Pool,
        wake: Wake,
        writer: i32,
        max_batch: usize,
        pipelines: usize,
    ) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(collect(
            pool,
            wake.clone(),
            writer,
            queue,
            max_batch.max(1),
            pipelines.max(1),
        ));
        Self { jobs, wake, writer }
    }

    /// Stores `new` in the next batch and returns its own result.
    pub(super) async fn append(
        &self,
        pool: &Pool,
        new: NewInbound,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(Job { new, reply }) {
            // The task is gone (its runtime shut down): store it here.
            return append_alone(pool, &self.wake, self.writer, &job.new).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the ingest task stopped (its runtime shut down) before the batch holding \
                 this message finished; it may or may not be stored, so send it again \
                 (ingest with an external id is idempotent)"
                    .to_owned(),
            ))
        })
    }
}

/// The batching task: waits for a free pipeline, then takes everything
/// queued (up to `max_batch`) as the next batch.
async fn collect(
    pool: Pool,
    wake: Wake,
    writer: i32,
    mut queue: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
    pipelines: usize,
) {
    let permits = Arc::new(Semaphore::new(pipelines));
    while let Some(first) = queue.recv().await {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Every pipeline is busy: the batch is gathered once one
                // frees. The callers it has just answered are woken then;
                // letting them run first lets those that send again at once
                // join this batch rather than wait for the next.
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                tokio::task::yield_now().await;
                permit
            }
        };
        let mut jobs = vec![first];
        gather(&mut queue, &mut jobs, max_batch).await;
        let pool = pool.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            run(&pool, &wake, writer, jobs).await;
            drop(permit);
        });
    }
}

/// The most scheduler rounds [`gather`] waits for callers to join a batch.
const GATHER_ROUNDS: usize = 8;

/// Adds the queued jobs to `jobs` (up to `max_batch`), letting the other
/// tasks run between looks for as long as each look finds more (at most
/// [`GATHER_ROUNDS`] times). The callers a batch has just answered send
/// their next messages only once they run; without the wait, the first of
/// them would start a batch nearly alone and the rest would form the next
/// one, so the fixed cost of a batch in the database (its statements and
/// commit) would be paid about twice as often. A lone caller waits one
/// scheduler round.
async fn gather(queue: &mut mpsc::UnboundedReceiver<Job>, jobs: &mut Vec<Job>, max_batch: usize) {
    for round in 0..GATHER_ROUNDS {
        let before = jobs.len();
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if jobs.len() >= max_batch || (jobs.len() == before && round > 0) {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Stores one batch and answers every caller in it.
async fn run(pool: &Pool, wake: &Wake, writer: i32, jobs: Vec<Job>) {
    let mut keyed = Vec::with_capacity(jobs.len());
    for job in jobs {
        match rows::contact_key(&job.new.contact_key) {
            Ok(key) => keyed.push((key, job)),
            Err(fail) => {
                let _ = job.reply.send(Err(final_error(fail)));
            }
        }
    }
    // Every batch locks session rows in (line, contact key) order, so two
    // batches never wait for each other in a cycle. The sort is stable: one
    // client's messages keep their arrival order.
    keyed.sort_by(|(ka, a), (kb, b)| (a.new.line, ka).cmp(&(b.new.line, kb)));
    let items: Vec<(&str, &NewInbound)> = keyed.iter().map(|(k, j)| (k.as_str(), &j.new)).collect();
    let results = match retry("append_inbound", || {
        append_batch(pool, wake, writer, &items)
    })
    .await
    {
        Ok(results) => results,
        // The database is unreachable or overloaded: every caller may retry;
        // running the messages one by one would only add load.
        Err(error) if error.is_retryable() => {
            let why = error.to_string();
            items
                .iter()
                .map(|_| Err(StoreError::Unavailable(why.clone())))
                .collect()
        }
        // Something in the batch was refused: find it by storing each
        // message alone, so only that one fails.
        Err(error) if items.len() > 1 => {
            tracing::debug!(%error, size = items.len(), "ingest batch failed; storing its messages one by one");
            let mut results = Vec::with_capacity(items.len());
            for item in &items {
                results.push(
                    retry("append_inbound", || {
                        append_batch(pool, wake, writer, std::slice::from_ref(item))
                    })
                    .await
                    .and_then(only),
                );
            }
            results
        }
        Err(error) => vec![Err(error)],
    };
    for ((_, job), result) in keyed.into_iter().zip(results) {
        // A caller that stopped waiting no longer needs the answer.
        let _ = job.reply.send(result);
    }
}

/// Stores one message in a batch of its own.
pub(super) async fn append_alone(
    pool: &Pool,
    wake: &Wake,
    writer: i32,
    new: &NewInbound,
) -> Result<Appended, StoreError> {
    let key = rows::contact_key(&new.contact_key).map_err(final_error)?;
    let item = [(key.as_str(), new)];
    retry("append_inbound", || append_batch(pool, wake, writer, &item))
        .await
        .and_then(only)
}

/// The result of a batch of one.
fn only(mut results: Vec<Result<Appended, StoreError>>) -> Result<Appended, StoreError> {
    results.pop().unwrap_or_else(|| {
        Err(StoreError::Unusable(
            "the ingest function returned no row; the schema is damaged".to_owned(),
        ))
    })
}

/// A failure that is not retried, as the caller's error.
fn final_error(fail: Fail) -> StoreError {
    match fail {
        Fail::Store(e) => e,
        Fail::Retry(why) => StoreError::Unavailable(why),
    }
}

/// The result of one attempt.
enum Attempt {
    /// Stored: one result per item, in order.
    Done(Vec<Result<Appended, StoreError>>),
    /// A message reopens a closed session: nothing was written; store the
    /// batch again, reopening first.
    Reopen,
}

/// One attempt at storing `items` (contact key, message) in one
/// transaction with their events; one result per item, in order. A batch
/// that reopens a session (the line's reopen window) takes one more round
/// trip: its first try finds that and stores nothing.
async fn append_batch(
    pool: &Pool,
    wake: &Wake,
    writer: i32,
    items: &[(&str, &NewInbound)],
) -> Result<Vec<Result<Appended, StoreError>>, Fail> {
    match append_batch_once(pool, wake, writer, items, false).await? {
        Attempt::Done(results) => Ok(results),
        Attempt::Reopen => match append_batch_once(pool, wake, writer, items, true).await? {
            Attempt::Done(results) => Ok(results),
            Attempt::Reopen => Err(Fail::Retry(
                "an ingest batch did not reopen its sessions".to_owned(),
            )),
        },
    }
}

/// Reopens the sessions `candidates` names (session id, item index from
/// 1), under the batch's locks: each as `machine::reopen` decides, with
/// its events. Returns the reopened sessions.
async fn reopen_sessions(
    client: &impl deadpool_postgres::GenericClient,
    candidates: &[tokio_postgres::Row],
    items: &[(&str, &NewInbound)],
    events: &mut EventRows,
) -> Result<Vec<uuid::Uuid>, Fail> {
    let mut reopened = Vec::new();
    let select = format!(
        "SELECT {} FROM sessions WHERE id = $1 FOR UPDATE",
        rows::SESSION_COLUMNS
    );
    let select = client.prepare_cached(&select).await?;
    let kinds = client
        .prepare_cached("SELECT kind FROM timers WHERE session = $1")
        .await?;
    for row in candidates {
        let idx: i64 = row.try_get(0)?;
        let id: uuid::Uuid = row.try_get(1)?;
        let Some((_, new)) = usize::try_from(idx - 1).ok().and_then(|i| items.get(i)) else {
            continue;
        };
        if reopened.contains(&id) {
            continue;
        }
        let Some(latest) = client.query_opt(&select, &[&id]).await? else {
            continue;
        };
        let latest = rows::session(&latest)?;
        let pending: Vec<chatlines_core::TimerKind> = client
            .query(&kinds, &[&id])
            .await?
            .iter()
            .filter_map(|r| r.try_get::<_, &str>(0).ok())
            .filter_map(chatlines_core::TimerKind::from_name)
            .collect();
        let settings = super::timers::settings(client, latest.line).await?;
        if let Some(change) = machine::reopen(&latest, &pending, new.now, &settings) {
            super::sessions::write_changeset(client, &latest, &change).await?;
            events.push(change.events, new.now)?;
            reopened.push(id);
        }
    }
    Ok(reopened)
}

/// Writes what a stored message does to its session besides being stored
/// (`machine::inbound_follow_up`: the opening priority, the SLA clocks),
/// inside the batch's transaction, with its events after the message's.
/// Costs a round trip only on lines that have such settings. The session
/// is read back first: the batch function does not return every column.
async fn follow_up(
    client: &impl deadpool_postgres::GenericClient,
    appended: &mut Appended,
    follow_up: &InboundFollowUp,
    now: chrono::DateTime<chrono::Utc>,
    events: &mut EventRows,
) -> Result<(), Fail> {
    let priority = appended.opened && follow_up.opening_priority.is_some();
    if follow_up.sla.is_none() && !priority {
        return Ok(());
    }
    let select = format!(
        "SELECT {} FROM sessions WHERE id = $1",
        rows::SESSION_COLUMNS
    );
    let select = client.prepare_cached(&select).await?;
    let Some(row) = client
        .query_opt(&select, &[&appended.session.id.as_uuid()])
        .await?
    else {
        return Ok(());
    };
    let current = rows::session(&row)?;
    match machine::inbound_follow_up(&current, appended.opened, follow_up, now) {
        Some(change) => {
            super::sessions::write_changeset(client, &current, &change).await?;
            events.push(change.events, now)?;
            appended.session = change.session;
        }
        None => appended.session = current,
    }
    Ok(())
}

async fn append_batch_once(
    pool: &Pool,
    wake: &Wake,
    writer: i32,
    items: &[(&str, &NewInbound)],
    reopen_first: bool,
) -> Result<Attempt, Fail> {
    let n = items.len();
    let mut line = Vec::with_capacity(n);
    let mut key = Vec::with_capacity(n);
    let mut display = Vec::with_capacity(n);
    let mut reply = Vec::with_capacity(n);
    let mut contact = Vec::with_capacity(n);
    let mut session = Vec::with_capacity(n);
    let mut message = Vec::with_capacity(n);
    let mut body = Vec::with_capacity(n);
    let mut ext_source = Vec::with_capacity(n);
    let mut ext_id = Vec::with_capacity(n);
    let mut now = Vec::with_capacity(n);
    for (k, new) in items {
        line.push(new.line.as_uuid());
        key.push(*k);
        display.push(new.display_name.as_str());
        reply.push(new.reply_address.as_deref());
        contact.push(new.contact_id.as_uuid());
        session.push(new.session_id.as_uuid());
        message.push(new.message_id.as_uuid());
        body.push(Json(&new.body));
        ext_source.push(new.external.as_ref().map(|e| e.source.as_uuid()));
        ext_id.push(new.external.as_ref().map(|e| e.message_id.as_str()));
        now.push(ns(new.now)?);
    }
    let cancel: Vec<&str> = machine::client_wrote_cancels()
        .iter()
        .map(|k| k.name())
        .collect();
    let client = pooled(pool).await?;
    let batch = client.prepare_cached(INGEST_BATCH).await?;
    let append = client.prepare_cached(APPEND_EVENTS).await?;
    let insert = client.prepare_cached(INSERT_JOBS).await?;
    let sent_times = client.prepare_cached(SENT_TIMES).await?;
    let find_reopen = !reopen_first;
    let batch_params: [&(dyn ToSql + Sync); 14] = [
        &writer,
        &find_reopen,
        &cancel,
        &line,
        &key,
        &display,
        &reply,
        &contact,
        &session,
        &message,
        &body,
        &ext_source,
        &ext_id,
        &now,
    ];
    let mut reopen_events = EventRows::default();
    let mut reopened = Vec::new();
    let (begun, found) = if reopen_first {
        // Begin, lock, find what reopens; reopen it; then store.
        let lock = client.prepare_cached(LOCK_SESSIONS).await?;
        let candidates = client.prepare_cached(REOPEN_CANDIDATES).await?;
        let lock_params: [&(dyn ToSql + Sync); 3] = [&writer, &line, &key];
        let candidate_params: [&(dyn ToSql + Sync); 5] = [&line, &key, &now, &ext_source, &ext_id];
        let (begun, locked, found) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.execute(&lock, &lock_params),
            client.query(&candidates, &candidate_params),
        );
        begun?;
        let reopen = async {
            let found = locked.and(found).map_err(Fail::from)?;
            reopened = reopen_sessions(&client, &found, items, &mut reopen_events).await?;
            client
                .query(&batch, &batch_params)
                .await
                .map_err(Fail::from)
        };
        match reopen.await {
            Ok(found) => (Ok(()), Ok(found)),
            Err(fail) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(fail);
            }
        }
    } else {
        // One round trip: begin, then the function takes every lock before
        // its first write, looks for sessions to reopen and stores.
        let (begun, found) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.query(&batch, &batch_params),
        );
        if matches!(found.as_deref().map(reopens), Ok(Ok(true))) {
            client.batch_execute("ROLLBACK").await?;
            return Ok(Attempt::Reopen);
        }
        (begun, found.map_err(Fail::from))
    };
    begun?;
    let stored = found.and_then(|found| {
        if reopens(&found)? {
            // Reopened under the batch's locks, yet another session to
            // reopen: the caller gives up.
            return Err(Fail::Retry(
                "an ingest batch did not reopen its sessions".to_owned(),
            ));
        }
        results(&found, items)
    });
    let prepared = async {
        let mut results = stored?;
        let mut events = reopen_events;
        // The first message to each reopened session reopened it.
        for result in results.iter_mut().flatten() {
            let id = result.session.id.as_uuid();
            if let Some(at) = reopened.iter().position(|r| *r == id) {
                if !result.duplicate {
                    result.reopened = true;
                    reopened.swap_remove(at);
                }
            }
        }
        let mut jobs = JobRows::default();
        let mut sent = SentTimes::default();
        for (result, (_, new)) in results.iter_mut().zip(items) {
            if let Ok(appended) = result {
                if !appended.duplicate {
                    appended.message.sent_at = new.sent_at;
                }
                events.push(machine::inbound_events(appended), new.now)?;
                if !appended.duplicate {
                    follow_up(&client, appended, &new.follow_up, new.now, &mut events).await?;
                }
                jobs.push(machine::media_jobs(appended))?;
                sent.push(appended, new)?;
            }
        }
        Ok::<_, Fail>((results, events, jobs, sent))
    };
    let (mut results, events, jobs, sent) = match prepared.await {
        Ok(done) => done,
        Err(fail) => {
            // Best effort: a broken connection is dropped by the pool.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(fail);
        }
    };
    // One more round trip: the fetch jobs of the batch's attachments, the
    // send times, the events, then the commit (which ends the transaction
    // as a rollback if a statement failed).
    let append_params = events.params();
    let job_params = jobs.params();
    let sent_params: [&(dyn ToSql + Sync); 3] = [&sent.stored, &sent.stored_ns, &sent.duplicates];
    let queued = async {
        if jobs.is_empty() {
            Ok(0)
        } else {
            client.execute(&insert, &job_params).await
        }
    };
    let times = async {
        if sent.is_empty() {
            Ok(Vec::new())
        } else {
            client.query(&sent_times, &sent_params).await
        }
    };
    let logged = async {
        if events.is_empty() {
            Ok(0)
        } else {
            client.execute(&append, &append_params).await
        }
    };
    let (queued, times, logged, committed) =
        tokio::join!(queued, times, logged, client.batch_execute("COMMIT"));
    queued?;
    let times = times?;
    for result in results.iter_mut().flatten() {
        if result.duplicate {
            let id = result.message.id.as_uuid();
            for row in &times {
                if row.try_get::<_, uuid::Uuid>("id")? == id {
                    result.message.sent_at =
                        row.try_get::<_, Option<i64>>("sent_ns")?.map(rows::time);
                }
            }
        }
    }
    logged?;
    committed?;
    if !events.is_empty() {
        wake.committed();
    }
    Ok(Attempt::Done(results))
}

/// Whether the batch function found a session to reopen (and stored
/// nothing).
fn reopens(found: &[tokio_postgres::Row]) -> Result<bool, Fail> {
    match found.first() {
        Some(row) => Ok(row.try_get::<_, bool>("reopen")?),
        None => Ok(false),
    }
}

/// The send times to write for new messages, and the duplicates whose
/// stored send time is read back.
#[derive(Default)]
struct SentTimes {
    stored: Vec<uuid::Uuid>,
    stored_ns: Vec<i64>,
    duplicates: Vec<uuid::Uuid>,
}

impl SentTimes {
    fn push(&mut self, appended: &Appended, new: &NewInbound) -> Result<(), Fail> {
        if appended.duplicate {
            self.duplicates.push(appended.message.id.as_uuid());
        } else if let Some(at) = new.sent_at {
            self.stored.push(appended.message.id.as_uuid());
            self.stored_ns.push(ns(at)?);
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.stored.is_empty() && self.duplicates.is_empty()
    }
}

/// The function's rows as one result per item, in order.
fn results(
    found: &[tokio_postgres::Row],
    items: &[(&str, &NewInbound)],
) -> Result<Vec<Result<Appended, StoreError>>, Fail> {
    let n = items.len();
    let mut results: Vec<Option<Result<Appended, StoreError>>> = (0..n).map(|_| None).collect();
    for row in found {
        let idx: i32 = row.try_get("idx")?;
        let i = usize::try_from(idx)
            .ok()
            .filter(|i| *i < n)
            .ok_or_else(|| {
                Fail::Store(StoreError::Unusable(format!(
                    "the ingest function answered for item {idx} of {n}; the schema is damaged"
                )))
            })?;
        results[i] = Some(parse(row, items[i].1).map_err(final_error));
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(StoreError::Unusable(
                    "the ingest function skipped a message; the schema is damaged".to_owned(),
                ))
            })
        })
        .collect())
}

/// One row of the batch function as the result of `new`.
fn parse(row: &tokio_postgres::Row, new: &NewInbound) -> Result<Appended, Fail> {
    if row.try_get::<_, bool>("line_missing")? {
        return Err(Fail::Store(StoreError::NotFound {
            what: "line",
            id: new.line.to_string(),
        }));
    }
    let m_session: uuid::Uuid = row.try_get("m_session")?;
    let m_line: uuid::Uuid = row.try_get("m_line")?;
    let m_contact: uuid::Uuid = row.try_get("m_contact")?;
    let message = rows::message_from(MessageParts {
        id: row.try_get("m_id")?,
        session: m_session,
        line: m_line,
        contact: m_contact,
        seq: row.try_get("m_seq")?,
        direction: row.try_get("m_direction")?,
        author: row.try_get("m_author")?,
        body: row.try_get("m_body")?,
        ext_source: row.try_get("m_ext_source")?,
        ext_id: row.try_get("m_ext_id")?,
        created_ns: row.try_get("m_created_ns")?,
        sent_ns: None,
    })?;
    let session = rows::session_from(
        m_session,
        m_line,
        m_contact,
        SessionParts {
            status: row.try_get("s_status")?,
            operator: row.try_get("s_operator")?,
            reason: row.try_get("s_reason")?,
            version: row.try_get("s_version")?,
            last_seq: row.try_get("s_last_seq")?,
            opened_ns: row.try_get("s_opened_ns")?,
            updated_ns: row.try_get("s_updated_ns")?,
            closed_ns: row.try_get("s_closed_ns")?,
            // The ingest function does not return the clocks (the hub
            // moves them in a transition of their own after the append).
            sla: None,
            priority: row.try_get("s_priority")?,
        },
    )?;
    let contact = rows::contact_from(
        m_contact,
        row.try_get("c_key")?,
        row.try_get("c_display_name")?,
        row.try_get("c_reply_address")?,
        row.try_get("c_created_ns")?,
    )?;
    Ok(Appended::new(
        message,
        session,
        contact,
        row.try_get("opened")?,
        row.try_get("duplicate")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatlines_core::{Body, ContactKey, LineId};

    fn job(n: usize) -> Job {
        let new = NewInbound::new(
            LineId::from_uuid(uuid::Uuid::from_u128(1)),
            ContactKey::Internal {
                user: format!("u{n}").into(),
            },
            "client",
            Body::text("hello"),
            chrono::DateTime::UNIX_EPOCH,
        );
        let (reply, _) = oneshot::channel();
        Job { new, reply }
    }

    /// Callers that send only once they get to run (as the callers of a
    /// batch just answered do) join the batch being gathered.
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_waits_for_callers_that_are_about_to_send() {
        let (tx, mut queue) = mpsc::unbounded_channel();
        for n in 1..6 {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(job(n));
            });
        }
        let mut jobs = vec![job(0)];
        gather(&mut queue, &mut jobs, 64).await;
        assert_eq!(jobs.len(), 6);

        // The cap holds, and what is left waits for the next batch.
        for n in 6..10 {
            let _ = tx.send(job(n));
        }
        let mut jobs = vec![job(0)];
        gather(&mut queue, &mut jobs, 3).await;
        assert_eq!(jobs.len(), 3);
        assert_eq!(queue.len(), 2);
    }
}
