//! The idempotency index of ingest: message ids by their messenger-side
//! reference.

use chatlines_core::{ExternalRef, Message, MessageId};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Message ids by [`ExternalRef`], keyed by a keyed hash of the reference
/// instead of a copy of it: the reference is already in the message, and a
/// table of `u64` keys grows without hashing its strings again.
///
/// A hash shared by two references is confirmed against the message's own
/// `external`; the later reference goes to `overflow`, keyed in full. So
/// every entry points to a message whose `external` is its reference
/// (stored messages keep their reference).
#[derive(Debug, Default)]
pub(super) struct ExternalIndex {
    /// Keys the hashes (random per index, like a `HashMap`'s).
    keys: RandomState,
    by_hash: HashMap<u64, MessageId, BuildHasherDefault<HashOfHash>>,
    /// References whose hash was taken by another reference.
    overflow: HashMap<ExternalRef, MessageId>,
}

impl ExternalIndex {
    /// The message with this reference.
    pub(super) fn get(
        &self,
        external: &ExternalRef,
        messages: &HashMap<MessageId, Box<Message>>,
    ) -> Option<MessageId> {
        let hash = self.keys.hash_one(external);
        match self.by_hash.get(&hash) {
            Some(id) if refers_to(messages, *id, external) => Some(*id),
            Some(_) => self.overflow.get(external).copied(),
            None => None,
        }
    }

    /// Points `external` to `id`, the message that has it (replacing what it
    /// pointed to). `messages` holds every message the index points to,
    /// `id` aside.
    pub(super) fn insert(
        &mut self,
        external: &ExternalRef,
        id: MessageId,
        messages: &HashMap<MessageId, Box<Message>>,
    ) {
        let hash = self.keys.hash_one(external);
        match self.by_hash.get_mut(&hash) {
            Some(taken) if !refers_to(messages, *taken, external) => {
                self.overflow.insert(external.clone(), id);
            }
            Some(same) => *same = id,
            None => {
                self.by_hash.insert(hash, id);
            }
        }
    }
}

fn refers_to(
    messages: &HashMap<MessageId, Box<Message>>,
    id: MessageId,
    external: &ExternalRef,
) -> bool {
    messages
        .get(&id)
        .is_some_and(|m| m.external.as_ref() == Some(external))
}

/// Hashes a `u64` that is already a well-mixed hash to itself.
#[derive(Default)]
struct HashOfHash(u64);

impl Hasher for HashOfHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for the keys; mix anything else in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatlines_core::{Author, Body, ContactId, Direction, LineId, SessionId, SourceId};
    use uuid::Uuid;

    fn message(external: &ExternalRef) -> Box<Message> {
        Box::new(Message::new(
            MessageId(Uuid::now_v7()),
            SessionId(Uuid::now_v7()),
            LineId(Uuid::now_v7()),
            ContactId(Uuid::now_v7()),
            1,
            Direction::Inbound,
            Author::Client,
            Body::text("hi"),
            Some(external.clone()),
            chrono::Utc::now(),
        ))
    }

    fn reference(source: SourceId, id: &str) -> ExternalRef {
        ExternalRef {
            source,
            message_id: id.into(),
        }
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let source = SourceId(Uuid::now_v7());
        let (a, b) = (reference(source, "a"), reference(source, "b"));
        let mut messages = HashMap::new();
        let mut index = ExternalIndex::default();
        let m = message(&a);
        index.insert(&a, m.id, &messages);
        let id = m.id;
        messages.insert(id, m);
        assert_eq!(index.get(&a, &messages), Some(id));
        assert_eq!(index.get(&b, &messages), None);
        assert_eq!(
            index.get(&reference(SourceId(Uuid::now_v7()), "a"), &messages),
            None
        );
    }

    #[test]
    fn references_sharing_a_hash_are_told_apart() {
        let source = SourceId(Uuid::now_v7());
        let (a, b) = (reference(source, "a"), reference(source, "b"));
        let (ma, mb) = (message(&a), message(&b));
        let (ida, idb) = (ma.id, mb.id);
        let mut messages = HashMap::new();
        let mut index = ExternalIndex::default();
        index.insert(&a, ida, &messages);
        messages.insert(ida, ma);
        // `b` hashes like `a`: its slot already points to `a`'s message.
        let hash_b = index.keys.hash_one(&b);
        index.by_hash.insert(hash_b, ida);
        assert_eq!(index.get(&b, &messages), None);
        index.insert(&b, idb, &messages);
        messages.insert(idb, mb);
        assert_eq!(index.overflow.len(), 1);
        assert_eq!(index.get(&a, &messages), Some(ida));
        assert_eq!(index.get(&b, &messages), Some(idb));
    }
}
