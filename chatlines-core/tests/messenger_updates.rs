//! Messenger updates to stored messages through the Hub: a client edits,
//! revokes or reacts to its messages; the messenger reports delivery
//! statuses of operators' replies. Nothing a bad update carries is stored.

mod common;

use chatlines_core::store::prelude::*;
use chatlines_core::{
    Body, DeliveryFailure, DeliveryOutcome, DeliveryStatus, Error, Event, InboundEdit,
    InboundMessage, InboundReaction, LineConfig, NewSource, SourceId, StatusUpdate, UpdateOutcome,
};
use common::*;

async fn whatsapp_line(w: &World) -> TestResult<SourceId> {
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let source = w
        .hub
        .bind_source(
            &user(ADMIN),
            shop.id,
            NewSource::new("whatsapp", "+1 555", "cfg"),
        )
        .await?;
    Ok(source.id)
}

#[tokio::test]
async fn a_client_edits_revokes_and_reacts() -> TestResult {
    let w = World::new();
    let source = whatsapp_line(&w).await?;
    let posted = w
        .hub
        .ingest(source, InboundMessage::text("m1", "4915", "Bea", "helo"))
        .await?;
    w.events.drain();

    let edit = InboundEdit::edited("m1", "4915", Body::text("hello"));
    assert!(w.hub.apply_edit(source, edit.clone()).await?.is_applied());
    assert!(
        !w.hub.apply_edit(source, edit).await?.is_applied(),
        "a redelivered edit changes nothing"
    );
    let reaction = InboundReaction::new("m1", "4915", Some("👍".into()));
    assert!(w.hub.apply_reaction(source, reaction).await?.is_applied());
    let state = w.hub.message_state(posted.message.id).await?;
    assert_eq!(state.current_body(&posted.message.body).text, "hello");
    assert_eq!(state.reactions.get("4915").map(String::as_str), Some("👍"));
    assert!(w
        .hub
        .apply_edit(source, InboundEdit::revoked("m1", "4915"))
        .await?
        .is_applied());
    assert_eq!(
        w.hub
            .apply_edit(source, InboundEdit::edited("gone", "4915", Body::text("x")))
            .await?,
        UpdateOutcome::UnknownMessage,
        "an edit of a message never stored is ignored"
    );
    let names: Vec<&str> = w.events.drain().iter().map(Event::name).collect();
    assert_eq!(
        names,
        vec!["message_edited", "message_reacted", "message_revoked"]
    );
    Ok(())
}

#[tokio::test]
async fn only_the_author_edits_or_revokes_a_message() -> TestResult {
    let w = World::new();
    let source = whatsapp_line(&w).await?;
    let posted = w
        .hub
        .ingest(source, InboundMessage::text("m1", "4915", "Bea", "hi"))
        .await?;
    w.hub
        .ingest(source, InboundMessage::text("m2", "4916", "Cem", "hey"))
        .await?;
    w.events.drain();
    let refused = UpdateOutcome::NotAuthor {
        message: posted.message.id,
    };
    assert_eq!(
        w.hub
            .apply_edit(
                source,
                InboundEdit::edited("m1", "4916", Body::text("mine now"))
            )
            .await?,
        refused,
        "another client's edit"
    );
    assert_eq!(
        w.hub
            .apply_edit(source, InboundEdit::revoked("m1", "4916"))
            .await?,
        refused,
        "another client's revoke"
    );
    assert_eq!(
        w.hub
            .apply_edit(source, InboundEdit::revoked("m1", "never-wrote"))
            .await?,
        refused,
        "a revoke by someone who never wrote"
    );
    assert!(w.hub.message_state(posted.message.id).await?.is_empty());
    assert!(w.events.drain().is_empty(), "nothing was logged");
    assert!(w
        .hub
        .apply_edit(source, InboundEdit::edited("m1", "4915", Body::text("hi!")))
        .await?
        .is_applied());
    Ok(())
}

#[tokio::test]
async fn bad_updates_are_refused_and_change_nothing() -> TestResult {
    let w = World::new();
    let source = whatsapp_line(&w).await?;
    let posted = w
        .hub
        .ingest(source, InboundMessage::text("m1", "4915", "Bea", "hi"))
        .await?;
    w.events.drain();
    let nul = InboundEdit::edited("m1", "4915", Body::text("bad\0byte"));
    assert!(is_invalid_input(
        &w.hub
            .apply_edit(source, nul)
            .await
            .expect_err("a NUL in the text")
    ));
    let empty = InboundEdit::edited("m1", "4915", Body::text("  "));
    assert!(is_invalid_input(
        &w.hub
            .apply_edit(source, empty)
            .await
            .expect_err("empty text")
    ));
    let no_id = InboundReaction::new("", "4915", Some("👍".into()));
    assert!(is_invalid_input(
        &w.hub
            .apply_reaction(source, no_id)
            .await
            .expect_err("no message id")
    ));
    let unknown = SourceId::from_uuid(uuid::Uuid::from_u128(7));
    let r = w
        .hub
        .record_status(unknown, StatusUpdate::new("m1", DeliveryStatus::Read, None))
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert!(w.hub.message_state(posted.message.id).await?.is_empty());
    assert!(w.events.drain().is_empty(), "nothing was logged");
    Ok(())
}

#[tokio::test]
async fn delivery_statuses_of_a_reply_only_move_forward() -> TestResult {
    let w = World::new();
    let source = whatsapp_line(&w).await?;
    let posted = w
        .hub
        .ingest(
            source,
            InboundMessage::text("m1", "4915", "Bea", "hi").with_reply_address("4915"),
        )
        .await?;
    w.hub.take(&user("ann"), posted.session.id).await?;
    let reply = w
        .hub
        .reply(&user("ann"), posted.session.id, Body::text("hello Bea"))
        .await?;
    let now = chrono::Utc::now();
    let entry = w
        .store
        .claim_outbox(now, now + chrono::Duration::seconds(30), 1)
        .await?
        .remove(0);
    let token = entry.lease.map(|l| l.token).unwrap_or_default();
    let sent = DeliveryOutcome::Sent {
        external_id: "wamid.OUT".into(),
        substitute: None,
    };
    w.store.finish_outbox(entry.id, token, sent, now).await?;

    let read = StatusUpdate::new("wamid.OUT", DeliveryStatus::Read, None);
    assert!(w.hub.record_status(source, read).await?.is_applied());
    for late in [DeliveryStatus::Delivered, DeliveryStatus::Sent] {
        let update = StatusUpdate::new("wamid.OUT", late, None);
        assert!(!w.hub.record_status(source, update).await?.is_applied());
    }
    let failed = StatusUpdate::new("wamid.OUT", DeliveryStatus::Failed, None)
        .with_error(DeliveryFailure::new("131026", "Message undeliverable"));
    assert!(
        !w.hub.record_status(source, failed).await?.is_applied(),
        "a read message did not fail"
    );
    let state = w.hub.message_state(reply.id).await?;
    assert_eq!(state.delivery.map(|d| d.status), Some(DeliveryStatus::Read));
    Ok(())
}
