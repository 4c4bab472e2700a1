//! Scenarios on durable timers: `timers/{sqlite,postgres}` and
//! `tick_scaling`.
//!
//! * `timers/…`: offer timeouts fired per second through `Hub::run_due`
//!   (claim under a lease, then each timer's transition through core's
//!   machine with its event) vs a raw claim-and-update of the same rows in
//!   the same store (lease a batch, then per timer one transaction bumping
//!   the session's version and re-arming the timer). Goal ≥ 0.5.
//! * `tick_scaling`: the time of a tick (`run_due` with nothing due, then
//!   the periodic `drain` with nothing queued) among 10,000 lines and
//!   100,000 offered sessions (each with a timer) vs among 10 lines and 100
//!   sessions, on SQLite; rounds of ticks on the two stores in turns, the
//!   median round of each. Goal ≤ 1.5.
//!
//! Sizes: `CHATLINES_BENCH_TIMERS` (timers fired, default 5,000) and
//! `CHATLINES_BENCH_TICK_SESSIONS` (default 100,000; lines are a tenth).

use crate::report::{median, Measured, Outcome, Scenario};
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Body, Clock, ContactKey, Error, Hub, Line, LineConfig, LineId, NewInbound, RoutePlan,
    RouteReason, Router, RoutingContext, SystemClock, Transition, UserId,
};
use chatlines_store::postgres::{PostgresConfig, PostgresStore};
use chatlines_store::SqliteStore;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "timers/sqlite",
            run: || Box::pin(timers_sqlite()),
        },
        Scenario {
            name: "timers/postgres",
            run: || Box::pin(timers_postgres()),
        },
        Scenario {
            name: "tick_scaling",
            run: || Box::pin(tick_scaling()),
        },
    ]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

const PERIOD: i64 = 60;
const BATCH: usize = 100;

/// Offers every session (first come).
struct Offer;

#[async_trait::async_trait]
impl Router for Offer {
    async fn plan(&self, _: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

fn hub(store: Arc<dyn Store>) -> Hub {
    Hub::builder(
        store,
        Arc::new(MemoryDirectory::new()),
        Arc::new(MemoryApps::new()),
        Arc::new(Offer),
    )
    .build()
}

/// Stores `lines` timed lines and `sessions` offered sessions spread over
/// them (16 at a time), all offered at `t0`.
async fn fill(
    store: &Arc<dyn Store>,
    lines: usize,
    sessions: usize,
    t0: DateTime<Utc>,
) -> Result<Vec<LineId>, String> {
    let clock = SystemClock;
    let mut ids = Vec::with_capacity(lines);
    for i in 0..lines.max(1) {
        let line = Line::new(
            LineId::from_uuid(clock.new_id()),
            1,
            LineConfig::new(format!("bench {i}"))
                .operators("ops")
                .offer_timeout(std::time::Duration::from_secs(PERIOD as u64)),
            t0,
            t0,
        );
        store.insert_line(&line).await.map_err(err)?;
        ids.push(line.id);
    }
    let per_task = sessions.div_ceil(16);
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store = store.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for n in (task * per_task)..((task + 1) * per_task).min(sessions) {
                let key = ContactKey::Internal {
                    user: UserId::new(format!("client-{n}")),
                };
                let new = NewInbound::new(ids[n % ids.len()], key, "client", Body::text("hi"), t0);
                let s = store.append_inbound(new).await.map_err(err)?.session;
                let offer = Transition::Route {
                    expected_version: s.version,
                    plan: RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                };
                store.transition(s.id, offer, t0).await.map_err(err)?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(ids)
}

/// Fires everything due at `now` through `run_due`; returns (fired,
/// seconds).
async fn fire_all(hub: &Hub, now: DateTime<Utc>) -> Result<(usize, f64), String> {
    let start = Instant::now();
    let mut fired = 0;
    loop {
        let report = hub.run_due(now, BATCH).await.map_err(err)?;
        if let Some(f) = report.failures.first() {
            return Err(format!("a timer failed: {}", f.error));
        }
        fired += report.fired;
        if report.claimed == 0 {
            return Ok((fired, start.elapsed().as_secs_f64()));
        }
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(0)
}

async fn timers_sqlite() -> Outcome {
    let n = size("CHATLINES_BENCH_TIMERS", 5_000);
    let dir = tempfile::tempdir().map_err(err)?;
    let path = dir.path().join("timers.db");
    let store = Arc::new(SqliteStore::open(&path).await.map_err(err)?);
    let shared: Arc<dyn Store> = store.clone();
    fill(&shared, 1, n, t0()).await?;
    let (fired, secs) = fire_all(&hub(shared), t0() + Duration::seconds(PERIOD)).await?;
    if fired != n {
        return Err(format!("fired {fired} of {n} timers"));
    }
    store.close().await;

    // The same rows, re-armed one period later: claimed and updated raw.
    let now = nanos(t0() + Duration::seconds(2 * PERIOD));
    let lease = nanos(t0() + Duration::seconds(2 * PERIOD + 30));
    let conn = rusqlite::Connection::open(&path).map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    let start = Instant::now();
    let mut done = 0;
    loop {
        let due: Vec<(uuid::Uuid, String)> = {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT session, kind FROM timers
                     WHERE due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
                     ORDER BY due_at LIMIT ?2",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(rusqlite::params![now, BATCH as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        if due.is_empty() {
            break;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        for (s, k) in &due {
            conn.execute(
                "UPDATE timers SET lease_token = ?3, lease_until = ?4 WHERE session = ?1 AND kind = ?2",
                rusqlite::params![s, k, uuid::Uuid::new_v4(), lease],
            )
            .map_err(err)?;
        }
        conn.execute_batch("COMMIT").map_err(err)?;
        for (s, k) in &due {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
            conn.execute(
                "UPDATE sessions SET version = version + 1, updated_at = ?2 WHERE id = ?1",
                rusqlite::params![s, now],
            )
            .map_err(err)?;
            conn.execute(
                "UPDATE timers SET due_at = due_at + ?3, lease_token = NULL, lease_until = NULL
                 WHERE session = ?1 AND kind = ?2",
                rusqlite::params![s, k, PERIOD * 1_000_000_000],
            )
            .map_err(err)?;
            conn.execute_batch("COMMIT").map_err(err)?;
            done += 1;
        }
    }
    let raw = start.elapsed().as_secs_f64();
    if done != n {
        return Err(format!("the baseline updated {done} of {n} timers"));
    }
    Ok(vec![Measured::throughput(
        "timers/sqlite",
        n as f64 / secs,
        n as f64 / raw,
        "timers/s",
    )])
}

async fn timers_postgres() -> Outcome {
    let Some(config) = PostgresConfig::from_env() else {
        eprintln!("timers/postgres: skipped, CHATLINES_PG_URL is not set");
        return Ok(Vec::new());
    };
    let url = config.url.clone();
    let schema = format!(
        "chatlines_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let result = timers_postgres_in(&url, &schema).await;
    if let Ok(admin) = crate::postgres::connect(&url).await {
        let _ = admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
    result
}

async fn timers_postgres_in(url: &str, schema: &str) -> Outcome {
    let n = size("CHATLINES_BENCH_TIMERS", 5_000);
    let config = PostgresConfig::new(url).schema(schema).pool_size(8);
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(config).await.map_err(err)?);
    fill(&store, 1, n, t0()).await?;
    let (fired, secs) = fire_all(&hub(store), t0() + Duration::seconds(PERIOD)).await?;
    if fired != n {
        return Err(format!("fired {fired} of {n} timers"));
    }

    let now = nanos(t0() + Duration::seconds(2 * PERIOD));
    let lease = nanos(t0() + Duration::seconds(2 * PERIOD + 30));
    let mut client = crate::postgres::connect(url).await?;
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .map_err(err)?;
    let start = Instant::now();
    let mut done = 0;
    loop {
        let token = uuid::Uuid::new_v4();
        let due = client
            .query(
                "WITH due AS (
                     SELECT session, kind FROM timers
                     WHERE due_ns <= $1 AND (lease_ns IS NULL OR lease_ns <= $1)
                     ORDER BY due_ns LIMIT $2 FOR UPDATE SKIP LOCKED)
                 UPDATE timers t SET lease_token = $3, lease_ns = $4
                 FROM due WHERE t.session = due.session AND t.kind = due.kind
                 RETURNING t.session, t.kind",
                &[&now, &(BATCH as i64), &token, &lease],
            )
            .await
            .map_err(err)?;
        if due.is_empty() {
            break;
        }
        for row in due {
            let s: uuid::Uuid = row.get(0);
            let k: String = row.get(1);
            let tx = client.transaction().await.map_err(err)?;
            tx.execute(
                "UPDATE sessions SET version = version + 1, updated_ns = $2 WHERE id = $1",
                &[&s, &now],
            )
            .await
            .map_err(err)?;
            tx.execute(
                "UPDATE timers SET due_ns = due_ns + $3, lease_token = NULL, lease_ns = NULL
                 WHERE session = $1 AND kind = $2 AND lease_token = $4",
                &[&s, &k, &(PERIOD * 1_000_000_000), &token],
            )
            .await
            .map_err(err)?;
            tx.commit().await.map_err(err)?;
            done += 1;
        }
    }
    let raw = start.elapsed().as_secs_f64();
    if done != n {
        return Err(format!("the baseline updated {done} of {n} timers"));
    }
    Ok(vec![Measured::throughput(
        "timers/postgres",
        n as f64 / secs,
        n as f64 / raw,
        "timers/s",
    )])
}

/// A store with `sessions` open sessions, each with an offer timer due one
/// period after t0, and a hub over it.
struct TickWorld {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    hub: Hub,
}

impl TickWorld {
    async fn new(sessions: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(err)?;
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("tick.db"))
                .await
                .map_err(err)?,
        );
        let shared: Arc<dyn Store> = store.clone();
        fill(&shared, (sessions / 10).max(1), sessions, t0()).await?;
        let hub = hub(shared);
        Ok(Self {
            _dir: dir,
            store,
            hub,
        })
    }

    /// The mean time of `ticks` idle ticks, `run_due` with nothing due and
    /// the periodic `drain` with nothing queued, in microseconds.
    async fn idle_ticks(&self, ticks: u32) -> Result<f64, String> {
        // Every timer is due one period after t0: nothing is due just before.
        let now = t0() + Duration::seconds(PERIOD - 1);
        let start = Instant::now();
        for _ in 0..ticks {
            let report = self.hub.run_due(now, BATCH).await.map_err(err)?;
            if report.claimed != 0 {
                return Err("a timer was due in the idle tick".into());
            }
            // The server's periodic drain is part of its tick.
            if self.hub.drain().await.map_err(err)? != 0 {
                return Err("a session was queued in the idle tick".into());
            }
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(ticks))
    }
}

/// Idle ticks on 100,000 vs 100 open sessions: rounds of ticks on each
/// store in turns (the machine's speed drifts), the median round of each.
async fn tick_scaling() -> Outcome {
    const ROUNDS: usize = 11;
    const TICKS: u32 = 200;
    let large = size("CHATLINES_BENCH_TICK_SESSIONS", 100_000);
    let small = (large / 1000).max(1);
    let big = TickWorld::new(large).await?;
    let little = TickWorld::new(small).await?;
    let (mut big_us, mut little_us) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        big_us.push(big.idle_ticks(TICKS).await?);
        little_us.push(little.idle_ticks(TICKS).await?);
    }
    big.store.close().await;
    little.store.close().await;
    Ok(vec![Measured::scaling(
        format!("tick_scaling/{large}_vs_{small}_sessions"),
        median(big_us),
        median(little_us),
        "us",
    )])
}
