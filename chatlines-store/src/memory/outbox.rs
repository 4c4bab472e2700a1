//! The outbox: leased claims of each chat's head, and delivery outcomes.
//!
//! Every chat (source, address) keeps its pending entries in write order;
//! only the first of them, the head, is in the `due` index, so a claim
//! reads due heads only, never a chat's later entries nor finished ones.

use super::state::{not_found, Row, State};
use chatlines_core::machine;
use chatlines_core::{
    DeliveryOutcome, ExternalRef, Lease, OutboxEntry, OutboxId, OutboxStatus, StoreError,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl State {
    /// Stores a new entry; a pending one joins its chat's queue (and
    /// becomes the head, due, when the chat had nothing pending).
    pub(super) fn queue_outbox(&mut self, row: Row<OutboxEntry>) {
        let id = row.value.id;
        if row.value.status == OutboxStatus::Pending {
            let chat = (row.value.source, row.value.address.clone());
            let queue = self.chats.entry(chat).or_default();
            queue.insert((row.seq, id));
            if queue.first() == Some(&(row.seq, id)) {
                self.due.insert((row.value.next_attempt_at, row.seq, id));
            }
        }
        self.outbox.insert(id, row);
    }

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
            .filter(|(_, _, id)| outbox.get(id).is_some_and(|r| r.value.claimable(now)))
            .take(limit)
            .map(|(_, _, id)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| {
                let row = self.outbox.get_mut(&id)?;
                row.value = row.value.claimed(Lease {
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
        let next = row.value.finished(token, outcome)?;
        let seq = row.seq;
        self.due.remove(&(row.value.next_attempt_at, seq, id));
        row.value = next.clone();
        if next.status == OutboxStatus::Pending {
            // Still the head of its chat.
            self.due.insert((next.next_attempt_at, seq, id));
        } else {
            let chat = (next.source, next.address.clone());
            if let Some(queue) = self.chats.get_mut(&chat) {
                queue.remove(&(seq, id));
                match queue.first().copied() {
                    Some((head_seq, head)) => {
                        if let Some(h) = self.outbox.get(&head) {
                            self.due.insert((h.value.next_attempt_at, head_seq, head));
                        }
                    }
                    None => {
                        self.chats.remove(&chat);
                    }
                }
            }
        }
        if let OutboxStatus::Sent { external_id, .. } = &next.status {
            self.sent_external.insert(
                ExternalRef {
                    source: next.source,
                    message_id: external_id.clone(),
                },
                next.message,
            );
        }
        self.log(machine::delivery_events(&next), now);
        Ok(next)
    }
}
