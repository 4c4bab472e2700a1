//! The media queue: fetch jobs written with their message, claimed under a
//! lease, finished by the lease holder.

use super::state::{not_found, State};
use chatlines_core::machine;
use chatlines_core::{Lease, MediaJob, MediaJobStatus, MediaOutcome, MessageId, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl State {
    /// Queues the jobs of a stored message (inside `append_inbound`).
    pub(super) fn queue_media(&mut self, jobs: Vec<MediaJob>) {
        for job in jobs {
            let key = (job.message, job.index);
            let row = self.row(job);
            self.media_due
                .insert((row.value.next_attempt_at, row.seq, key.0, key.1));
            self.media.insert(key, row);
        }
    }

    pub(super) fn claim_media(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<MediaJob> {
        let media = &self.media;
        let due: Vec<(MessageId, u32)> = self
            .media_due
            .iter()
            .take_while(|(at, _, _, _)| *at <= now)
            .filter(|(_, _, m, i)| {
                media
                    .get(&(*m, *i))
                    .is_some_and(|r| r.value.lease.is_none_or(|l| l.until <= now))
            })
            .take(limit)
            .map(|(_, _, m, i)| (*m, *i))
            .collect();
        due.into_iter()
            .filter_map(|key| {
                let row = self.media.get_mut(&key)?;
                row.value.lease = Some(Lease {
                    token: Uuid::new_v4(),
                    until: lease_until,
                });
                Some(row.value.clone())
            })
            .collect()
    }

    pub(super) fn finish_media(
        &mut self,
        message: MessageId,
        index: u32,
        token: Uuid,
        outcome: MediaOutcome,
        now: DateTime<Utc>,
    ) -> Result<MediaJob, StoreError> {
        let row = self
            .media
            .get(&(message, index))
            .ok_or_else(|| not_found("media job", format!("{message}/{index}")))?;
        let (seq, before) = (row.seq, row.value.clone());
        let decided = machine::finish_media(
            &before,
            token,
            self.messages.get(&message).map(|m| &**m),
            outcome,
        )?;
        self.media_due
            .remove(&(before.next_attempt_at, seq, message, index));
        if decided.job.status == MediaJobStatus::Pending {
            self.media_due
                .insert((decided.job.next_attempt_at, seq, message, index));
        }
        if let Some(updated) = decided.message {
            self.messages.insert(updated.id, Box::new(updated));
        }
        if let Some(row) = self.media.get_mut(&(message, index)) {
            row.value = decided.job.clone();
        }
        self.log(decided.events, now);
        Ok(decided.job)
    }

    pub(super) fn media_jobs(&self, message: MessageId) -> Vec<MediaJob> {
        self.media
            .range((message, 0)..=(message, u32::MAX))
            .map(|(_, r)| r.value.clone())
            .collect()
    }
}
