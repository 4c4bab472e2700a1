//! The operator console in a real headless Chromium (Debian's package,
//! driven by the `playwright-core` scenarios in `examples/browser/`),
//! against the example server on 127.0.0.1 with a local mock of the
//! Telegram Bot API.
//!
//! Each test starts the server in-process, runs `node
//! examples/browser/<scenario>.mjs` with its inputs in the environment,
//! answers the scenario's requests (lines `@@ what` on its stdout, e.g.
//! moving the server's clock), asserts its exit status, then asserts on
//! the server's and the mock's state. Without `/usr/bin/chromium` or
//! `examples/browser/node_modules` a test prints `skipped: …` and passes,
//! unless `CHATLINES_REQUIRE_BROWSER=1`.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]
// The scenarios' output and the skip notice go to the test's output.
#![allow(clippy::print_stdout)]

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use support::{
    ids, mock_bot_api, password_of, start, start_with_rule, Running, TG_SECRET, TG_TOKEN,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A scenario that takes longer has hung.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

/// Where the scenarios are.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether the browser tests can run here; `false` (after printing
/// `skipped: …`) when they cannot and are not required.
fn browser_available() -> bool {
    let chromium = Path::new("/usr/bin/chromium");
    let modules = browser_dir().join("node_modules").join("playwright-core");
    let missing = if !chromium.exists() {
        Some("/usr/bin/chromium is missing (apt-get install chromium)".to_owned())
    } else if !modules.exists() {
        Some(format!(
            "{} is missing (npm ci --prefix examples/browser)",
            modules.display()
        ))
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("CHATLINES_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("CHATLINES_REQUIRE_BROWSER=1 but {why}")
        }
        Some(why) => {
            println!("skipped: {why}");
            false
        }
    }
}

/// Runs browser scenarios against a [`Running`] server.
trait Scenarios {
    /// Runs `examples/browser/<name>.mjs` with `env`, answering its
    /// requests; fails the test unless it exits 0.
    async fn scenario(&self, name: &str, env: &[(&str, &str)]);
    /// Does what a scenario asked for.
    fn answer(&self, what: &str) -> &'static str;
}

impl Scenarios for Running {
    async fn scenario(&self, name: &str, env: &[(&str, &str)]) {
        let mut child = tokio::process::Command::new("node")
            .arg(browser_dir().join(format!("{name}.mjs")))
            .env("CHATLINES_BASE", &self.base)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot run node");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let run = async {
            let mut printed = Vec::new();
            while let Some(line) = stdout.next_line().await.unwrap() {
                match line.strip_prefix("@@ ") {
                    Some(what) => {
                        let answer = self.answer(what);
                        stdin
                            .write_all(format!("{answer}\n").as_bytes())
                            .await
                            .unwrap();
                    }
                    None => printed.push(line),
                }
            }
            let mut errors = String::new();
            stderr.read_to_string(&mut errors).await.unwrap();
            (child.wait().await.unwrap(), printed, errors)
        };
        let (status, printed, errors) = tokio::time::timeout(SCENARIO_LIMIT, run)
            .await
            .unwrap_or_else(|_| panic!("scenario {name} did not finish"));
        for line in &printed {
            println!("{line}");
        }
        assert!(
            status.success(),
            "scenario {name} failed ({status}):\n{}\n{errors}",
            printed.join("\n")
        );
    }

    /// Does what a scenario asked for.
    fn answer(&self, what: &str) -> &'static str {
        match what {
            "expire-sessions" => {
                self.expire_sessions();
                "ok"
            }
            other => panic!("a scenario asked for {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_telegram_session_arrive_live_takes_it_and_replies() {
    if !browser_available() {
        return;
    }
    let (api, bot) = mock_bot_api().await;
    let s = start(api).await;
    let olga = password_of("olga");
    s.scenario(
        "take-and-reply",
        &[
            ("CHATLINES_USER", "olga"),
            ("CHATLINES_PASSWORD", &olga),
            ("CHATLINES_WEBHOOK", &s.webhook),
            ("CHATLINES_TG_SECRET", TG_SECRET),
            ("CHATLINES_CLIENT_TEXT", "Hello, my order is late"),
            ("CHATLINES_REPLY_TEXT", "Sorry! It ships today."),
        ],
    )
    .await;

    let calls = bot.wait_for(2).await;
    assert_eq!(calls[0].0, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(calls[0].1["text"], json!("Sorry! It ships today."));
    assert_eq!(calls[0].1["chat_id"].to_string().trim_matches('"'), "4242");
    // The file went up as a document (multipart, with its caption).
    assert_eq!(calls[1].0, format!("/bot{TG_TOKEN}/sendDocument"));
    assert!(
        calls[1].2.contains("order 17: paid") && calls[1].2.contains("Your receipt"),
        "{}",
        calls[1].2
    );
    let mine = s.get("olga", "/api/sessions/assigned").await;
    assert_eq!(ids(&mine).len(), 1, "{mine}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_take_the_same_session_one_wins_the_other_sees_already_taken() {
    if !browser_available() {
        return;
    }
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    s.telegram(1, 501, "anyone there?").await;
    let offered = s.offered("olga").await;
    assert_eq!(offered.len(), 1);
    let (olga, oleg) = (password_of("olga"), password_of("oleg"));
    s.scenario(
        "take-race",
        &[
            ("CHATLINES_USER_A", "olga"),
            ("CHATLINES_PASSWORD_A", &olga),
            ("CHATLINES_USER_B", "oleg"),
            ("CHATLINES_PASSWORD_B", &oleg),
            ("CHATLINES_SESSION", &offered[0]),
        ],
    )
    .await;

    // Exactly one of them holds it.
    let held: Vec<usize> = [
        ids(&s.get("olga", "/api/sessions/assigned").await).len(),
        ids(&s.get("oleg", "/api/sessions/assigned").await).len(),
    ]
    .into();
    assert_eq!(held.iter().sum::<usize>(), 1, "{held:?}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_missing_csrf_another_operators_session_and_expiry_are_refused() {
    if !browser_available() {
        return;
    }
    let (api, bot) = mock_bot_api().await;
    let s = start(api).await;
    s.telegram(1, 601, "first client").await;
    s.telegram(2, 602, "second client").await;
    let offered = s.offered("olga").await;
    assert_eq!(offered.len(), 2);
    // oleg takes the second one.
    let others = offered[1].clone();
    let (status, body) = s
        .call(
            "oleg",
            reqwest::Method::POST,
            &format!("/api/sessions/{others}/take"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = s
        .get("oleg", &format!("/api/sessions/{others}/messages"))
        .await;

    let olga = password_of("olga");
    s.scenario(
        "refusals",
        &[
            ("CHATLINES_USER", "olga"),
            ("CHATLINES_PASSWORD", &olga),
            ("CHATLINES_OFFERED", &offered[0]),
            ("CHATLINES_OTHERS", &others),
        ],
    )
    .await;

    // Nothing changed: the first is still offered, the second still
    // oleg's with the same history, and nothing went to the client.
    assert_eq!(s.offered("oleg").await, vec![offered[0].clone()]);
    let session = s.get("oleg", &format!("/api/sessions/{others}")).await;
    assert_eq!(
        session["status"],
        json!({"state": "assigned", "operator": "oleg"})
    );
    let after = s
        .get("oleg", &format!("/api/sessions/{others}/messages"))
        .await;
    assert_eq!(after, before);
    assert!(bot.calls().is_empty(), "{:?}", bot.calls());
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_links_the_client_registers_a_request_and_transfers_the_session() {
    if !browser_available() {
        return;
    }
    let (api, _) = mock_bot_api().await;
    let s = start(api).await;
    s.telegram(1, 801, "I need a refund").await;
    let offered = s.offered("olga").await;
    let (olga, oleg) = (password_of("olga"), password_of("oleg"));
    s.scenario(
        "desk",
        &[
            ("CHATLINES_USER", "olga"),
            ("CHATLINES_PASSWORD", &olga),
            ("CHATLINES_TO", "oleg"),
            ("CHATLINES_TO_PASSWORD", &oleg),
            ("CHATLINES_SESSION", &offered[0]),
            ("CHATLINES_COMPANY", "Acme Ltd"),
            ("CHATLINES_ORDER", "R-1001"),
        ],
    )
    .await;

    // The server has what the page showed: the link, one request, and
    // the session back in the queue (offered).
    let info = s
        .get("oleg", &format!("/api/sessions/{}/client", offered[0]))
        .await;
    assert_eq!(info["account"]["linked_by"], json!("olga"), "{info}");
    assert_eq!(info["requests"].as_array().map(Vec::len), Some(1), "{info}");
    assert_eq!(info["session"]["status"], json!({"state": "offered"}));
    s.server.shutdown().await;
}

/// A line where each operator holds at most one session: two clients are
/// assigned to olga and oleg, the third waits in the queue; its id.
async fn a_queued_session(s: &Running) -> String {
    for (i, chat) in [(1, 901), (2, 902), (3, 903)] {
        s.telegram(i, chat, "hello").await;
    }
    let board = s.get("sam", "/api/board/lines").await;
    let line = board[0]["id"].as_str().unwrap().to_owned();
    let board = s.get("sam", &format!("/api/board/lines/{line}")).await;
    let queued: Vec<&Value> = board["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["session"]["status"]["state"] == "queued")
        .collect();
    assert_eq!(queued.len(), 1, "{board}");
    queued[0]["session"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_assigns_a_queued_session_and_the_operator_sees_it_live() {
    if !browser_available() {
        return;
    }
    let (api, _) = mock_bot_api().await;
    let s = start_with_rule(api, r#"{ type = "least_loaded", capacity = 1 }"#).await;
    let queued = a_queued_session(&s).await;
    assert_eq!(ids(&s.get("olga", "/api/sessions/assigned").await).len(), 1);
    let (sam, olga) = (password_of("sam"), password_of("olga"));
    s.scenario(
        "board",
        &[
            ("CHATLINES_SUPERVISOR", "sam"),
            ("CHATLINES_SUPERVISOR_PASSWORD", &sam),
            ("CHATLINES_OPERATOR", "olga"),
            ("CHATLINES_OPERATOR_PASSWORD", &olga),
            ("CHATLINES_SESSION", &queued),
        ],
    )
    .await;

    let mine = ids(&s.get("olga", "/api/sessions/assigned").await);
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.contains(&queued), "{mine:?}");
    s.server.shutdown().await;
}
