//! Shared setup of the PostgreSQL tests: each test gets its own schema.
#![allow(dead_code)] // each test file uses a part

use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

/// The server to test against, from `CHATLINES_PG_URL`; `None` skips.
pub fn url() -> Option<String> {
    std::env::var("CHATLINES_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Says that a test did not run, or fails it when `CHATLINES_REQUIRE_PG`
/// is set (as CI does: there a skipped PostgreSQL test is a broken setup).
#[allow(clippy::print_stderr)]
pub fn skipped(name: &str) {
    let required = std::env::var("CHATLINES_REQUIRE_PG").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{name}: CHATLINES_PG_URL is not set but CHATLINES_REQUIRE_PG is"
    );
    eprintln!("skipped {name}: CHATLINES_PG_URL is not set");
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A new schema name, `chatlines_test_<unix seconds>_<random>`.
pub fn fresh_schema() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("chatlines_test_{}_{}", now_secs(), &random[..12])
}

/// A store in a new schema (pool of `pool` connections).
pub async fn store_in(url: &str, schema: &str, pool: usize) -> PostgresStore {
    store_configured(PostgresConfig::new(url).schema(schema).pool_size(pool)).await
}

/// A store with exactly these settings.
pub async fn store_configured(config: PostgresConfig) -> PostgresStore {
    sweep_stale(&config.url).await;
    PostgresStore::connect(config)
        .await
        .expect("connect to PostgreSQL and migrate a new schema")
}

/// A raw connection (for checks the store API does not offer).
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// Drops a test schema.
pub async fn drop_schema(url: &str, schema: &str) {
    raw(url)
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop the test schema");
}

/// Once per test process: drops test schemas left behind by runs that
/// ended more than an hour ago (the conformance macro has no teardown).
async fn sweep_stale(url: &str) {
    static SWEEP: Once = Once::new();
    let mut run = false;
    SWEEP.call_once(|| run = true);
    if !run {
        return;
    }
    let client = raw(url).await;
    let Ok(rows) = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'chatlines\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let cutoff = now_secs().saturating_sub(3600);
    for row in rows {
        let name: String = row.get(0);
        let stamp = name
            .trim_start_matches("chatlines_test_")
            .split('_')
            .next()
            .and_then(|s| s.parse::<u64>().ok());
        if stamp.is_some_and(|s| s < cutoff) {
            // Another process may be dropping it too; ignore failures.
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}
