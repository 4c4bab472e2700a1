//! The MIME type of a fetched attachment: the media worker stores the type
//! the messenger's download answered with when the webhook gave none or a
//! generic one, and keeps a specific one from the webhook. Telegram and
//! WhatsApp against local servers speaking their API shapes.
#![cfg(all(feature = "telegram", feature = "whatsapp", feature = "media"))]

mod common;

use chatlines_connectors::media::MediaWorker;
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::whatsapp::{self, WhatsAppConfig, WhatsAppMessenger};
use chatlines_connectors::{BlobStore, Messengers, WebhookEndpoint};
use chatlines_core::{AttachmentState, BoxError, Event};
use common::world::World;
use common::{Mock, Reply};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Blobs(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait::async_trait]
impl BlobStore for Blobs {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BoxError> {
        self.0
            .lock()
            .expect("lock")
            .insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.0.lock().expect("lock").get(key).cloned())
    }
}

/// The `mime_type` of every `AttachmentAvailable` event, in log order.
async fn available_types(w: &World) -> Vec<String> {
    w.events()
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::AttachmentAvailable { mime_type, .. } => Some(mime_type),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn telegram_downloads_name_the_type_the_webhook_did_not() {
    // The Bot API's file server answers a PDF as such, and a photo as
    // bare bytes.
    let mock = Mock::start(|r, _| match r.path.as_str() {
        "/bot1:T/getFile" => {
            let id = r.json()["file_id"].as_str().unwrap_or_default().to_owned();
            let path = if id == "DOC" {
                "documents/file_7"
            } else {
                "photos/file_8.jpg"
            };
            Reply::json(
                200,
                json!({"ok": true, "result": {"file_id": id, "file_unique_id": "u", "file_size": 4, "file_path": path}}),
            )
        }
        "/file/bot1:T/documents/file_7" => {
            Reply::bytes("%PDF").header("content-type", "application/PDF; qs=0.9")
        }
        "/file/bot1:T/photos/file_8.jpg" => {
            Reply::bytes("JPEG").header("content-type", "application/octet-stream")
        }
        _ => Reply::status(404),
    })
    .await;
    let w = World::new("telegram").await;
    let tg = TelegramMessenger::new(TelegramConfig::new("1:T", "hook").with_api_base(&mock.url))
        .expect("config")
        .with_blobs(Arc::new(Blobs::default()));
    let messengers = Messengers::new();
    messengers.insert_with_media(w.source.id, Arc::new(tg));
    let endpoint = WebhookEndpoint::new(w.hub.clone(), messengers.clone());
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (SECRET_HEADER.to_lowercase(), "hook".to_owned()),
    ];
    let chat = json!({"id": 42, "type": "private", "first_name": "Ann"});
    let from = json!({"id": 42, "is_bot": false, "first_name": "Ann"});
    // A document without a mime_type, then a photo (always a JPEG).
    let updates = [
        json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000,
            "from": from, "chat": chat,
            "document": {"file_id": "DOC", "file_unique_id": "d", "file_name": "invoice"}}}),
        json!({"update_id": 2, "message": {"message_id": 2, "date": 1_700_000_001,
            "from": from, "chat": chat,
            "photo": [{"file_id": "PHOTO", "file_unique_id": "p", "width": 9, "height": 9}]}}),
    ];
    for u in updates {
        let r = endpoint
            .handle(
                &w.source.id.to_string(),
                "POST",
                &headers,
                "",
                u.to_string().as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let before = w.messages_of("42").await;
    assert_eq!(
        before[0].body.attachments[0].mime_type, "application/octet-stream",
        "the webhook named no type"
    );

    let worker = MediaWorker::builder(w.store.clone(), messengers).build();
    assert_eq!(worker.run_once().await.expect("round"), 2);

    let after = w.messages_of("42").await;
    let (doc, photo) = (&after[0].body.attachments[0], &after[1].body.attachments[0]);
    assert_eq!(doc.state, AttachmentState::Available);
    assert_eq!(
        doc.mime_type, "application/pdf",
        "the download's Content-Type"
    );
    assert_eq!(photo.state, AttachmentState::Available);
    assert_eq!(
        photo.mime_type, "image/jpeg",
        "a specific webhook type is kept over a generic download type"
    );
    let mut types = available_types(&w).await;
    types.sort();
    assert_eq!(types, vec!["application/pdf", "image/jpeg"]);
}

#[tokio::test]
async fn whatsapp_downloads_name_the_type_the_webhook_did_not() {
    // The media URL serves the file with its type; the Graph API's media
    // object names none.
    let files = Mock::start(|r, _| match r.path.as_str() {
        "/download/MEDIA9" => Reply::bytes("%PDF").header("content-type", "application/pdf"),
        _ => Reply::status(404),
    })
    .await;
    let files_url = files.url.clone();
    let graph = Mock::start(move |r, _| match r.path.as_str() {
        "/v21.0/MEDIA9" => Reply::json(
            200,
            json!({"messaging_product": "whatsapp", "url": format!("{files_url}/download/MEDIA9"),
                   "file_size": 4, "id": "MEDIA9"}),
        ),
        _ => Reply::status(404),
    })
    .await;
    let w = World::new("whatsapp").await;
    let wa = WhatsAppMessenger::new(
        WhatsAppConfig::new("PNID", "AT", "APPSECRET", "VT").with_api_base(&graph.url),
    )
    .expect("config")
    .with_blobs(Arc::new(Blobs::default()));
    let messengers = Messengers::new();
    messengers.insert_with_media(w.source.id, Arc::new(wa));
    let endpoint = WebhookEndpoint::new(w.hub.clone(), messengers.clone());
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PNID"},
            "contacts": [{"profile": {"name": "Bea"}, "wa_id": "4915"}],
            "messages": [{"from": "4915", "id": "wamid.D", "timestamp": "1700000000",
                "type": "document", "document": {"id": "MEDIA9", "filename": "invoice"}}]}}]}]})
    .to_string()
    .into_bytes();
    let headers = vec![(
        whatsapp::SIGNATURE_HEADER.to_owned(),
        signature_header(b"APPSECRET", &[&body]),
    )];
    let r = endpoint
        .handle(&w.source.id.to_string(), "POST", &headers, "", &body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let webhook_type = w.messages_of("4915").await[0].body.attachments[0]
        .mime_type
        .clone();
    assert!(
        chatlines_core::media::is_generic_mime_type(&webhook_type),
        "{webhook_type}"
    );

    let worker = MediaWorker::builder(w.store.clone(), messengers).build();
    assert_eq!(worker.run_once().await.expect("round"), 1);

    let a = w.messages_of("4915").await[0].body.attachments[0].clone();
    assert_eq!(a.state, AttachmentState::Available);
    assert_eq!(a.mime_type, "application/pdf");
    assert_eq!(available_types(&w).await, vec!["application/pdf"]);
}
