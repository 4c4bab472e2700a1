//! The memory store's tables and the record-level operations on them.
//!
//! Every method here runs under the store's one lock, so each is atomic.
//! Methods that write check everything first and change nothing on error.

use chatlines_core::{
    AccountLink, Contact, ContactId, ContactKey, ExternalRef, Line, LineId, Message, MessageId,
    OutboxEntry, OutboxId, RequestId, RequestRecord, Session, SessionId, Source, SourceId,
    StoreError, UserId,
};
use std::collections::{BTreeMap, HashMap};

/// A record with the order it was inserted in, to break ties of equal
/// timestamps deterministically.
#[derive(Debug)]
pub(super) struct Row<T> {
    pub(super) seq: u64,
    pub(super) value: T,
}

/// One operator's roster entry on a line.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Slot {
    pub(super) eligible: bool,
    pub(super) load: u32,
}

/// Everything the memory store holds.
#[derive(Debug, Default)]
pub(super) struct State {
    next_row: u64,
    pub(super) lines: HashMap<LineId, Row<Line>>,
    pub(super) sources: HashMap<SourceId, Row<Source>>,
    pub(super) contacts: HashMap<ContactId, Contact>,
    pub(super) contact_keys: HashMap<ContactKey, ContactId>,
    pub(super) sessions: HashMap<SessionId, Row<Session>>,
    /// The open session of each (line, contact).
    pub(super) open: HashMap<(LineId, ContactId), SessionId>,
    pub(super) messages: HashMap<MessageId, Message>,
    /// Message ids of each session, in `seq` order.
    pub(super) session_messages: HashMap<SessionId, Vec<MessageId>>,
    /// The idempotency index of ingest.
    pub(super) external: HashMap<ExternalRef, MessageId>,
    /// Roster per line, keyed (and so ordered) by user id.
    pub(super) rosters: HashMap<LineId, BTreeMap<UserId, Slot>>,
    /// The last user picked by round robin on each line.
    pub(super) cursors: HashMap<LineId, UserId>,
    pub(super) links: HashMap<(LineId, ContactId), AccountLink>,
    pub(super) requests: HashMap<RequestId, Row<RequestRecord>>,
    pub(super) outbox: HashMap<OutboxId, Row<OutboxEntry>>,
    pub(super) outbox_by_message: HashMap<MessageId, OutboxId>,
}

pub(super) fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

pub(super) fn already_exists(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::AlreadyExists {
        what,
        id: id.to_string(),
    }
}

/// Clones the values of rows, ordered by a timestamp key and then by
/// insertion.
pub(super) fn ordered<'a, T, K, I>(rows: I, key: impl Fn(&T) -> K) -> Vec<T>
where
    T: Clone + 'a,
    K: Ord,
    I: IntoIterator<Item = &'a Row<T>>,
{
    let mut picked: Vec<&Row<T>> = rows.into_iter().collect();
    picked.sort_by(|a, b| key(&a.value).cmp(&key(&b.value)).then(a.seq.cmp(&b.seq)));
    picked.into_iter().map(|r| r.value.clone()).collect()
}

impl State {
    /// Wraps a value with the next insertion number.
    pub(super) fn row<T>(&mut self, value: T) -> Row<T> {
        self.next_row += 1;
        Row {
            seq: self.next_row,
            value,
        }
    }

    pub(super) fn session_ref(&self, id: SessionId) -> Result<&Session, StoreError> {
        self.sessions
            .get(&id)
            .map(|r| &r.value)
            .ok_or_else(|| not_found("session", id))
    }

    /// Sessions matching a filter, oldest first.
    pub(super) fn sessions_where(
        &self,
        limit: usize,
        keep: impl Fn(&Session) -> bool,
    ) -> Vec<Session> {
        let mut out = ordered(self.sessions.values().filter(|r| keep(&r.value)), |s| {
            s.opened_at
        });
        out.truncate(limit);
        out
    }

    /// Adds `delta` (+1 or -1) to an operator's load on a line, creating an
    /// ineligible entry when there is none.
    pub(super) fn adjust_load(&mut self, line: LineId, user: &UserId, up: bool) {
        let slot = self
            .rosters
            .entry(line)
            .or_default()
            .entry(user.clone())
            .or_default();
        slot.load = if up {
            slot.load.saturating_add(1)
        } else {
            slot.load.saturating_sub(1)
        };
    }

    /// Appends a message to a session's log, updating `last_seq`.
    pub(super) fn push_message(&mut self, message: Message) {
        if let Some(row) = self.sessions.get_mut(&message.session) {
            row.value.last_seq = message.seq;
            row.value.updated_at = message.created_at;
        }
        self.session_messages
            .entry(message.session)
            .or_default()
            .push(message.id);
        if let Some(external) = &message.external {
            self.external.insert(external.clone(), message.id);
        }
        self.messages.insert(message.id, message);
    }
}
