//! Bounded waits on PostgreSQL: a frozen server (a TCP proxy on 127.0.0.1
//! in front of the real one stops forwarding) makes calls fail with the
//! retryable `StoreError::Unavailable` instead of hanging, the store
//! recovers once the server answers again, and errors carry the server's
//! own message.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::StoreError;
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use chatlines_store::testkit::fixtures::new_line;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Far above every configured bound: a hang fails the test instead of
/// stalling the run.
const PATIENCE: Duration = Duration::from_secs(30);

/// A TCP proxy to PostgreSQL that can be frozen: while frozen it accepts
/// and reads but forwards nothing, as a stopped server whose kernel still
/// acknowledges packets.
struct Proxy {
    port: u16,
    frozen: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (frozen, _) = watch::channel(false);
        let gate = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, gate.subscribe()));
                tokio::spawn(pump(sr, cw, gate.subscribe()));
            }
        });
        Self { port, frozen }
    }

    fn freeze(&self, on: bool) {
        self.frozen.send_replace(on);
    }
}

/// Copies `from` to `to`, holding every chunk while frozen.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The URL with host and port replaced by the proxy's.
fn through(url: &str, proxy: &Proxy) -> String {
    let config = tokio_postgres::Config::from_str(url).expect("a valid CHATLINES_PG_URL");
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@127.0.0.1:{}/{db}", proxy.port)
}

/// The real server's address named by `url`.
fn target(url: &str) -> (String, u16) {
    let config = tokio_postgres::Config::from_str(url).expect("a valid CHATLINES_PG_URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

fn short_timeouts(config: PostgresConfig) -> PostgresConfig {
    config
        .pool_size(2)
        .pool_wait_timeout(Duration::from_millis(1000))
        .pool_create_timeout(Duration::from_millis(3000))
        .pool_recycle_timeout(Duration::from_millis(1000))
        .connect_timeout(Duration::from_millis(1000))
        .statement_timeout(Some(Duration::from_millis(1500)))
        .with_answer_timeout(Duration::from_millis(2000))
}

fn assert_unavailable<T: std::fmt::Debug>(
    outcome: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    what: &str,
) -> String {
    match outcome {
        Err(_) => panic!("{what}: the call hung past {PATIENCE:?}"),
        Ok(Ok(v)) => panic!("{what}: a frozen server answered {v:?}"),
        Ok(Err(e @ StoreError::Unavailable(_))) => {
            assert!(e.is_retryable());
            e.to_string()
        }
        Ok(Err(e)) => panic!("{what}: expected Unavailable, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_makes_calls_fail_retryably_and_the_store_recovers() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "a_frozen_database_makes_calls_fail_retryably_and_the_store_recovers",
        );
    };
    let proxy = Proxy::start(target(&url)).await;
    let proxied = through(&url, &proxy);
    // Migrate and write directly (with the default timeouts, which a busy
    // test machine needs), then work through the proxy.
    let schema = postgres_support::fresh_schema();
    let direct = postgres_support::store_in(&url, &schema, 1).await;
    let line = new_line(&direct, 0).await;
    drop(direct);
    let store = Arc::new(
        PostgresStore::connect(short_timeouts(PostgresConfig::new(&proxied)).schema(&schema))
            .await
            .expect("connect through the proxy"),
    );
    assert!(store
        .line(line.id)
        .await
        .expect("read through the proxy")
        .is_some());

    proxy.freeze(true);
    // One call on a pooled connection the server stopped answering.
    let first = tokio::time::timeout(PATIENCE, store.line(line.id)).await;
    let message = assert_unavailable(first, "a call on a frozen server");
    assert!(message.contains("PostgreSQL"), "{message}");
    // More calls than pooled connections: each waits for a connection or
    // opens one, and every one of them ends.
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.lines().await })
        })
        .collect();
    for call in calls {
        let outcome = tokio::time::timeout(PATIENCE, call).await;
        let outcome = outcome.map(|joined| joined.expect("the call task"));
        assert_unavailable(outcome, "concurrent calls on a frozen server");
    }

    proxy.freeze(false);
    let mut recovered = None;
    for _ in 0..50 {
        match store.line(line.id).await {
            Ok(found) => {
                recovered = Some(found);
                break;
            }
            Err(e) => {
                assert!(e.is_retryable(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(
        recovered.flatten().map(|l| l.id),
        Some(line.id),
        "the store did not recover once the server answered again"
    );
    drop(store);
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_fails_retryably_with_the_servers_message() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "a_statement_over_the_timeout_fails_retryably_with_the_servers_message",
        );
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_configured(
        PostgresConfig::new(&url)
            .schema(&schema)
            .pool_size(2)
            .statement_timeout(Some(Duration::from_millis(300))),
    )
    .await;
    let line = new_line(&store, 0).await;

    // Another session holds the table: the store's read waits on the lock
    // until the statement timeout cancels it.
    let mut holder = postgres_support::raw(&url).await;
    let tx = holder.transaction().await.expect("begin");
    tx.batch_execute(&format!(
        "LOCK TABLE {schema}.lines IN ACCESS EXCLUSIVE MODE"
    ))
    .await
    .expect("lock the lines table");
    let outcome = tokio::time::timeout(PATIENCE, store.line(line.id)).await;
    let message = assert_unavailable(outcome, "a read blocked past the statement timeout");
    assert!(
        message.contains("57014") && message.contains("statement timeout"),
        "the server's code and message are kept: {message}"
    );
    tx.rollback().await.expect("release the lock");

    assert!(store
        .line(line.id)
        .await
        .expect("read after the lock")
        .is_some());
    drop(store);
    postgres_support::drop_schema(&url, &schema).await;
}
