//! The axum router over real HTTP on 127.0.0.1.
#![cfg(all(feature = "axum", feature = "telegram"))]

mod common;

use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger, SECRET_HEADER};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use common::world::World;
use std::sync::Arc;

#[tokio::test]
async fn router_serves_the_endpoint() {
    let w = World::new("telegram").await;
    let bot = TelegramMessenger::new(TelegramConfig::new("1:T", "hook-secret")).expect("config");
    let endpoint = WebhookEndpoint::new(
        w.hub.clone(),
        Messengers::new().with(w.source.id, Arc::new(bot)),
    )
    .with_body_limit(4096);
    let app = chatlines_connectors::axum::router(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/webhooks/{}", w.source.id);
    let client = reqwest::Client::new();
    let body = r#"{"update_id":1,"message":{"message_id":3,"from":{"id":42,"first_name":"Ann"},"chat":{"id":42},"text":"via http"}}"#;

    let r = client
        .post(&url)
        .header(SECRET_HEADER, "hook-secret")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let stored = w.messages_of("42").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body.text, "via http");

    let r = client
        .post(&url)
        .header(SECRET_HEADER, "wrong")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(&url)
        .header(SECRET_HEADER, "hook-secret")
        .body(vec![b' '; 5000])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    // A body sent in chunks declares no length: it is refused once it
    // passes the limit.
    assert_eq!(
        chunked_post(addr, &w.source.id.to_string(), 5000).await,
        413
    );
    assert_eq!(
        chunked_post(addr, &w.source.id.to_string(), 4000).await,
        400
    );
    let r = client.put(&url).body(body).send().await.expect("put");
    assert_eq!(r.status().as_u16(), 405);
    let r = client
        .post(format!("http://{addr}/webhooks/not-a-uuid"))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(w.messages_of("42").await.len(), 1);
    server.abort();
}

/// Posts `len` spaces as one chunk of a chunked body (with the right
/// secret) on a fresh connection; returns the answer's status.
async fn chunked_post(addr: std::net::SocketAddr, source: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /webhooks/{source} HTTP/1.1\r\nhost: {addr}\r\n{SECRET_HEADER}: hook-secret\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{len:x}\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&vec![b' '; len]).await.expect("write");
    // The server may answer and close before the last chunk is sent.
    let _ = stream.write_all(b"\r\n0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}
