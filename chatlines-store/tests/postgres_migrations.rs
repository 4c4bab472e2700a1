//! Schema setup: concurrent first starts, reopening, and refusing a schema
//! written by a newer chatlines.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::StoreError;
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use chatlines_store::testkit::fixtures::{
    assigned_session, at, must, new_line, new_session, reply,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("instances_starting_together_migrate_once");
    };
    let schema = postgres_support::fresh_schema();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let config = PostgresConfig::new(url.clone())
                .schema(schema.clone())
                .pool_size(2);
            tokio::spawn(PostgresStore::connect(config))
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.expect("task").expect("every instance starts"));
    }
    let client = postgres_support::raw(&url).await;
    let rows = client
        .query(
            &format!("SELECT version FROM {schema}.chatlines_migrations ORDER BY version"),
            &[],
        )
        .await
        .expect("read migrations");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    // Each migration applied exactly once, in order (version numbers may
    // skip: each is the number of its file).
    assert_eq!(versions.first(), Some(&1), "{versions:?}");
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "applied once each, in order: {versions:?}"
    );
    assert_eq!(
        versions.last(),
        Some(&PostgresStore::schema_version()),
        "{versions:?}"
    );
    // They share one store.
    let line = new_line(&stores[0], 0).await;
    assert_eq!(must(stores[5].line(line.id).await, "line"), Some(line));
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn reopening_keeps_the_data() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("reopening_keeps_the_data");
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_in(&url, &schema, 2).await;
    let line = new_line(&store, 0).await;
    let session = new_session(&store, line.id, 1).await;
    drop(store);
    let store = postgres_support::store_in(&url, &schema, 2).await;
    assert_eq!(must(store.line(line.id).await, "line"), Some(line));
    assert_eq!(
        must(store.session(session.id).await, "session"),
        Some(session)
    );
    postgres_support::drop_schema(&url, &schema).await;
}

/// Migration 0018 on a schema holding a session: the board still finds
/// the client's last message behind two operator messages.
#[tokio::test]
async fn the_outbound_message_index_serves_stored_sessions() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("the_outbound_message_index_serves_stored_sessions");
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_in(&url, &schema, 2).await;
    let line = new_line(&store, 0).await;
    let session = assigned_session(&store, line.id, "ann", 10).await;
    for (text, t) in [("hi", 20), ("how can I help?", 30)] {
        must(
            store
                .append_outbound(reply(session.id, "ann", text, t))
                .await,
            "reply",
        );
    }
    drop(store);
    // Back to version 17: its index, and no record of 0018.
    let client = postgres_support::raw(&url).await;
    client
        .batch_execute(&format!(
            "DROP INDEX {schema}.messages_outbound;
             CREATE INDEX messages_by_direction ON {schema}.messages (session, direction, seq);
             DELETE FROM {schema}.chatlines_migrations WHERE version = 18;"
        ))
        .await
        .expect("pretend the schema is at version 17");

    let store = postgres_support::store_in(&url, &schema, 2).await;
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'messages'
               AND indexname IN ('messages_outbound', 'messages_by_direction')",
            &[&schema],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(indexes, vec!["messages_outbound".to_owned()]);
    let board = must(store.line_sessions(line.id, None, None, 10).await, "board");
    let [overview] = board.as_slice() else {
        panic!("one open session expected, got {board:?}");
    };
    assert_eq!(overview.waiting_since, None, "answered: nobody waits");
    assert_eq!(overview.last_client_message_at, Some(at(10)));
    assert_eq!(overview.last_operator_message_at, Some(at(30)));
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused_unchanged() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("a_schema_from_a_newer_version_is_refused_unchanged");
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_in(&url, &schema, 2).await;
    let line = new_line(&store, 0).await;
    drop(store);
    let client = postgres_support::raw(&url).await;
    let future = PostgresStore::schema_version() + 1;
    client
        .execute(
            &format!("INSERT INTO {schema}.chatlines_migrations (version) VALUES ($1)"),
            &[&future],
        )
        .await
        .expect("pretend a newer chatlines migrated");
    let before = snapshot(&client, &schema).await;
    let err = PostgresStore::connect(PostgresConfig::new(url.clone()).schema(schema.clone()))
        .await
        .expect_err("a newer schema is refused");
    assert!(
        matches!(&err, StoreError::Unusable(m) if m.contains("newer")),
        "{err:?}"
    );
    assert_eq!(snapshot(&client, &schema).await, before, "nothing changed");
    assert_eq!(before.2, 1, "the line is still there");
    let _ = line;
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn bad_settings_are_unusable() {
    for config in [
        PostgresConfig::new("postgres://x@127.0.0.1:1/db").schema("Robert'); DROP"),
        PostgresConfig::new("postgres://x@127.0.0.1:1/db").pool_size(0),
        PostgresConfig::new("not a url at all =").schema("ok"),
    ] {
        let err = PostgresStore::connect(config.clone())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, StoreError::Unusable(_)),
            "{config:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let err = PostgresStore::connect(PostgresConfig::new("postgres://x@127.0.0.1:1/db"))
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}

/// (migration rows, tables, lines) of a schema.
async fn snapshot(client: &tokio_postgres::Client, schema: &str) -> (i64, i64, i64) {
    let sql = format!(
        "SELECT (SELECT count(*) FROM {schema}.chatlines_migrations),
                (SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}'),
                (SELECT count(*) FROM {schema}.lines)"
    );
    let row = client.query_one(&sql, &[]).await.expect("snapshot");
    (row.get(0), row.get(1), row.get(2))
}
