//! The outbox: leased claims (`FOR UPDATE SKIP LOCKED`) and outcomes.

use super::error::Fail;
use super::locks::lock_writer;
use super::log::EventRows;
use super::rows::{self, limit, ns};
use super::PostgresStore;
use chatlines_core::machine;
use chatlines_core::{
    DeliveryOutcome, MessageId, OutboxEntry, OutboxId, OutboxStatus, StoreError, LEASE_EXPIRED,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The status columns of a status: (status, sent external id, failure).
pub(super) fn status_columns(status: &OutboxStatus) -> (&'static str, Option<&str>, Option<&str>) {
    match status {
        OutboxStatus::Pending => ("pending", None, None),
        OutboxStatus::Sent { external_id, .. } => ("sent", Some(external_id), None),
        OutboxStatus::Failed { error } => ("failed", None, Some(error)),
        // `OutboxStatus` is non-exhaustive; an unknown status is stored as
        // failed so it is never sent twice.
        #[allow(unreachable_patterns)]
        _ => ("failed", None, Some("unknown status")),
    }
}

/// What a sent entry went out as, when it was a substitute.
fn sent_substitute(status: &OutboxStatus) -> Option<&str> {
    match status {
        OutboxStatus::Sent { substitute, .. } => substitute.as_deref(),
        _ => None,
    }
}

impl PostgresStore {
    pub(super) async fn claim_outbox_once(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<OutboxEntry>, Fail> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        // Only a chat's head (no older pending entry of the same chat, one
        // seek on `outbox_chat_pending`). Rows another claimer is leasing
        // right now are skipped, not waited for; an expired lease (its
        // holder died or could not record an outcome) is claimable again
        // and counts as an attempt, as `OutboxEntry::claimed` says.
        let sql = format!(
            "WITH due AS (
                 SELECT o.id FROM outbox o
                 WHERE o.status = 'pending' AND o.next_attempt_ns <= $1
                   AND (o.lease_until_ns IS NULL OR o.lease_until_ns <= $1)
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox p
                       WHERE p.status = 'pending' AND p.source = o.source
                         AND p.address = o.address AND p.ord < o.ord)
                 ORDER BY o.next_attempt_ns, o.ord
                 LIMIT $3
                 FOR UPDATE OF o SKIP LOCKED
             )
             UPDATE outbox o SET lease_token = gen_random_uuid(), lease_until_ns = $2,
                 attempts = o.attempts + CASE WHEN o.lease_token IS NULL THEN 0 ELSE 1 END,
                 last_error = CASE WHEN o.lease_token IS NULL THEN o.last_error ELSE $4 END
             FROM due WHERE o.id = due.id
             RETURNING {}, o.ord",
            rows::OUTBOX_COLUMNS
                .split(", ")
                .map(|c| format!("o.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let stmt = client.prepare_cached(&sql).await?;
        let claimed = client
            .query(
                &stmt,
                &[&ns(now)?, &ns(lease_until)?, &limit(n), &LEASE_EXPIRED],
            )
            .await?;
        let mut entries = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let ord: i64 = row.try_get("ord")?;
            entries.push((ord, rows::outbox(row)?));
        }
        entries.sort_by(|(ao, a), (bo, b)| (a.next_attempt_at, ao).cmp(&(b.next_attempt_at, bo)));
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }

    pub(super) async fn finish_outbox_once(
        &self,
        id: OutboxId,
        token: Uuid,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let sql = format!(
            "SELECT {} FROM outbox WHERE id = $1 FOR UPDATE",
            rows::OUTBOX_COLUMNS
        );
        let row = tx.query_opt(&sql, &[&id.as_uuid()]).await?.ok_or_else(|| {
            Fail::Store(StoreError::NotFound {
                what: "outbox entry",
                id: id.to_string(),
            })
        })?;
        let e = rows::outbox(&row)?.finished(token, outcome.clone())?;
        let (status, sent, failed) = status_columns(&e.status);
        tx.execute(
            "UPDATE outbox SET status = $2, sent_external_id = $3, failed_error = $4,
                 attempts = $5, next_attempt_ns = $6, lease_token = NULL,
                 lease_until_ns = NULL, last_error = $7, sent_substitute = $8
             WHERE id = $1",
            &[
                &id.as_uuid(),
                &status,
                &sent,
                &failed,
                &i32::try_from(e.attempts).unwrap_or(i32::MAX),
                &ns(e.next_attempt_at)?,
                &e.last_error,
                &sent_substitute(&e.status),
            ],
        )
        .await?;
        EventRows::of(machine::delivery_events(&e), now)?
            .append(&tx)
            .await?;
        self.commit(tx).await?;
        Ok(e)
    }

    pub(super) async fn outbox_entry_once(
        &self,
        id: OutboxId,
    ) -> Result<Option<OutboxEntry>, Fail> {
        self.outbox_where("id = $1", id.as_uuid()).await
    }

    pub(super) async fn outbox_for_message_once(
        &self,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, Fail> {
        self.outbox_where("message = $1", message.as_uuid()).await
    }

    pub(super) async fn outbox_pending_once(&self) -> Result<u64, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM outbox WHERE status = 'pending'")
            .await?;
        let n: i64 = client.query_one(&stmt, &[]).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn outbox_where(&self, filter: &str, id: Uuid) -> Result<Option<OutboxEntry>, Fail> {
        let client = self.client().await?;
        let sql = format!("SELECT {} FROM outbox WHERE {filter}", rows::OUTBOX_COLUMNS);
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&id])
            .await?
            .as_ref()
            .map(rows::outbox)
            .transpose()
    }
}
