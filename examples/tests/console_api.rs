//! The console's desk routes over real HTTP on 127.0.0.1: transfer,
//! return to the queue, the client block, "+ Link" and registering
//! requests, each acting as the signed-in user through the hub's policy.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::{ids, mock_bot_api, start, Running};

/// One client session, taken by `operator`; its id.
async fn taken_by(s: &Running, operator: &str) -> String {
    s.telegram(1, 701, "hello").await;
    let id = s.offered(operator).await.remove(0);
    let (status, body) = s
        .post(operator, &format!("/api/sessions/{id}/take"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

fn state(session: &Value) -> Value {
    session["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assigned_operator_transfers_and_returns_a_session_and_others_may_not() {
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    let id = taken_by(&s, "olga").await;
    let transfer = format!("/api/sessions/{id}/transfer");

    // Only the assigned operator hands it on, and only to an operator.
    let (status, body) = s.post("oleg", &transfer, json!({"to": "oleg"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("olga", &transfer, json!({"to": "sam"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("sam"), "{body}");
    let (status, body) = s.post("olga", &transfer, json!({})).await;
    assert_eq!(status, 422, "{body}");
    let session = s.get("olga", &format!("/api/sessions/{id}")).await;
    assert_eq!(
        state(&session),
        json!({"state": "assigned", "operator": "olga"})
    );

    let (status, body) = s.post("olga", &transfer, json!({"to": "oleg"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        state(&body),
        json!({"state": "assigned", "operator": "oleg"})
    );
    assert_eq!(
        ids(&s.get("oleg", "/api/sessions/assigned").await),
        vec![id.clone()]
    );
    assert!(ids(&s.get("olga", "/api/sessions/assigned").await).is_empty());

    // Returning: olga no longer has it; oleg does.
    let back = format!("/api/sessions/{id}/return");
    let (status, body) = s.post("olga", &back, json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("oleg", &back, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state(&body), json!({"state": "offered"}));
    assert_eq!(s.offered("olga").await, vec![id.clone()]);
    let (status, _) = s.post("oleg", &back, json!({})).await;
    assert_eq!(status, 403, "returning an unassigned session is refused");

    let (status, body) = s
        .post("olga", "/api/sessions/not-a-uuid/return", json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_block_links_an_account_and_registers_requests() {
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    let id = taken_by(&s, "olga").await;
    let client = format!("/api/sessions/{id}/client");

    let info = s.get("olga", &client).await;
    assert_eq!(info["account"], Value::Null, "{info}");
    assert_eq!(info["account_app"]["id"], json!("accounts"), "{info}");
    assert_eq!(info["request_apps"][0]["id"], json!("orders"), "{info}");
    assert_eq!(
        info["request_apps"][0]["fields"][1],
        json!({"id": "number", "label": "Order number", "kind": "text"})
    );
    assert_eq!(info["requests"], json!([]));

    // A request needs the linked account first.
    let requests = format!("/api/sessions/{id}/requests");
    let order = json!({"app": "orders", "values": {"number": {"kind": "text", "value": "A-17"}}});
    let (status, body) = s.post("olga", &requests, order.clone()).await;
    assert_eq!(status, 409, "{body}");

    let account = format!("/api/sessions/{id}/account");
    let values = json!({"values": {"company": {"kind": "text", "value": "Acme"}}});
    // Not oleg's session; neither or both of item and values.
    let (status, body) = s.post("oleg", &account, values.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("olga", &account, json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s
        .post("olga", &account, json!({"item": "x", "values": {}}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.post("olga", &account, json!({"item": "no-such"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(s.get("olga", &client).await["account"], Value::Null);

    let (status, link) = s.post("olga", &account, values).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["app"], json!("accounts"));
    assert_eq!(link["linked_by"], json!("olga"));
    let info = s.get("olga", &client).await;
    assert_eq!(info["account"]["item"], link["item"], "{info}");

    // Linking the same item again as an existing one works too.
    let (status, again) = s
        .post("olga", &account, json!({"item": link["item"]}))
        .await;
    assert_eq!(status, 200, "{again}");

    let (status, body) = s
        .post("olga", &requests, json!({"app": "accounts", "values": {}}))
        .await;
    assert_eq!(status, 422, "not a request app of the line: {body}");
    let (status, record) = s.post("olga", &requests, order).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["app"], json!("orders"));
    assert_eq!(record["created_by"], json!("olga"));
    let info = s.get("olga", &client).await;
    assert_eq!(info["requests"].as_array().map(Vec::len), Some(1), "{info}");
    assert_eq!(info["requests"][0]["id"], record["id"]);
    s.server.shutdown().await;
}
