//! Ingest batches: concurrent calls on one store share a transaction, and
//! each caller still gets the answer for its own message.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::{Body, StoreError};
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use chatlines_store::testkit::fixtures::{
    id, inbound, inbound_ext, internal, must, new_line, new_source,
};
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

/// How many rows `table` of `schema` holds.
async fn rows(url: &str, schema: &str, table: &str) -> i64 {
    postgres_support::raw(url)
        .await
        .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
        .await
        .expect("count")
        .get(0)
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
    let stored = rows(&url, &schema, "messages").await;
    assert_eq!(stored, 270);
    for (contact, mut seqs) in per_contact {
        seqs.sort_unstable();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "sequence numbers of {contact}");
    }
    let sessions = rows(&url, &schema, "sessions").await;
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
    let stored = rows(&url, &schema, "messages").await;
    assert_eq!(stored, 199);
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeats_in_one_batch_are_stored_once_and_answered_as_duplicates() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "repeats_in_one_batch_are_stored_once_and_answered_as_duplicates",
        );
    };
    let schema = postgres_support::fresh_schema();
    let store = batching_store(&url, &schema).await;
    let line = new_line(&*store, 0).await;
    let source = new_source(&*store, line.id, 0).await;
    // Stored before the batch: the first message of u0.
    let before = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u0", "e0", 1))
            .await,
        "append",
    );

    // 240 calls at once: each external id comes 4 times (from its client),
    // clients write several messages each, and a fresh client's first
    // messages open its session.
    let calls: Vec<_> = (0..240)
        .map(|i| {
            let store = Arc::clone(&store);
            let n = i / 4;
            let new = inbound_ext(
                line.id,
                source.id,
                &format!("u{}", n % 6),
                &format!("e{n}"),
                2,
            );
            tokio::spawn(async move { (n, store.append_inbound(new).await) })
        })
        .collect();
    let mut answers: std::collections::BTreeMap<usize, Vec<chatlines_core::Appended>> =
        Default::default();
    for call in calls {
        let (n, result) = call.await.expect("task");
        answers.entry(n).or_default().push(must(result, "append"));
    }
    let mut opened = std::collections::HashMap::new();
    let mut seqs: std::collections::HashMap<_, Vec<u64>> = Default::default();
    for (n, got) in &answers {
        assert_eq!(got.len(), 4);
        let ids: std::collections::HashSet<_> = got.iter().map(|a| a.message.id).collect();
        assert_eq!(ids.len(), 1, "e{n} was stored as {} messages", ids.len());
        let stored: Vec<_> = got.iter().filter(|a| !a.duplicate).collect();
        if *n == 0 {
            assert!(stored.is_empty(), "e0 was stored before the batch");
            assert_eq!(got[0].message.id, before.message.id);
        } else {
            assert_eq!(
                stored.len(),
                1,
                "e{n}: one answer stores it, the rest are duplicates"
            );
            let first = stored[0];
            assert_eq!(first.message.body, Body::text(format!("e{n}")));
            assert_eq!(first.session.last_seq, first.message.seq);
            seqs.entry(first.contact.id)
                .or_default()
                .push(first.message.seq);
            if first.opened {
                *opened.entry(first.contact.id).or_insert(0) += 1;
            }
        }
        for a in got {
            assert_eq!(a.session.id, got[0].session.id);
            assert_eq!(a.contact.id, got[0].contact.id);
            assert!(!(a.duplicate && a.opened), "a duplicate opens nothing");
        }
    }
    // u0's session was opened before the batch; u1..u5 each had one opened.
    assert_eq!(opened.len(), 5);
    assert!(opened.values().all(|n| *n == 1), "{opened:?}");
    assert!(!opened.contains_key(&before.contact.id));
    for (contact, mut got) in seqs {
        got.sort_unstable();
        let first = if contact == before.contact.id { 2 } else { 1 };
        let expected: Vec<u64> = (first..first + got.len() as u64).collect();
        assert_eq!(got, expected, "sequence numbers of {contact}");
    }
    let stored = rows(&url, &schema, "messages").await;
    assert_eq!(stored, 60);
    postgres_support::drop_schema(&url, &schema).await;
}
