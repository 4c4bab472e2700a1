//! Telegram connector against a local server speaking the Bot API shape.
#![cfg(feature = "telegram")]

mod common;

use chatlines_connectors::blobs::{import_media, BlobStore};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_core::{
    Attachment, Body, BoxError, LineId, Messenger, OutboundMessage, SendError, Source, SourceId,
    WebhookError, WebhookRequest,
};
use common::{dead_url, Mock, Reply};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "123:SECRET-TOKEN";

fn source() -> Source {
    Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(1)),
        LineId::from_uuid(uuid::Uuid::from_u128(2)),
        "telegram",
        "@bot",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    )
}

fn bot(base: &str) -> TelegramMessenger {
    TelegramMessenger::new(
        TelegramConfig::new(TOKEN, "hook-secret")
            .with_api_base(base)
            .with_http(HttpConfig::default().with_timeout(Duration::from_millis(500))),
    )
    .expect("config")
}

fn ok_message(chat: i64, id: i64) -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat}, "date": 0}}),
    )
}

#[derive(Default)]
struct MapBlobs(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait::async_trait]
impl BlobStore for MapBlobs {
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

#[tokio::test]
async fn text_reply_reaches_send_message() {
    let mock = Mock::start(|_, _| ok_message(777, 55)).await;
    let src = source();
    let body = Body::text("Hello from the line");
    let id = bot(&mock.url)
        .send(OutboundMessage::new(&src, "777", &body))
        .await
        .expect("sent");
    assert_eq!(id, "777:55");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(
        reqs[0].json(),
        json!({"chat_id": "777", "text": "Hello from the line"})
    );
}

#[tokio::test]
async fn api_errors_map_to_send_errors() {
    let cases: Vec<common::ErrorCase> = vec![
        (
            Reply::json(
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}}),
            ),
            |e| matches!(e, SendError::RateLimited { retry_after } if *retry_after == Duration::from_secs(5)),
        ),
        (Reply::status(502), |e| matches!(e, SendError::Transient(_))),
        (
            Reply::json(
                403,
                json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            ),
            |e| matches!(e, SendError::Permanent(m) if m.starts_with("bot was blocked by the user")),
        ),
        (
            Reply::json(
                400,
                json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
            ),
            |e| matches!(e, SendError::Permanent(m) if m.contains("chat not found")),
        ),
        (ok_message(1, 1).delayed(Duration::from_secs(3)), |e| {
            matches!(e, SendError::Uncertain(_))
        }),
    ];
    let src = source();
    let body = Body::text("x");
    for (reply, check) in cases {
        let r = reply.clone();
        let mock = Mock::start(move |_, _| r.clone()).await;
        let err = bot(&mock.url)
            .send(OutboundMessage::new(&src, "1", &body))
            .await
            .expect_err("fails");
        assert!(check(&err), "{reply:?} gave {err:?}");
        assert!(
            !format!("{err}").contains("SECRET-TOKEN"),
            "token leaked: {err}"
        );
    }
}

#[tokio::test]
async fn connection_refused_is_transient_and_hides_the_token() {
    let src = source();
    let body = Body::text("x");
    let err = bot(&dead_url().await)
        .send(OutboundMessage::new(&src, "1", &body))
        .await
        .expect_err("fails");
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(
        !format!("{err}").contains("SECRET-TOKEN"),
        "token leaked: {err}"
    );
}

#[tokio::test]
async fn attachments_are_uploaded_referenced_and_captioned() {
    let mock = Mock::start(|_, i| ok_message(9, 100 + i as i64)).await;
    let blobs = Arc::new(MapBlobs::default());
    blobs.put("k/photo", b"PNGBYTES").await.expect("put");
    let tg = bot(&mock.url).with_blobs(blobs);
    let src = source();
    let body = Body::text("see attached")
        .with_attachment(Attachment::new("p.png", "image/png", 8, "k/photo"))
        .with_attachment(Attachment::new(
            "r.pdf",
            "application/pdf",
            10,
            "https://files.example/r.pdf",
        ))
        .with_attachment(Attachment::new(
            "again.pdf",
            "application/pdf",
            10,
            "tg:FILE42",
        ));
    let id = tg
        .send(OutboundMessage::new(&src, "9", &body))
        .await
        .expect("sent");
    assert_eq!(id, "9:100");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].path.ends_with("/sendPhoto"));
    let ct = reqs[0].header("content-type").expect("content type");
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let raw = String::from_utf8_lossy(&reqs[0].body);
    assert!(raw.contains("PNGBYTES") && raw.contains("see attached") && raw.contains("p.png"));
    assert!(reqs[1].path.ends_with("/sendDocument"));
    assert_eq!(
        reqs[1].json(),
        json!({"chat_id": "9", "document": "https://files.example/r.pdf"})
    );
    assert_eq!(
        reqs[2].json(),
        json!({"chat_id": "9", "document": "FILE42"})
    );
}

#[tokio::test]
async fn missing_blob_is_permanent() {
    let mock = Mock::start(|_, _| ok_message(1, 1)).await;
    let src = source();
    let body = Body::text("").with_attachment(Attachment::new("a", "text/plain", 1, "nowhere"));
    let err = bot(&mock.url)
        .send(OutboundMessage::new(&src, "1", &body))
        .await
        .expect_err("fails");
    assert!(matches!(err, SendError::Permanent(_)));
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn set_webhook_sends_url_and_secret() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({"ok": true, "result": true}))).await;
    bot(&mock.url)
        .set_webhook("https://host.example/webhooks/abc")
        .await
        .expect("set");
    let r = &mock.requests()[0];
    assert_eq!(r.path, format!("/bot{TOKEN}/setWebhook"));
    let j = r.json();
    assert_eq!(j["url"], "https://host.example/webhooks/abc");
    assert_eq!(j["secret_token"], "hook-secret");
}

#[tokio::test]
async fn inbound_files_are_downloaded_into_the_blob_store() {
    let mock = Mock::start(|r, _| {
        if r.path.ends_with("/getFile") {
            Reply::json(200, json!({"ok": true, "result": {"file_id": "F1", "file_size": 5, "file_path": "photos/f1.jpg"}}))
        } else if r.path == format!("/file/bot{TOKEN}/photos/f1.jpg") {
            Reply::bytes("JPEG!")
        } else {
            Reply::status(404)
        }
    })
    .await;
    let blobs = Arc::new(MapBlobs::default());
    let tg = bot(&mock.url).with_blobs(blobs.clone());
    let update = br#"{"update_id":1,"message":{"message_id":3,"from":{"id":8,"first_name":"A"},"chat":{"id":8},
        "photo":[{"file_id":"F1","width":10,"height":10}]}}"#;
    let headers = vec![(SECRET_HEADER.to_owned(), "hook-secret".to_owned())];
    let mut parsed = tg
        .parse_webhook(WebhookRequest::new("POST", &headers, "", update))
        .expect("parses");
    let mut msg = parsed.messages.remove(0);
    import_media(&tg, "telegram", &mut msg).await;
    let a = &msg.body.attachments[0];
    assert_eq!(a.blob, "telegram/F1");
    assert_eq!(a.size, 5);
    assert_eq!(
        blobs.get("telegram/F1").await.expect("get"),
        Some(b"JPEG!".to_vec())
    );
}

#[tokio::test]
async fn webhook_secret_is_required() {
    let tg = bot("http://127.0.0.1:9");
    let body = br#"{"update_id":1,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1},"text":"hi"}}"#;
    let wrong = vec![(SECRET_HEADER.to_lowercase(), "nope".to_owned())];
    let right = vec![(SECRET_HEADER.to_lowercase(), "hook-secret".to_owned())];
    for headers in [vec![], wrong] {
        let r = tg.parse_webhook(WebhookRequest::new("POST", &headers, "", body));
        assert!(matches!(r, Err(WebhookError::Unauthorized(_))), "{r:?}");
    }
    let ok = tg
        .parse_webhook(WebhookRequest::new("POST", &right, "", body))
        .expect("accepted");
    assert_eq!(ok.messages.len(), 1);
    let r = tg.parse_webhook(WebhookRequest::new("GET", &right, "", body));
    assert!(matches!(r, Err(WebhookError::MethodNotAllowed(_))));
}

#[tokio::test]
async fn file_paths_with_reserved_characters_are_escaped() {
    let mock = Mock::start(|r, _| {
        if r.path.ends_with("/getFile") {
            Reply::json(
                200,
                json!({"ok": true, "result": {"file_id": "F2", "file_size": 4, "file_path": "documents/my file?x=1#frag.pdf"}}),
            )
        } else if r.path == format!("/file/bot{TOKEN}/documents/my%20file%3Fx%3D1%23frag.pdf") {
            if r.query.is_empty() {
                Reply::bytes("PDF!")
            } else {
                Reply::status(400)
            }
        } else {
            Reply::status(404)
        }
    })
    .await;
    let tg = bot(&mock.url);
    assert_eq!(
        tg.download_file("F2").await.expect("downloaded").bytes,
        b"PDF!"
    );
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs[1].query.is_empty(), "{:?}", reqs[1].query);
}

#[tokio::test]
async fn file_paths_leaving_their_folder_are_refused() {
    let mock = Mock::start(|r, _| {
        if r.path.ends_with("/getFile") {
            Reply::json(
                200,
                json!({"ok": true, "result": {"file_id": "F3", "file_path": "photos/../../bot/getMe"}}),
            )
        } else {
            Reply::bytes("leaked")
        }
    })
    .await;
    let err = bot(&mock.url)
        .download_file("F3")
        .await
        .expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert_eq!(mock.count(), 1, "only getFile was called");
}
