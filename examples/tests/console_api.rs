//! The console's desk and board routes over real HTTP on 127.0.0.1:
//! transfer, return to the queue, the client block, "+ Link", registering
//! requests, the supervisor board and assigning, each acting as the
//! signed-in user through the hub's policy.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use chatlines_core::Clock;
use serde_json::{json, Value};
use support::{ids, mock_bot_api, start, start_with_rule, start_with_sla, Running};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_a_supervisors_lines_queue_and_operators_and_assigns() {
    let (api, _) = mock_bot_api().await;
    let s = start_with_rule(api, r#"{ type = "least_loaded", capacity = 1 }"#).await;
    for (i, chat) in [(1, 901), (2, 902), (3, 903)] {
        s.telegram(i, chat, "hello").await;
    }
    // Only sam supervises; operators see no line on the board.
    assert_eq!(s.get("olga", "/api/board/lines").await, json!([]));
    let lines = s.get("sam", "/api/board/lines").await;
    assert_eq!(lines.as_array().map(Vec::len), Some(1), "{lines}");
    assert_eq!(lines[0]["name"], json!("Support"));
    let line = lines[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/board/lines/{line}");
    let (status, body) = s.call("olga", reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .call("sam", reqwest::Method::GET, "/api/board/lines/nope", None)
        .await;
    assert_eq!(status, 400, "{body}");

    let board = s.get("sam", &path).await;
    let states: Vec<&str> = board["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["session"]["status"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["assigned", "assigned", "queued"], "{board}");
    let queued = board["sessions"][2]["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(board["sessions"][2]["waiting_since"].is_string(), "{board}");
    let operators: Vec<(&str, &str, u64)> = board["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["user"].as_str().unwrap(),
                o["availability"].as_str().unwrap(),
                o["load"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(operators, [("oleg", "present", 1), ("olga", "present", 1)]);

    // Assigning: supervisors only, to operators of the line only.
    let assign = format!("/api/sessions/{queued}/assign");
    let (status, body) = s.post("olga", &assign, json!({"operator": "olga"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("sam", &assign, json!({"operator": "sam"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = s.post("sam", &assign, json!({"operator": "olga"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["status"],
        json!({"state": "assigned", "operator": "olga"})
    );
    assert!(ids(&s.get("olga", "/api/sessions/assigned").await).contains(&queued));
    let board = s.get("sam", &path).await;
    let olga = board["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["user"] == "olga")
        .unwrap();
    assert_eq!(olga["load"], json!(2), "{board}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_each_sessions_sla_state_and_the_breaches_are_reported() {
    let (api, _) = mock_bot_api().await;
    let s = start_with_sla(api, "{ first_response_secs = 300, warning_percent = 80 }").await;
    let opened = s.clock.now();
    s.telegram(1, 911, "hello").await;
    let lines = s.get("sam", "/api/board/lines").await;
    let line = lines[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/board/lines/{line}");

    let board = s.get("sam", &path).await;
    let sla = &board["sessions"][0]["sla_state"];
    assert_eq!(sla["state"], json!("ok"), "{board}");
    assert_eq!(sla["target"], json!("first_response"), "{board}");
    let due: chrono::DateTime<chrono::Utc> = sla["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, opened + chrono::Duration::seconds(300), "{board}");
    // The session carries its clocks too.
    let clocks = &board["sessions"][0]["session"]["sla"]["first_response"];
    assert!(clocks["warn_at"].is_string(), "{board}");

    // Past the warning, then past the due time. The server's timer worker
    // may fire a timer first: read until the board shows it.
    let state_at = |secs: i64, want: &'static str| {
        let s = &s;
        let path = &path;
        async move {
            *s.clock.0.lock().unwrap() = opened + chrono::Duration::seconds(secs);
            let mut board = Value::Null;
            for _ in 0..200 {
                s.server.hub.run_due(s.clock.now(), 100).await.unwrap();
                board = s.get("sam", path).await;
                if board["sessions"][0]["sla_state"]["state"] == json!(want) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            board
        }
    };
    let board = state_at(241, "warning").await;
    assert_eq!(
        board["sessions"][0]["sla_state"]["state"],
        json!("warning"),
        "{board}"
    );
    let board = state_at(301, "breached").await;
    assert_eq!(
        board["sessions"][0]["sla_state"],
        json!({"state": "breached", "target": "first_response", "due_at": sla["due_at"]}),
        "{board}"
    );

    // The report of the line's breaches: supervisors only.
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = format!(
        "/api/board/lines/{line}/sla-breaches?from={}&until={}",
        stamp(opened),
        stamp(opened + chrono::Duration::hours(1))
    );
    let breaches = s.get("sam", &report).await;
    assert_eq!(breaches.as_array().map(Vec::len), Some(1), "{breaches}");
    assert_eq!(breaches[0]["target"], json!("first_response"));
    assert_eq!(
        breaches[0]["session"],
        board["sessions"][0]["session"]["id"]
    );
    let (status, body) = s.call("olga", reqwest::Method::GET, &report, None).await;
    assert_eq!(status, 403, "{body}");
    let backwards = format!(
        "/api/board/lines/{line}/sla-breaches?from={}&until={}",
        stamp(opened + chrono::Duration::hours(1)),
        stamp(opened)
    );
    let (status, body) = s.call("sam", reqwest::Method::GET, &backwards, None).await;
    assert_eq!(status, 422, "{body}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_with_files_is_stored_within_the_limits_and_refused_beyond_them() {
    let (api, bot) = mock_bot_api().await;
    let s = start(api).await;
    let id = taken_by(&s, "olga").await;
    let path = format!("/api/sessions/{id}/reply-with-files");
    // "hello\n" in base64.
    let file = json!({"name": "a.txt", "mime_type": "text/plain", "data": "aGVsbG8K"});

    let (status, body) = s
        .post("oleg", &path, json!({"text": "", "files": [file]}))
        .await;
    assert_eq!(status, 403, "not oleg's session: {body}");
    let (status, body) = s
        .post(
            "olga",
            &path,
            json!({"files": [{"name": "a", "mime_type": "text/plain", "data": "***"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let eleven: Vec<Value> = (0..11).map(|_| file.clone()).collect();
    let (status, body) = s.post("olga", &path, json!({"files": eleven})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    let (status, body) = s
        .post("olga", &path, json!({"text": "", "files": []}))
        .await;
    assert_eq!(status, 422, "an empty reply: {body}");
    let big = "A".repeat(1024 * 1024 + 4);
    let (status, _) = s
        .post(
            "olga",
            &path,
            json!({"files": [{"name": "big", "mime_type": "text/plain", "data": big}]}),
        )
        .await;
    assert_eq!(status, 413);
    let history = s.get("olga", &format!("/api/sessions/{id}/messages")).await;
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "only the client's message"
    );

    let (status, message) = s
        .post("olga", &path, json!({"text": "see file", "files": [file]}))
        .await;
    assert_eq!(status, 200, "{message}");
    let attachment = &message["body"]["attachments"][0];
    assert_eq!(attachment["name"], json!("a.txt"));
    assert_eq!(attachment["size"], json!(6));
    assert!(
        attachment["blob"].as_str().unwrap().starts_with("uploads/"),
        "{attachment}"
    );
    let calls = bot.wait_for(1).await;
    assert!(calls[0].0.ends_with("/sendDocument"), "{:?}", calls[0].0);
    assert!(calls[0].2.contains("hello"), "the file's bytes went up");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lines_operators_are_listed_for_a_transfer() {
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    let id = taken_by(&s, "olga").await;
    let path = format!("/api/sessions/{id}/operators");
    for who in ["olga", "oleg", "sam"] {
        let page = s.get(who, &path).await;
        assert_eq!(
            page["items"],
            json!([
                {"user": "oleg", "name": "oleg", "availability": "present", "assigned": false},
                {"user": "olga", "name": "olga", "availability": "present", "assigned": true},
            ]),
            "{who}"
        );
    }
    // A session that does not exist, and a malformed id.
    let missing = "/api/sessions/00000000-0000-7000-8000-000000000001/operators";
    let (status, body) = s.call("olga", reqwest::Method::GET, missing, None).await;
    assert_eq!(
        (status.as_u16(), body["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = s
        .call(
            "olga",
            reqwest::Method::GET,
            "/api/sessions/x/operators",
            None,
        )
        .await;
    assert_eq!(status, 400);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sets_a_priority_on_the_board_and_the_queue_serves_it_first() {
    let (api, _) = mock_bot_api().await;
    let s = start_with_rule(api, r#"{ type = "least_loaded", capacity = 1 }"#).await;
    for (i, chat) in [(1, 911), (2, 912), (3, 913), (4, 914)] {
        s.telegram(i, chat, "hello").await;
    }
    let lines = s.get("sam", "/api/board/lines").await;
    let line = lines[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/board/lines/{line}");
    let board = s.get("sam", &path).await;
    assert_eq!(board["priority_aging_secs"], Value::Null, "{board}");
    let sessions = board["sessions"].as_array().unwrap();
    let queued: Vec<String> = sessions
        .iter()
        .filter(|o| o["session"]["status"]["state"] == "queued")
        .map(|o| o["session"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(queued.len(), 2, "{board}");
    assert!(
        sessions
            .iter()
            .all(|o| o["session"]["priority"] == json!("normal")),
        "{board}"
    );
    let (older, newer) = (&queued[0], &queued[1]);

    // Supervisors only; a priority the server knows; with the CSRF token.
    let set = format!("/api/sessions/{newer}/priority");
    let (status, body) = s.post("olga", &set, json!({"priority": "urgent"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("sam", &set, json!({"priority": "asap"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["field"], json!("priority"), "{body}");
    let (cookie, _) = s.sign_in("sam").await;
    let r = s
        .http
        .post(format!("{}{set}", s.base))
        .header("cookie", cookie)
        .json(&json!({"priority": "urgent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    let board = s.get("sam", &path).await;
    assert!(
        board["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["session"]["priority"] == json!("normal")),
        "nothing changed: {board}"
    );

    let (status, body) = s.post("sam", &set, json!({"priority": "urgent"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["priority"], json!("urgent"));
    let board = s.get("sam", &path).await;
    let shown = board["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["session"]["id"] == json!(newer))
        .unwrap();
    assert_eq!(shown["session"]["priority"], json!("urgent"), "{board}");

    // Olga's slot frees: the urgent session goes to her, the older waits.
    let olgas = ids(&s.get("olga", "/api/sessions/assigned").await);
    let (status, body) = s
        .post(
            "olga",
            &format!("/api/sessions/{}/close", olgas[0]),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let olgas = ids(&s.get("olga", "/api/sessions/assigned").await);
    assert_eq!(olgas, vec![newer.clone()]);
    let board = s.get("sam", &path).await;
    let waiting: Vec<&str> = board["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["session"]["status"]["state"] == "queued")
        .map(|o| o["session"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, vec![older.as_str()]);
    s.server.shutdown().await;
}
