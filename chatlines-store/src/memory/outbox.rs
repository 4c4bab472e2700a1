//! The outbox: leased claims and delivery outcomes.

use super::state::{not_found, State};
use chatlines_core::machine;
use chatlines_core::{
    DeliveryOutcome, ExternalRef, Lease, OutboxEntry, OutboxId, OutboxStatus, StoreError,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl State {
    pub(super) fn claim_outbox(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<OutboxEntry> {
        let outbox = &self.outbox;
        let due: Vec<OutboxId> = self
            .due
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .filter(|(_, _, id)| {
                outbox
                    .get(id)
                    .is_some_and(|r| r.value.lease.is_none_or(|l| l.until <= now))
            })
            .take(limit)
            .map(|(_, _, id)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| {
                let row = self.outbox.get_mut(&id)?;
                row.value.lease = Some(Lease {
                    token: Uuid::new_v4(),
                    until: lease_until,
                });
                Some(row.value.clone())
            })
            .collect()
    }

    pub(super) fn finish_outbox(
        &mut self,
        id: OutboxId,
        token: Uuid,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        let row = self
            .outbox
            .get_mut(&id)
            .ok_or_else(|| not_found("outbox entry", id))?;
        let e = &mut row.value;
        let held = e.status == OutboxStatus::Pending && e.lease.is_some_and(|l| l.token == token);
        if !held {
            // The lease was lost (expired and claimed again) or the entry
            // was already finished: the attempt count is the version here.
            return Err(StoreError::Conflict {
                what: "outbox entry lease",
                id: id.to_string(),
                expected: u64::from(e.attempts),
                actual: u64::from(e.attempts),
            });
        }
        let (status, next_attempt_at, last_error) = match outcome {
            DeliveryOutcome::Sent { external_id } => (
                OutboxStatus::Sent { external_id },
                e.next_attempt_at,
                e.last_error.clone(),
            ),
            DeliveryOutcome::Retry { at, error } => (OutboxStatus::Pending, at, Some(error)),
            DeliveryOutcome::Failed { error } => (
                OutboxStatus::Failed {
                    error: error.clone(),
                },
                e.next_attempt_at,
                Some(error),
            ),
            // `DeliveryOutcome` is non-exhaustive; an outcome this store does
            // not know changes nothing.
            #[allow(unreachable_patterns)]
            other => {
                return Err(StoreError::Backend(
                    format!("unsupported delivery outcome {other:?}").into(),
                ))
            }
        };
        self.due.remove(&(e.next_attempt_at, row.seq, id));
        if status == OutboxStatus::Pending {
            self.due.insert((next_attempt_at, row.seq, id));
        }
        e.status = status;
        e.next_attempt_at = next_attempt_at;
        e.last_error = last_error;
        e.lease = None;
        e.attempts = e.attempts.saturating_add(1);
        let entry = e.clone();
        if let OutboxStatus::Sent { external_id } = &entry.status {
            self.sent_external.insert(
                ExternalRef {
                    source: entry.source,
                    message_id: external_id.clone(),
                },
                entry.message,
            );
        }
        self.log(machine::delivery_events(&entry), now);
        Ok(entry)
    }
}
