//! WhatsApp connector against a local server speaking the Cloud API shape.
#![cfg(feature = "whatsapp")]

mod common;

use chatlines_connectors::blobs::{import_media, BlobStore};
use chatlines_connectors::http::HttpConfig;
use chatlines_connectors::signing::signature_header;
use chatlines_connectors::whatsapp::{WhatsAppConfig, WhatsAppMessenger, SIGNATURE_HEADER};
use chatlines_core::{
    Attachment, Body, BoxError, DeliveryStatus, LineId, Messenger, OutboundMessage, SendError,
    Source, SourceId, WebhookError, WebhookRequest,
};
use common::{Mock, Reply};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn source() -> Source {
    Source::new(
        SourceId::from_uuid(uuid::Uuid::from_u128(1)),
        LineId::from_uuid(uuid::Uuid::from_u128(2)),
        "whatsapp",
        "+1 555",
        "cfg",
        chrono::DateTime::UNIX_EPOCH,
    )
}

fn wa(base: &str) -> WhatsAppMessenger {
    WhatsAppMessenger::new(
        WhatsAppConfig::new("PNID", "ACCESS", "APPSECRET", "VERIFY")
            .with_api_base(base)
            .with_http(HttpConfig::default().with_timeout(Duration::from_millis(500))),
    )
    .expect("config")
}

fn sent(id: &str) -> Reply {
    Reply::json(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": "1", "wa_id": "1"}], "messages": [{"id": id}]}),
    )
}

fn api_error(status: u16, code: i64) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "x"}}),
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
async fn text_reply_reaches_messages_endpoint() {
    let mock = Mock::start(|_, _| sent("wamid.OUT1")).await;
    let src = source();
    let body = Body::text("Hi Bea");
    let id = wa(&mock.url)
        .send(OutboundMessage::new(&src, "4915", &body))
        .await
        .expect("sent");
    assert_eq!(id, "wamid.OUT1");
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/v21.0/PNID/messages");
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer ACCESS"));
    let j = r.json();
    assert_eq!(j["to"], "4915");
    assert_eq!(j["type"], "text");
    assert_eq!(j["text"]["body"], "Hi Bea");
}

#[tokio::test]
async fn error_codes_map_to_send_errors() {
    let cases: Vec<common::ErrorCase> = vec![
        (api_error(400, 130429), |e| {
            matches!(e, SendError::RateLimited { .. })
        }),
        (api_error(400, 131056), |e| {
            matches!(e, SendError::RateLimited { .. })
        }),
        (
            api_error(400, 131047),
            |e| matches!(e, SendError::Permanent(m) if m.starts_with("outside the 24-hour window")),
        ),
        (api_error(503, 2), |e| matches!(e, SendError::Transient(_))),
        (Reply::status(500), |e| matches!(e, SendError::Transient(_))),
        (api_error(400, 100), |e| {
            matches!(e, SendError::Permanent(_))
        }),
        (sent("x").delayed(Duration::from_secs(3)), |e| {
            matches!(e, SendError::Uncertain(_))
        }),
    ];
    let src = source();
    let body = Body::text("x");
    for (reply, check) in cases {
        let r = reply.clone();
        let mock = Mock::start(move |_, _| r.clone()).await;
        let err = wa(&mock.url)
            .send(OutboundMessage::new(&src, "1", &body))
            .await
            .expect_err("fails");
        assert!(check(&err), "{reply:?} gave {err:?}");
    }
}

#[tokio::test]
async fn media_is_uploaded_then_sent_by_id() {
    let mock = Mock::start(|r, _| {
        if r.path.ends_with("/media") {
            Reply::json(200, json!({"id": "UPLOADED1"}))
        } else {
            sent("wamid.M")
        }
    })
    .await;
    let blobs = Arc::new(MapBlobs::default());
    blobs.put("b/1", b"IMGDATA").await.expect("put");
    let w = wa(&mock.url).with_blobs(blobs);
    let src = source();
    let body = Body::text("caption here")
        .with_attachment(Attachment::new("p.jpg", "image/jpeg", 7, "b/1"))
        .with_attachment(Attachment::new(
            "d.pdf",
            "application/pdf",
            7,
            "https://f.example/d.pdf",
        ));
    w.send(OutboundMessage::new(&src, "4915", &body))
        .await
        .expect("sent");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/v21.0/PNID/media");
    assert!(String::from_utf8_lossy(&reqs[0].body).contains("IMGDATA"));
    let img = reqs[1].json();
    assert_eq!(img["type"], "image");
    assert_eq!(
        img["image"],
        json!({"id": "UPLOADED1", "caption": "caption here"})
    );
    let doc = reqs[2].json();
    assert_eq!(
        doc["document"],
        json!({"link": "https://f.example/d.pdf", "filename": "d.pdf"})
    );
}

#[tokio::test]
async fn inbound_media_is_downloaded() {
    let mock = Mock::start(|r, _| match r.path.as_str() {
        "/v21.0/MEDIA1" => Reply::json(
            200,
            json!({"url": "URL", "mime_type": "image/png", "file_size": 4, "id": "MEDIA1"}),
        ),
        "/download/MEDIA1" => Reply::bytes("PNG!"),
        _ => Reply::status(404),
    })
    .await;
    // The lookup answers with a URL on the same mock.
    let base = mock.url.clone();
    let mock2 = Mock::start(move |r, _| match r.path.as_str() {
        "/v21.0/MEDIA1" => Reply::json(
            200,
            json!({"url": format!("{base}/download/MEDIA1"), "file_size": 4}),
        ),
        _ => Reply::status(404),
    })
    .await;
    let blobs = Arc::new(MapBlobs::default());
    let w = wa(&mock2.url).with_blobs(blobs.clone());
    let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[
        {"from":"1","id":"wamid.I","type":"image","image":{"id":"MEDIA1","mime_type":"image/png"}}]}}]}]}"#;
    let sig = signature_header(b"APPSECRET", &[body]);
    let headers = vec![(SIGNATURE_HEADER.to_owned(), sig)];
    let mut parsed = w
        .parse_webhook(WebhookRequest::new("POST", &headers, "", body))
        .expect("parses");
    let mut msg = parsed.messages.remove(0);
    import_media(&w, "whatsapp", &mut msg).await;
    assert_eq!(msg.body.attachments[0].blob, "whatsapp/MEDIA1");
    assert_eq!(
        blobs.get("whatsapp/MEDIA1").await.expect("get"),
        Some(b"PNG!".to_vec())
    );
    let download = mock
        .requests()
        .into_iter()
        .find(|r| r.path == "/download/MEDIA1")
        .expect("downloaded");
    assert_eq!(
        download.header("authorization").as_deref(),
        Some("Bearer ACCESS")
    );
}

#[test]
fn verification_handshake() {
    let w = wa("http://127.0.0.1:9");
    let ok = w
        .parse_webhook(WebhookRequest::new(
            "GET",
            &[],
            "hub.mode=subscribe&hub.verify_token=VERIFY&hub.challenge=12345",
            b"",
        ))
        .expect("verified");
    assert_eq!(ok.reply.as_deref(), Some("12345"));
    let wrong = w.parse_webhook(WebhookRequest::new(
        "GET",
        &[],
        "hub.mode=subscribe&hub.verify_token=NOPE&hub.challenge=1",
        b"",
    ));
    assert!(
        matches!(wrong, Err(WebhookError::Forbidden(_))),
        "a wrong verify token is 403, as Meta documents"
    );
    let no_mode = w.parse_webhook(WebhookRequest::new(
        "GET",
        &[],
        "hub.verify_token=VERIFY&hub.challenge=1",
        b"",
    ));
    assert!(matches!(no_mode, Err(WebhookError::Malformed(_))));
}

#[test]
fn signature_is_checked_before_parsing() {
    let w = wa("http://127.0.0.1:9");
    let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.1","status":"read"}]}}]}]}"#;
    let good = vec![(
        SIGNATURE_HEADER.to_lowercase(),
        signature_header(b"APPSECRET", &[body]),
    )];
    let bad = vec![(
        SIGNATURE_HEADER.to_owned(),
        signature_header(b"OTHER", &[body]),
    )];
    let parsed = w
        .parse_webhook(WebhookRequest::new("POST", &good, "", body))
        .expect("ok");
    assert_eq!(parsed.statuses[0].status, DeliveryStatus::Read);
    assert!(matches!(
        w.parse_webhook(WebhookRequest::new("POST", &bad, "", body)),
        Err(WebhookError::Unauthorized(_))
    ));
    assert!(matches!(
        w.parse_webhook(WebhookRequest::new("POST", &[], "", body)),
        Err(WebhookError::Unauthorized(_))
    ));
    // Garbage with a bad signature is Unauthorized, not Malformed: nothing is parsed.
    assert!(matches!(
        w.parse_webhook(WebhookRequest::new("POST", &bad, "", b"garbage")),
        Err(WebhookError::Unauthorized(_))
    ));
    let garbage_signed = vec![(
        SIGNATURE_HEADER.to_owned(),
        signature_header(b"APPSECRET", &[b"garbage"]),
    )];
    assert!(matches!(
        w.parse_webhook(WebhookRequest::new("POST", &garbage_signed, "", b"garbage")),
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_reply_outside_the_window_is_sent_as_the_configured_template() {
    use chatlines_connectors::whatsapp::{TemplateParameter, WindowTemplate};
    // The Cloud API refuses free text outside the window (131047) and
    // accepts templates.
    let mock = Mock::start(|r, _| {
        if r.json()["type"] == "template" {
            sent("wamid.TEMPLATE")
        } else {
            api_error(400, 131047)
        }
    })
    .await;
    let src = source();
    let body = Body::text("Your order shipped");
    let config = WhatsAppConfig::new("PNID", "ACCESS", "APPSECRET", "VERIFY")
        .with_api_base(&mock.url)
        .with_window_template(
            WindowTemplate::new("follow_up", "en_US")
                .with_parameter(TemplateParameter::Text("Acme".into()))
                .with_parameter(TemplateParameter::Reply),
        );
    let id = WhatsAppMessenger::new(config)
        .expect("config")
        .send(OutboundMessage::new(&src, "4915", &body))
        .await
        .expect("sent as template");
    assert_eq!(id, "wamid.TEMPLATE");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "the text, refused, then the template");
    let t = requests[1].json();
    assert_eq!(t["to"], "4915");
    assert_eq!(t["template"]["name"], "follow_up");
    assert_eq!(t["template"]["language"]["code"], "en_US");
    assert_eq!(
        t["template"]["components"][0]["parameters"],
        json!([{"type": "text", "text": "Acme"}, {"type": "text", "text": "Your order shipped"}])
    );

    // Without a template the reply fails permanently with the reason.
    let err = wa(&mock.url)
        .send(OutboundMessage::new(&src, "4915", &body))
        .await
        .expect_err("no template configured");
    assert!(
        matches!(&err, SendError::Permanent(m) if m.starts_with("outside the 24-hour window")),
        "{err:?}"
    );
}
