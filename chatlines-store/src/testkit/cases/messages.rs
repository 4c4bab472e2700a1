//! Inbound and outbound messages, idempotent ingest, history pages.

use crate::testkit::fixtures::*;
use chatlines_core::{
    Attachment, Author, Body, ContactKey, Cursor, Direction, OutboxStatus, RouteReason,
    SessionState, SessionStatus, Store, StoreError, Transition,
};
use std::sync::Arc;

/// A new client's first message creates the contact and a queued session
/// (version 1, reason `New`) in one call; the next continues it.
pub async fn inbound_opens_session_and_contact(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let key = external(source.id, "tg-42");
    let mut first = inbound_ext(line.id, source.id, "tg-42", "m1", 1);
    first.display_name = "Ivan".to_owned();
    first.reply_address = Some("chat-42".to_owned());
    first.body = Body::text("hi").with_attachment(Attachment::new(
        "photo.png",
        "image/png",
        1234,
        "blob://1",
    ));
    let a = must(store.append_inbound(first.clone()).await, "first message");
    assert!(a.opened && !a.duplicate);
    assert_eq!(a.contact.id, first.contact_id);
    assert_eq!(a.contact.key, key);
    assert_eq!(a.contact.display_name, "Ivan");
    assert_eq!(a.contact.reply_address(), Some("chat-42"));
    assert_eq!(a.session.id, first.session_id);
    assert_eq!(a.session.status, SessionStatus::Queued);
    assert_eq!(a.session.reason, RouteReason::New);
    assert_eq!(a.session.version, 1);
    assert_eq!(a.session.last_seq, 1);
    assert_eq!(a.session.opened_at, at(1));
    assert_eq!(a.message.id, first.message_id);
    assert_eq!(a.message.seq, 1);
    assert_eq!(a.message.direction, Direction::Inbound);
    assert_eq!(a.message.author, Author::Client);
    assert_eq!(a.message.body, first.body);
    assert_eq!(a.message.external, first.external);
    assert_eq!(a.message.line, line.id);
    assert_eq!(a.message.contact, a.contact.id);
    assert_eq!(a.message.created_at, at(1));

    let b = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "tg-42", "m2", 2))
            .await,
        "second message",
    );
    assert!(!b.opened && !b.duplicate);
    assert_eq!(b.contact.id, a.contact.id, "the contact is reused");
    assert_eq!(b.contact.display_name, "Ivan");
    assert_eq!(b.session.id, a.session.id, "the open session continues");
    assert_eq!(b.message.seq, 2);
    assert_eq!(b.session.last_seq, 2);
    assert_eq!(b.session.version, 1, "a message is not a transition");

    assert_eq!(
        must(store.contact(a.contact.id).await, "contact"),
        Some(a.contact.clone())
    );
    assert_eq!(
        must(store.contact_by_key(&key).await, "contact_by_key"),
        Some(a.contact.clone())
    );
    assert_eq!(
        must(store.message(a.message.id).await, "message"),
        Some(a.message.clone())
    );
    let open = some(
        must(open_session(store, line.id, a.contact.id).await, "open"),
        "open session",
    );
    assert_eq!(open.id, a.session.id);
    assert_eq!(open.last_seq, 2);
}

/// A message to an unknown line is `NotFound` and writes nothing.
pub async fn inbound_to_unknown_line_writes_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let key = internal("lost");
    let new = inbound(id(), &key, "anyone?", 0);
    let err = fails(store.append_inbound(new.clone()).await, "unknown line");
    assert!(
        matches!(err, StoreError::NotFound { what: "line", .. }),
        "{err:?}"
    );
    assert_eq!(must(store.contact_by_key(&key).await, "contact"), None);
    assert_eq!(must(store.message(new.message_id).await, "message"), None);
    assert_eq!(must(store.session(new.session_id).await, "session"), None);
}

/// Redelivering a messenger message returns the stored one and writes
/// nothing; the key is (source, messenger id), not the messenger id alone.
pub async fn inbound_is_idempotent_by_external_ref(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s1 = new_source(store, line.id, 0).await;
    let s2 = new_source(store, line.id, 0).await;
    let first = must(
        store
            .append_inbound(inbound_ext(line.id, s1.id, "u", "m-1", 1))
            .await,
        "first delivery",
    );
    for n in 0..3 {
        let again = must(
            store
                .append_inbound(inbound_ext(line.id, s1.id, "u", "m-1", 2 + n))
                .await,
            "redelivery",
        );
        assert!(again.duplicate && !again.opened);
        assert_eq!(again.message, first.message, "the stored copy is returned");
        assert_eq!(again.session.id, first.session.id);
        assert_eq!(again.contact.id, first.contact.id);
    }
    let page = must(
        store.messages(first.session.id, Cursor::Start, 10).await,
        "messages",
    );
    assert_eq!(page.len(), 1, "one stored message");

    let other = must(
        store
            .append_inbound(inbound_ext(line.id, s2.id, "u", "m-1", 9))
            .await,
        "same messenger id on another source",
    );
    assert!(!other.duplicate);
    assert_ne!(other.message.id, first.message.id);
}

/// A closed session stays closed: the client's next message opens a new
/// session, and both are listed oldest first.
pub async fn inbound_after_close_opens_new_session(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let key = internal("carol");
    let first = must(
        store.append_inbound(inbound(line.id, &key, "one", 1)).await,
        "first",
    );
    must(
        store
            .transition(
                first.session.id,
                Transition::Close { by_operator: None },
                at(2),
            )
            .await,
        "close",
    );
    assert_eq!(
        must(open_session(store, line.id, first.contact.id).await, "open"),
        None
    );
    let second = must(
        store.append_inbound(inbound(line.id, &key, "two", 3)).await,
        "second",
    );
    assert!(second.opened);
    assert_ne!(second.session.id, first.session.id);
    assert_eq!(second.contact.id, first.contact.id);
    assert_eq!(second.message.seq, 1, "a new session starts at seq 1");
    let all: Vec<_> = must(
        store.contact_sessions(line.id, first.contact.id).await,
        "contact_sessions",
    )
    .into_iter()
    .map(|s| s.id)
    .collect();
    assert_eq!(all, vec![first.session.id, second.session.id]);
    let open = some(
        must(open_session(store, line.id, first.contact.id).await, "open"),
        "open",
    );
    assert_eq!(open.id, second.session.id);

    // The same client on another line has a session of its own.
    let other = new_line(store, 4).await;
    let third = must(
        store.append_inbound(inbound(other.id, &key, "hi", 5)).await,
        "other line",
    );
    assert!(third.opened);
    assert_eq!(third.contact.id, first.contact.id);
    assert_eq!(
        must(store.contact_sessions(line.id, first.contact.id).await, "s").len(),
        2
    );
}

/// Pages of history: from the start, after, before, and the newest; limits
/// respected, always oldest first.
pub async fn messages_page_by_cursor(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let key = internal("dave");
    let mut session = None;
    for n in 1..=5 {
        let a = must(
            store
                .append_inbound(inbound(line.id, &key, &format!("m{n}"), n))
                .await,
            "append",
        );
        session = Some(a.session.id);
    }
    let session = some(session, "session");
    let seqs = |page: Vec<chatlines_core::Message>| page.into_iter().map(|m| m.seq).collect();
    let page = |c, n| store.messages(session, c, n);
    let all: Vec<u64> = seqs(must(page(Cursor::Start, 100).await, "all"));
    assert_eq!(all, vec![1, 2, 3, 4, 5]);
    let v: Vec<u64> = seqs(must(page(Cursor::Start, 2).await, "start"));
    assert_eq!(v, vec![1, 2]);
    let v: Vec<u64> = seqs(must(page(Cursor::After(2), 2).await, "after"));
    assert_eq!(v, vec![3, 4]);
    let v: Vec<u64> = seqs(must(page(Cursor::After(4), 10).await, "after"));
    assert_eq!(v, vec![5]);
    let v: Vec<u64> = seqs(must(page(Cursor::Before(5), 2).await, "before"));
    assert_eq!(v, vec![3, 4]);
    let v: Vec<u64> = seqs(must(page(Cursor::Before(3), 10).await, "before"));
    assert_eq!(v, vec![1, 2]);
    let v: Vec<u64> = seqs(must(page(Cursor::End, 2).await, "end"));
    assert_eq!(v, vec![4, 5]);
    let v: Vec<u64> = seqs(must(page(Cursor::End, 0).await, "limit 0"));
    assert!(v.is_empty());
    let v: Vec<u64> = seqs(must(page(Cursor::After(5), 10).await, "past the end"));
    assert!(v.is_empty());
    let unknown = must(store.messages(id(), Cursor::Start, 10).await, "unknown");
    assert!(unknown.is_empty(), "an unknown session has no messages");
}

/// An operator's reply and its outbox entry are written together, with the
/// next sequence number.
pub async fn outbound_writes_message_and_outbox(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let a = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "x1", 1))
            .await,
        "inbound",
    );
    must(
        store.transition(a.session.id, take("ann"), at(2)).await,
        "take",
    );
    let mut new = reply(a.session.id, "ann", "how can I help?", 3);
    let entry = outbox_for(&new, source.id, 3);
    new.outbox = Some(entry.clone());
    let message = must(store.append_outbound(new.clone()).await, "reply");
    assert_eq!(message.id, new.message_id);
    assert_eq!(message.seq, 2);
    assert_eq!(message.direction, Direction::Outbound);
    assert_eq!(message.author, new.author);
    assert_eq!(message.body, new.body);
    assert_eq!(message.external, None);
    assert_eq!(message.line, line.id);
    assert_eq!(message.contact, a.contact.id);
    assert_eq!(
        must(store.message(message.id).await, "message"),
        Some(message.clone())
    );
    let stored = some(
        must(store.outbox_for_message(message.id).await, "outbox"),
        "outbox entry of the reply",
    );
    assert_eq!(stored, entry);
    assert_eq!(stored.status, OutboxStatus::Pending);
    assert_eq!(
        must(store.outbox_entry(entry.id).await, "entry"),
        Some(entry)
    );
    let session = some(must(store.session(a.session.id).await, "s"), "s");
    assert_eq!(session.last_seq, 2);

    // An internal note without an outbox entry.
    let mut note = reply(a.session.id, "ann", "note", 4);
    note.require_operator = None;
    note.author = Author::System;
    let m = must(store.append_outbound(note).await, "system note");
    assert_eq!(m.seq, 3);
    assert_eq!(must(store.outbox_for_message(m.id).await, "outbox"), None);
}

/// A reply by the wrong operator, or to a closed or unknown session, is
/// refused and writes neither the message nor its outbox entry.
pub async fn outbound_refused_writes_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let session = assigned_session(store, line.id, "ann", 1).await;

    let mut wrong = reply(session.id, "bob", "mine now", 2);
    let entry = outbox_for(&wrong, source.id, 2);
    wrong.outbox = Some(entry.clone());
    let err = fails(store.append_outbound(wrong.clone()).await, "wrong operator");
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Assigned,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(must(store.message(wrong.message_id).await, "m"), None);
    assert_eq!(must(store.outbox_entry(entry.id).await, "o"), None);

    let queued = new_session(store, line.id, 3).await;
    let err = fails(
        store
            .append_outbound(reply(queued.id, "ann", "early", 4))
            .await,
        "reply before taking",
    );
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Queued,
                ..
            }
        ),
        "{err:?}"
    );

    must(
        store
            .transition(session.id, Transition::Close { by_operator: None }, at(5))
            .await,
        "close",
    );
    let late = reply(session.id, "ann", "late", 6);
    let err = fails(store.append_outbound(late.clone()).await, "closed session");
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: SessionState::Closed,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(must(store.message(late.message_id).await, "m"), None);
    let s = some(must(store.session(session.id).await, "s"), "s");
    assert_eq!(s.last_seq, 1, "nothing was appended");

    let err = fails(
        store.append_outbound(reply(id(), "ann", "?", 7)).await,
        "unknown session",
    );
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "session",
                ..
            }
        ),
        "{err:?}"
    );
}

/// A client is its identity: internal users by user id, messenger users
/// by (source, messenger user id).
pub async fn contact_keys_are_distinct(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let other = new_source(store, line.id, 0).await;
    let keys = [
        internal("u1"),
        internal("u2"),
        external(source.id, "u1"),
        ContactKey::External {
            source: other.id,
            external_user: "u1".to_owned(),
        },
    ];
    let mut contacts = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let secs = i64::try_from(n).unwrap_or_default();
        let a = must(
            store
                .append_inbound(inbound(line.id, key, "hi", secs))
                .await,
            "append",
        );
        assert!(a.opened, "each identity is its own client");
        contacts.push(a.contact.id);
    }
    contacts.sort();
    contacts.dedup();
    assert_eq!(contacts.len(), keys.len());
    for key in &keys {
        let c = some(must(store.contact_by_key(key).await, "by key"), "contact");
        assert_eq!(&c.key, key);
    }
}

/// The messenger's send time is kept on the stored message, on a first
/// message (opening a session), on the next ones, and on the copy a
/// redelivery returns; a message without one has none.
pub async fn inbound_keeps_the_messengers_send_time(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let sent = |secs: i64| at(secs) + chrono::Duration::milliseconds(250);
    let first = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u", "m-1", 10).with_sent_at(sent(3)))
            .await,
        "first message",
    );
    assert!(first.opened);
    assert_eq!(first.message.sent_at, Some(sent(3)));
    let second = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u", "m-2", 11).with_sent_at(sent(4)))
            .await,
        "second message",
    );
    assert!(!second.opened);
    assert_eq!(second.message.sent_at, Some(sent(4)));
    let third = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u", "m-3", 12))
            .await,
        "message without a send time",
    );
    assert_eq!(third.message.sent_at, None);
    let again = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u", "m-1", 13).with_sent_at(sent(9)))
            .await,
        "redelivery",
    );
    assert!(again.duplicate);
    assert_eq!(
        again.message.sent_at,
        Some(sent(3)),
        "the stored copy's time"
    );
    let page = must(
        store.messages(first.session.id, Cursor::Start, 10).await,
        "messages",
    );
    let times: Vec<_> = page.iter().map(|m| m.sent_at).collect();
    assert_eq!(times, vec![Some(sent(3)), Some(sent(4)), None]);
    let read = must(store.message(second.message.id).await, "message by id");
    assert_eq!(read.and_then(|m| m.sent_at), Some(sent(4)));
}
