//! Browser scenario 3 in Debian's Chromium (`examples/browser/widget.mjs`,
//! driven by playwright-core): a visitor on `/demo` writes through the web
//! chat widget, the operator takes the session and answers through the
//! API, and the visitor sees the answer live. The server runs in-process
//! on 127.0.0.1 over a SQLite file; nothing is faked but the host's
//! directory.
//!
//! Skipped (with `skipped: …`) when `/usr/bin/chromium` or
//! `examples/browser/node_modules` is missing, unless
//! `CHATLINES_REQUIRE_BROWSER=1`, which makes that a failure.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chatlines_core::{OutboxStatus, PageRequest, UserId};
use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app, ServerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CHROMIUM: &str = "/usr/bin/chromium";
const VISITOR_TEXT: &str = "Do you ship to Lisbon?";
const REPLY_TEXT: &str = "Yes, within three days.";

/// The browser package, or why the scenario cannot run here.
fn browser_package() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !Path::new(CHROMIUM).exists() {
        return Err(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    if !dir.join("node_modules").join("playwright-core").exists() {
        return Err(
            "examples/browser/node_modules is missing (npm ci --prefix examples/browser)"
                .to_owned(),
        );
    }
    Ok(dir)
}

fn required() -> bool {
    std::env::var("CHATLINES_REQUIRE_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_the_demo_page_sees_the_operators_answer_live() {
    let dir = match browser_package() {
        Ok(d) => d,
        Err(why) if !required() => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipped: {why}");
            }
            return;
        }
        Err(why) => panic!("CHATLINES_REQUIRE_BROWSER=1 but {why}"),
    };
    let tmp = tempfile::tempdir().unwrap();
    let hash = password::hash_with("pw-olga", 8, 1).unwrap();
    let toml = format!(
        r#"
admin = "root"
database = {db:?}
blobs = {blobs:?}
drain_interval_ms = 50
# The reply goes out because the API wakes the dispatcher, not by polling.
dispatch_poll_ms = 600000

[directory]
admins = ["root"]
[directory.groups]
support = ["olga"]
[directory.names]
olga = "Olga Operator"

[[lines]]
name = "Support"
operators = "support"

[[sources]]
name = "shop-widget"
display_name = "Shop widget"
line = "Support"
connector = {{ kind = "webchat", secret_env = "WIDGET_SECRET" }}

[auth.passwords]
olga = {hash:?}
"#,
        db = tmp.path().join("server.db").display().to_string(),
        blobs = tmp.path().join("blobs").display().to_string(),
    );
    let config = ServerConfig::from_toml(&toml).unwrap();
    let secrets: BTreeMap<String, String> =
        [("WIDGET_SECRET".to_owned(), "widget-secret-b".to_owned())].into();
    let (app, server) = build_app(&config, &secrets).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        std::future::pending(),
    ));

    let out = tokio::process::Command::new("node")
        .arg(dir.join("widget.mjs"))
        .args([base.as_str(), "olga", "pw-olga", VISITOR_TEXT, REPLY_TEXT])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the widget scenario failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    // The line hides operator names (the default): the visitor saw its name.
    assert_eq!(summary["author"], "Support");

    // The store agrees: the session is olga's, with the visitor's message
    // and the reply, which the dispatcher delivered to the widget.
    let olga = UserId::new("olga");
    let session: chatlines_core::SessionId =
        uuid::Uuid::parse_str(summary["session"].as_str().unwrap())
            .unwrap()
            .into();
    let messages = server
        .hub
        .messages(&olga, session, PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let texts: Vec<&str> = messages.iter().map(|m| m.body.text.as_str()).collect();
    assert_eq!(texts, [VISITOR_TEXT, REPLY_TEXT]);
    assert_eq!(
        server.hub.session(&olga, session).await.unwrap().operator(),
        Some(&olga)
    );
    // The widget showed the reply when the dispatcher's send woke it; the
    // outcome is recorded right after.
    let mut health = server.dispatcher_health().expect("dispatcher running");
    health.wait_for(|h| h.sent >= 1).await.unwrap();
    let entry = server
        .hub
        .delivery(&olga, messages[1].id)
        .await
        .unwrap()
        .expect("the reply has an outbox entry");
    assert!(
        matches!(entry.status, OutboxStatus::Sent { .. }),
        "{entry:?}"
    );

    // The visitor's conversation, as the widget reads it, is theirs alone.
    let source = server
        .sources
        .iter()
        .find(|s| s.kind == "webchat")
        .unwrap()
        .id;
    let visitor = server
        .hub
        .external_conversation(source, "anon:nobody", PageRequest::first(10))
        .await
        .unwrap();
    assert!(visitor.items.is_empty(), "another visitor sees nothing");
    server.shutdown().await;
}
