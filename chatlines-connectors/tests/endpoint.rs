//! The webhook endpoint through a real Hub over a MemoryStore: what is
//! stored, what is refused, and with which status.
#![cfg(all(feature = "telegram", feature = "whatsapp", feature = "webhook"))]

mod common;

use chatlines_connectors::generic::{
    GenericConfig, GenericWebhook, SIGNATURE_HEADER as G_SIG, TIMESTAMP_HEADER,
};
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::status::{StatusSink, StatusTracker};
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::whatsapp::{
    WhatsAppConfig, WhatsAppMessenger, SIGNATURE_HEADER as WA_SIG,
};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use chatlines_core::store::prelude::*;
use chatlines_core::{DeliveryStatus, ExternalRef, SourceId, StatusUpdate};
use common::world::World;
use std::sync::Arc;

fn telegram() -> Arc<TelegramMessenger> {
    Arc::new(TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret")).expect("config"))
}

fn tg_headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        (SECRET_HEADER.to_lowercase(), "hook-secret".into()),
    ]
}

fn tg_text(update: i64, chat: i64, msg: i64, text: &str) -> Vec<u8> {
    serde_json::json!({"update_id": update, "message": {"message_id": msg, "date": 1_700_000_000,
        "from": {"id": chat, "first_name": "Ann", "last_name": "Client"}, "chat": {"id": chat, "type": "private"}, "text": text}})
    .to_string()
    .into_bytes()
}

async fn tg_world() -> (World, WebhookEndpoint) {
    let w = World::new("telegram").await;
    let messengers = Messengers::new();
    messengers.insert(w.source.id, telegram());
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    (w, ep)
}

#[tokio::test]
async fn telegram_text_becomes_a_session_message() {
    let (w, ep) = tg_world().await;
    let src = w.source.id.to_string();
    let r = ep
        .handle(
            &src,
            "POST",
            &tg_headers(),
            "",
            &tg_text(1, 42, 7, "I need help"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = w.messages_of("42").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body.text, "I need help");
    assert_eq!(
        stored[0].external,
        Some(ExternalRef {
            source: w.source.id,
            message_id: "42:7".into()
        })
    );
    let contact = w
        .store
        .contact(stored[0].contact)
        .await
        .expect("read")
        .expect("contact");
    assert_eq!(contact.display_name, "Ann Client");
    assert_eq!(contact.reply_address(), Some("42"));
    let session = w
        .store
        .session(stored[0].session)
        .await
        .expect("read")
        .expect("session");
    assert_eq!(session.line, w.line.id);
}

#[tokio::test]
async fn redelivered_updates_collapse() {
    let (w, ep) = tg_world().await;
    let src = w.source.id.to_string();
    for update_id in [1, 1, 2] {
        // Telegram may redeliver the same message, even under a new update id.
        let r = ep
            .handle(
                &src,
                "POST",
                &tg_headers(),
                "",
                &tg_text(update_id, 42, 7, "once"),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = ep
        .handle(&src, "POST", &tg_headers(), "", &tg_text(3, 42, 8, "twice"))
        .await;
    assert_eq!(r.status, 200);
    let texts: Vec<String> = w
        .messages_of("42")
        .await
        .into_iter()
        .map(|m| m.body.text)
        .collect();
    assert_eq!(texts, vec!["once", "twice"]);
}

#[tokio::test]
async fn ignored_updates_are_acknowledged() {
    let (w, ep) = tg_world().await;
    let body = br#"{"update_id":5,"edited_message":{"message_id":1,"from":{"id":42},"chat":{"id":42},"text":"edit"}}"#;
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &tg_headers(), "", body)
        .await;
    assert_eq!(r.status, 200);
    assert!(w.messages_of("42").await.is_empty());
}

/// name, source id, method, headers, body, expected status.
type Refusal = (
    &'static str,
    String,
    &'static str,
    Vec<(String, String)>,
    Vec<u8>,
    u16,
);

#[tokio::test]
async fn refusals_have_the_right_status_and_store_nothing() {
    let (w, ep) = tg_world().await;
    let src = w.source.id.to_string();
    let good = tg_text(1, 42, 7, "hi");
    let wrong_secret = vec![(SECRET_HEADER.to_owned(), "guess".to_owned())];
    let cases: Vec<Refusal> = vec![
        (
            "missing secret",
            src.clone(),
            "POST",
            vec![],
            good.clone(),
            401,
        ),
        (
            "wrong secret",
            src.clone(),
            "POST",
            wrong_secret,
            good.clone(),
            401,
        ),
        (
            "malformed",
            src.clone(),
            "POST",
            tg_headers(),
            b"{not json".to_vec(),
            400,
        ),
        (
            "not a uuid",
            "telegram-bot".into(),
            "POST",
            tg_headers(),
            good.clone(),
            400,
        ),
        (
            "unknown source",
            SourceId::from_uuid(uuid::Uuid::new_v4()).to_string(),
            "POST",
            tg_headers(),
            good.clone(),
            404,
        ),
        (
            "wrong method",
            src.clone(),
            "PUT",
            tg_headers(),
            good.clone(),
            405,
        ),
        (
            "GET on telegram",
            src.clone(),
            "GET",
            tg_headers(),
            vec![],
            405,
        ),
        (
            "oversized",
            src.clone(),
            "POST",
            tg_headers(),
            {
                let mut b = good.clone();
                b.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
                b
            },
            413,
        ),
        (
            "text over the hub's limit",
            src.clone(),
            "POST",
            tg_headers(),
            tg_text(1, 42, 7, &"x".repeat(17_000)),
            400,
        ),
    ];
    for (name, source, method, headers, body, status) in cases {
        let r = ep.handle(&source, method, &headers, "", &body).await;
        assert_eq!(r.status, status, "{name}: {r:?}");
    }
    assert!(w.messages_of("42").await.is_empty());
    assert!(w
        .store
        .queued_sessions(w.line.id, 10)
        .await
        .expect("read")
        .is_empty());
}

#[tokio::test]
async fn body_limit_is_checked_before_parsing() {
    let (w, ep) = tg_world().await;
    let ep = ep.with_body_limit(64);
    // Over the limit and unauthenticated: the size is what is reported.
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &[], "", &[b'x'; 65])
        .await;
    assert_eq!(r.status, 413);
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &[], "", &[b'x'; 64])
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn source_registered_but_not_bound_is_404() {
    let (w, ep) = tg_world().await;
    let stray = SourceId::from_uuid(uuid::Uuid::new_v4());
    ep.messengers().insert(stray, telegram());
    let r = ep
        .handle(
            &stray.to_string(),
            "POST",
            &tg_headers(),
            "",
            &tg_text(1, 42, 7, "hi"),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(w.messages_of("42").await.is_empty());
}

#[derive(Default)]
struct Statuses(StatusTracker, std::sync::Mutex<Vec<StatusUpdate>>);

#[async_trait::async_trait]
impl StatusSink for Statuses {
    async fn status(&self, _source: SourceId, update: &StatusUpdate) {
        self.0.apply(update);
        self.1.lock().expect("lock").push(update.clone());
    }
}

#[tokio::test]
async fn whatsapp_handshake_messages_and_statuses() {
    let w = World::new("whatsapp").await;
    let messengers = Messengers::new();
    messengers.insert(
        w.source.id,
        Arc::new(
            WhatsAppMessenger::new(WhatsAppConfig::new("PN", "AT", "APPSECRET", "VT"))
                .expect("config"),
        ),
    );
    let statuses = Arc::new(Statuses::default());
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers).with_status_sink(statuses.clone());
    let src = w.source.id.to_string();

    let r = ep
        .handle(
            &src,
            "GET",
            &[],
            "hub.mode=subscribe&hub.verify_token=VT&hub.challenge=98765",
            b"",
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "98765"));
    let r = ep
        .handle(
            &src,
            "GET",
            &[],
            "hub.mode=subscribe&hub.verify_token=XX&hub.challenge=98765",
            b"",
        )
        .await;
    assert_eq!(r.status, 403);

    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{
        "contacts":[{"profile":{"name":"Bea"},"wa_id":"4915"}],
        "messages":[{"from":"4915","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"hallo"}},
                    {"from":"4915","id":"wamid.B","timestamp":"1700000001","type":"document","document":{"id":"M1","filename":"a.pdf","mime_type":"application/pdf"}}],
        "statuses":[{"id":"wamid.OUT","status":"read","timestamp":"2"},{"id":"wamid.OUT","status":"delivered","timestamp":"1"}]}}]}]}"#;
    let bad = vec![(WA_SIG.to_owned(), signature_header(b"WRONG", &[body]))];
    let r = ep.handle(&src, "POST", &bad, "", body).await;
    assert_eq!(r.status, 401);
    assert!(w.messages_of("4915").await.is_empty());
    assert!(statuses.1.lock().expect("lock").is_empty());

    let good = vec![(WA_SIG.to_owned(), signature_header(b"APPSECRET", &[body]))];
    for _ in 0..2 {
        let r = ep.handle(&src, "POST", &good, "", body).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let stored = w.messages_of("4915").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].body.text, "hallo");
    assert_eq!(stored[1].body.attachments[0].name, "a.pdf");
    assert_eq!(stored[0].session, stored[1].session);
    assert_eq!(statuses.0.get("wamid.OUT"), Some(DeliveryStatus::Read));
}

#[tokio::test]
async fn generic_signed_webhook() {
    let w = World::new("webhook").await;
    let messengers = Messengers::new();
    messengers.insert(
        w.source.id,
        Arc::new(
            GenericWebhook::new(GenericConfig::new("whsec", "http://127.0.0.1:9/out"))
                .expect("config"),
        ),
    );
    let ep = WebhookEndpoint::new(w.hub.clone(), messengers);
    let body = br#"{"messages":[{"id":"g1","user":"crm-7","name":"Carla","text":"from the CRM"}]}"#;
    let ts = chrono::Utc::now().timestamp().to_string();
    let headers = vec![
        (TIMESTAMP_HEADER.to_owned(), ts.clone()),
        (
            G_SIG.to_owned(),
            signature_header(b"whsec", &[ts.as_bytes(), b".", body]),
        ),
    ];
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &headers, "", body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = w.messages_of("crm-7").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body.text, "from the CRM");
    let old = (chrono::Utc::now().timestamp() - 600).to_string();
    let replay = vec![
        (TIMESTAMP_HEADER.to_owned(), old.clone()),
        (
            G_SIG.to_owned(),
            signature_header(b"whsec", &[old.as_bytes(), b".", body]),
        ),
    ];
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &replay, "", body)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn store_failure_is_503_and_redelivery_then_succeeds() {
    use chatlines_core::testing::{MemoryApps, MemoryDirectory};
    use common::failing::FailingStore;
    use std::sync::atomic::Ordering;
    let store = Arc::new(FailingStore::default());
    let dir = Arc::new(MemoryDirectory::new());
    dir.add_admin("root");
    dir.add_to_group("ops", "ann");
    let hub = chatlines_core::Hub::builder(
        store.clone(),
        dir,
        Arc::new(MemoryApps::new()),
        Arc::new(chatlines_routing::RuleRouter::new()),
    )
    .build();
    let root = chatlines_core::UserId::new("root");
    let line = hub
        .create_line(
            &root,
            chatlines_core::LineConfig::new("Shop").operators("ops"),
        )
        .await
        .expect("line");
    let source = hub
        .bind_source(
            &root,
            line.id,
            chatlines_core::NewSource::new("telegram", "bot", "cfg"),
        )
        .await
        .expect("source");
    let ep = WebhookEndpoint::new(hub, Messengers::new().with(source.id, telegram()));
    let body = tg_text(1, 42, 7, "are you there?");
    store.fail.store(true, Ordering::SeqCst);
    let r = ep
        .handle(&source.id.to_string(), "POST", &tg_headers(), "", &body)
        .await;
    assert_eq!(r.status, 503, "{r:?}");
    let key = chatlines_core::ContactKey::External {
        source: source.id,
        external_user: "42".into(),
    };
    assert_eq!(store.contact_by_key(&key).await.expect("read"), None);
    store.fail.store(false, Ordering::SeqCst);
    let r = ep
        .handle(&source.id.to_string(), "POST", &tg_headers(), "", &body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(store.contact_by_key(&key).await.expect("read").is_some());
}

fn generic_endpoint(w: &World) -> WebhookEndpoint {
    let messengers = Messengers::new();
    messengers.insert(
        w.source.id,
        Arc::new(
            GenericWebhook::new(GenericConfig::new("whsec", "http://127.0.0.1:9/out"))
                .expect("config"),
        ),
    );
    WebhookEndpoint::new(w.hub.clone(), messengers)
}

fn sign(body: &[u8]) -> Vec<(String, String)> {
    let ts = chrono::Utc::now().timestamp().to_string();
    vec![
        (TIMESTAMP_HEADER.to_owned(), ts.clone()),
        (
            G_SIG.to_owned(),
            signature_header(b"whsec", &[ts.as_bytes(), b".", body]),
        ),
    ]
}

#[tokio::test]
async fn a_request_with_one_bad_identity_stores_none_of_its_messages() {
    let w = World::new("webhook").await;
    let ep = generic_endpoint(&w);
    for bad in [
        r#"{"id":"g3","user":"crm-7","reply_to":"desk\u0000 7","text":"three"}"#,
        r#"{"id":"g\u00003","user":"crm-7","text":"three"}"#,
        r#"{"id":"g3","user":"crm\u00007","text":"three"}"#,
        r#"{"id":"g3","user":"crm-7","text":"thr\u0000ee"}"#,
    ] {
        let body = format!(
            r#"{{"messages":[{{"id":"g1","user":"crm-7","text":"one"}},{{"id":"g2","user":"crm-8","text":"two"}},{bad}]}}"#
        );
        let r = ep
            .handle(
                &w.source.id.to_string(),
                "POST",
                &sign(body.as_bytes()),
                "",
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(w.messages_of("crm-7").await.is_empty(), "{bad}");
        assert!(w.messages_of("crm-8").await.is_empty(), "{bad}");
    }
}

#[tokio::test]
async fn control_characters_in_names_are_replaced_and_the_message_stored() {
    let w = World::new("webhook").await;
    let ep = generic_endpoint(&w);
    let body = br#"{"messages":[{"id":"g1","user":"crm-7","name":"Car\u0000la\u001b[2J","text":"hello"}]}"#;
    let r = ep
        .handle(&w.source.id.to_string(), "POST", &sign(body), "", body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = w.messages_of("crm-7").await;
    assert_eq!(stored.len(), 1);
    let contact = w
        .store
        .contact(stored[0].contact)
        .await
        .expect("read")
        .expect("contact");
    assert_eq!(contact.display_name, "Car\u{fffd}la\u{fffd}[2J");
}

#[tokio::test]
async fn ignored_updates_are_counted_per_kind() {
    let (w, ep) = tg_world().await;
    let src = w.source.id.to_string();
    let channel = br#"{"update_id":6,"channel_post":{"message_id":1,"date":1,"chat":{"id":-1001,"type":"channel","title":"News"},"text":"post"}}"#;
    let group = br#"{"update_id":7,"message":{"message_id":2,"date":1,"from":{"id":42,"is_bot":false,"first_name":"Ann"},"chat":{"id":-5,"type":"group","title":"Friends"},"text":"hi all"}}"#;
    for body in [&channel[..], &channel[..], &group[..]] {
        let r = ep.handle(&src, "POST", &tg_headers(), "", body).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let counts: Vec<(String, String, u64)> = ep
        .ignored()
        .into_iter()
        .map(|c| (c.source_kind, c.update_kind, c.count))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("telegram".into(), "channel_post".into(), 2),
            ("telegram".into(), "group_message".into(), 1),
        ]
    );
    assert!(w.messages_of("42").await.is_empty());
    assert!(w.messages_of("-5").await.is_empty());
}
