//! WhatsApp Cloud API notifications built as Meta documents the webhook
//! envelope (every message type, statuses with errors, several numbers on
//! one callback URL), through the endpoint into a real Hub over a
//! MemoryStore.
#![cfg(feature = "whatsapp")]

mod common;

use chatlines_connectors::signing::signature_header;
use chatlines_connectors::whatsapp::{
    parse_notification, WhatsAppConfig, WhatsAppMessenger, SIGNATURE_HEADER,
};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use chatlines_core::store::prelude::*;
use chatlines_core::{
    ContactKey, DeliveryFailure, DeliveryOutcome, DeliveryStatus, EditKind, Event, LineConfig,
    NewSource, UserId,
};
use chrono::Utc;
use common::world::World;
use serde_json::{json, Value};
use std::sync::Arc;

/// A notification of `value`s, each a change of the `messages` field.
fn envelope(values: &[Value]) -> Vec<u8> {
    let changes: Vec<Value> = values
        .iter()
        .map(|v| json!({"field": "messages", "value": v}))
        .collect();
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "WABA-1", "changes": changes}]})
    .to_string()
    .into_bytes()
}

fn value(number: &str, contacts: Value, messages: Value) -> Value {
    json!({"messaging_product": "whatsapp",
           "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
           "contacts": contacts, "messages": messages})
}

fn msg(id: &str, kind: &str, content: Value) -> Value {
    let mut m = json!({"from": "4915", "id": id, "timestamp": "1700000000", "type": kind});
    if let (Some(m), Some(c)) = (m.as_object_mut(), content.as_object()) {
        m.extend(c.clone());
    }
    m
}

fn bea() -> Value {
    json!([{"profile": {"name": "Bea"}, "wa_id": "4915"}])
}

fn messenger(number: &str) -> Arc<WhatsAppMessenger> {
    Arc::new(
        WhatsAppMessenger::new(WhatsAppConfig::new(number, "AT", "APPSECRET", "VT"))
            .expect("config"),
    )
}

fn signed(body: &[u8]) -> Vec<(String, String)> {
    vec![(
        SIGNATURE_HEADER.to_owned(),
        signature_header(b"APPSECRET", &[body]),
    )]
}

#[test]
fn every_documented_message_type_is_handled_on_purpose() {
    let messages = json!([
        msg("w.text", "text", json!({"text": {"body": "hello"}})),
        msg(
            "w.image",
            "image",
            json!({"image": {"id": "IMG", "mime_type": "image/jpeg", "sha256": "x", "caption": "look"}})
        ),
        msg(
            "w.video",
            "video",
            json!({"video": {"id": "VID", "mime_type": "video/mp4", "caption": "clip"}})
        ),
        msg(
            "w.voice",
            "audio",
            json!({"audio": {"id": "AUD", "mime_type": "audio/ogg; codecs=opus", "voice": true}})
        ),
        msg(
            "w.doc",
            "document",
            json!({"document": {"id": "DOC", "filename": "bill.pdf", "mime_type": "application/pdf"}})
        ),
        msg(
            "w.sticker",
            "sticker",
            json!({"sticker": {"id": "STK", "mime_type": "image/webp", "animated": false}})
        ),
        msg(
            "w.loc",
            "location",
            json!({"location": {"latitude": 52.52, "longitude": 13.405, "name": "Office", "address": "Main St 1"}})
        ),
        msg(
            "w.contacts",
            "contacts",
            json!({"contacts": [{"name": {"formatted_name": "Max Muster", "first_name": "Max"}, "phones": [{"phone": "+49 30 1234", "wa_id": "49301234", "type": "WORK"}]}]})
        ),
        msg(
            "w.button",
            "interactive",
            json!({"interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}})
        ),
        msg(
            "w.list",
            "interactive",
            json!({"interactive": {"type": "list_reply", "list_reply": {"id": "r1", "title": "Refund", "description": "money back"}}})
        ),
        msg(
            "w.quick",
            "button",
            json!({"button": {"payload": "STOP", "text": "Stop promotions"}, "context": {"from": "15550001111", "id": "wamid.TEMPLATE"}})
        ),
        msg(
            "w.order",
            "order",
            json!({"order": {"catalog_id": "C1", "text": "asap", "product_items": [{"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 9.5, "currency": "EUR"}]}})
        ),
        msg(
            "w.unsupported",
            "unsupported",
            json!({"errors": [{"code": 131051, "title": "Message type unknown"}]})
        ),
        msg(
            "w.ad",
            "text",
            json!({"text": {"body": "is it in stock?"}, "referral": {"source_url": "https://fb.me/ad", "source_type": "ad", "source_id": "1", "headline": "Spring sale", "media_type": "image"}})
        ),
        msg(
            "w.react",
            "reaction",
            json!({"reaction": {"message_id": "w.text", "emoji": "👍"}})
        ),
        msg(
            "w.unreact",
            "reaction",
            json!({"reaction": {"message_id": "w.text", "emoji": ""}})
        ),
        msg(
            "w.edit",
            "edit",
            json!({"edit": {"original_message_id": "w.text", "message": {"type": "text", "text": {"body": "hello again"}}}})
        ),
        msg(
            "w.revoke",
            "revoke",
            json!({"revoke": {"original_message_id": "w.image"}})
        ),
        msg(
            "w.system",
            "system",
            json!({"system": {"body": "Bea changed their number", "type": "user_changed_number", "new_wa_id": "4916"}})
        ),
        msg("w.welcome", "request_welcome", json!({})),
        msg("w.future", "hologram", json!({"hologram": {}})),
    ]);
    let body = envelope(&[value("PN1", bea(), messages)]);
    let p = parse_notification(&body).expect("parses");
    let text_of = |id: &str| {
        p.messages
            .iter()
            .find(|m| m.external_message_id == id)
            .map(|m| m.body.clone())
            .unwrap_or_else(|| panic!("{id} was not stored"))
    };
    assert_eq!(text_of("w.text").text, "hello");
    for (id, blob, mime, name, caption) in [
        ("w.image", "wa:IMG", "image/jpeg", "image.jpg", "look"),
        ("w.video", "wa:VID", "video/mp4", "video.mp4", "clip"),
        (
            "w.voice",
            "wa:AUD",
            "audio/ogg; codecs=opus",
            "voice.ogg",
            "",
        ),
        ("w.doc", "wa:DOC", "application/pdf", "bill.pdf", ""),
        ("w.sticker", "wa:STK", "image/webp", "sticker.webp", ""),
    ] {
        let b = text_of(id);
        assert_eq!(b.text, caption, "{id}");
        assert_eq!(
            (
                b.attachments[0].blob.as_str(),
                b.attachments[0].mime_type.as_str(),
                b.attachments[0].name.as_str()
            ),
            (blob, mime, name),
            "{id}"
        );
    }
    let loc = text_of("w.loc").text;
    assert!(
        loc.contains("52.52") && loc.contains("13.405") && loc.contains("Office"),
        "{loc}"
    );
    let card = text_of("w.contacts").text;
    assert!(
        card.contains("Max Muster") && card.contains("+49 30 1234"),
        "{card}"
    );
    assert_eq!(text_of("w.button").text, "Yes please");
    assert_eq!(text_of("w.list").text, "Refund — money back");
    assert_eq!(text_of("w.quick").text, "Stop promotions");
    let order = text_of("w.order").text;
    assert!(
        order.contains("SKU-1") && order.contains("EUR") && order.contains("asap"),
        "{order}"
    );
    let placeholder = text_of("w.unsupported").text;
    assert!(placeholder.contains("131051"), "{placeholder}");
    let ad = text_of("w.ad").text;
    assert!(
        ad.starts_with("is it in stock?")
            && ad.contains("Spring sale")
            && ad.contains("https://fb.me/ad"),
        "{ad}"
    );
    assert_eq!(p.messages.len(), 14, "every content message is stored");
    assert!(p
        .messages
        .iter()
        .all(|m| m.external_user == "4915" && m.display_name == "Bea"));

    let reactions: Vec<_> = p
        .reactions
        .iter()
        .map(|r| (r.external_message_id.as_str(), r.emoji.as_deref()))
        .collect();
    assert_eq!(reactions, vec![("w.text", Some("👍")), ("w.text", None)]);
    assert_eq!(p.edits.len(), 2);
    assert_eq!(p.edits[0].external_message_id, "w.text");
    assert!(matches!(&p.edits[0].change, EditKind::Edited(b) if b.text == "hello again"));
    assert_eq!(p.edits[1].external_message_id, "w.image");
    assert_eq!(p.edits[1].change, EditKind::Revoked);
    let ignored: Vec<_> = p.ignored.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(ignored, vec!["system", "request_welcome", "hologram"]);
}

#[test]
fn statuses_keep_metas_error() {
    let statuses = json!([
        {"id": "wamid.A", "status": "sent", "timestamp": "1700000001", "recipient_id": "4915",
         "conversation": {"id": "C", "origin": {"type": "service"}}, "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}},
        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000002", "recipient_id": "4915"},
        {"id": "wamid.A", "status": "read", "timestamp": "1700000003", "recipient_id": "4915"},
        {"id": "wamid.B", "status": "failed", "timestamp": "1700000004", "recipient_id": "4915",
         "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                     "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]},
        {"status": "read"},
        {"id": "wamid.C", "status": "deleted"}
    ]);
    let body = envelope(&[json!({"metadata": {"phone_number_id": "PN1"}, "statuses": statuses})]);
    let p = parse_notification(&body).expect("parses");
    let got: Vec<_> = p
        .statuses
        .iter()
        .map(|s| (s.external_message_id.as_str(), s.status, s.error.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("wamid.A", DeliveryStatus::Sent, None),
            ("wamid.A", DeliveryStatus::Delivered, None),
            ("wamid.A", DeliveryStatus::Read, None),
            (
                "wamid.B",
                DeliveryStatus::Failed,
                Some(DeliveryFailure::new("131047", "Re-engagement message"))
            ),
        ]
    );
    let ignored: Vec<_> = p.ignored.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(ignored, vec!["invalid_status", "status_deleted"]);
}

#[tokio::test]
async fn one_bad_message_never_refuses_the_body_and_bsuid_senders_are_contacts() {
    let w = World::new("whatsapp").await;
    let messengers = Messengers::new();
    messengers.insert(w.source.id, messenger("PN1"));
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    let messages = json!([
        msg("w.good", "text", json!({"text": {"body": "first"}})),
        {"from": "4915", "timestamp": "1", "type": "text", "text": {"body": "no id"}},
        {"id": "w.nobody", "timestamp": "1", "type": "text", "text": {"body": "no sender"}},
        {"id": "w.bsuid", "user_id": "US.13491208655302741918", "timestamp": "1", "type": "text", "text": {"body": "no phone"}},
        msg("w.good2", "text", json!({"text": {"body": "second"}})),
    ]);
    let contacts = json!([{"profile": {"name": "Bea"}, "wa_id": "4915"},
                          {"profile": {"name": "Anon"}, "user_id": "US.13491208655302741918"}]);
    let body = envelope(&[value("PN1", contacts, messages)]);
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &signed(&body), "", &body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let texts: Vec<String> = w
        .messages_of("4915")
        .await
        .into_iter()
        .map(|m| m.body.text)
        .collect();
    assert_eq!(
        texts,
        vec!["first", "second"],
        "the valid messages beside the bad ones are stored"
    );
    let anon = w.messages_of("US.13491208655302741918").await;
    assert_eq!(anon.len(), 1);
    assert_eq!(anon[0].body.text, "no phone");
    let contact = w
        .store
        .contact(anon[0].contact)
        .await
        .expect("read")
        .expect("contact");
    assert_eq!(contact.display_name, "Anon");
    assert_eq!(contact.reply_address(), Some("US.13491208655302741918"));
    assert_eq!(ep.stats().ignored.get("invalid_message"), Some(&2));
}

#[tokio::test]
async fn changes_are_routed_by_phone_number_id() {
    let w = World::new("whatsapp").await;
    let root = UserId::new("root");
    let other_line = w
        .hub
        .create_line(&root, LineConfig::new("Support").operators("ops"))
        .await
        .expect("line");
    let other = w
        .hub
        .bind_source(
            &root,
            other_line.id,
            NewSource::new("whatsapp", "support", "cfg"),
        )
        .await
        .expect("source");
    let messengers = Messengers::new();
    messengers.insert(w.source.id, messenger("PN1"));
    messengers.insert(other.id, messenger("PN2"));
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    let body = envelope(&[
        value(
            "PN1",
            bea(),
            json!([msg("w.1", "text", json!({"text": {"body": "to shop"}}))]),
        ),
        value(
            "PN2",
            bea(),
            json!([msg("w.2", "text", json!({"text": {"body": "to support"}}))]),
        ),
        value(
            "PN3",
            bea(),
            json!([msg("w.3", "text", json!({"text": {"body": "to nobody"}}))]),
        ),
    ]);
    // Meta posts every number's changes to the one callback URL.
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &signed(&body), "", &body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let shop: Vec<String> = w
        .messages_of("4915")
        .await
        .into_iter()
        .map(|m| m.body.text)
        .collect();
    assert_eq!(shop, vec!["to shop"], "only PN1's message is on PN1's line");
    let key = ContactKey::External {
        source: other.id,
        external_user: "4915".into(),
    };
    let contact = w
        .store
        .contact_by_key(&key)
        .await
        .expect("read")
        .expect("PN2's client is a contact of PN2's source");
    let sessions = w
        .store
        .contact_sessions(other_line.id, contact.id)
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    let support = w
        .store
        .messages(sessions[0].id, chatlines_core::Cursor::Start, 10)
        .await
        .expect("messages");
    assert_eq!(support.len(), 1);
    assert_eq!(support[0].body.text, "to support");
    assert_eq!(ep.stats().ignored.get("unknown_account"), Some(&1));
}

#[tokio::test]
async fn edits_reactions_and_statuses_are_kept_on_the_stored_messages() {
    let w = World::new("whatsapp").await;
    let messengers = Messengers::new();
    messengers.insert(w.source.id, messenger("PN1"));
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    let src = w.source.id.to_string();
    let post = |messages: Value, statuses: Value| {
        let mut v = value("PN1", bea(), messages);
        v["statuses"] = statuses;
        envelope(&[v])
    };

    // The client writes, ann answers, the answer is sent as wamid.OUT.
    let body = post(
        json!([msg("w.1", "text", json!({"text": {"body": "helo"}}))]),
        json!([]),
    );
    assert_eq!(
        ep.handle(&src, "POST", &signed(&body), "", &body)
            .await
            .status,
        200
    );
    let inbound = w.messages_of("4915").await.remove(0);
    w.hub
        .take(&common::world::ann(), inbound.session)
        .await
        .expect("take");
    let reply = w.replies(inbound.session, &["hi Bea".to_owned()]).await[0];
    let now = Utc::now();
    let claimed = w
        .store
        .claim_outbox(now, now + chrono::Duration::seconds(30), 10)
        .await
        .expect("claim");
    let token = claimed[0].lease.expect("lease").token;
    w.store
        .finish_outbox(
            claimed[0].id,
            token,
            DeliveryOutcome::Sent {
                external_id: "wamid.OUT".into(),
                substitute: None,
            },
            now,
        )
        .await
        .expect("sent");

    let body = post(
        json!([
            msg(
                "w.2",
                "edit",
                json!({"edit": {"original_message_id": "w.1", "message": {"type": "text", "text": {"body": "hello"}}}})
            ),
            msg(
                "w.3",
                "reaction",
                json!({"reaction": {"message_id": "wamid.OUT", "emoji": "❤"}})
            ),
            msg(
                "w.4",
                "edit",
                json!({"edit": {"original_message_id": "w.never", "message": {"type": "text", "text": {"body": "x"}}}})
            ),
        ]),
        json!([
            {"id": "wamid.OUT", "status": "read", "timestamp": "1700000003"},
            {"id": "wamid.OUT", "status": "delivered", "timestamp": "1700000002"},
            {"id": "wamid.OUT", "status": "sent", "timestamp": "1700000001"},
        ]),
    );
    for _ in 0..2 {
        let r = ep.handle(&src, "POST", &signed(&body), "", &body).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let edited = w.hub.message_state(inbound.id).await.expect("state");
    assert_eq!(edited.current_body(&inbound.body).text, "hello");
    assert_eq!(
        edited.revisions.len(),
        1,
        "a redelivered edit is one revision"
    );
    assert_eq!(
        w.messages_of("4915").await.len(),
        2,
        "the message and the reply; neither edit nor reaction is a message"
    );
    let answered = w.hub.message_state(reply).await.expect("state");
    assert_eq!(
        answered.reactions.get("4915").map(String::as_str),
        Some("❤")
    );
    assert_eq!(
        answered.delivery.expect("delivery").status,
        DeliveryStatus::Read,
        "statuses arriving out of order end at the furthest"
    );
    let changes: Vec<&'static str> = w
        .events()
        .await
        .iter()
        .map(Event::name)
        .filter(|n| {
            [
                "message_edited",
                "message_reacted",
                "delivery_status_changed",
            ]
            .contains(n)
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            "message_edited",
            "message_reacted",
            "delivery_status_changed"
        ]
    );
    let stats = ep.stats();
    assert_eq!(stats.updates_applied, 3);
    assert_eq!(
        stats.updates_unknown_message, 2,
        "the edit of w.never, twice"
    );

    // Another client revoking Bea's message: refused, counted, nothing
    // written.
    let mut forged = msg(
        "w.5",
        "revoke",
        json!({"revoke": {"original_message_id": "w.1"}}),
    );
    forged["from"] = json!("4916");
    let body = post(json!([forged]), json!([]));
    let r = ep.handle(&src, "POST", &signed(&body), "", &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let stats = ep.stats();
    assert_eq!(stats.updates_not_author, 1);
    assert_eq!(stats.updates_applied, 3);
    let state = w.hub.message_state(inbound.id).await.expect("state");
    assert_eq!(state.revoked_at, None, "not revoked by someone else");
}
