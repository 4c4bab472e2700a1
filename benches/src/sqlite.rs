//! Scenarios on the SQLite store: `ingest_sqlite/{1,64}` and
//! `history_scaling/{ingest,read}`.

use crate::report::{median, Measured, Outcome, Scenario};
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Body, Clock, ContactKey, Cursor, ExternalRef, Line, LineConfig, LineId, NewInbound, SessionId,
    SourceId, SystemClock,
};
use chatlines_store::sqlite::SqliteConfig;
use chatlines_store::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ingest_sqlite",
            run: || Box::pin(ingest_sqlite()),
        },
        Scenario {
            name: "history_scaling",
            run: || Box::pin(history_scaling()),
        },
    ]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "chatlines-bench-{tag}-{}-{}",
            std::process::id(),
            SystemClock.new_id()
        ));
        std::fs::create_dir_all(&dir).map_err(err)?;
        Ok(Self(dir))
    }

    fn db(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store with one line and one open session per client key.
struct World {
    store: Arc<SqliteStore>,
    line: LineId,
    source: SourceId,
}

async fn world(path: &Path) -> Result<World, String> {
    let store = Arc::new(
        SqliteStore::with_config(SqliteConfig::new(path))
            .await
            .map_err(err)?,
    );
    let now = SystemClock.now();
    let line = Line::new(
        LineId::from_uuid(SystemClock.new_id()),
        1,
        LineConfig::new("bench").operators("ops"),
        now,
        now,
    );
    store.insert_line(&line).await.map_err(err)?;
    Ok(World {
        store,
        line: line.id,
        source: SourceId::from_uuid(SystemClock.new_id()),
    })
}

fn inbound(w: &World, client: &str, message_id: String) -> NewInbound {
    let key = ContactKey::External {
        source: w.source,
        external_user: client.to_owned(),
    };
    NewInbound::new(w.line, key, "client", Body::text("text"), SystemClock.now()).with_external(
        ExternalRef {
            source: w.source,
            message_id,
        },
    )
}

/// Appends `per_producer` messages from each of `producers` concurrent
/// tasks (producer `p` writes as client `c{p}`); returns the seconds taken.
async fn ingest(
    w: &World,
    producers: usize,
    per_producer: usize,
    tag: &str,
) -> Result<f64, String> {
    // The messages are made before the clock starts, as the baseline's
    // rows, and in the same order: each producer's i-th, then each one's
    // (i+1)-th. Their time-ordered ids then rise in about the order they
    // are stored, as when `Hub::ingest` makes each message as it arrives.
    let mut batches: Vec<Vec<NewInbound>> = (0..producers)
        .map(|_| Vec::with_capacity(per_producer))
        .collect();
    for i in 0..per_producer {
        for (p, batch) in batches.iter_mut().enumerate() {
            batch.push(inbound(w, &format!("c{p}"), format!("{tag}-{p}-{i}")));
        }
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(producers);
    for news in batches {
        let store = Arc::clone(&w.store);
        tasks.push(tokio::spawn(async move {
            for new in news {
                store.append_inbound(new).await.map_err(err)?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// The raw baseline: the same message rows inserted with rusqlite in
/// transactions of `per_tx` rows, with the store's own schema and settings.
fn raw_insert(
    path: &Path,
    rows: &[(NewInbound, SessionId, u64)],
    per_tx: usize,
) -> Result<f64, String> {
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    let start = Instant::now();
    for chunk in rows.chunks(per_tx.max(1)) {
        let tx = conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                         source_id, external_message_id, created_at)
                     SELECT ?1, ?2, line, contact, ?3, 'inbound', '{\"kind\":\"client\"}', ?4, ?5, ?6, ?7
                     FROM sessions WHERE id = ?2",
                )
                .map_err(err)?;
            for (new, session, seq) in chunk {
                let external = new.external.as_ref().map(|e| e.message_id.as_str());
                let body = format!("{{\"text\":{:?},\"attachments\":[]}}", new.body.text);
                insert
                    .execute(rusqlite::params![
                        new.message_id.0,
                        session.0,
                        *seq as i64,
                        body,
                        w_source(new),
                        external,
                        new.now.timestamp_nanos_opt().unwrap_or(0)
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

fn w_source(new: &NewInbound) -> Option<uuid_bytes::Id> {
    new.external
        .as_ref()
        .map(|e| uuid_bytes::Id(*e.source.0.as_bytes()))
}

mod uuid_bytes {
    /// A UUID as its 16 bytes (how the store keeps ids).
    pub struct Id(pub [u8; 16]);

    impl rusqlite::ToSql for Id {
        fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
            Ok(rusqlite::types::ToSqlOutput::Borrowed(
                rusqlite::types::ValueRef::Blob(&self.0),
            ))
        }
    }
}

/// Durable `append_inbound` into open sessions, 1 and 64 producers, vs raw
/// batched inserts of the same rows (transactions of 100); with one
/// producer also vs raw inserts committing each row alone
/// (`ingest_sqlite/1_per_commit`: one commit per message on both sides).
/// Rounds alternate between the sides (the machine is shared) and the best
/// round of each counts.
async fn ingest_sqlite() -> Outcome {
    const ROUNDS: usize = 5;
    let mut out = Vec::new();
    for (producers, per_round) in [(1usize, 3_000usize), (64, 19_200)] {
        let per = per_round / producers;
        let scratch = Scratch::new("ingest")?;
        // Both files get the same schema, line and open sessions.
        let ours_world = world(&scratch.db("ours.db")).await?;
        ingest(&ours_world, producers, 1, "warm").await?;
        let base_world = world(&scratch.db("base.db")).await?;
        let mut sessions = Vec::with_capacity(producers);
        for p in 0..producers {
            let first = base_world
                .store
                .append_inbound(inbound(&base_world, &format!("c{p}"), format!("warm-{p}")))
                .await
                .map_err(err)?;
            sessions.push(first.session.id);
        }
        base_world.store.close().await;

        let (mut ours, mut baseline, mut per_commit) = (0f64, 0f64, 0f64);
        for round in 0..ROUNDS {
            let secs = ingest(&ours_world, producers, per, &format!("run{round}")).await?;
            ours = ours.max((per * producers) as f64 / secs);

            // The rows in the order concurrent producers deliver them: each
            // producer's i-th message, then each one's (i+1)-th, and so on.
            let mut rows = Vec::with_capacity(per * producers);
            for i in 0..per {
                for (p, session) in sessions.iter().enumerate() {
                    let new = inbound(&base_world, &format!("c{p}"), format!("run{round}-{p}-{i}"));
                    rows.push((new, *session, (2 + round * 2 * per + i) as u64));
                }
            }
            let path = scratch.db("base.db");
            let (secs, rows) = tokio::task::spawn_blocking(move || {
                raw_insert(&path, &rows, 100).map(|secs| (secs, rows))
            })
            .await
            .map_err(err)??;
            baseline = baseline.max((per * producers) as f64 / secs);
            if producers == 1 {
                // The same rows again under new ids, a commit per row.
                let rows: Vec<_> = rows
                    .into_iter()
                    .map(|(mut new, session, seq)| {
                        new.message_id = chatlines_core::MessageId::from_uuid(SystemClock.new_id());
                        if let Some(e) = new.external.as_mut() {
                            e.message_id.push_str("-single");
                        }
                        (new, session, seq + per as u64)
                    })
                    .collect();
                let path = scratch.db("base.db");
                let secs = tokio::task::spawn_blocking(move || raw_insert(&path, &rows, 1))
                    .await
                    .map_err(err)??;
                per_commit = per_commit.max((per * producers) as f64 / secs);
            }
        }
        ours_world.store.close().await;
        out.push(Measured::throughput(
            format!("ingest_sqlite/{producers}"),
            ours,
            baseline,
            "msg/s",
        ));
        if producers == 1 {
            out.push(Measured::throughput(
                "ingest_sqlite/1_per_commit",
                ours,
                per_commit,
                "msg/s",
            ));
        }
    }
    Ok(out)
}

/// A store whose one session holds `n` messages (the first appended
/// through the store, the rest bulk-loaded raw), reopened.
async fn history_world(path: &Path, n: u64) -> Result<(World, SessionId), String> {
    let w = world(path).await?;
    let first = w
        .store
        .append_inbound(inbound(&w, "big", "m-1".to_owned()))
        .await
        .map_err(err)?;
    let session = first.session.id;
    w.store.close().await;
    let (line, source) = (w.line, w.source);
    drop(w);
    let bulk_path = path.to_path_buf();
    tokio::task::spawn_blocking(move || bulk_load(&bulk_path, session, n))
        .await
        .map_err(err)??;
    let store = Arc::new(SqliteStore::open(path).await.map_err(err)?);
    Ok((
        World {
            store,
            line,
            source,
        },
        session,
    ))
}

fn bulk_load(path: &Path, session: SessionId, n: u64) -> Result<(), String> {
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "cache_size", -262_144)
        .map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                     source_id, external_message_id, created_at)
                 SELECT ?1, id, line, contact, ?2, 'inbound', '{\"kind\":\"client\"}',
                     '{\"text\":\"text\",\"attachments\":[]}', NULL, NULL, ?3
                 FROM sessions WHERE id = ?4",
            )
            .map_err(err)?;
        let now = SystemClock.now().timestamp_nanos_opt().unwrap_or(0);
        // Random ids as the hub makes them, inserted in id order so that the
        // load is quick (the stored index is the same).
        let mut ids: Vec<[u8; 16]> = (2..=n).map(|_| *SystemClock.new_id().as_bytes()).collect();
        ids.sort_unstable();
        for (seq, id) in (2..=n).zip(ids) {
            let id = uuid_bytes::Id(id);
            insert
                .execute(rusqlite::params![
                    id,
                    seq as i64,
                    now,
                    uuid_bytes::Id(*session.0.as_bytes())
                ])
                .map_err(err)?;
        }
        tx.execute(
            "UPDATE sessions SET last_seq = ?1 WHERE id = ?2",
            rusqlite::params![n as i64, uuid_bytes::Id(*session.0.as_bytes())],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(err)?;
    Ok(())
}

/// Seconds per message of ingest into the big session (64 producers).
async fn history_ingest(w: &World, round: usize) -> Result<f64, String> {
    const PRODUCERS: usize = 64;
    const PER: usize = 25;
    let batches: Vec<Vec<NewInbound>> = (0..PRODUCERS)
        .map(|p| {
            (0..PER)
                .map(|i| inbound(w, "big", format!("h{round}-{p}-{i}")))
                .collect()
        })
        .collect();
    let mut tasks = Vec::with_capacity(PRODUCERS);
    let start = Instant::now();
    for news in batches {
        let store = Arc::clone(&w.store);
        tasks.push(tokio::spawn(async move {
            for new in news {
                store.append_inbound(new).await.map_err(err)?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(start.elapsed().as_secs_f64() / (PRODUCERS * PER) as f64)
}

/// Seconds one read of the session's last 50 messages took.
async fn history_read(w: &World, session: SessionId) -> Result<f64, String> {
    let start = Instant::now();
    let page = w
        .store
        .messages(session, Cursor::End, 50)
        .await
        .map_err(err)?;
    if page.len() != 50 {
        return Err(format!("expected 50 messages, read {}", page.len()));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Cost with 1,000,000 stored messages divided by the cost with 1,000.
/// Reads take turns between the two stores, one read each, and the median
/// read of each counts; short ingest rounds (1,600 messages) alternate
/// between the stores and the best round of each counts. (This machine's
/// speed drifts by up to 2x within seconds: a store measured only after the
/// other carries that drift into the ratio.)
async fn history_scaling() -> Outcome {
    const READ_ROUNDS: usize = 3;
    const READS: usize = 1_000;
    const INGEST_ROUNDS: usize = 12;
    let scratch = Scratch::new("history")?;
    let (small, small_session) = history_world(&scratch.db("small.db"), 1_000).await?;
    let (big, big_session) = history_world(&scratch.db("big.db"), 1_000_000).await?;
    let (mut small_reads, mut big_reads) = (Vec::new(), Vec::new());
    for round in 0..=READ_ROUNDS {
        let (mut small_round, mut big_round) = (Vec::new(), Vec::new());
        for _ in 0..READS {
            small_round.push(history_read(&small, small_session).await?);
            big_round.push(history_read(&big, big_session).await?);
        }
        if round > 0 {
            // Round 0 warms the caches up.
            small_reads.extend(small_round);
            big_reads.extend(big_round);
        }
    }
    let (mut small_ingest, mut big_ingest) = (f64::MAX, f64::MAX);
    for round in 0..=INGEST_ROUNDS {
        let small_round = history_ingest(&small, round).await?;
        let big_round = history_ingest(&big, round).await?;
        if round > 0 {
            small_ingest = small_ingest.min(small_round);
            big_ingest = big_ingest.min(big_round);
        }
    }
    small.store.close().await;
    big.store.close().await;
    let (small_read, big_read) = (median(small_reads), median(big_reads));
    Ok(vec![
        Measured::scaling(
            "history_scaling/ingest",
            big_ingest * 1e6,
            small_ingest * 1e6,
            "us/msg",
        ),
        Measured::scaling(
            "history_scaling/read",
            big_read * 1e6,
            small_read * 1e6,
            "us/read",
        ),
    ])
}
