//! A reply outside WhatsApp's 24-hour window, through the dispatcher into a
//! local server speaking the Cloud API shape: sent as the configured
//! template, with parameters from the session, and the operator sees that
//! it went out as the template.
#![cfg(all(feature = "dispatcher", feature = "whatsapp"))]

mod common;

use chatlines_connectors::dispatcher::{Dispatcher, DispatcherConfig, RateLimits};
use chatlines_connectors::whatsapp::{
    TemplateParameter, WhatsAppConfig, WhatsAppMessenger, WindowTemplate,
};
use chatlines_connectors::Messengers;
use chatlines_core::{Event, InboundMessage, OutboxStatus};
use common::world::{ann, World};
use common::{Mock, Reply};
use serde_json::json;
use std::sync::Arc;

fn sent(id: &str) -> Reply {
    Reply::json(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": "4915", "wa_id": "4915"}], "messages": [{"id": id}]}),
    )
}

/// Free text is refused as outside the window (131047); templates pass.
async fn window_closed_mock() -> Mock {
    Mock::start(|r, _| {
        if r.json()["type"] == "template" {
            sent("wamid.TEMPLATE")
        } else {
            Reply::json(
                400,
                json!({"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047, "fbtrace_id": "x"}}),
            )
        }
    })
    .await
}

fn dispatcher(w: &World, mock: &Mock, template: Option<WindowTemplate>) -> Dispatcher {
    let mut config = WhatsAppConfig::new("PNID", "AT", "APPSECRET", "VT").with_api_base(&mock.url);
    if let Some(t) = template {
        config = config.with_window_template(t);
    }
    let wa = WhatsAppMessenger::new(config).expect("config");
    Dispatcher::builder(
        w.store.clone(),
        Messengers::new().with(w.source.id, Arc::new(wa)),
    )
    .config(DispatcherConfig::default().with_limits(RateLimits::off()))
    .build()
}

/// A session of Bea (wa_id 4915), taken by ann.
async fn beas_session(w: &World) -> chatlines_core::SessionId {
    let posted = w
        .hub
        .ingest(
            w.source.id,
            InboundMessage::text("wamid.IN1", "4915", "Bea Client", "hello"),
        )
        .await
        .expect("ingest");
    w.hub.take(&ann(), posted.session.id).await.expect("take");
    posted.session.id
}

#[tokio::test]
async fn a_reply_sent_as_the_template_says_so_to_the_operator() {
    let w = World::new("whatsapp").await;
    let mock = window_closed_mock().await;
    let template = WindowTemplate::new("follow_up", "en_US")
        .with_parameter(TemplateParameter::ContactName)
        .with_parameter(TemplateParameter::Reply);
    let d = dispatcher(&w, &mock, Some(template));
    let session = beas_session(&w).await;
    let reply = w.replies(session, &["Your order shipped".to_owned()]).await[0];

    assert_eq!(d.run_once().await.expect("round"), 1);

    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "the text, refused, then the template");
    let t = requests[1].json();
    assert_eq!(t["type"], "template");
    assert_eq!(
        t["template"]["components"][0]["parameters"],
        json!([{"type": "text", "text": "Bea Client"}, {"type": "text", "text": "Your order shipped"}]),
        "the client's name and the reply fill the template"
    );

    // What the operator reads beside the reply.
    let entry = w
        .hub
        .delivery(&ann(), reply)
        .await
        .expect("delivery")
        .expect("an outbox entry");
    let OutboxStatus::Sent {
        external_id,
        substitute,
    } = &entry.status
    else {
        panic!("not sent: {entry:?}");
    };
    assert_eq!(external_id, "wamid.TEMPLATE");
    let substitute = substitute.as_deref().expect("marked as a substitute");
    assert!(
        substitute.contains("template follow_up (en_US)"),
        "{substitute}"
    );

    // And what a UI receives.
    let events = w.events().await;
    let delivered = events
        .iter()
        .find_map(|e| match e {
            Event::DeliverySucceeded {
                message,
                substitute,
                ..
            } if *message == reply => Some(substitute.clone()),
            _ => None,
        })
        .expect("a delivery event");
    assert_eq!(delivered.as_deref(), Some(substitute));
    let shown = serde_json::to_value(
        events
            .iter()
            .find(|e| matches!(e, Event::DeliverySucceeded { .. }))
            .expect("event"),
    )
    .expect("json");
    assert_eq!(shown["data"]["substitute"], json!(substitute));
}

#[tokio::test]
async fn a_reply_sent_as_written_carries_no_substitute() {
    let w = World::new("whatsapp").await;
    let mock = Mock::start(|_, _| sent("wamid.TEXT")).await;
    let template = WindowTemplate::new("follow_up", "en_US");
    let d = dispatcher(&w, &mock, Some(template));
    let session = beas_session(&w).await;
    let reply = w.replies(session, &["Hi".to_owned()]).await[0];

    assert_eq!(d.run_once().await.expect("round"), 1);

    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        w.entry(reply).await.status,
        OutboxStatus::Sent {
            external_id: "wamid.TEXT".into(),
            substitute: None,
        }
    );
    let event = w
        .events()
        .await
        .into_iter()
        .find(|e| matches!(e, Event::DeliverySucceeded { .. }))
        .expect("a delivery event");
    let shown = serde_json::to_value(&event).expect("json");
    assert!(
        shown["data"].get("substitute").is_none(),
        "no substitute field: {shown}"
    );
}

#[tokio::test]
async fn without_a_template_the_reply_fails_with_the_window_reason() {
    let w = World::new("whatsapp").await;
    let mock = window_closed_mock().await;
    let d = dispatcher(&w, &mock, None);
    let session = beas_session(&w).await;
    let reply = w.replies(session, &["Late answer".to_owned()]).await[0];

    assert_eq!(d.run_once().await.expect("round"), 1);

    let entry = w.entry(reply).await;
    assert!(
        matches!(&entry.status, OutboxStatus::Failed { error } if error.contains("outside the 24-hour window")),
        "{entry:?}"
    );
}
