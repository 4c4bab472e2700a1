//! `event_log/{sqlite,postgres}`: events/s a [`Relay`] delivers to a
//! counting sink, against a raw keyset-paged `SELECT` of the same rows from
//! the same store.

use crate::report::{Measured, Outcome, Scenario};
use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Body, BoxError, Clock, ContactKey, EventSink, Line, LineConfig, LineId, LoggedEvent,
    NewInbound, Relay, RelayConfig, SourceId, SystemClock,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "event_log",
        run: || Box::pin(event_log()),
    }]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Messages ingested to fill the log (each logs its events).
const MESSAGES: usize = 10_000;
/// Producers filling the log.
const PRODUCERS: usize = 16;
/// Events per page, for the relay and the raw reader alike.
const PAGE: usize = 500;
const ROUNDS: usize = 5;

async fn event_log() -> Outcome {
    let mut out = Vec::new();
    out.push(sqlite().await?);
    if let Some(line) = postgres().await? {
        out.push(line);
    }
    Ok(out)
}

/// Counts what it is given.
#[derive(Default)]
struct Counting(AtomicUsize);

#[async_trait]
impl EventSink for Counting {
    async fn publish(&self, _event: &LoggedEvent) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Fills `store`'s log: `MESSAGES` client messages on one line from 1,000
/// clients. Returns how many events the log holds.
async fn fill<S: Store + 'static>(store: Arc<S>) -> Result<usize, String> {
    let clock = SystemClock;
    let line = Line::new(
        LineId::from_uuid(clock.new_id()),
        1,
        LineConfig::new("bench").operators("ops"),
        clock.now(),
        clock.now(),
    );
    store.insert_line(&line).await.map_err(err)?;
    let source = SourceId::from_uuid(clock.new_id());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..PRODUCERS {
        let (store, next) = (Arc::clone(&store), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= MESSAGES {
                    return Ok::<_, String>(());
                }
                let key = ContactKey::External {
                    source,
                    external_user: format!("u{}", i % 1_000),
                };
                let new = NewInbound::new(line.id, key, "client", Body::text("hello"), clock.now());
                store.append_inbound(new).await.map_err(err)?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    let mut total = 0;
    let mut after = chatlines_core::EventPosition::START;
    loop {
        let page = store.events_after(after, PAGE).await.map_err(err)?;
        let Some(last) = page.last() else {
            return Ok(total);
        };
        after = last.position;
        total += page.len();
    }
}

/// Delivers the whole log through a relay with a fresh consumer; events/s.
async fn relay_round(
    log: Arc<dyn EventLogStore>,
    consumer: String,
    expected: usize,
) -> Result<f64, String> {
    let sink = Arc::new(Counting::default());
    let relay = Relay::new(log, sink.clone(), RelayConfig::new(consumer).batch(PAGE));
    let start = Instant::now();
    let delivered = relay.catch_up().await.map_err(err)?;
    let secs = start.elapsed().as_secs_f64();
    let counted = sink.0.load(Ordering::Relaxed);
    if delivered != expected || counted != expected {
        return Err(format!(
            "the relay delivered {delivered} (sink counted {counted}) of {expected} events"
        ));
    }
    Ok(expected as f64 / secs)
}

async fn sqlite() -> Result<Measured, String> {
    let dir = tempfile::tempdir().map_err(err)?;
    let path = dir.path().join("events.db");
    let store = Arc::new(
        chatlines_store::SqliteStore::open(&path)
            .await
            .map_err(err)?,
    );
    let events = fill(Arc::clone(&store)).await?;
    let (mut ours, mut baseline) = (0f64, 0f64);
    for round in 0..ROUNDS {
        let log: Arc<dyn EventLogStore> = store.clone();
        ours = ours.max(relay_round(log, format!("bench-{round}"), events).await?);
        let path = path.clone();
        let secs = tokio::task::spawn_blocking(move || raw_sqlite(&path, events))
            .await
            .map_err(err)??;
        baseline = baseline.max(events as f64 / secs);
    }
    store.close().await;
    Ok(Measured::throughput(
        "event_log/sqlite",
        ours,
        baseline,
        "events/s",
    ))
}

/// The raw reader: pages of `PAGE` rows after the last position read, each
/// row's columns taken as stored (the body as text, not decoded).
fn raw_sqlite(path: &std::path::Path, expected: usize) -> Result<f64, String> {
    let conn = rusqlite::Connection::open(path).map_err(err)?;
    let mut page = conn
        .prepare("SELECT position, id, at, body FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
        .map_err(err)?;
    let start = Instant::now();
    let (mut after, mut read) = (0i64, 0usize);
    loop {
        let mut rows = page
            .query(rusqlite::params![after, PAGE as i64])
            .map_err(err)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(err)? {
            after = row.get(0).map_err(err)?;
            let _id: Vec<u8> = row.get(1).map_err(err)?;
            let _at: i64 = row.get(2).map_err(err)?;
            let body: String = row.get(3).map_err(err)?;
            std::hint::black_box(body);
            n += 1;
        }
        if n == 0 {
            break;
        }
        read += n;
    }
    let secs = start.elapsed().as_secs_f64();
    if read != expected {
        return Err(format!("the raw reader read {read} of {expected} events"));
    }
    Ok(secs)
}

async fn postgres() -> Result<Option<Measured>, String> {
    use chatlines_store::postgres::{PostgresConfig, PostgresStore};
    let Some(config) = PostgresConfig::from_env() else {
        eprintln!("event_log/postgres: skipped, CHATLINES_PG_URL is not set");
        return Ok(None);
    };
    let url = config.url.clone();
    let schema = format!(
        "chatlines_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = crate::postgres::connect(&url).await?;
    let result = async {
        let store = Arc::new(
            PostgresStore::connect(config.schema(schema.as_str()))
                .await
                .map_err(err)?,
        );
        let events = fill(Arc::clone(&store)).await?;
        let (mut ours, mut baseline) = (0f64, 0f64);
        for round in 0..ROUNDS {
            let log: Arc<dyn EventLogStore> = store.clone();
            ours = ours.max(relay_round(log, format!("bench-{round}"), events).await?);
            baseline = baseline.max(events as f64 / raw_postgres(&admin, &schema, events).await?);
        }
        Ok(Measured::throughput(
            "event_log/postgres",
            ours,
            baseline,
            "events/s",
        ))
    }
    .await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
    result.map(Some)
}

/// The raw reader on PostgreSQL: keyset pages in log order, the body read
/// as text.
async fn raw_postgres(
    client: &tokio_postgres::Client,
    schema: &str,
    expected: usize,
) -> Result<f64, String> {
    let page = client
        .prepare(&format!(
            "SELECT tx::text::bigint AS tx, seq, id, at_ns, body::text AS body
             FROM {schema}.events
             WHERE (tx, seq) > ($1::bigint::text::xid8, $2)
             ORDER BY tx, seq
             LIMIT $3"
        ))
        .await
        .map_err(err)?;
    let start = Instant::now();
    let (mut tx, mut seq, mut read) = (0i64, 0i64, 0usize);
    loop {
        let rows = client
            .query(&page, &[&tx, &seq, &(PAGE as i64)])
            .await
            .map_err(err)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            tx = row.try_get("tx").map_err(err)?;
            seq = row.try_get("seq").map_err(err)?;
            let _id: uuid::Uuid = row.try_get("id").map_err(err)?;
            let _at: i64 = row.try_get("at_ns").map_err(err)?;
            let body: String = row.try_get("body").map_err(err)?;
            std::hint::black_box(body);
        }
        read += rows.len();
    }
    let secs = start.elapsed().as_secs_f64();
    if read != expected {
        return Err(format!("the raw reader read {read} of {expected} events"));
    }
    Ok(secs)
}
