//! Lines, sources, contacts, messages, account links and requests.

use super::state::{already_exists, not_found, ordered, State};
use chatlines_core::machine;
use chatlines_core::{
    AccountLink, Appended, Author, Contact, ContactId, Cursor, Direction, Line, LineId, Message,
    MessageId, NewInbound, NewOutbound, RequestRecord, Session, SessionId, Source, SourceId,
    StoreError,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

impl State {
    // ----- lines -----

    pub(super) fn insert_line(&mut self, line: &Line) -> Result<(), StoreError> {
        if self.lines.contains_key(&line.id) {
            return Err(already_exists("line", line.id));
        }
        let row = self.row(Arc::new(line.clone()));
        self.lines.insert(line.id, row);
        self.log(machine::line_created(line), line.created_at);
        Ok(())
    }

    pub(super) fn update_line(&mut self, line: &Line, expected: u64) -> Result<(), StoreError> {
        let row = self
            .lines
            .get_mut(&line.id)
            .ok_or_else(|| not_found("line", line.id))?;
        if row.value.version != expected {
            return Err(StoreError::Conflict {
                what: "line",
                id: line.id.to_string(),
                expected,
                actual: row.value.version,
            });
        }
        let mut updated = line.clone();
        updated.version = expected.saturating_add(1);
        updated.created_at = row.value.created_at;
        let events = machine::line_updated(&updated);
        row.value = Arc::new(updated);
        self.log(events, line.updated_at);
        Ok(())
    }

    pub(super) fn delete_line(
        &mut self,
        id: LineId,
        expected: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = self.lines.get(&id).ok_or_else(|| not_found("line", id))?;
        if row.value.version != expected {
            return Err(StoreError::Conflict {
                what: "line",
                id: id.to_string(),
                expected,
                actual: row.value.version,
            });
        }
        self.lines.remove(&id);
        self.sources.retain(|_, s| s.value.line != id);
        let open: Vec<Session> = self
            .sessions
            .values()
            .filter(|r| r.value.line == id && r.value.is_open())
            .map(|r| r.value.clone())
            .collect();
        let (closes, events) = machine::line_deleted(id, &open, now);
        for close in closes {
            self.write_changeset(close, now);
        }
        self.log(events, now);
        if let Some(roster) = self.rosters.remove(&id) {
            let eligible: Vec<chatlines_core::UserId> = roster.eligible_users().cloned().collect();
            for user in &eligible {
                self.track_eligible(id, user, false);
            }
        }
        self.cursors.remove(&id);
        Ok(())
    }

    pub(super) fn lines(&self) -> Vec<Line> {
        ordered(self.lines.values(), |l| l.created_at)
            .into_iter()
            .map(|l| Line::clone(&l))
            .collect()
    }

    // ----- sources -----

    pub(super) fn insert_source(&mut self, source: &Source) -> Result<(), StoreError> {
        if !self.lines.contains_key(&source.line) {
            return Err(not_found("line", source.line));
        }
        if self.sources.contains_key(&source.id) {
            return Err(already_exists("source", source.id));
        }
        let row = self.row(source.clone());
        self.sources.insert(source.id, row);
        self.log(machine::source_bound(source), source.created_at);
        Ok(())
    }

    pub(super) fn delete_source(
        &mut self,
        id: SourceId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = self
            .sources
            .remove(&id)
            .ok_or_else(|| not_found("source", id))?;
        self.log(machine::source_unbound(&row.value), now);
        Ok(())
    }

    pub(super) fn sources(&self) -> Vec<Source> {
        ordered(self.sources.values(), |s| s.created_at)
    }

    // ----- messages -----

    pub(super) fn append_inbound(&mut self, new: NewInbound) -> Result<Appended, StoreError> {
        let follow_up = new.follow_up.clone();
        if let Some(existing) = new
            .external
            .as_ref()
            .and_then(|e| self.external.get(e, &self.messages))
        {
            return self.duplicate(existing);
        }
        if !self.lines.contains_key(&new.line) {
            return Err(not_found("line", new.line));
        }
        if self.messages.contains_key(&new.message_id) {
            return Err(already_exists("message", new.message_id));
        }
        let known = self.contact_keys.get(&new.contact_key).copied();
        let contact_id = known.unwrap_or(new.contact_id);
        if known.is_none() && self.contacts.contains_key(&contact_id) {
            return Err(already_exists("contact", contact_id));
        }
        let mut open = self.open.get(&(new.line, contact_id)).copied();
        let reopen = match (open, known) {
            (None, Some(contact)) => self.reopen_change(new.line, contact, new.now),
            _ => None,
        };
        let session_id = match &reopen {
            Some(change) => change.session.id,
            None => open.unwrap_or(new.session_id),
        };
        if open.is_none() && reopen.is_none() && self.sessions.contains_key(&session_id) {
            return Err(already_exists("session", session_id));
        }

        // Checks done: write.
        if known.is_none() {
            let contact = Contact::new(
                contact_id,
                new.contact_key.clone(),
                new.display_name,
                new.reply_address,
                new.now,
            );
            self.contact_keys.insert(new.contact_key, contact_id);
            self.contacts.insert(contact_id, contact);
        }
        let reopened = reopen.is_some();
        if let Some(change) = reopen {
            let session = self.write_changeset(change, new.now);
            self.open.insert((new.line, contact_id), session.id);
            open = Some(session.id);
        }
        if open.is_none() {
            let row = self.row(Session::opened(session_id, new.line, contact_id, new.now));
            self.by_contact
                .entry((new.line, contact_id))
                .or_default()
                .insert((new.now, row.seq, session_id));
            self.sessions.insert(session_id, row);
            self.open.insert((new.line, contact_id), session_id);
            self.index_status(session_id, true);
        }
        let seq = self.session_ref(session_id)?.last_seq.saturating_add(1);
        let message = Message::new(
            new.message_id,
            session_id,
            new.line,
            contact_id,
            seq,
            Direction::Inbound,
            Author::Client,
            new.body,
            new.external,
            new.now,
        )
        .with_sent_at(new.sent_at);
        self.push_message(message.clone());
        let session = self.session_ref(session_id)?.clone();
        let contact = self
            .contacts
            .get(&contact_id)
            .cloned()
            .ok_or_else(|| not_found("contact", contact_id))?;
        let mut appended = Appended::new(message, session, contact, open.is_none(), false);
        appended.reopened = reopened;
        self.write_timer_plan(session_id, machine::client_wrote_cancels(), &[]);
        self.log(machine::inbound_events(&appended), new.now);
        if let Some(change) =
            machine::inbound_follow_up(&appended.session, appended.opened, &follow_up, new.now)
        {
            appended.session = self.write_changeset(change, new.now);
        }
        self.queue_media(machine::media_jobs(&appended));
        Ok(appended)
    }

    /// The reopening of the contact's latest session on the line, if the
    /// line's reopen window says so (see `machine::reopen`).
    fn reopen_change(
        &self,
        line: chatlines_core::LineId,
        contact: ContactId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<machine::Changeset> {
        let settings = self.timer_settings(line);
        settings.reopen()?;
        let (_, _, latest) = self.by_contact.get(&(line, contact))?.last()?;
        let latest = &self.sessions.get(latest)?.value;
        let pending: Vec<_> = self
            .session_timers(latest.id)
            .into_iter()
            .map(|t| t.kind)
            .collect();
        machine::reopen(latest, &pending, now, &settings)
    }

    /// The answer to a redelivered message: the stored copy, nothing written.
    fn duplicate(&self, id: MessageId) -> Result<Appended, StoreError> {
        let message = self
            .messages
            .get(&id)
            .map(|m| Message::clone(m))
            .ok_or_else(|| not_found("message", id))?;
        let session = self.session_ref(message.session)?.clone();
        let contact = self
            .contacts
            .get(&message.contact)
            .cloned()
            .ok_or_else(|| not_found("contact", message.contact))?;
        Ok(Appended::new(message, session, contact, false, true))
    }

    pub(super) fn append_outbound(&mut self, new: NewOutbound) -> Result<Message, StoreError> {
        let session = self.session_ref(new.session)?;
        machine::check_new_outbound(session, &new)?;
        if self.messages.contains_key(&new.message_id) {
            return Err(already_exists("message", new.message_id));
        }
        if let Some(entry) = &new.outbox {
            if self.outbox.contains_key(&entry.id) {
                return Err(already_exists("outbox entry", entry.id));
            }
        }
        let message = Message::new(
            new.message_id,
            session.id,
            session.line,
            session.contact,
            session.last_seq.saturating_add(1),
            Direction::Outbound,
            new.author,
            new.body,
            None,
            new.now,
        );
        let plan = machine::reply_timers(
            session,
            &message.author,
            new.now,
            &self.timer_settings(session.line),
        );
        self.push_message(message.clone());
        self.write_timer_plan(message.session, &plan.cancel, &plan.arm);
        if let Some(mut entry) = new.outbox {
            entry.message = message.id;
            entry.session = message.session;
            self.outbox_by_message.insert(message.id, entry.id);
            let row = self.row(entry);
            self.queue_outbox(row);
        }
        self.log(machine::outbound_events(&message), new.now);
        let session = self.session_ref(message.session)?;
        if let Some(change) = machine::outbound_follow_up(session, &message.author, new.now) {
            self.write_changeset(change, new.now);
        }
        Ok(message)
    }

    pub(super) fn messages(
        &self,
        session: SessionId,
        cursor: Cursor,
        limit: usize,
    ) -> Vec<Message> {
        let Some(ids) = self.session_messages.get(&session) else {
            return Vec::new();
        };
        // `ids` is in seq order: find the page's bounds by binary search.
        let seq_of = |id: &MessageId| self.messages.get(id).map_or(0, |m| m.seq);
        let len = ids.len();
        let (from, to) = match cursor {
            Cursor::Start => (0, limit.min(len)),
            Cursor::After(seq) => {
                let from = ids.partition_point(|id| seq_of(id) <= seq);
                (from, from.saturating_add(limit).min(len))
            }
            Cursor::Before(seq) => {
                let to = ids.partition_point(|id| seq_of(id) < seq);
                (to.saturating_sub(limit), to)
            }
            Cursor::End => (len.saturating_sub(limit), len),
        };
        ids.get(from..to)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| self.messages.get(id).map(|m| Message::clone(m)))
            .collect()
    }

    // ----- sessions (reads) -----

    pub(super) fn contact_sessions(&self, line: LineId, contact: ContactId) -> Vec<Session> {
        self.sessions_in(self.by_contact.get(&(line, contact)), usize::MAX)
    }

    // ----- linked apps -----

    pub(super) fn put_account_link(&mut self, link: &AccountLink) {
        self.links.insert((link.line, link.contact), link.clone());
        self.log(machine::account_linked(link), link.linked_at);
    }

    pub(super) fn insert_request(&mut self, request: &RequestRecord) -> Result<(), StoreError> {
        if self.requests.contains_key(&request.id) {
            return Err(already_exists("request", request.id));
        }
        let row = self.row(request.clone());
        self.requests.insert(request.id, row);
        self.log(machine::request_registered(request), request.created_at);
        Ok(())
    }

    pub(super) fn requests(&self, session: SessionId) -> Vec<RequestRecord> {
        ordered(
            self.requests
                .values()
                .filter(|r| r.value.session == session),
            |r| r.created_at,
        )
    }
}
