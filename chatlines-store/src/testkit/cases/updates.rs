//! Messenger updates to stored messages: edits and revokes, reactions,
//! delivery statuses.

use crate::testkit::fixtures::*;
use chatlines_core::{
    Body, DeliveryFailure, DeliveryOutcome, DeliveryStatus, Event, EventPosition, MessageChange,
    MessageId, MessageUpdate, SourceId, Store, UpdateOutcome,
};
use std::sync::Arc;

fn update(source: SourceId, external: &str, change: MessageChange, secs: i64) -> MessageUpdate {
    MessageUpdate::new(source, external, change, at(secs))
}

fn edit(text: &str) -> MessageChange {
    MessageChange::Edited {
        body: Body::text(text),
    }
}

fn react(by: &str, emoji: Option<&str>) -> MessageChange {
    MessageChange::Reacted {
        by: by.to_owned(),
        emoji: emoji.map(str::to_owned),
    }
}

fn delivery(status: DeliveryStatus) -> MessageChange {
    MessageChange::Delivery {
        status,
        error: None,
    }
}

/// The update events in the log, in order.
async fn update_events(store: &dyn Store) -> Vec<Event> {
    must(
        store.events_after(EventPosition::START, 10_000).await,
        "events",
    )
    .into_iter()
    .map(into_content)
    .filter(|e| {
        matches!(
            e,
            Event::MessageEdited { .. }
                | Event::MessageRevoked { .. }
                | Event::MessageReacted { .. }
                | Event::DeliveryStatusChanged { .. }
        )
    })
    .collect()
}

fn applied(outcome: UpdateOutcome, what: &str) -> chatlines_core::MessageState {
    match outcome {
        UpdateOutcome::Applied { state, .. } => state,
        other => panic!("{what}: expected the update to apply, got {other:?}"),
    }
}

/// An edit or revoke by another client than the message's (its
/// `author`) changes nothing and logs nothing; by the author it applies.
pub async fn edits_by_another_author_change_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let mine = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 1))
            .await,
        "ingest u1",
    )
    .message;
    let theirs = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u2", "m2", 2))
            .await,
        "ingest u2",
    )
    .message;
    assert_ne!(mine.contact, theirs.contact);

    for change in [edit("rewritten by u2"), MessageChange::Revoked] {
        let outcome = must(
            store
                .update_message(update(source.id, "m1", change, 3).by_author(theirs.contact))
                .await,
            "update by another author",
        );
        assert_eq!(outcome, UpdateOutcome::Unchanged { message: mine.id });
    }
    assert!(
        must(store.message_state(mine.id).await, "state").is_empty(),
        "nothing was written"
    );
    assert!(update_events(store).await.is_empty(), "nothing was logged");

    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", edit("fixed"), 4).by_author(mine.contact))
                .await,
            "edit by the author",
        ),
        "edit by the author",
    );
    assert_eq!(state.revisions.len(), 1);
    assert_eq!(update_events(store).await.len(), 1);
}

/// An edit adds a revision (the message keeps its original body) and logs
/// `MessageEdited`; a redelivered edit, an edit of a revoked message and an
/// edit of a message never stored write nothing; a revoke marks the message
/// once.
pub async fn edits_add_revisions_and_revokes_mark(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let other = new_source(store, line.id, 0).await;
    let stored = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 1))
            .await,
        "ingest",
    )
    .message;

    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", edit("first edit"), 2))
                .await,
            "edit",
        ),
        "first edit",
    );
    assert_eq!(state.revisions.len(), 1);
    assert_eq!(state.revisions[0].revision, 1);
    assert_eq!(state.revisions[0].body, Body::text("first edit"));
    assert_eq!(state.revisions[0].at, at(2));
    assert_eq!(
        must(store.message_state(stored.id).await, "state"),
        state,
        "the state is stored"
    );
    assert_eq!(
        some(must(store.message(stored.id).await, "message"), "message").body,
        stored.body,
        "the original content stays the message's body"
    );
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "m1", edit("first edit"), 3))
                .await,
            "again"
        ),
        UpdateOutcome::Unchanged { message: stored.id },
        "a redelivered edit changes nothing"
    );
    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", edit("second"), 4))
                .await,
            "edit 2",
        ),
        "second edit",
    );
    assert_eq!(
        state
            .revisions
            .iter()
            .map(|r| r.revision)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(state.current_body(&stored.body), &Body::text("second"));

    assert_eq!(
        must(
            store
                .update_message(update(other.id, "m1", edit("x"), 5))
                .await,
            "other source"
        ),
        UpdateOutcome::UnknownMessage,
        "a message id is scoped to its source"
    );
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "never", edit("x"), 5))
                .await,
            "unknown"
        ),
        UpdateOutcome::UnknownMessage,
    );

    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", MessageChange::Revoked, 6))
                .await,
            "revoke",
        ),
        "revoke",
    );
    assert_eq!(state.revoked_at, Some(at(6)));
    for (change, what) in [
        (MessageChange::Revoked, "revoke again"),
        (edit("late"), "edit after revoke"),
    ] {
        assert_eq!(
            must(
                store
                    .update_message(update(source.id, "m1", change, 7))
                    .await,
                what
            ),
            UpdateOutcome::Unchanged { message: stored.id },
            "{what}"
        );
    }
    let events = update_events(store).await;
    let (s, l, c, m, q) = (
        stored.session,
        stored.line,
        stored.contact,
        stored.id,
        stored.seq,
    );
    assert_eq!(
        events,
        vec![
            Event::MessageEdited {
                session: s,
                line: l,
                contact: c,
                message: m,
                seq: q,
                revision: 1
            },
            Event::MessageEdited {
                session: s,
                line: l,
                contact: c,
                message: m,
                seq: q,
                revision: 2
            },
            Event::MessageRevoked {
                session: s,
                line: l,
                contact: c,
                message: m,
                seq: q
            },
        ],
        "one event per change, none for what changed nothing"
    );
}

/// A reaction is an event on the message (never a message of its own):
/// set, changed, removed; a repeated reaction and one on an unknown message
/// write nothing.
pub async fn reactions_are_events_on_the_message(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let stored = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 1))
            .await,
        "ingest",
    )
    .message;
    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", react("u1", Some("👍")), 2))
                .await,
            "react",
        ),
        "reaction",
    );
    assert_eq!(state.reactions.get("u1").map(String::as_str), Some("👍"));
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "m1", react("u1", Some("👍")), 3))
                .await,
            "again"
        ),
        UpdateOutcome::Unchanged { message: stored.id },
    );
    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", react("u1", Some("❤")), 4))
                .await,
            "change",
        ),
        "changed reaction",
    );
    assert_eq!(state.reactions.get("u1").map(String::as_str), Some("❤"));
    let state = applied(
        must(
            store
                .update_message(update(source.id, "m1", react("u1", None), 5))
                .await,
            "remove",
        ),
        "removal",
    );
    assert!(state.reactions.is_empty());
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "m1", react("u1", None), 6))
                .await,
            "remove again"
        ),
        UpdateOutcome::Unchanged { message: stored.id },
    );
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "nope", react("u1", Some("x")), 6))
                .await,
            "unknown"
        ),
        UpdateOutcome::UnknownMessage,
    );
    let page = must(
        store
            .messages(stored.session, chatlines_core::Cursor::Start, 100)
            .await,
        "history",
    );
    assert_eq!(page.len(), 1, "a reaction is never a message");
    let emojis: Vec<Option<String>> = update_events(store)
        .await
        .into_iter()
        .map(|e| match e {
            Event::MessageReacted {
                message, emoji, by, ..
            } => {
                assert_eq!((message, by.as_str()), (stored.id, "u1"));
                emoji
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        emojis,
        vec![Some("👍".to_owned()), Some("❤".to_owned()), None]
    );
}

/// Replies sent through `source` with the messenger ids `external`; returns
/// their message ids.
async fn sent_replies(store: &dyn Store, external: &[&str]) -> (SourceId, Vec<MessageId>) {
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let session = assigned_session(store, line.id, "ann", 0).await;
    let mut ids = Vec::new();
    for _ in external {
        let mut new = reply(session.id, "ann", "answer", 1);
        new.outbox = Some(outbox_for(&new, source.id, 1));
        ids.push(must(store.append_outbound(new).await, "reply").id);
    }
    // A claim takes one chat's replies one at a time, oldest first.
    for _ in external {
        let claimed = must(store.claim_outbox(at(1), at(60), 100).await, "claim");
        for entry in claimed {
            let n = some(
                ids.iter().position(|m| *m == entry.message),
                "claimed reply",
            );
            let token = some(entry.lease, "lease").token;
            let outcome = DeliveryOutcome::Sent {
                external_id: external[n].to_owned(),
                substitute: None,
            };
            must(
                store.finish_outbox(entry.id, token, outcome, at(2)).await,
                "sent",
            );
        }
    }
    (source.id, ids)
}

/// Delivery statuses of an outbound message only move forward (sent →
/// delivered → read), whatever order they arrive in; a failure keeps the
/// messenger's code and title and nothing follows it; each change logs
/// `DeliveryStatusChanged`.
pub async fn delivery_statuses_only_move_forward(store: Arc<dyn Store>) {
    let store = &*store;
    let (source, ids) = sent_replies(store, &["wamid.A", "wamid.B"]).await;
    let (a, b) = (ids[0], ids[1]);
    let state = applied(
        must(
            store
                .update_message(update(
                    source,
                    "wamid.A",
                    delivery(DeliveryStatus::Delivered),
                    3,
                ))
                .await,
            "delivered",
        ),
        "delivered",
    );
    assert_eq!(
        some(state.delivery, "delivery").status,
        DeliveryStatus::Delivered
    );
    for (status, secs) in [(DeliveryStatus::Sent, 4), (DeliveryStatus::Failed, 4)] {
        assert_eq!(
            must(
                store
                    .update_message(update(source, "wamid.A", delivery(status), secs))
                    .await,
                "late"
            ),
            UpdateOutcome::Unchanged { message: a },
            "{status:?} after delivered changes nothing"
        );
    }
    applied(
        must(
            store
                .update_message(update(source, "wamid.A", delivery(DeliveryStatus::Read), 5))
                .await,
            "read",
        ),
        "read",
    );
    assert_eq!(
        must(
            store
                .update_message(update(
                    source,
                    "wamid.A",
                    delivery(DeliveryStatus::Delivered),
                    6
                ))
                .await,
            "late delivered"
        ),
        UpdateOutcome::Unchanged { message: a },
    );
    let delivery_a = some(must(store.message_state(a).await, "state a").delivery, "a");
    assert_eq!(
        (delivery_a.status, delivery_a.at),
        (DeliveryStatus::Read, at(5))
    );

    let failure = DeliveryFailure::new("131047", "Re-engagement message");
    let failed = MessageChange::Delivery {
        status: DeliveryStatus::Failed,
        error: Some(failure.clone()),
    };
    applied(
        must(
            store
                .update_message(update(source, "wamid.B", delivery(DeliveryStatus::Sent), 3))
                .await,
            "sent",
        ),
        "sent",
    );
    let state = applied(
        must(
            store
                .update_message(update(source, "wamid.B", failed, 4))
                .await,
            "failed",
        ),
        "failed",
    );
    assert_eq!(
        some(state.delivery.clone(), "b").error,
        Some(failure.clone())
    );
    assert_eq!(
        must(
            store
                .update_message(update(source, "wamid.B", delivery(DeliveryStatus::Read), 5))
                .await,
            "after failed"
        ),
        UpdateOutcome::Unchanged { message: b },
        "nothing follows failed"
    );
    assert_eq!(
        must(store.message_state(b).await, "state b").delivery,
        state.delivery
    );
    assert_eq!(
        must(
            store
                .update_message(update(source, "wamid.C", delivery(DeliveryStatus::Read), 5))
                .await,
            "unknown"
        ),
        UpdateOutcome::UnknownMessage,
    );

    let statuses: Vec<(MessageId, DeliveryStatus, Option<DeliveryFailure>)> = update_events(store)
        .await
        .into_iter()
        .map(|e| match e {
            Event::DeliveryStatusChanged {
                message,
                status,
                error,
                ..
            } => (message, status, error),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (a, DeliveryStatus::Delivered, None),
            (a, DeliveryStatus::Read, None),
            (b, DeliveryStatus::Sent, None),
            (b, DeliveryStatus::Failed, Some(failure)),
        ]
    );
}

/// A delivery status names outbound messages only, and an outbox entry not
/// sent yet has no messenger id to be found by.
pub async fn statuses_need_a_sent_outbound_message(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let stored = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 1))
            .await,
        "ingest",
    )
    .message;
    assert_eq!(
        must(
            store
                .update_message(update(source.id, "m1", delivery(DeliveryStatus::Read), 2))
                .await,
            "inbound"
        ),
        UpdateOutcome::Unchanged { message: stored.id },
        "an inbound message has no delivery status"
    );
    let session = stored.session;
    must(store.transition(session, take("ann"), at(2)).await, "take");
    let mut new = reply(session, "ann", "answer", 3);
    new.outbox = Some(outbox_for(&new, source.id, 3));
    must(store.append_outbound(new).await, "reply");
    assert_eq!(
        must(
            store
                .update_message(update(
                    source.id,
                    "chat-1",
                    delivery(DeliveryStatus::Read),
                    4
                ))
                .await,
            "pending"
        ),
        UpdateOutcome::UnknownMessage,
        "a pending entry is not found (not even by its address)"
    );
    assert!(update_events(store).await.is_empty(), "nothing was logged");
}
