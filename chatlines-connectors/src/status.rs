//! Delivery statuses that never move backwards.

use async_trait::async_trait;
use chatlines_core::{DeliveryStatus, SourceId, StatusUpdate};
use std::collections::HashMap;
use std::sync::Mutex;

/// The status after `next` arrives when the message is at `current`.
///
/// Statuses only move forward: `sent < delivered < read`; `failed` ends a
/// message that was not yet read, and nothing moves a failed or read
/// message. Updates that arrive out of order are therefore harmless.
///
/// ```
/// use chatlines_connectors::status::advance;
/// use chatlines_core::DeliveryStatus::*;
/// assert_eq!(advance(Some(Read), Delivered), Read);
/// assert_eq!(advance(Some(Sent), Delivered), Delivered);
/// assert_eq!(advance(Some(Failed), Read), Failed);
/// ```
pub fn advance(current: Option<DeliveryStatus>, next: DeliveryStatus) -> DeliveryStatus {
    use DeliveryStatus::*;
    match (current, next) {
        (None, next) => next,
        (Some(Failed), _) | (Some(Read), _) => current.unwrap_or(next),
        (Some(_), Failed) => Failed,
        (Some(cur), next) => {
            if rank(next) > rank(cur) {
                next
            } else {
                cur
            }
        }
    }
}

fn rank(s: DeliveryStatus) -> u8 {
    match s {
        DeliveryStatus::Sent => 0,
        DeliveryStatus::Delivered => 1,
        DeliveryStatus::Read => 2,
        DeliveryStatus::Failed => 3,
    }
}

/// Remembers the latest status of outbound messages by external id and
/// applies updates with [`advance`].
///
/// Bounded: past `capacity` messages, the oldest-tracked ones are
/// forgotten (their next update is then taken as it comes).
#[derive(Debug)]
pub struct StatusTracker {
    capacity: usize,
    inner: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    statuses: HashMap<String, DeliveryStatus>,
    order: std::collections::VecDeque<String>,
}

impl Default for StatusTracker {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl StatusTracker {
    /// A tracker remembering at most `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Tracked::default()),
        }
    }

    /// Applies an update; returns the new status if it changed anything.
    pub fn apply(&self, update: &StatusUpdate) -> Option<DeliveryStatus> {
        let mut t = match self.inner.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = t.statuses.get(&update.external_message_id).copied();
        let next = advance(current, update.status);
        if current == Some(next) {
            return None;
        }
        if current.is_none() {
            t.order.push_back(update.external_message_id.clone());
            while t.order.len() > self.capacity {
                if let Some(old) = t.order.pop_front() {
                    t.statuses.remove(&old);
                }
            }
        }
        t.statuses.insert(update.external_message_id.clone(), next);
        Some(next)
    }

    /// The current status of a message.
    pub fn get(&self, external_message_id: &str) -> Option<DeliveryStatus> {
        match self.inner.lock() {
            Ok(t) => t.statuses.get(external_message_id).copied(),
            Err(poisoned) => poisoned
                .into_inner()
                .statuses
                .get(external_message_id)
                .copied(),
        }
    }
}

/// Where the webhook endpoint reports delivery statuses (after the
/// inbound messages of the same request were stored).
#[async_trait]
pub trait StatusSink: Send + Sync {
    /// One status update from a source's webhook.
    async fn status(&self, source: SourceId, update: &StatusUpdate);
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::*;

    fn upd(id: &str, s: DeliveryStatus) -> StatusUpdate {
        StatusUpdate::new(id, s, None)
    }

    #[test]
    fn never_moves_backwards() {
        let all = [Sent, Delivered, Read, Failed];
        for a in all {
            for b in all {
                let r = advance(Some(a), b);
                assert!(rank(r) >= rank(a), "{a:?} then {b:?} gave {r:?}");
                if a == Failed || a == Read {
                    assert_eq!(r, a);
                }
            }
        }
    }

    #[test]
    fn out_of_order_updates_end_at_the_furthest() {
        let t = StatusTracker::default();
        assert_eq!(t.apply(&upd("m", Read)), Some(Read));
        assert_eq!(t.apply(&upd("m", Sent)), None);
        assert_eq!(t.apply(&upd("m", Delivered)), None);
        assert_eq!(t.get("m"), Some(Read));
        assert_eq!(t.apply(&upd("n", Delivered)), Some(Delivered));
        assert_eq!(t.apply(&upd("n", Failed)), Some(Failed));
        assert_eq!(t.apply(&upd("n", Read)), None);
        assert_eq!(t.get("n"), Some(Failed));
    }

    #[test]
    fn bounded() {
        let t = StatusTracker::new(2);
        t.apply(&upd("a", Sent));
        t.apply(&upd("b", Sent));
        t.apply(&upd("c", Sent));
        assert_eq!(t.get("a"), None);
        assert_eq!(t.get("c"), Some(Sent));
    }
}
