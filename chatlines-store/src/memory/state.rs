//! The memory store's tables and the record-level operations on them.
//!
//! Every method here runs under the store's one lock, so each is atomic.
//! Methods that write check everything first and change nothing on error.

use chatlines_core::{
    AccountLink, Contact, ContactId, ContactKey, Direction, Event, EventId, EventPosition,
    ExternalRef, Line, LineId, LoggedEvent, MediaJob, Message, MessageId, MessageState,
    OutboxEntry, OutboxId, RequestId, RequestRecord, Session, SessionId, SessionStatus, Source,
    SourceId, StoreError, UserId,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

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
    /// Consecutive lapses of the accept timeout.
    pub(super) no_answer: u32,
    /// Set away after `max_no_answer` lapses: kept ineligible by roster
    /// rebuilds until made eligible one by one.
    pub(super) away: bool,
}

/// A line's roster with the indexes routing reads, so that a pick costs
/// O(log n) in the number of operators.
#[derive(Debug, Default)]
pub(super) struct Roster {
    slots: BTreeMap<UserId, Slot>,
    /// Eligible users, for round robin.
    eligible: BTreeSet<UserId>,
    /// Eligible users by (load, id), for least loaded.
    by_load: BTreeSet<(u32, UserId)>,
}

impl Roster {
    /// Changes one user's entry (creating an ineligible one) and keeps the
    /// indexes in step.
    pub(super) fn update(&mut self, user: &UserId, change: impl FnOnce(&mut Slot)) {
        let slot = self.slots.entry(user.clone()).or_default();
        if slot.eligible {
            self.by_load.remove(&(slot.load, user.clone()));
        }
        change(slot);
        if slot.eligible {
            self.by_load.insert((slot.load, user.clone()));
            self.eligible.insert(user.clone());
        } else {
            self.eligible.remove(user);
        }
    }

    /// Makes every entry ineligible (loads kept).
    pub(super) fn clear_eligible(&mut self) {
        for slot in self.slots.values_mut() {
            slot.eligible = false;
        }
        self.eligible.clear();
        self.by_load.clear();
    }

    /// The next eligible user after `last` in id order, wrapping, not one
    /// of `excluding` (at most `excluding.len() + 1` steps past the seek).
    pub(super) fn next_after(
        &self,
        last: Option<&UserId>,
        excluding: &[UserId],
    ) -> Option<&UserId> {
        let after = last.into_iter().flat_map(|l| {
            self.eligible
                .range((Bound::Excluded(l), Bound::Unbounded))
                .take(excluding.len() + 1)
        });
        let from_start = self.eligible.iter().take(excluding.len() + 1);
        after.chain(from_start).find(|u| !excluding.contains(u))
    }

    /// The eligible user with the lowest load (ties by id), if below
    /// `capacity`, not one of `excluding`.
    pub(super) fn least_loaded(&self, capacity: u32, excluding: &[UserId]) -> Option<&UserId> {
        self.by_load
            .iter()
            .take(excluding.len() + 1)
            .find(|(_, u)| !excluding.contains(u))
            .filter(|(load, _)| *load < capacity)
            .map(|(_, user)| user)
    }

    /// The user's entry.
    pub(super) fn slot(&self, user: &UserId) -> Option<&Slot> {
        self.slots.get(user)
    }

    /// Whether the user is eligible.
    pub(super) fn is_eligible(&self, user: &UserId) -> bool {
        self.eligible.contains(user)
    }

    /// Whether the user has an entry.
    pub(super) fn contains(&self, user: &UserId) -> bool {
        self.slots.contains_key(user)
    }

    /// The eligible users.
    pub(super) fn eligible_users(&self) -> impl Iterator<Item = &UserId> {
        self.eligible.iter()
    }

    /// Entries in user-id order.
    pub(super) fn slots(&self) -> impl Iterator<Item = (&UserId, &Slot)> {
        self.slots.iter()
    }
}

/// The order sessions are listed in: opening time, then insertion.
pub(super) type SessionKey = (DateTime<Utc>, u64, SessionId);

/// The order waiting sessions are served in without priority aging:
/// highest priority first, then opening time and insertion.
pub(super) type ServingKey = (std::cmp::Reverse<u8>, SessionKey);

/// When a session's client and operators last wrote.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct MessageTimes {
    /// The first client message after the last message to the client.
    pub(super) waiting_since: Option<DateTime<Utc>>,
    pub(super) last_in: Option<DateTime<Utc>>,
    pub(super) last_out: Option<DateTime<Utc>>,
}

/// The order outbox entries are claimed in: due time, then insertion.
pub(super) type DueKey = (DateTime<Utc>, u64, OutboxId);

/// The order media jobs are claimed in: due time, then insertion.
pub(super) type MediaDueKey = (DateTime<Utc>, u64, MessageId, u32);

/// Everything the memory store holds.
#[derive(Debug, Default)]
pub(super) struct State {
    next_row: u64,
    /// Lines, shared with the readers of `shared_line`.
    pub(super) lines: HashMap<LineId, Row<Arc<Line>>>,
    pub(super) sources: HashMap<SourceId, Row<Source>>,
    pub(super) contacts: HashMap<ContactId, Contact>,
    pub(super) contact_keys: HashMap<ContactKey, ContactId>,
    pub(super) sessions: HashMap<SessionId, Row<Session>>,
    /// The open session of each (line, contact).
    pub(super) open: HashMap<(LineId, ContactId), SessionId>,
    /// Messages by id, boxed: a message is large, and a growing table
    /// moves every value it holds on each resize.
    pub(super) messages: HashMap<MessageId, Box<Message>>,
    /// Message ids of each session, in `seq` order.
    pub(super) session_messages: HashMap<SessionId, Vec<MessageId>>,
    /// The idempotency index of ingest.
    pub(super) external: super::external::ExternalIndex,
    /// Sessions of each (line, contact), oldest first.
    pub(super) by_contact: HashMap<(LineId, ContactId), BTreeSet<SessionKey>>,
    /// Queued sessions per line.
    pub(super) queued: HashMap<LineId, BTreeSet<SessionKey>>,
    /// Offered sessions per line.
    pub(super) offered: HashMap<LineId, BTreeSet<SessionKey>>,
    /// Queued sessions per line in serving order: highest priority first,
    /// then the order of [`SessionKey`].
    pub(super) queued_serving: HashMap<LineId, BTreeSet<ServingKey>>,
    /// Offered sessions per line in serving order.
    pub(super) offered_serving: HashMap<LineId, BTreeSet<ServingKey>>,
    /// Open assigned sessions per operator (all lines).
    pub(super) assigned: HashMap<UserId, BTreeSet<SessionKey>>,
    /// Open sessions per line.
    pub(super) open_by_line: HashMap<LineId, BTreeSet<SessionKey>>,
    /// The lines on which each user is eligible in the roster.
    pub(super) eligible_lines: HashMap<UserId, BTreeSet<LineId>>,
    /// The message times of each session.
    pub(super) times: HashMap<SessionId, MessageTimes>,
    /// Roster per line.
    pub(super) rosters: HashMap<LineId, Roster>,
    /// The last user picked by round robin on each line.
    pub(super) cursors: HashMap<LineId, UserId>,
    pub(super) links: HashMap<(LineId, ContactId), AccountLink>,
    pub(super) requests: HashMap<RequestId, Row<RequestRecord>>,
    pub(super) outbox: HashMap<OutboxId, Row<OutboxEntry>>,
    pub(super) outbox_by_message: HashMap<MessageId, OutboxId>,
    /// Outbound messages by the source and the id the messenger gave them.
    pub(super) sent_external: HashMap<ExternalRef, MessageId>,
    /// What messenger updates left on messages (absent: nothing).
    pub(super) message_states: HashMap<MessageId, MessageState>,
    /// The head (oldest pending entry) of each chat by due time, leased
    /// ones included: the only entries a claim may take.
    pub(super) due: BTreeSet<DueKey>,
    /// Pending outbox entries of each chat (source, address), oldest first.
    pub(super) chats: HashMap<(SourceId, String), BTreeSet<(u64, OutboxId)>>,
    /// Media fetch jobs by (message, attachment index).
    pub(super) media: BTreeMap<(MessageId, u32), Row<MediaJob>>,
    /// Pending media jobs by due time (leased ones included).
    pub(super) media_due: BTreeSet<MediaDueKey>,
    /// Armed timers by (session, kind).
    pub(super) timers: BTreeMap<(SessionId, chatlines_core::TimerKind), super::timers::TimerRow>,
    /// Armed timers by due time (leased ones included).
    pub(super) timer_due: BTreeSet<super::timers::TimerDueKey>,
    /// Service-level breaches by (line, due time, session, target).
    pub(super) sla_breaches: BTreeMap<
        (LineId, DateTime<Utc>, SessionId, chatlines_core::SlaTarget),
        chatlines_core::SlaBreach,
    >,
    /// The event log, oldest first.
    pub(super) events: VecDeque<LoggedEvent>,
    /// The sequence number of the last logged event.
    pub(super) last_event: u64,
    /// Each consumer's position in the log.
    pub(super) consumers: HashMap<String, EventPosition>,
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

    /// The sessions behind an index, oldest first, at most `limit`.
    pub(super) fn sessions_in(
        &self,
        index: Option<&BTreeSet<SessionKey>>,
        limit: usize,
    ) -> Vec<Session> {
        index
            .into_iter()
            .flatten()
            .take(limit)
            .filter_map(|(_, _, id)| self.sessions.get(id).map(|r| r.value.clone()))
            .collect()
    }

    /// Up to `limit` queued (`offered` false) or offered sessions of a
    /// line in serving order: from the priority index, or, on a line with
    /// priority aging, sorted by the queue key (a sort of the line's
    /// waiting sessions of that status).
    pub(super) fn serving(&self, line: LineId, offered: bool, limit: usize) -> Vec<Session> {
        let aging = self
            .lines
            .get(&line)
            .and_then(|r| r.value.config.timers.priority_aging());
        let Some(step) = aging else {
            let index = if offered {
                self.offered_serving.get(&line)
            } else {
                self.queued_serving.get(&line)
            };
            return index
                .into_iter()
                .flatten()
                .take(limit)
                .filter_map(|(_, (_, _, id))| self.sessions.get(id).map(|r| r.value.clone()))
                .collect();
        };
        let index = if offered {
            self.offered.get(&line)
        } else {
            self.queued.get(&line)
        };
        let mut waiting: Vec<(i64, SessionKey, &Session)> = index
            .into_iter()
            .flatten()
            .filter_map(|key| {
                self.sessions.get(&key.2).map(|r| {
                    let s = &r.value;
                    (
                        chatlines_core::priority::queue_key(s.priority, s.opened_at, step),
                        *key,
                        s,
                    )
                })
            })
            .collect();
        waiting.sort_unstable_by_key(|(k, key, _)| (*k, *key));
        waiting
            .into_iter()
            .take(limit)
            .map(|(_, _, s)| s.clone())
            .collect()
    }

    /// Adds a session to (or removes it from) the status index its current
    /// status belongs in.
    pub(super) fn index_status(&mut self, id: SessionId, add: bool) {
        let Some(row) = self.sessions.get(&id) else {
            return;
        };
        let s = &row.value;
        let key = (s.opened_at, row.seq, id);
        if s.is_open() {
            let open = self.open_by_line.entry(s.line).or_default();
            if add {
                open.insert(key);
            } else {
                open.remove(&key);
            }
        }
        let serving = match &s.status {
            SessionStatus::Queued => Some(self.queued_serving.entry(s.line).or_default()),
            SessionStatus::Offered => Some(self.offered_serving.entry(s.line).or_default()),
            _ => None,
        };
        if let Some(serving) = serving {
            let ranked = (std::cmp::Reverse(s.priority.rank()), key);
            if add {
                serving.insert(ranked);
            } else {
                serving.remove(&ranked);
            }
        }
        let set = match &s.status {
            SessionStatus::Queued => self.queued.entry(s.line).or_default(),
            SessionStatus::Offered => self.offered.entry(s.line).or_default(),
            SessionStatus::Assigned { operator } => {
                self.assigned.entry(operator.clone()).or_default()
            }
            // Neither waiting nor anyone's: found through the open index.
            SessionStatus::Bot | SessionStatus::Closed => return,
        };
        if add {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// Adds one to (or takes one from) an operator's load on a line,
    /// creating an ineligible entry when there is none.
    pub(super) fn adjust_load(&mut self, line: LineId, user: &UserId, up: bool) {
        self.rosters.entry(line).or_default().update(user, |slot| {
            slot.load = if up {
                slot.load.saturating_add(1)
            } else {
                slot.load.saturating_sub(1)
            };
        });
    }

    /// Appends events to the event log (under the same lock as the change
    /// that caused them).
    pub(super) fn log(&mut self, events: Vec<Event>, at: DateTime<Utc>) {
        for event in events {
            self.last_event += 1;
            let position = EventPosition::new(0, self.last_event);
            let id = EventId(uuid::Uuid::now_v7());
            self.events
                .push_back(LoggedEvent::new(id, position, at, event));
        }
    }

    /// The key of a session in the session indexes.
    pub(super) fn session_key(&self, id: SessionId) -> Option<SessionKey> {
        self.sessions
            .get(&id)
            .map(|r| (r.value.opened_at, r.seq, id))
    }

    /// Records whether `user` is eligible on `line` in the per-user index.
    pub(super) fn track_eligible(&mut self, line: LineId, user: &UserId, eligible: bool) {
        if eligible {
            self.eligible_lines
                .entry(user.clone())
                .or_default()
                .insert(line);
        } else if let Some(lines) = self.eligible_lines.get_mut(user) {
            lines.remove(&line);
            if lines.is_empty() {
                self.eligible_lines.remove(user);
            }
        }
    }

    /// Appends a message to a session's log, updating `last_seq`.
    pub(super) fn push_message(&mut self, message: Message) {
        let times = self.times.entry(message.session).or_default();
        match message.direction {
            Direction::Inbound => {
                times.last_in = Some(message.created_at);
                times.waiting_since.get_or_insert(message.created_at);
            }
            Direction::Outbound => {
                times.last_out = Some(message.created_at);
                times.waiting_since = None;
            }
        }
        if let Some(row) = self.sessions.get_mut(&message.session) {
            row.value.last_seq = message.seq;
            row.value.updated_at = message.created_at;
        }
        self.session_messages
            .entry(message.session)
            .or_default()
            .push(message.id);
        if let Some(external) = &message.external {
            self.external.insert(external, message.id, &self.messages);
        }
        self.messages.insert(message.id, Box::new(message));
    }
}
