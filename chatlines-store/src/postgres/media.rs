//! The media queue: jobs written in the ingest transaction of their
//! message, leased claims (`FOR UPDATE SKIP LOCKED`), and outcomes written
//! with the message's attachment and the events.

use super::error::Fail;
use super::locks::lock_writer;
use super::log::EventRows;
use super::rows::{self, limit, ns, time};
use super::PostgresStore;
use chatlines_core::machine;
use chatlines_core::{Lease, MediaJob, MediaJobStatus, MediaOutcome, MessageId, StoreError};
use chrono::{DateTime, Utc};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;
use uuid::Uuid;

/// Columns read by [`job`].
const COLUMNS: &str = "message, idx, session, source, remote, status, attempts, \
     next_attempt_ns, lease_token, lease_until_ns, last_error, created_ns";

/// Inserts the jobs of a batch's stored messages.
pub(super) const INSERT_JOBS: &str = "INSERT INTO media_jobs
         (message, idx, session, source, remote, status, attempts, next_attempt_ns, created_ns)
     SELECT u.message, u.idx, u.session, u.source, u.remote, 'pending', 0, u.due_ns, u.due_ns
     FROM unnest($1::uuid[], $2::integer[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[])
         WITH ORDINALITY AS u(message, idx, session, source, remote, due_ns, n)
     ORDER BY u.n";

/// The columns of [`INSERT_JOBS`], gathered over a batch.
#[derive(Default)]
pub(super) struct JobRows {
    message: Vec<Uuid>,
    index: Vec<i32>,
    session: Vec<Uuid>,
    source: Vec<Uuid>,
    remote: Vec<String>,
    due: Vec<i64>,
}

impl JobRows {
    /// Adds jobs (from [`machine::media_jobs`]).
    pub(super) fn push(&mut self, jobs: Vec<MediaJob>) -> Result<(), Fail> {
        for j in jobs {
            self.message.push(j.message.as_uuid());
            self.index.push(i32::try_from(j.index).map_err(|_| {
                Fail::Store(StoreError::Backend(
                    format!("attachment index {} is too large to store", j.index).into(),
                ))
            })?);
            self.session.push(j.session.as_uuid());
            self.source.push(j.source.as_uuid());
            self.remote.push(j.remote);
            self.due.push(ns(j.next_attempt_at)?);
        }
        Ok(())
    }

    /// Whether there is nothing to insert.
    pub(super) fn is_empty(&self) -> bool {
        self.message.is_empty()
    }

    /// The parameters of [`INSERT_JOBS`].
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.message,
            &self.index,
            &self.session,
            &self.source,
            &self.remote,
            &self.due,
        ]
    }
}

/// A `media_jobs` row.
fn job(row: &Row) -> Result<MediaJob, Fail> {
    let index: i32 = row.try_get("idx")?;
    let mut j = MediaJob::pending(
        row.try_get::<_, Uuid>("message")?.into(),
        row.try_get::<_, Uuid>("session")?.into(),
        u32::try_from(index).unwrap_or(u32::MAX),
        row.try_get::<_, Uuid>("source")?.into(),
        row.try_get::<_, String>("remote")?,
        time(row.try_get("created_ns")?),
    );
    let status: String = row.try_get("status")?;
    j.status = MediaJobStatus::parse(&status).ok_or_else(|| {
        Fail::Store(StoreError::Unusable(format!(
            "unknown media job status {status:?}; the schema is damaged"
        )))
    })?;
    let attempts: i32 = row.try_get("attempts")?;
    j.attempts = u32::try_from(attempts).unwrap_or(0);
    j.next_attempt_at = time(row.try_get("next_attempt_ns")?);
    j.lease = match (
        row.try_get::<_, Option<Uuid>>("lease_token")?,
        row.try_get::<_, Option<i64>>("lease_until_ns")?,
    ) {
        (Some(token), Some(until)) => Some(Lease {
            token,
            until: time(until),
        }),
        _ => None,
    };
    j.last_error = row.try_get("last_error")?;
    Ok(j)
}

impl PostgresStore {
    pub(super) async fn claim_media_once(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<MediaJob>, Fail> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        // Rows another claimer is leasing right now are skipped, not waited
        // for; an expired lease (its holder died) is claimable again.
        let sql = format!(
            "WITH due AS (
                 SELECT message, idx FROM media_jobs
                 WHERE status = 'pending' AND next_attempt_ns <= $1
                   AND (lease_until_ns IS NULL OR lease_until_ns <= $1)
                 ORDER BY next_attempt_ns, ord
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE media_jobs j SET lease_token = gen_random_uuid(), lease_until_ns = $2
             FROM due WHERE j.message = due.message AND j.idx = due.idx
             RETURNING {}, j.ord",
            COLUMNS
                .split(", ")
                .map(|c| format!("j.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let stmt = client.prepare_cached(&sql).await?;
        let claimed = client
            .query(&stmt, &[&ns(now)?, &ns(lease_until)?, &limit(n)])
            .await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let ord: i64 = row.try_get("ord")?;
            jobs.push((ord, job(row)?));
        }
        jobs.sort_by(|(ao, a), (bo, b)| (a.next_attempt_at, ao).cmp(&(b.next_attempt_at, bo)));
        Ok(jobs.into_iter().map(|(_, j)| j).collect())
    }

    pub(super) async fn finish_media_once(
        &self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: &MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, Fail> {
        let not_found = || {
            Fail::Store(StoreError::NotFound {
                what: "media job",
                id: format!("{message}/{index}"),
            })
        };
        let idx = i32::try_from(index).map_err(|_| not_found())?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let sql =
            format!("SELECT {COLUMNS} FROM media_jobs WHERE message = $1 AND idx = $2 FOR UPDATE");
        let row = tx
            .query_opt(&sql, &[&message.as_uuid(), &idx])
            .await?
            .ok_or_else(not_found)?;
        let before = job(&row)?;
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1 FOR UPDATE",
            rows::MESSAGE_COLUMNS
        );
        let stored = tx
            .query_opt(&sql, &[&message.as_uuid()])
            .await?
            .as_ref()
            .map(rows::message)
            .transpose()?;
        let decided = machine::finish_media(&before, token, stored.as_ref(), outcome.clone())?;
        let j = &decided.job;
        tx.execute(
            "UPDATE media_jobs SET status = $3, attempts = $4, next_attempt_ns = $5,
                 lease_token = NULL, lease_until_ns = NULL, last_error = $6
             WHERE message = $1 AND idx = $2",
            &[
                &message.as_uuid(),
                &idx,
                &j.status.as_str(),
                &i32::try_from(j.attempts).unwrap_or(i32::MAX),
                &ns(j.next_attempt_at)?,
                &j.last_error,
            ],
        )
        .await?;
        if let Some(updated) = &decided.message {
            tx.execute(
                "UPDATE messages SET body = $2 WHERE id = $1",
                &[&updated.id.as_uuid(), &Json(&updated.body)],
            )
            .await?;
        }
        EventRows::of(decided.events, now)?.append(&tx).await?;
        self.commit(tx).await?;
        Ok(decided.job)
    }

    pub(super) async fn media_jobs_once(&self, message: MessageId) -> Result<Vec<MediaJob>, Fail> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM media_jobs WHERE message = $1 ORDER BY idx");
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query(&stmt, &[&message.as_uuid()])
            .await?
            .iter()
            .map(job)
            .collect()
    }
}
