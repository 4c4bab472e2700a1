//! Telegram `Update`s of every kind, built as the Bot API documents them:
//! what becomes a message, an edit or a reaction, what is ignored (and
//! counted), and which conversation each belongs to.
#![cfg(feature = "telegram")]

mod common;

use chatlines_connectors::telegram::{
    parse_update, parse_update_with, ParseOptions, TelegramConfig, TelegramMessenger, SECRET_HEADER,
};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use chatlines_core::store::prelude::*;
use chatlines_core::{Body, EditKind, LineId, Messenger, OutboundMessage, Source, SourceId};
use common::telegram_fixtures::{self as fx, DATE};
use common::world::World;
use common::{Mock, Reply};
use serde_json::json;
use std::sync::Arc;

fn groups() -> ParseOptions {
    ParseOptions::default().with_groups(true)
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn every_update_kind_is_handled_or_ignored_on_purpose() {
    let handled = ["message", "edited_message", "message_reaction"];
    let all = fx::every_update_kind();
    assert_eq!(all.len(), 23);
    for (kind, update) in all {
        for options in [ParseOptions::default(), groups()] {
            let parsed = parse_update_with(&bytes(&update), options)
                .unwrap_or_else(|e| panic!("{kind}: refused with {e}"));
            let stored = parsed.messages.len() + parsed.edits.len() + parsed.reactions.len();
            if handled.contains(&kind) {
                assert_eq!(stored, 1, "{kind}: {parsed:?}");
                assert!(parsed.ignored.is_empty(), "{kind}: {parsed:?}");
            } else {
                assert_eq!(stored, 0, "{kind}: {parsed:?}");
                assert_eq!(parsed.ignored.len(), 1, "{kind}: {parsed:?}");
                let ignored = &parsed.ignored[0];
                assert_eq!(ignored.kind, kind, "{kind}: named as its own kind");
                assert!(!ignored.reason.is_empty());
            }
        }
    }
}

#[test]
fn every_message_kind_becomes_text_attachments_or_a_placeholder() {
    for (name, content, text, attachments) in fx::message_contents() {
        let update = fx::update(1, "message", fx::private_message(7, 42, content));
        let parsed = parse_update(&bytes(&update)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.messages.len(), 1, "{name}: {parsed:?}");
        let m = &parsed.messages[0];
        assert_eq!(m.body.text, text, "{name}");
        let got: Vec<(&str, &str, &str)> = m
            .body
            .attachments
            .iter()
            .map(|a| (a.name.as_str(), a.mime_type.as_str(), a.blob.as_str()))
            .collect();
        assert_eq!(got, attachments, "{name}");
        assert_eq!(m.sent_at.map(|t| t.timestamp()), Some(DATE), "{name}");
        assert_eq!(m.external_user, "42");
        assert_eq!(m.external_message_id, "42:7");
    }
}

#[test]
fn service_messages_and_bots_are_ignored() {
    for (content, from, kind) in [
        (
            json!({"new_chat_members": [fx::user(9, "Zed")]}),
            fx::user(42, "Ann"),
            "service_message",
        ),
        (
            json!({"successful_payment": {"currency": "EUR", "total_amount": 100,
                "invoice_payload": "p", "telegram_payment_charge_id": "t", "provider_payment_charge_id": "p"}}),
            fx::user(42, "Ann"),
            "service_message",
        ),
        (json!({"text": "beep"}), fx::bot_user(5), "bot_message"),
    ] {
        let m = fx::message(1, fx::private_chat(42, "Ann"), Some(from), content);
        let parsed = parse_update(&bytes(&fx::update(1, "message", m))).expect("parses");
        assert!(parsed.messages.is_empty());
        assert_eq!(parsed.ignored[0].kind, kind);
    }
}

#[test]
fn group_messages_are_ignored_by_default() {
    for chat in [
        fx::group_chat(-5, "Friends"),
        fx::supergroup(-1002, "Fans", false),
    ] {
        let m = fx::message(
            3,
            chat,
            Some(fx::user(42, "Ann")),
            json!({"text": "hi all"}),
        );
        let parsed = parse_update(&bytes(&fx::update(1, "message", m.clone()))).expect("parses");
        assert!(parsed.messages.is_empty());
        assert_eq!(parsed.ignored[0].kind, "group_message");
        let parsed = parse_update(&bytes(&fx::update(2, "edited_message", m))).expect("parses");
        assert!(parsed.edits.is_empty());
        assert_eq!(parsed.ignored[0].kind, "edited_group_message");
    }
}

#[test]
fn group_conversations_are_the_chat_with_the_author_shown() {
    let m = fx::message(
        3,
        fx::group_chat(-5, "Friends"),
        Some(fx::user(42, "Ann")),
        json!({"text": "hi all"}),
    );
    let parsed = parse_update_with(&bytes(&fx::update(1, "message", m)), groups()).expect("parses");
    let m = &parsed.messages[0];
    assert_eq!(m.external_user, "group:-5");
    assert_eq!(m.reply_address.as_deref(), Some("-5"));
    assert_eq!(m.display_name, "Friends");
    assert_eq!(m.body.text, "Ann Client: hi all");
    assert_eq!(m.external_message_id, "-5:3");

    let mut topic = fx::message(
        4,
        fx::supergroup(-1002, "Fans", true),
        Some(fx::user(43, "Bea")),
        json!({"photo": [{"file_id": "P", "file_unique_id": "u", "width": 1, "height": 1}]}),
    );
    topic["message_thread_id"] = json!(17);
    topic["is_topic_message"] = json!(true);
    let parsed =
        parse_update_with(&bytes(&fx::update(2, "message", topic)), groups()).expect("parses");
    let m = &parsed.messages[0];
    assert_eq!(m.external_user, "group:-1002:17");
    assert_eq!(m.reply_address.as_deref(), Some("-1002:17"));
    assert_eq!(m.body.text, "Bea Client:");
    assert_eq!(m.body.attachments.len(), 1);

    // An anonymous admin writes as the group itself.
    let anon = fx::message(
        5,
        fx::supergroup(-1002, "Fans", false),
        Some(
            json!({"id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"}),
        ),
        json!({"text": "rules", "sender_chat": fx::supergroup(-1002, "Fans", false)}),
    );
    let parsed =
        parse_update_with(&bytes(&fx::update(3, "message", anon)), groups()).expect("parses");
    assert_eq!(parsed.messages[0].body.text, "Fans: rules");

    // A channel post forwarded into its discussion group stays out.
    let forward = fx::message(
        6,
        fx::supergroup(-1002, "Fans", false),
        Some(json!({"id": 777000, "is_bot": false, "first_name": "Telegram"})),
        json!({"text": "sale", "is_automatic_forward": true,
            "sender_chat": fx::channel(-1001, "Shop news")}),
    );
    let parsed =
        parse_update_with(&bytes(&fx::update(4, "message", forward)), groups()).expect("parses");
    assert!(parsed.messages.is_empty());
    assert_eq!(parsed.ignored[0].kind, "automatic_forward");
}

#[test]
fn edits_and_reactions() {
    let mut edited = fx::private_message(7, 42, json!({"text": "hello again"}));
    edited["edit_date"] = json!(DATE + 60);
    let parsed = parse_update(&bytes(&fx::update(1, "edited_message", edited))).expect("parses");
    let e = &parsed.edits[0];
    assert_eq!(e.external_message_id, "42:7");
    assert_eq!(e.external_user, "42");
    assert_eq!(e.change, EditKind::Edited(Body::text("hello again")));
    assert_eq!(e.at.map(|t| t.timestamp()), Some(DATE + 60));

    let reaction = |new: serde_json::Value| {
        fx::update(
            2,
            "message_reaction",
            json!({"chat": fx::private_chat(42, "Ann"), "message_id": 9, "user": fx::user(42, "Ann"),
                "date": DATE, "old_reaction": [{"type": "emoji", "emoji": "👍"}], "new_reaction": new}),
        )
    };
    let parsed =
        parse_update(&bytes(&reaction(json!([{"type": "emoji", "emoji": "❤"}])))).expect("parses");
    let r = &parsed.reactions[0];
    assert_eq!(
        (r.external_message_id.as_str(), r.external_user.as_str()),
        ("42:9", "42")
    );
    assert_eq!(r.emoji.as_deref(), Some("❤"));
    let parsed = parse_update(&bytes(&reaction(json!([])))).expect("parses");
    assert_eq!(parsed.reactions[0].emoji, None, "removed");
}

fn tg_headers() -> Vec<(String, String)> {
    vec![(SECRET_HEADER.to_owned(), "hook-secret".to_owned())]
}

/// A member writing privately and in a group with the bot: two contacts,
/// two sessions, each replying to its own chat.
#[tokio::test]
async fn a_members_private_chat_never_mixes_with_the_group() {
    let w = World::new("telegram").await;
    let messengers = Messengers::new();
    messengers.insert(
        w.source.id,
        Arc::new(
            TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret").with_groups(true))
                .expect("config"),
        ),
    );
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    let src = w.source.id.to_string();
    let in_group = fx::update(
        1,
        "message",
        fx::message(
            3,
            fx::supergroup(-1002, "Fans", false),
            Some(fx::user(42, "Ann")),
            json!({"text": "anyone there?"}),
        ),
    );
    let private = fx::update(
        2,
        "message",
        fx::private_message(4, 42, json!({"text": "my address is secret"})),
    );
    for u in [&in_group, &private] {
        let r = ep.handle(&src, "POST", &tg_headers(), "", &bytes(u)).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let group_msgs = w.messages_of("group:-1002").await;
    let private_msgs = w.messages_of("42").await;
    assert_eq!(group_msgs.len(), 1);
    assert_eq!(private_msgs.len(), 1);
    assert_ne!(group_msgs[0].session, private_msgs[0].session);
    assert_ne!(group_msgs[0].contact, private_msgs[0].contact);
    let contact = |id| {
        let store = w.store.clone();
        async move { store.contact(id).await.expect("read").expect("contact") }
    };
    let g = contact(group_msgs[0].contact).await;
    let p = contact(private_msgs[0].contact).await;
    assert_eq!(g.reply_address(), Some("-1002"));
    assert_eq!(g.display_name, "Fans");
    assert_eq!(p.reply_address(), Some("42"));
    assert_eq!(p.display_name, "Ann Client");
    assert_eq!(private_msgs[0].body.text, "my address is secret");
}

#[tokio::test]
async fn replies_to_a_forum_topic_carry_its_thread() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({"ok": true, "result": {"message_id": 5, "chat": {"id": -1002}, "date": 0}}),
        )
    })
    .await;
    let tg = TelegramMessenger::new(TelegramConfig::new("1:T", "s").with_api_base(&mock.url))
        .expect("config");
    let source = Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(1)),
        LineId::from_uuid(uuid::Uuid::from_u128(2)),
        "telegram",
        "@bot",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    );
    let body = Body::text("we are on it");
    for (address, expected) in [
        (
            "-1002:17",
            json!({"chat_id": "-1002", "message_thread_id": 17, "text": "we are on it"}),
        ),
        ("-1002", json!({"chat_id": "-1002", "text": "we are on it"})),
        ("42", json!({"chat_id": "42", "text": "we are on it"})),
    ] {
        tg.send(OutboundMessage::new(&source, address, &body))
            .await
            .expect("sent");
        let last = mock.requests().pop().expect("a request");
        assert_eq!(last.json(), expected, "{address}");
    }
}
