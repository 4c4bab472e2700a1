//! Scenarios on PostgreSQL: `ingest_postgres` (needs `CHATLINES_PG_URL`).

use crate::report::{Measured, Outcome, Scenario};
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Body, Clock, ContactKey, ExternalRef, LineConfig, LineId, NewInbound, Source, SourceId,
    SystemClock,
};
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::NoTls;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "ingest_postgres",
        run: || Box::pin(ingest_postgres()),
    }]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

const INSTANCES: usize = 4;
const POOL: usize = 8;
const PRODUCERS: usize = 64;
const BASELINE_CONNECTIONS: usize = 8;
const CONTACTS: usize = 1_000;
const ROUND: usize = 12_000;
const ROUNDS: usize = 2;

/// Messages/s through `Store::append_inbound` on 4 `PostgresStore`
/// instances (pools of 8, default ingest batching) fed by 64 concurrent
/// producers, each call acknowledged after its commit, vs the same rows
/// written as raw single-row `INSERT`s from 8 connections into a table
/// with the store's own message schema (keys and indexes). Rounds alternate; the best round of each counts.
async fn ingest_postgres() -> Outcome {
    let Some(config) = PostgresConfig::from_env() else {
        eprintln!("ingest_postgres: skipped, CHATLINES_PG_URL is not set");
        return Ok(Vec::new());
    };
    let url = config.url.clone();
    let schema = format!(
        "chatlines_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let result = run(&url, &schema).await;
    // Clean up whatever happened.
    if let Ok(admin) = connect(&url).await {
        let _ = admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
    result
}

pub(crate) async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(err)?;
    tokio::spawn(connection);
    Ok(client)
}

async fn run(url: &str, schema: &str) -> Outcome {
    let mut stores: Vec<Arc<PostgresStore>> = Vec::new();
    for _ in 0..INSTANCES {
        let config = PostgresConfig::new(url).schema(schema).pool_size(POOL);
        stores.push(Arc::new(PostgresStore::connect(config).await.map_err(err)?));
    }
    let clock = SystemClock;
    let line = chatlines_core::Line::new(
        LineId::from(clock.new_id()),
        1,
        LineConfig::new("bench").operators("ops"),
        clock.now(),
        clock.now(),
    );
    stores[0].insert_line(&line).await.map_err(err)?;
    let source = Source::new(
        SourceId::from(clock.new_id()),
        line.id,
        "webhook",
        "bench",
        "bench",
        clock.now(),
    );
    stores[0].insert_source(&source).await.map_err(err)?;

    let admin = connect(url).await.map_err(err)?;
    admin
        .batch_execute(&format!(
            // The store's own message table: the same columns, keys and
            // indexes (as the SQLite baseline uses the store's schema), so
            // the ratio measures our work above storing the rows.
            "CREATE TABLE {schema}.raw_messages (LIKE {schema}.messages INCLUDING ALL)"
        ))
        .await
        .map_err(err)?;
    let mut baseline_clients = Vec::new();
    for _ in 0..BASELINE_CONNECTIONS {
        baseline_clients.push(Arc::new(connect(url).await?));
    }

    let (mut ours, mut baseline) = (0f64, 0f64);
    for round in 0..ROUNDS {
        let news: Vec<NewInbound> = (0..ROUND)
            .map(|i| {
                let key = ContactKey::External {
                    source: source.id,
                    external_user: format!("u{}", i % CONTACTS),
                };
                NewInbound::new(
                    line.id,
                    key,
                    "client",
                    Body::text("hello there"),
                    clock.now(),
                )
                .with_external(ExternalRef {
                    source: source.id,
                    message_id: format!("r{round}m{i}"),
                })
            })
            .collect();
        let start = Instant::now();
        produce(&stores, news).await?;
        ours = ours.max(ROUND as f64 / start.elapsed().as_secs_f64());

        // The same rows, copied as raw single-row INSERTs.
        let rows = Arc::new(
            admin
                .query(
                    &format!(
                        "SELECT id, session, line, contact, seq, direction, author, body,
                             ext_source, ext_id, created_ns
                         FROM {schema}.messages WHERE ext_id LIKE $1"
                    ),
                    &[&format!("r{round}m%")],
                )
                .await
                .map_err(err)?,
        );
        if rows.len() != ROUND {
            return Err(format!(
                "expected {ROUND} stored messages, found {}",
                rows.len()
            ));
        }
        let start = Instant::now();
        insert_raw(&baseline_clients, schema, rows).await?;
        baseline = baseline.max(ROUND as f64 / start.elapsed().as_secs_f64());
    }
    Ok(vec![Measured::throughput(
        "ingest_postgres",
        ours,
        baseline,
        "msg/s",
    )])
}

/// `PRODUCERS` tasks append the messages, producer `p` through instance
/// `p % INSTANCES`.
async fn produce(stores: &[Arc<PostgresStore>], news: Vec<NewInbound>) -> Result<(), String> {
    let news = Arc::new(news);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let store = Arc::clone(&stores[p % stores.len()]);
        let (news, next) = (Arc::clone(&news), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(new) = news.get(i) else {
                    return Ok::<_, String>(());
                };
                let appended = store.append_inbound(new.clone()).await.map_err(err)?;
                if appended.duplicate {
                    return Err(format!("message {i} reported as a duplicate"));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(())
}

/// One task per connection, each inserting its share row by row.
async fn insert_raw(
    clients: &[Arc<tokio_postgres::Client>],
    schema: &str,
    rows: Arc<Vec<tokio_postgres::Row>>,
) -> Result<(), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let sql = format!(
        "INSERT INTO {schema}.raw_messages (id, session, line, contact, seq, direction, author,
             body, ext_source, ext_id, created_ns)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    let mut tasks = Vec::new();
    for client in clients {
        let client = Arc::clone(client);
        let (rows, next, sql) = (Arc::clone(&rows), Arc::clone(&next), sql.clone());
        tasks.push(tokio::spawn(async move {
            let stmt = client.prepare(&sql).await.map_err(err)?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else {
                    return Ok::<_, String>(());
                };
                let id: uuid::Uuid = row.get(0);
                let session: uuid::Uuid = row.get(1);
                let line: uuid::Uuid = row.get(2);
                let contact: uuid::Uuid = row.get(3);
                let seq: i64 = row.get(4);
                let direction: &str = row.get(5);
                let author: tokio_postgres::types::Json<serde_json::Value> = row.get(6);
                let body: tokio_postgres::types::Json<serde_json::Value> = row.get(7);
                let ext_source: Option<uuid::Uuid> = row.get(8);
                let ext_id: Option<&str> = row.get(9);
                let created: i64 = row.get(10);
                client
                    .execute(
                        &stmt,
                        &[
                            &id,
                            &session,
                            &line,
                            &contact,
                            &seq,
                            &direction,
                            &author,
                            &body,
                            &ext_source,
                            &ext_id,
                            &created,
                        ],
                    )
                    .await
                    .map_err(err)?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(())
}
