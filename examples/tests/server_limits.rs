//! The example server's HTTP limits over real TCP on 127.0.0.1: slow
//! request heads, stalled bodies and idle connections are closed within
//! their timeouts, connections over the cap are refused, and API bodies
//! over the limit get 413. Timeouts are configured short (200-300 ms) so
//! the tests wait no longer than the timers themselves.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app, Server, ServerConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to act before failing, far above
/// every configured timeout: a hang fails the test instead of stalling it.
const PATIENCE: Duration = Duration::from_secs(20);

async fn start(http: &str) -> (SocketAddr, Server) {
    let config = ServerConfig::from_toml(&format!(
        r#"
admin = "root"
database = ":memory:"
[directory]
admins = ["root"]
[auth]
trust_user_header = true
[http]
{http}
"#
    ))
    .unwrap();
    let (app, server) = build_app(&config, &BTreeMap::<String, String>::new())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        std::future::pending(),
    ));
    (addr, server)
}

/// Reads until the server closes the connection; everything it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one response head and its `content-length` body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {:?}",
                String::from_utf8_lossy(&all)
            );
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if all.len() >= end + 4 + len {
                    return;
                }
            }
        }
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

/// The value `/metrics` shows for `series` (a name with its labels).
async fn metric(addr: SocketAddr, series: &str) -> Option<u64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

const ME: &[u8] = b"GET /api/auth/me HTTP/1.1\r\nhost: test\r\nx-user: olga\r\n\r\n";

#[tokio::test]
async fn a_slow_request_head_is_cut_at_the_header_timeout() {
    let (addr, server) = start("header_read_timeout_ms = 200").await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/auth/me HTTP/1.1\r\nhost: te")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut slow).await, "");

    // A connection that sends nothing at all is cut too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    assert_eq!(
        metric(addr, r#"chatlines_http_timeouts_total{kind="header"}"#).await,
        Some(2)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_the_connection_closed() {
    let (addr, server) = start("body_timeout_ms = 200").await;
    for path in [
        "/api/auth/sign-in",
        "/api/sessions/00000000-0000-0000-0000-000000000001/reply",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\nx-user: olga\r\ncontent-type: application/json\r\n\
             content-length: 100\r\n\r\n{{\"user\": \"ol"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
    }
    assert_eq!(
        metric(addr, r#"chatlines_http_timeouts_total{kind="body"}"#).await,
        Some(2)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_at_the_keep_alive_timeout() {
    let (addr, server) = start("keep_alive_timeout_ms = 300").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(ME).await.unwrap();
    let first = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert_eq!(read_to_close(&mut stream).await, "");
    assert_eq!(
        metric(addr, r#"chatlines_http_timeouts_total{kind="keep_alive"}"#).await,
        Some(1)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_header_timeout_does_not_cut_an_idle_connection_that_may_stay() {
    let (addr, server) = start("header_read_timeout_ms = 200\nkeep_alive_timeout_ms = 30000").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(ME).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for twice the header timeout: the connection is still served.
    tokio::time::sleep(Duration::from_millis(400)).await;
    stream.write_all(ME).await.unwrap();
    let second = read_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_with_503() {
    let (addr, server) = start("max_connections = 1").await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(ME).await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));

    let mut second = TcpStream::connect(addr).await.unwrap();
    let refused = read_to_close(&mut second).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");

    // Once the first is gone, a new connection is served.
    drop(first);
    let mut served = false;
    for _ in 0..200 {
        let mut next = TcpStream::connect(addr).await.unwrap();
        next.write_all(ME).await.unwrap();
        if read_response(&mut next).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "the freed connection slot was never reused");
    // At least the one above (a retry in the loop may have raced too).
    let refused = metric(addr, "chatlines_http_connections_refused_total").await;
    assert!(refused >= Some(1), "{refused:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn api_bodies_over_the_limit_get_413() {
    let (addr, server) = start("max_api_body_bytes = 1024").await;
    let http = reqwest::Client::new();
    let big = serde_json::json!({ "text": "x".repeat(4096) });
    let small = serde_json::json!({ "text": "x".repeat(100) });
    let url = format!("http://{addr}/api/sessions/00000000-0000-0000-0000-000000000001/reply");
    let status = |body: serde_json::Value| {
        let r = http.post(&url).header("x-user", "olga").json(&body).send();
        async move { r.await.unwrap().status().as_u16() }
    };
    assert_eq!(status(big.clone()).await, 413);
    // Under the limit the body is read and the hub answers (no session).
    assert_eq!(status(small).await, 404);
    let sign_in = http
        .post(format!("http://{addr}/api/auth/sign-in"))
        .json(&serde_json::json!({ "user": "olga", "password": "x".repeat(4096) }))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 413);
    server.shutdown().await;
}
