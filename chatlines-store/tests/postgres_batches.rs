//! Ingest batches: concurrent calls on one store share a transaction, and
//! each caller still gets the answer for its own message.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::{Body, StoreError};
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use chatlines_store::testkit::fixtures::{id, inbound, internal, must, new_line};
use std::sync::Arc;

/// One pipeline, so calls made while a batch is in flight form the next.
async fn batching_store(url: &str, schema: &str) -> Arc<PostgresStore> {
    let config = PostgresConfig::new(url)
        .schema(schema)
        .pool_size(2)
        .ingest_batch(64)
        .ingest_pipelines(1);
    Arc::new(PostgresStore::connect(config).await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_message_fails_alone_and_its_batch_mates_are_stored() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "a_bad_message_fails_alone_and_its_batch_mates_are_stored",
        );
    };
    let schema = postgres_support::fresh_schema();
    let store = batching_store(&url, &schema).await;
    let line = new_line(&*store, 0).await;
    let missing = id();

    // 300 calls at once: every 10th writes to a line that does not exist.
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let store = Arc::clone(&store);
            let target = if i % 10 == 0 { missing } else { line.id };
            let new = inbound(
                target,
                &internal(&format!("u{}", i % 7)),
                &format!("m{i}"),
                1,
            );
            tokio::spawn(async move { (i, store.append_inbound(new).await) })
        })
        .collect();
    let mut per_contact: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for call in calls {
        let (i, result) = call.await.expect("task");
        if i % 10 == 0 {
            match result {
                Err(StoreError::NotFound { what: "line", id }) => {
                    assert_eq!(id, missing.to_string())
                }
                other => panic!("message {i} to a missing line: {other:?}"),
            }
        } else {
            let appended = must(result, "append");
            assert_eq!(appended.message.body, Body::text(format!("m{i}")));
            assert_eq!(appended.message.line, line.id);
            assert!(!appended.duplicate);
            per_contact
                .entry(format!("u{}", i % 7))
                .or_default()
                .push(appended.message.seq);
        }
    }
    // Every good message stored once, with gapless sequence numbers per
    // client (one session each).
    let raw = postgres_support::raw(&url).await;
    let stored: i64 = raw
        .query_one(&format!("SELECT count(*) FROM {schema}.messages"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 270);
    for (contact, mut seqs) in per_contact {
        seqs.sort_unstable();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "sequence numbers of {contact}");
    }
    let sessions: i64 = raw
        .query_one(&format!("SELECT count(*) FROM {schema}.sessions"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(sessions, 7);
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_the_database_rejects_fails_alone() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("a_message_the_database_rejects_fails_alone");
    };
    let schema = postgres_support::fresh_schema();
    let store = batching_store(&url, &schema).await;
    let line = new_line(&*store, 0).await;

    // A display name with a NUL byte is refused by PostgreSQL's text type.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            let mut new = inbound(line.id, &internal(&format!("u{i}")), "hi", 1);
            if i == 100 {
                new.display_name = "bad\0name".to_owned();
            }
            tokio::spawn(async move { (i, store.append_inbound(new).await) })
        })
        .collect();
    for call in calls {
        let (i, result) = call.await.expect("task");
        if i == 100 {
            assert!(result.is_err(), "a NUL byte cannot be stored: {result:?}");
        } else {
            must(result, "append");
        }
    }
    let raw = postgres_support::raw(&url).await;
    let stored: i64 = raw
        .query_one(&format!("SELECT count(*) FROM {schema}.messages"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 199);
    postgres_support::drop_schema(&url, &schema).await;
}
