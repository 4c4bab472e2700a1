//! "Connecting a line to messengers": administrators bind messenger
//! accounts to lines (Administration > Extensions > Messengers); clients
//! write from the messenger, operators answer from the platform, and the
//! history is kept.

mod common;

use chatlines_core::{
    ContactKey, Cursor, Error, InboundMessage, LineConfig, NewSource, OutboxStatus, SessionStatus,
    SourceId,
};
use common::*;

fn telegram() -> NewSource {
    NewSource::new("telegram", "@acme_support_bot", "vault://telegram/acme")
}

#[tokio::test]
async fn administrators_bind_and_unbind_sources() -> TestResult {
    let w = World::new();
    let admin = user(ADMIN);
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let desk = w.line(staff_line("Desk")).await?;
    let tg = w.hub.bind_source(&admin, shop.id, telegram()).await?;
    let wa = w
        .hub
        .bind_source(
            &admin,
            desk.id,
            NewSource::new("whatsapp", "+1 555 0100", "vault://wa"),
        )
        .await?;
    assert_eq!(tg.line, shop.id);
    assert_eq!(tg.kind, "telegram");

    let bound = w.hub.bound_sources(&admin).await?;
    let listed: Vec<_> = bound
        .iter()
        .map(|b| (b.source.id, b.line_name.as_str()))
        .collect();
    assert_eq!(listed, vec![(tg.id, "Shop"), (wa.id, "Desk")]);
    assert_eq!(bound[0].source, tg);

    w.hub.unbind_source(&admin, tg.id).await?;
    let bound = w.hub.bound_sources(&admin).await?;
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0].source.id, wa.id);
    assert_eq!(w.store.source(tg.id).await?, None);
    Ok(())
}

#[tokio::test]
async fn nobody_else_manages_sources() -> TestResult {
    let w = World::new();
    let shop = w
        .line(LineConfig::new("Shop").operators(OPS).supervisors(SUPS))
        .await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    // Not even the line's supervisor.
    for who in ["sue", "ann", "carl"] {
        let r = w.hub.bind_source(&user(who), shop.id, telegram()).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
        let r = w.hub.unbind_source(&user(who), tg.id).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
        let r = w.hub.bound_sources(&user(who)).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    assert_eq!(w.store.sources().await?, vec![tg]);
    Ok(())
}

#[tokio::test]
async fn binding_needs_a_kind_a_name_and_an_existing_line() -> TestResult {
    let w = World::new();
    let admin = user(ADMIN);
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let r = w
        .hub
        .bind_source(&admin, shop.id, NewSource::new(" ", "bot", "ref"))
        .await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    let r = w
        .hub
        .bind_source(&admin, shop.id, NewSource::new("telegram", "", "ref"))
        .await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    w.hub.delete_line(&admin, shop.id, 1).await?;
    let r = w.hub.bind_source(&admin, shop.id, telegram()).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert!(w.store.sources().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn ingest_finds_or_creates_the_contact_and_opens_or_continues_the_session() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;

    let first = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m1", "tg-100", "Pavel", "hello"),
        )
        .await?;
    assert!(first.opened);
    assert!(!first.duplicate);
    assert_eq!(
        first.contact.key,
        ContactKey::External {
            source: tg.id,
            external_user: "tg-100".into()
        }
    );
    assert_eq!(first.contact.display_name, "Pavel");
    assert_eq!(first.session.line, shop.id);
    // Routed: offered to the operators (first come).
    assert_eq!(first.session.status, SessionStatus::Offered);
    assert_eq!(
        w.hub
            .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );
    let ext = first.message.external.as_ref().ok_or("no external ref")?;
    assert_eq!((ext.source, ext.message_id.as_str()), (tg.id, "m1"));

    let second = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m2", "tg-100", "Pavel", "are you there?"),
        )
        .await?;
    assert!(!second.opened);
    assert_eq!(second.contact.id, first.contact.id);
    assert_eq!(second.session.id, first.session.id);
    assert_eq!(second.message.seq, 2);

    // Another messenger user is another client.
    let other = w
        .hub
        .ingest(tg.id, InboundMessage::text("m3", "tg-200", "Olga", "hi"))
        .await?;
    assert!(other.opened);
    assert_ne!(other.contact.id, first.contact.id);
    assert_eq!(
        w.hub
            .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        2
    );

    // After a close the same user opens a new session, same contact.
    w.hub.take(&user("ann"), first.session.id).await?;
    w.hub.close(&user("ann"), first.session.id).await?;
    let again = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m4", "tg-100", "Pavel", "one more"),
        )
        .await?;
    assert!(again.opened);
    assert_eq!(again.contact.id, first.contact.id);
    assert_ne!(again.session.id, first.session.id);
    Ok(())
}

#[tokio::test]
async fn the_same_message_delivered_twice_is_stored_once() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let msg = InboundMessage::text("m1", "tg-100", "Pavel", "hello");
    let first = w.hub.ingest(tg.id, msg.clone()).await?;
    w.events.drain();
    let again = w.hub.ingest(tg.id, msg).await?;
    assert!(again.duplicate);
    assert!(!again.opened);
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(again.session.id, first.session.id);
    let stored = w
        .store
        .messages(first.session.id, Cursor::Start, 10)
        .await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(w.stored_session(first.session.id).await?.last_seq, 1);
    // Nothing happened, so nothing was announced.
    assert!(w.events.events().is_empty(), "{:?}", w.events.events());
    Ok(())
}

#[tokio::test]
async fn replies_to_messenger_clients_go_through_the_outbox() -> TestResult {
    let w = World::new();
    let shop = w.line(staff_line("Shop")).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let mut inbound = InboundMessage::text("m1", "tg-100", "Pavel", "hello");
    inbound.reply_address = Some("chat-555".into());
    let ext = w.hub.ingest(tg.id, inbound).await?;
    w.hub.take(&user("ann"), ext.session.id).await?;
    let reply = w
        .hub
        .reply(&user("ann"), ext.session.id, text("hi Pavel"))
        .await?;
    let entry = w
        .store
        .outbox_for_message(reply.id)
        .await?
        .ok_or("no outbox entry for the reply")?;
    assert_eq!(entry.message, reply.id);
    assert_eq!(entry.session, ext.session.id);
    assert_eq!(entry.source, tg.id);
    assert_eq!(entry.address, "chat-555");
    assert_eq!(entry.status, OutboxStatus::Pending);
    // The client's own message is not sent anywhere.
    assert_eq!(w.store.outbox_for_message(ext.message.id).await?, None);

    // Without a reply address the messenger's user id is the address.
    let plain = w
        .hub
        .ingest(tg.id, InboundMessage::text("m2", "tg-200", "Olga", "hi"))
        .await?;
    w.hub.take(&user("bob"), plain.session.id).await?;
    let r2 = w
        .hub
        .reply(&user("bob"), plain.session.id, text("hello"))
        .await?;
    let e2 = w
        .store
        .outbox_for_message(r2.id)
        .await?
        .ok_or("no outbox entry")?;
    assert_eq!(e2.address, "tg-200");

    // An internal client reads replies in the platform: no outbox entry.
    let internal = w.hub.write(&user("carl"), shop.id, text("hi")).await?;
    w.hub.take(&user("ann"), internal.session.id).await?;
    let r3 = w
        .hub
        .reply(&user("ann"), internal.session.id, text("hey"))
        .await?;
    assert_eq!(w.store.outbox_for_message(r3.id).await?, None);
    Ok(())
}

#[tokio::test]
async fn unknown_or_unbound_sources_are_not_found() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let unknown = SourceId(uuid_from(0xdead_beef));
    let r = w
        .hub
        .ingest(
            unknown,
            InboundMessage::text("m1", "tg-100", "Pavel", "hello"),
        )
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");

    w.hub.unbind_source(&user(ADMIN), tg.id).await?;
    let r = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m1", "tg-100", "Pavel", "hello"),
        )
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    let key = ContactKey::External {
        source: tg.id,
        external_user: "tg-100".into(),
    };
    assert_eq!(w.store.contact_by_key(&key).await?, None);
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn malformed_inbound_messages_are_refused() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    for msg in [
        InboundMessage::text("", "tg-100", "Pavel", "hello"),
        InboundMessage::text("m1", "", "Pavel", "hello"),
        InboundMessage::text("m1", "x".repeat(257), "Pavel", "hello"),
        InboundMessage::text("m1", "tg-100", "Pavel", ""),
        // NUL characters, which PostgreSQL cannot store, anywhere.
        InboundMessage::text("m1", "tg-100", "Pavel", "hel\0lo"),
        InboundMessage::text("m\x001", "tg-100", "Pavel", "hello"),
        InboundMessage::text("m1", "tg\x00100", "Pavel", "hello"),
    ] {
        let r = w.hub.ingest(tg.id, msg).await;
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn control_characters_in_a_name_are_replaced_not_refused() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let posted = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m1", "tg-100", "Pa\0vel\u{1b}", "hello"),
        )
        .await?;
    assert_eq!(posted.contact.display_name, "Pa\u{fffd}vel\u{fffd}");
    assert_eq!(posted.message.body.text, "hello");
    Ok(())
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redeliveries_store_the_message_once() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let hub = w.hub.clone();
        let start = start.clone();
        let source = tg.id;
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            hub.ingest(
                source,
                InboundMessage::text("m1", "tg-100", "Pavel", "hello"),
            )
            .await
        }));
    }
    let mut posted = Vec::new();
    for t in tasks {
        posted.push(t.await??);
    }
    assert_eq!(posted.iter().filter(|p| !p.duplicate).count(), 1);
    assert_eq!(posted.iter().filter(|p| p.opened).count(), 1);
    let id = posted[0].message.id;
    assert!(posted.iter().all(|p| p.message.id == id));
    let stored = w
        .store
        .messages(posted[0].session.id, Cursor::Start, 100)
        .await?;
    assert_eq!(stored.len(), 1);
    Ok(())
}

#[tokio::test]
async fn deleting_a_line_unbinds_its_sources_and_closes_its_sessions() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let offered = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m1", "tg-100", "Pavel", "hello"),
        )
        .await?;
    let taken = w
        .hub
        .ingest(tg.id, InboundMessage::text("m2", "tg-200", "Olga", "hi"))
        .await?;
    w.hub.take(&user("ann"), taken.session.id).await?;

    w.hub.delete_line(&user(ADMIN), shop.id, 1).await?;
    assert!(w.hub.bound_sources(&user(ADMIN)).await?.is_empty());
    let r = w
        .hub
        .ingest(
            tg.id,
            InboundMessage::text("m3", "tg-100", "Pavel", "still there?"),
        )
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    for s in [offered.session.id, taken.session.id] {
        assert_eq!(w.stored_session(s).await?.status, SessionStatus::Closed);
    }
    assert!(w
        .hub
        .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert!(w
        .hub
        .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    // The stored history is kept.
    let kept = w
        .store
        .messages(offered.session.id, Cursor::Start, 10)
        .await?;
    assert_eq!(kept, vec![offered.message]);
    Ok(())
}

#[tokio::test]
async fn the_operator_sees_how_a_reply_is_being_delivered() -> TestResult {
    let w = World::new();
    let shop = w.line(LineConfig::new("Shop").operators(OPS)).await?;
    let tg = w.hub.bind_source(&user(ADMIN), shop.id, telegram()).await?;
    let posted = w
        .hub
        .ingest(tg.id, InboundMessage::text("tg-1", "42", "Ivan", "hello"))
        .await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    let reply = w.hub.reply(&user("ann"), s, text("on it")).await?;

    let entry = w.hub.delivery(&user("ann"), reply.id).await?;
    let entry = entry.expect("a reply to a messenger client goes through the outbox");
    assert_eq!(entry.message, reply.id);
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.attempts, 0);
    // The administrator reads it too; the client's own message has none.
    assert!(w.hub.delivery(&user(ADMIN), reply.id).await?.is_some());
    assert_eq!(w.hub.delivery(&user("ann"), posted.message.id).await?, None);
    // Someone who may not read the session learns nothing, not even that
    // the message exists.
    let hidden = w
        .hub
        .delivery(&user("carl"), reply.id)
        .await
        .expect_err("carl may not read the session");
    let missing = w
        .hub
        .delivery(
            &user("carl"),
            chatlines_core::MessageId::from_uuid(uuid::Uuid::nil()),
        )
        .await
        .expect_err("no such message");
    assert!(
        matches!(
            hidden,
            Error::NotFound {
                what: "message",
                ..
            }
        ),
        "{hidden:?}"
    );
    assert_eq!(
        hidden.to_string().replace(&reply.id.to_string(), "?"),
        missing
            .to_string()
            .replace(&uuid::Uuid::nil().to_string(), "?")
    );
    Ok(())
}

#[tokio::test]
async fn a_messenger_client_reads_only_their_own_conversation_and_resumes_after_a_message(
) -> TestResult {
    let w = World::new();
    w.dir.set_name("ann", "Ann Smith");
    let shop = w
        .line(
            LineConfig::new("Shop")
                .operators(OPS)
                .show_operator_name(true),
        )
        .await?;
    let src = w
        .hub
        .bind_source(
            &user(ADMIN),
            shop.id,
            NewSource::new("webchat", "Widget", "w"),
        )
        .await?;
    let first = w
        .hub
        .ingest(
            src.id,
            InboundMessage::text("v1/1", "v1", "Visitor 1", "hello"),
        )
        .await?;
    w.hub
        .ingest(
            src.id,
            InboundMessage::text("v2/1", "v2", "Visitor 2", "other"),
        )
        .await?;
    w.hub.take(&user("ann"), first.session.id).await?;
    w.hub
        .reply(&user("ann"), first.session.id, text("hi there"))
        .await?;

    let page = w
        .hub
        .external_conversation(src.id, "v1", chatlines_core::PageRequest::first(10))
        .await?;
    let seen: Vec<(&str, &str)> = page
        .items
        .iter()
        .map(|m| (m.body.text.as_str(), m.author_name.as_str()))
        .collect();
    assert_eq!(seen, [("hello", "Visitor 1"), ("hi there", "Ann Smith")]);
    let after_first = w
        .hub
        .external_conversation(
            src.id,
            "v1",
            chatlines_core::PageRequest::after(page.items[0].position(), 10),
        )
        .await?;
    assert_eq!(after_first.items.len(), 1);
    assert_eq!(after_first.items[0].body.text, "hi there");
    // Visitor 2 cannot read on from visitor 1's position.
    let r = w
        .hub
        .external_conversation(
            src.id,
            "v2",
            chatlines_core::PageRequest::after(page.items[0].position(), 10),
        )
        .await;
    assert!(r.as_ref().is_err_and(is_invalid_input), "{r:?}");
    let nobody = w
        .hub
        .external_conversation(src.id, "v3", chatlines_core::PageRequest::first(10))
        .await?;
    assert!(nobody.items.is_empty());
    let missing = w
        .hub
        .external_conversation(
            SourceId::from_uuid(uuid::Uuid::from_u128(99)),
            "v1",
            chatlines_core::PageRequest::first(10),
        )
        .await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    Ok(())
}
