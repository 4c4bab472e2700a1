//! SqliteStore and its file: reopening, refusing files it must not touch,
//! another process holding the lock, and crashes (SIGKILL) mid-ingest.
//!
//! The child processes are this test binary itself, re-run on the ignored
//! test `child_process`, with the role in `CHATLINES_SQLITE_CHILD`.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

mod sqlite_support;

use chatlines_core::store::prelude::*;
use chatlines_core::{
    Body, ContactKey, DeliveryOutcome, ExternalRef, LineId, MessageId, NewInbound, OutboxStatus,
    SessionStatus, SourceId, StoreError,
};
use chatlines_store::sqlite::SqliteConfig;
use chatlines_store::testkit::fixtures::{
    at, id, inbound_ext, must, new_line, new_source, outbox_for, reply, some, take,
};
use chatlines_store::SqliteStore;
use chrono::Utc;
use sqlite_support::{acknowledged as ack_ids, kill_after_first_ack};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

const ROLE: &str = "CHATLINES_SQLITE_CHILD";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("chatlines.db");
    (dir, path)
}

/// The bytes of every file in `dir`, by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("dir entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read file"),
            )
        })
        .collect();
    files.sort();
    files
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open for integrity check");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

#[test]
fn reopening_shows_everything() {
    let (_dir, path) = temp_db();
    runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "open");
        let line = new_line(&store, 1).await;
        let source = new_source(&store, line.id, 2).await;
        let first = must(
            store
                .append_inbound(inbound_ext(line.id, source.id, "ann", "m-1", 3))
                .await,
            "first message",
        );
        let session = first.session.id;
        must(store.transition(session, take("op-1"), at(4)).await, "take");
        let mut answer = reply(session, "op-1", "hello Ann", 5);
        let entry = outbox_for(&answer, source.id, 5);
        answer.outbox = Some(entry.clone());
        let answer = must(store.append_outbound(answer).await, "reply");
        let claimed = must(store.claim_outbox(at(6), at(60), 10).await, "claim");
        assert_eq!(claimed.len(), 1);
        let token = some(claimed[0].lease, "lease").token;
        must(
            store
                .finish_outbox(
                    entry.id,
                    token,
                    DeliveryOutcome::Sent {
                        external_id: "tg-9".into(),
                        substitute: None,
                    },
                    at(7),
                )
                .await,
            "finish",
        );
        must(
            store.set_eligible(line.id, &"op-2".into(), true).await,
            "roster",
        );
        store.close().await;
        drop(store);

        let store = must(SqliteStore::open(&path).await, "reopen");
        assert_eq!(must(store.lines().await, "lines"), vec![line.clone()]);
        assert_eq!(must(store.sources().await, "sources"), vec![source.clone()]);
        let s = some(must(store.session(session).await, "session"), "session");
        assert_eq!(
            s.status,
            SessionStatus::Assigned {
                operator: "op-1".into()
            }
        );
        assert_eq!(s.version, 2);
        assert_eq!(s.last_seq, 2);
        let history = must(
            store
                .messages(session, chatlines_core::Cursor::Start, 10)
                .await,
            "history",
        );
        assert_eq!(history.len(), 2);
        assert_eq!(history[0], first.message);
        assert_eq!(history[1], answer);
        let sent = some(must(store.outbox_entry(entry.id).await, "outbox"), "outbox");
        assert_eq!(
            sent.status,
            OutboxStatus::Sent {
                external_id: "tg-9".into(),
                substitute: None,
            }
        );
        assert_eq!(sent.attempts, 1);
        let roster = must(store.roster(line.id).await, "roster");
        assert_eq!(roster.len(), 2);
        assert_eq!((roster[0].user.as_str(), roster[0].load), ("op-1", 1));
        assert!(roster[1].eligible);
        // The dedupe key survives too.
        let again = must(
            store
                .append_inbound(inbound_ext(line.id, source.id, "ann", "m-1", 8))
                .await,
            "redelivery",
        );
        assert!(again.duplicate);
        assert_eq!(again.message.id, first.message.id);
    });
    assert_eq!(integrity(&path), "ok");
}

/// The writer commits and answers whether it sleeps at once when idle or
/// keeps looking for requests far longer than they take to come, and a
/// close reaches it in both cases.
#[test]
fn the_writer_commits_whether_or_not_it_looks_for_work_when_idle() {
    for spin in [Duration::ZERO, Duration::from_millis(20)] {
        let (_dir, path) = temp_db();
        runtime().block_on(async {
            let store = std::sync::Arc::new(must(
                SqliteStore::with_config(SqliteConfig::new(&path).writer_spin(spin)).await,
                "open",
            ));
            let line = new_line(&*store, 1).await;
            let source = new_source(&*store, line.id, 2).await;
            // One caller waiting for each answer, then several at once.
            for i in 0..5 {
                let id = format!("alone-{i}");
                let new = inbound_ext(line.id, source.id, "ann", &id, 3 + i);
                assert!(!must(store.append_inbound(new).await, "append").duplicate);
            }
            let callers: Vec<_> = (0..8)
                .map(|i| {
                    let store = std::sync::Arc::clone(&store);
                    let new = inbound_ext(line.id, source.id, "bob", &format!("many-{i}"), 10 + i);
                    tokio::spawn(async move { store.append_inbound(new).await })
                })
                .collect();
            for caller in callers {
                must(
                    must(caller.await.map_err(|e| e.to_string()), "join"),
                    "append",
                );
            }
            store.close().await;
        });
        let conn = rusqlite::Connection::open(&path).expect("open the file");
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(stored, 13, "writer_spin {spin:?}");
    }
}

#[test]
fn queued_media_survive_a_reopen_and_a_lease_held_at_close_expires() {
    let (_dir, path) = temp_db();
    let message = runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "open");
        let line = new_line(&store, 1).await;
        let source = new_source(&store, line.id, 2).await;
        let mut photo = chatlines_core::Attachment::new("p.jpg", "image/jpeg", 0, "tg:F1");
        photo.mark_pending();
        let mut new = inbound_ext(line.id, source.id, "ann", "m-1", 3);
        new.body = Body::text("").with_attachment(photo);
        let appended = must(store.append_inbound(new).await, "append");
        let claimed = must(store.claim_media(at(3), at(60), 10).await, "claim");
        assert_eq!(claimed.len(), 1);
        store.close().await;
        appended.message.id
    });
    runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "reopen");
        let jobs = must(store.media_jobs(message).await, "jobs");
        assert_eq!(jobs.len(), 1, "the queued fetch survived");
        assert!(
            must(store.claim_media(at(59), at(120), 10).await, "leased").is_empty(),
            "the lease taken before the close still holds"
        );
        let again = must(store.claim_media(at(60), at(120), 10).await, "expired");
        assert_eq!(again.len(), 1, "and expires like any lease");
        assert_eq!(again[0].remote, "tg:F1");
    });
}

/// Lines and sources read by id are served from memory: changes made
/// through the store are seen at once, changes made through another
/// connection to the file once the entry is older than
/// `config_cache_ttl` (here an hour, or zero: not cached).
#[test]
fn lines_and_sources_are_cached_until_the_store_changes_them() {
    runtime().block_on(async {
        let (_dir, path) = temp_db();
        let hour = Duration::from_secs(3600);
        let a = must(
            SqliteStore::with_config(SqliteConfig::new(&path).config_cache_ttl(hour)).await,
            "open a",
        );
        let uncached = must(
            SqliteStore::with_config(SqliteConfig::new(&path).config_cache_ttl(Duration::ZERO))
                .await,
            "open uncached",
        );
        let other = must(SqliteStore::open(&path).await, "open other");
        let line = new_line(&a, 1).await;
        let source = new_source(&a, line.id, 2).await;
        let (l, s) = (line.id, source.id);
        assert_eq!(
            seen(&a, l, s).await,
            (Some(line.clone()), Some(source.clone()))
        );

        // Another store on the file renames the line and unbinds the source.
        let mut renamed = line.clone();
        renamed.config.name = "Sales".to_owned();
        renamed.version += 1;
        must(other.update_line(&renamed, line.version).await, "rename");
        must(other.delete_source(s, at(3)).await, "unbind");
        assert_eq!(seen(&uncached, l, s).await, (Some(renamed.clone()), None));
        assert_eq!(
            seen(&a, l, s).await,
            (Some(line), Some(source)),
            "served from memory within the age limit"
        );

        // A change through the store itself is seen at once (and drops
        // what it had cached).
        let mut again = renamed.clone();
        again.config.name = "Billing".to_owned();
        again.version += 1;
        must(a.update_line(&again, renamed.version).await, "rename again");
        assert_eq!(seen(&a, l, s).await, (Some(again), None));
    });
}

/// What `store` answers for the line and the source.
async fn seen(
    store: &SqliteStore,
    line: LineId,
    source: SourceId,
) -> (Option<chatlines_core::Line>, Option<chatlines_core::Source>) {
    (
        must(store.line(line).await, "line"),
        must(store.source(source).await, "source"),
    )
}

#[test]
fn in_memory_store_works_and_is_private() {
    runtime().block_on(async {
        let a = must(SqliteStore::open_in_memory().await, "open a");
        let b = must(SqliteStore::open_in_memory().await, "open b");
        let line = new_line(&a, 1).await;
        assert_eq!(must(a.line(line.id).await, "line"), Some(line.clone()));
        assert_eq!(must(b.line(line.id).await, "line"), None);
    });
}

#[test]
fn newer_schema_is_refused_and_left_unchanged() {
    let (dir, path) = temp_db();
    let line_id = runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "open");
        let line = new_line(&store, 1).await;
        store.close().await;
        line.id
    });
    let ours: i64 = {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        let ours = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        conn.pragma_update(None, "user_version", 99)
            .expect("pretend a newer version wrote it");
        ours
    };
    let before = snapshot(dir.path());
    let err = runtime()
        .block_on(SqliteStore::open(&path))
        .expect_err("a newer schema must be refused");
    match &err {
        StoreError::Unusable(m) => assert!(m.contains("newer"), "{m}"),
        other => panic!("expected Unusable, got {other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before, "the files were changed");
    // Back at our version, the data is all there.
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        conn.pragma_update(None, "user_version", ours)
            .expect("reset");
    }
    runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "reopen");
        assert!(must(store.line(line_id).await, "line").is_some());
    });
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_unchanged() {
    let (dir, path) = temp_db();
    let text: Vec<u8> = b"these are meeting notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).expect("write");
    let before = snapshot(dir.path());
    let err = runtime()
        .block_on(SqliteStore::open(&path))
        .expect_err("not a database");
    match &err {
        StoreError::Unusable(m) => assert!(m.contains("not a SQLite database"), "{m}"),
        other => panic!("expected Unusable, got {other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before, "the files were changed");
}

#[test]
fn a_database_locked_by_another_process_is_reported_as_locked() {
    let (dir, path) = temp_db();
    let line_id = runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "create");
        let line = new_line(&store, 1).await;
        store.close().await;
        line.id
    });
    let mut holder = spawn_child("lock", &path);
    let out = holder.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(out).lines();
    // (the test harness prints its own lines first)
    let said = lines
        .find(|l| matches!(l, Ok(l) if l.trim_end().ends_with("locked")))
        .expect("the child took the lock");
    assert!(said.is_ok());
    let before = snapshot(dir.path());

    let config = SqliteConfig::new(&path).busy_timeout(Duration::from_millis(200));
    let err = runtime()
        .block_on(SqliteStore::with_config(config.clone()))
        .expect_err("the write lock is held by another process");
    match &err {
        StoreError::Unavailable(m) => assert!(m.contains("locked"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(snapshot(dir.path()), before, "the files were changed");

    holder.kill().expect("kill the lock holder");
    let _ = holder.wait();
    runtime().block_on(async {
        let store = must(SqliteStore::with_config(config).await, "open after release");
        assert!(must(store.line(line_id).await, "line").is_some());
    });
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    let (_dir, path) = temp_db();
    let line_id = runtime().block_on(async {
        let store = must(SqliteStore::open(&path).await, "create");
        let line = new_line(&store, 1).await;
        store.close().await;
        line.id
    });
    let mut acknowledged: Vec<MessageId> = Vec::new();
    for round in 0..20u32 {
        let said = kill_after_first_ack(spawn_child(&format!("ingest:{line_id}"), &path), round);
        let ids = ack_ids(&said);
        let printed = ids.len();
        acknowledged.extend(ids.into_iter().map(MessageId::from_uuid));
        assert!(printed > 0, "round {round}: nothing was acknowledged");
        assert_eq!(integrity(&path), "ok", "round {round}");
        runtime().block_on(async {
            let store = must(SqliteStore::open(&path).await, "reopen after the kill");
            for id in &acknowledged {
                assert!(
                    must(store.message(*id).await, "message").is_some(),
                    "round {round}: acknowledged message {id} was lost"
                );
            }
            store.close().await;
        });
    }
    assert!(acknowledged.len() >= 20);
}

fn spawn_child(role: &str, path: &Path) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("CHATLINES_SQLITE_CHILD_DB", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child process")
}

/// Not a test: the body of the child processes of the tests above.
#[test]
#[ignore = "run by the other tests as a child process"]
fn child_process() {
    let role = std::env::var(ROLE).expect("CHATLINES_SQLITE_CHILD is set by the parent");
    let path = PathBuf::from(
        std::env::var("CHATLINES_SQLITE_CHILD_DB").expect("CHATLINES_SQLITE_CHILD_DB"),
    );
    if role == "lock" {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("take the lock");
        writeln!(std::io::stdout(), "locked").expect("stdout");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let line = role
        .strip_prefix("ingest:")
        .and_then(|l| Uuid::parse_str(l).ok())
        .map(LineId::from_uuid)
        .expect("role ingest:<line id>");
    runtime().block_on(async move {
        let store = SqliteStore::open(&path).await.expect("open");
        let source: SourceId = id();
        let mut tasks = Vec::new();
        for producer in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let key = ContactKey::External {
                        source,
                        external_user: format!("client-{producer}-{}", n % 5),
                    };
                    let new = NewInbound::new(line, key, "Client", Body::text("hi"), Utc::now())
                        .with_external(ExternalRef {
                            source,
                            message_id: format!("{producer}-{n}"),
                        });
                    let id = new.message_id;
                    if store.append_inbound(new).await.is_ok() {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "ok {id}");
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[test]
fn the_wal_is_copied_back_while_the_store_stays_open() {
    let (_dir, path) = temp_db();
    let rt = runtime();
    let store = rt.block_on(async {
        let store = must(SqliteStore::open(&path).await, "open");
        let line = new_line(&store, 1).await;
        let source = new_source(&store, line.id, 1).await;
        let before = std::fs::metadata(&path).expect("db file").len();
        for i in 0..2_000 {
            let new = inbound_ext(
                line.id,
                source.id,
                &format!("u{}", i % 50),
                &format!("m{i}"),
                2,
            );
            must(store.append_inbound(new).await, "append");
        }
        (store, before)
    });
    let (store, before) = store;
    // Committed pages first land in the WAL; only a checkpoint grows the
    // database file. The writer's own auto-checkpoint would not run yet
    // (its threshold is far higher), so growth shows the checkpoint thread.
    let mut grew = false;
    for _ in 0..200 {
        if std::fs::metadata(&path).expect("db file").len() > before {
            grew = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(grew, "the database file never grew past {before} bytes");
    assert_eq!(integrity(&path), "ok");
    rt.block_on(store.close());
}
