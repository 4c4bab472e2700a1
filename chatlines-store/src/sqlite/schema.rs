//! The schema, its migrations and the connection settings.
//!
//! The schema version lives in SQLite's `user_version` (managed by
//! `rusqlite_migration`). Migrations are append-only: never edit a released
//! one, add a new `M::up` instead.

use super::rows::{db_err, DbResult};
use chatlines_core::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{Migrations, M};
use std::path::Path;
use std::time::Duration;

/// Version 1: every table of the store.
const V1: &str = r#"
CREATE TABLE lines (
    id          BLOB PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 0),
    config      TEXT NOT NULL,              -- LineConfig as JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,                    -- set by delete_line; history stays
    rr_cursor   TEXT                        -- round robin: last assigned user
);
CREATE INDEX lines_live ON lines (created_at) WHERE deleted_at IS NULL;

CREATE TABLE sources (
    id           BLOB PRIMARY KEY NOT NULL,
    line         BLOB NOT NULL REFERENCES lines (id),
    kind         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    config_ref   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX sources_line ON sources (line);
CREATE INDEX sources_created ON sources (created_at);

CREATE TABLE contacts (
    id            BLOB PRIMARY KEY NOT NULL,
    key           TEXT NOT NULL UNIQUE,     -- ContactKey as JSON
    display_name  TEXT NOT NULL,
    reply_address TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id         BLOB PRIMARY KEY NOT NULL,
    line       BLOB NOT NULL REFERENCES lines (id),
    contact    BLOB NOT NULL REFERENCES contacts (id),
    status     TEXT NOT NULL CHECK (status IN ('queued', 'offered', 'assigned', 'closed')),
    operator   TEXT,
    reason     TEXT NOT NULL,               -- RouteReason as JSON
    version    INTEGER NOT NULL CHECK (version >= 1),
    last_seq   INTEGER NOT NULL CHECK (last_seq >= 0),
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER,
    CHECK ((status = 'assigned') = (operator IS NOT NULL)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
-- One open session per (line, contact), whatever the code does.
CREATE UNIQUE INDEX sessions_one_open ON sessions (line, contact) WHERE status <> 'closed';
CREATE INDEX sessions_by_contact ON sessions (line, contact, opened_at);
CREATE INDEX sessions_waiting ON sessions (line, status, opened_at)
    WHERE status IN ('queued', 'offered');
CREATE INDEX sessions_assigned ON sessions (operator, opened_at) WHERE status = 'assigned';

CREATE TABLE messages (
    id                  BLOB PRIMARY KEY NOT NULL,
    session             BLOB NOT NULL REFERENCES sessions (id),
    line                BLOB NOT NULL,
    contact             BLOB NOT NULL,
    seq                 INTEGER NOT NULL CHECK (seq >= 1),
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author              TEXT NOT NULL,      -- Author as JSON
    body                TEXT NOT NULL,      -- Body as JSON
    source_id           BLOB,
    external_message_id TEXT,
    created_at          INTEGER NOT NULL,
    UNIQUE (session, seq),                        -- history by (session, seq)
    UNIQUE (source_id, external_message_id)       -- idempotent ingest
);

CREATE TABLE outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    message         BLOB NOT NULL UNIQUE REFERENCES messages (id),
    session         BLOB NOT NULL,
    source          BLOB NOT NULL,
    address         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    status          TEXT NOT NULL,          -- OutboxStatus as JSON
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_token     BLOB,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE state = 'pending';

CREATE TABLE roster (
    line     BLOB NOT NULL REFERENCES lines (id),
    user     TEXT NOT NULL,
    eligible INTEGER NOT NULL CHECK (eligible IN (0, 1)),
    load     INTEGER NOT NULL CHECK (load >= 0),
    PRIMARY KEY (line, user)
) WITHOUT ROWID;
-- Round robin: next eligible user after the cursor.
CREATE INDEX roster_round_robin ON roster (line, user) WHERE eligible = 1;
-- Least loaded: eligible user with the smallest (load, user).
CREATE INDEX roster_least_loaded ON roster (line, load, user) WHERE eligible = 1;

CREATE TABLE account_links (
    line      BLOB NOT NULL,
    contact   BLOB NOT NULL,
    app       TEXT NOT NULL,
    item      TEXT NOT NULL,
    linked_by TEXT,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (line, contact)
) WITHOUT ROWID;

CREATE TABLE requests (
    id         BLOB PRIMARY KEY NOT NULL,
    session    BLOB NOT NULL,
    app        TEXT NOT NULL,
    item       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX requests_session ON requests (session, created_at);
"#;

/// Version 2: the event log and its consumers' cursors. A new event's
/// position is one past the largest stored; pruning always keeps the newest
/// event, so a position is never reused.
const V2: &str = r#"
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    id       BLOB NOT NULL,
    at       INTEGER NOT NULL,
    body     TEXT NOT NULL                  -- Event as JSON
);

CREATE TABLE event_consumers (
    name       TEXT PRIMARY KEY NOT NULL,
    position   INTEGER NOT NULL CHECK (position >= 0),
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Version 3: messenger updates. What edits, revokes, reactions and
/// delivery statuses left on a message (core's `MessageState` as JSON; no
/// row: nothing happened to it), and the index that finds an outbound
/// message by the id its messenger gave it.
const V3: &str = r#"
CREATE TABLE message_states (
    message BLOB PRIMARY KEY NOT NULL REFERENCES messages (id),
    state   TEXT NOT NULL                   -- MessageState as JSON
) WITHOUT ROWID;

CREATE INDEX outbox_sent_external ON outbox (source, json_extract(status, '$.external_id'))
    WHERE state = 'sent';
"#;

/// Version 4: the indexes of the operator and supervisor lists.
const V4: &str = r#"
-- Offered sessions of every line a user is eligible on.
CREATE INDEX roster_by_user ON roster (user, line) WHERE eligible = 1;
-- A line's open sessions in list order.
CREATE INDEX sessions_open_by_line ON sessions (line, opened_at) WHERE status <> 'closed';
-- A session's last client and operator message.
CREATE INDEX messages_by_direction ON messages (session, direction, seq);
"#;

/// Version 5: the media queue. One fetch job per pending inbound
/// attachment, written with its message; claimed under a lease.
const V5: &str = r#"
CREATE TABLE media_jobs (
    message         BLOB NOT NULL REFERENCES messages (id),
    idx             INTEGER NOT NULL CHECK (idx >= 0),  -- attachment position
    session         BLOB NOT NULL,
    source          BLOB NOT NULL,
    remote          TEXT NOT NULL,                      -- messenger reference
    state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_token     BLOB,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (message, idx)
);
CREATE INDEX media_jobs_due ON media_jobs (next_attempt_at, created_at) WHERE state = 'pending';
"#;

/// Version 6: a claim takes only the head of each chat (its oldest pending
/// entry); this index answers "is there an older pending entry of this
/// chat" with one seek (the rowid is the write order).
const V6: &str = r#"
CREATE INDEX outbox_chat_pending ON outbox (source, address) WHERE state = 'pending';
"#;

/// Version 7: the messenger's send time of an inbound message
/// (nanoseconds since the epoch, like every stored time; NULL when the
/// messenger gave none).
const V7: &str = r#"
ALTER TABLE messages ADD COLUMN sent_at INTEGER;
"#;

/// Version 8: durable timers, one per (session, kind), written with the
/// session change that arms them; claimed by due time under a lease.
const V8: &str = r#"
CREATE TABLE timers (
    session       BLOB NOT NULL,
    kind          TEXT NOT NULL,                 -- TimerKind::name
    line          BLOB NOT NULL,
    due_at        INTEGER NOT NULL,
    armed_version INTEGER NOT NULL CHECK (armed_version >= 0),
    lease_token   BLOB,
    lease_until   INTEGER,
    PRIMARY KEY (session, kind)
) WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_at);
"#;

/// Version 9: each operator's consecutive lapses of the accept timeout on
/// a line, and whether they are set away there (ineligible until made
/// eligible one by one; roster rebuilds keep them ineligible).
const V9: &str = r#"
ALTER TABLE roster ADD COLUMN no_answer INTEGER NOT NULL DEFAULT 0 CHECK (no_answer >= 0);
ALTER TABLE roster ADD COLUMN away INTEGER NOT NULL DEFAULT 0 CHECK (away IN (0, 1));
"#;

/// Version 10: the bot stage's session state (`bot`). SQLite cannot
/// change a CHECK constraint in place, so the sessions table is rebuilt
/// (rows keep their rowid, which orders sessions opened at the same
/// time), with its indexes. Runs with foreign keys off (see
/// [`open_writer`]) and checks them before it commits.
const V10: &str = r#"
CREATE TABLE sessions_v10 (
    id         BLOB PRIMARY KEY NOT NULL,
    line       BLOB NOT NULL REFERENCES lines (id),
    contact    BLOB NOT NULL REFERENCES contacts (id),
    status     TEXT NOT NULL CHECK (status IN ('bot', 'queued', 'offered', 'assigned', 'closed')),
    operator   TEXT,
    reason     TEXT NOT NULL,               -- RouteReason as JSON
    version    INTEGER NOT NULL CHECK (version >= 1),
    last_seq   INTEGER NOT NULL CHECK (last_seq >= 0),
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER,
    CHECK ((status = 'assigned') = (operator IS NOT NULL)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
INSERT INTO sessions_v10 (rowid, id, line, contact, status, operator, reason, version, last_seq,
                          opened_at, updated_at, closed_at)
    SELECT rowid, id, line, contact, status, operator, reason, version, last_seq,
           opened_at, updated_at, closed_at
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v10 RENAME TO sessions;
CREATE UNIQUE INDEX sessions_one_open ON sessions (line, contact) WHERE status <> 'closed';
CREATE INDEX sessions_by_contact ON sessions (line, contact, opened_at);
CREATE INDEX sessions_waiting ON sessions (line, status, opened_at)
    WHERE status IN ('queued', 'offered');
CREATE INDEX sessions_assigned ON sessions (operator, opened_at) WHERE status = 'assigned';
CREATE INDEX sessions_open_by_line ON sessions (line, opened_at) WHERE status <> 'closed';
"#;

/// Version 11: service levels. A session's SLA clocks (JSON of
/// `SessionSla`, NULL on lines without targets), and the breaches kept for
/// reports, read per line and period of due time.
const V11: &str = r#"
ALTER TABLE sessions ADD COLUMN sla TEXT;
CREATE TABLE sla_breaches (
    session     BLOB NOT NULL,
    target      TEXT NOT NULL,                   -- SlaTarget::name
    due_at      INTEGER NOT NULL,
    line        BLOB NOT NULL,
    contact     BLOB NOT NULL,
    breached_at INTEGER NOT NULL,
    operator    TEXT,
    PRIMARY KEY (session, target, due_at)
) WITHOUT ROWID;
CREATE INDEX sla_breaches_line_due ON sla_breaches (line, due_at, session, target);
"#;

/// Version 12: each session's priority (0 low … 3 urgent, 1 normal for
/// every session before), and the index waiting sessions are served from:
/// highest priority first, then oldest.
const V12: &str = r#"
ALTER TABLE sessions ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3);
CREATE INDEX sessions_serving ON sessions (line, status, priority DESC, opened_at)
    WHERE status IN ('queued', 'offered');
"#;

/// Version 13: the lines that have queued sessions, read by
/// `queued_lines` (what `Hub::drain` walks) from the queued sessions
/// alone, never from every waiting one.
const V13: &str = r#"
CREATE INDEX sessions_queued ON sessions (line) WHERE status = 'queued';
"#;

/// Version 14: the supervisor list finds a session's operator messages
/// through an index of outbound messages alone. Its client messages need
/// none of their own: the first one after the last operator message, and
/// the last one, are found on the `(session, seq)` key. Ingest, which
/// stores client messages, no longer writes an index entry keyed by
/// session and direction for each one: a third fewer WAL frames per group
/// commit.
const V14: &str = r#"
DROP INDEX messages_by_direction;
CREATE INDEX messages_outbound ON messages (session, seq) WHERE direction = 'outbound';
"#;

/// The migrations, oldest first.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
        M::up(V7),
        M::up(V8),
        M::up(V9),
        M::up(V10).foreign_key_check(),
        M::up(V11),
        M::up(V12),
        M::up(V13),
        M::up(V14),
    ])
}

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    14
}

/// Settings of every connection.
fn configure(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    conn.busy_timeout(busy_timeout).db()?;
    conn.pragma_update(None, "foreign_keys", true).db()?;
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    // Savepoint journals and sorts in memory, not in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY").db()?;
    // 8 MiB of page cache (allocated as used): the indexes' upper levels
    // and the pages being appended to. Not more: a commit after a b-tree
    // rebalance walks the connection's whole page-cache hash table, so
    // its cost grows with the cache (with 64 MiB it took 4-5% of the
    // writer's time under sustained ingest; with 8 MiB under 2%).
    conn.pragma_update(None, "cache_size", -8_192).db()?;
    // The checkpointer thread copies the WAL back (see `checkpointer`); the
    // writer checkpoints itself only as a backstop, should the WAL pass
    // ~400 MB.
    conn.pragma_update(None, "wal_autocheckpoint", 100_000)
        .db()?;
    // After a burst grew the WAL file, its restart truncates it to 64 MiB.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens the write connection: checks the file, switches it to WAL and
/// brings the schema up to date. A file from a newer version, or not a
/// database, is refused before anything is written.
pub(crate) fn open_writer(
    path: Option<&Path>,
    busy_timeout: Duration,
) -> Result<Connection, StoreError> {
    let mut conn = match path {
        Some(p) => Connection::open(p),
        None => Connection::open_in_memory(),
    }
    .map_err(|e| opening(path, e))?;
    configure(&conn, busy_timeout)?;
    // Reading the header first: fails on a file that is not a database,
    // and tells the schema version, before anything is written.
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| opening(path, e))?;
    if found > latest_version() {
        return Err(StoreError::Unusable(format!(
            "{} was written by a newer chatlines (schema version {found}; this build knows up to \
             {}); upgrade chatlines to open it. Nothing was changed",
            shown(path),
            latest_version()
        )));
    }
    if path.is_some() {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| opening(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unusable(format!(
                "{} cannot use write-ahead logging (journal mode stays {mode}); put the database \
                 on a local file system",
                shown(path)
            )));
        }
    }
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    // Take the write lock once: a database held by another process fails
    // here (after the busy timeout) with a clear "locked" error.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(|e| opening(path, e))?;
    // A migration that rebuilds a table (version 10) needs foreign keys
    // off; it checks them itself before it commits.
    conn.pragma_update(None, "foreign_keys", false).db()?;
    let migrated = migrations().to_latest(&mut conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => opening(path, err),
        other => StoreError::Unusable(format!(
            "{}: the schema cannot be brought up to date: {other}",
            shown(path)
        )),
    });
    conn.pragma_update(None, "foreign_keys", true).db()?;
    migrated?;
    Ok(conn)
}

/// Opens a read connection on an existing, migrated database.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| opening(Some(path), e))?;
    conn.busy_timeout(busy_timeout).db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens the checkpointer's connection on an existing, migrated database
/// (read-write: a checkpoint writes the database file).
pub(crate) fn open_checkpointer(
    path: &Path,
    busy_timeout: Duration,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| opening(Some(path), e))?;
    configure(&conn, busy_timeout)?;
    Ok(conn)
}

fn shown(path: Option<&Path>) -> String {
    match path {
        Some(p) => format!("database {}", p.display()),
        None => "in-memory database".to_owned(),
    }
}

fn opening(path: Option<&Path>, e: rusqlite::Error) -> StoreError {
    match db_err(e) {
        StoreError::Unusable(m) => StoreError::Unusable(format!("{}: {m}", shown(path))),
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{}: {m}", shown(path))),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn latest_version_matches_the_migrations() {
        let conn = open_writer(None, Duration::from_secs(1)).expect("open");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        assert_eq!(v, latest_version());
    }

    #[test]
    fn version_10_keeps_the_sessions_and_accepts_the_bot_state() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrations().to_version(&mut conn, 9).expect("version 9");
        conn.execute_batch(
            "INSERT INTO lines (id, version, config, created_at, updated_at)
                 VALUES (x'01', 1, '{}', 0, 0);
             INSERT INTO contacts (id, key, display_name, created_at)
                 VALUES (x'02', 'k', 'Pavel', 0);
             INSERT INTO sessions (rowid, id, line, contact, status, operator, reason, version,
                                   last_seq, opened_at, updated_at, closed_at)
                 VALUES (7, x'03', x'01', x'02', 'assigned', 'ann', '{}', 3, 1, 5, 6, NULL);
             INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                                   created_at)
                 VALUES (x'04', x'03', x'01', x'02', 1, 'inbound', '{}', '{}', 5);",
        )
        .expect("version 9 rows");
        assert!(conn
            .execute("UPDATE sessions SET status = 'bot', operator = NULL", [])
            .is_err());
        conn.pragma_update(None, "foreign_keys", false)
            .expect("fk off");
        migrations().to_version(&mut conn, 10).expect("version 10");
        conn.pragma_update(None, "foreign_keys", true)
            .expect("fk on");
        let (rowid, operator): (i64, String) = conn
            .query_row(
                "SELECT rowid, operator FROM sessions WHERE id = x'03'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("kept");
        assert_eq!((rowid, operator.as_str()), (7, "ann"));
        conn.execute("UPDATE sessions SET status = 'bot', operator = NULL", [])
            .expect("the bot state");
        assert!(conn
            .execute("UPDATE sessions SET status = 'nap'", [])
            .is_err());
        // The messages still reference the rebuilt table.
        assert!(conn
            .execute(
                "INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                                       created_at)
                     VALUES (x'05', x'09', x'01', x'02', 2, 'inbound', '{}', '{}', 5)",
                [],
            )
            .is_err());
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'
                   AND name LIKE 'sessions_%'",
                [],
                |r| r.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes, 5);
    }

    #[test]
    fn version_14_finds_the_message_times_of_stored_sessions() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrations().to_version(&mut conn, 13).expect("version 13");
        // A client message at 10, then two operator messages at 20 and 30.
        conn.execute_batch(
            "INSERT INTO lines (id, version, config, created_at, updated_at)
                 VALUES (x'00000000000000000000000000000001', 1, '{}', 0, 0);
             INSERT INTO contacts (id, key, display_name, created_at)
                 VALUES (x'00000000000000000000000000000002', 'k', 'Pavel', 0);
             INSERT INTO sessions (id, line, contact, status, operator, reason, version,
                                   last_seq, opened_at, updated_at, closed_at)
                 VALUES (x'00000000000000000000000000000003', x'00000000000000000000000000000001',
                         x'00000000000000000000000000000002', 'queued', NULL,
                         '{\"reason\":\"new\"}', 1, 3, 5, 30, NULL);",
        )
        .expect("version 13 rows");
        for (seq, direction, at) in [(1, "inbound", 10), (2, "outbound", 20), (3, "outbound", 30)] {
            conn.execute(
                "INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                                       created_at)
                     VALUES (?1, x'00000000000000000000000000000003',
                             x'00000000000000000000000000000001',
                             x'00000000000000000000000000000002', ?2, ?3, '{}', '{}', ?4)",
                rusqlite::params![
                    uuid::Uuid::from_u128(100 + seq).as_bytes().to_vec(),
                    seq as i64,
                    direction,
                    at
                ],
            )
            .expect("message");
        }
        migrations().to_version(&mut conn, 14).expect("version 14");
        let gone: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'messages_by_direction'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(gone, 0);
        let line = chatlines_core::LineId::from_uuid(uuid::Uuid::from_u128(1));
        let board = super::super::sessions::of_line(&conn, line, None, None, 10).expect("board");
        let [overview] = board.as_slice() else {
            panic!("one open session expected, got {board:?}");
        };
        let at = super::super::rows::time;
        assert_eq!(overview.waiting_since, None, "answered: nobody waits");
        assert_eq!(overview.last_client_message_at, Some(at(10)));
        assert_eq!(overview.last_operator_message_at, Some(at(30)));
    }

    /// The query plan of `sql`, one detail per row.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let n = stmt.parameter_count();
        let nulls = rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, n));
        stmt.query_map(nulls, |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows")
    }

    #[test]
    fn hot_paths_seek_an_index_instead_of_scanning() {
        let conn = open_writer(None, Duration::from_secs(1)).expect("open");
        let hot = [
            // round robin: next eligible after the cursor, and the wrap
            ("SELECT user FROM roster WHERE line = ?1 AND eligible = 1 AND user > ?2 ORDER BY user LIMIT 1", "roster_round_robin"),
            ("SELECT user FROM roster WHERE line = ?1 AND eligible = 1 ORDER BY user LIMIT 1", "roster_round_robin"),
            // least loaded
            ("SELECT user FROM roster WHERE line = ?1 AND eligible = 1 AND load < ?2 ORDER BY load, user LIMIT 1", "roster_least_loaded"),
            // the open session of a client
            ("SELECT id FROM sessions WHERE line = ?1 AND contact = ?2 AND status <> 'closed'", "sessions_one_open"),
            // queued / offered sessions of a line
            ("SELECT id FROM sessions WHERE line = ?1 AND status = ?2 AND status IN ('queued', 'offered') ORDER BY opened_at, rowid LIMIT ?3", "sessions_waiting"),
            // queued / offered sessions of a line in serving order
            ("SELECT id FROM sessions WHERE line = ?1 AND status = ?2 AND status IN ('queued', 'offered') ORDER BY priority DESC, opened_at, rowid LIMIT ?3", "sessions_serving"),
            // history, newest page
            ("SELECT id FROM messages WHERE session = ?1 AND seq >= ?2 ORDER BY seq DESC LIMIT ?3", "sqlite_autoindex_messages_2"),
            // the supervisor list: a session's last operator message
            ("SELECT created_at FROM messages WHERE session = ?1 AND direction = 'outbound' ORDER BY seq DESC LIMIT 1", "messages_outbound"),
            ("SELECT max(seq) FROM messages WHERE session = ?1 AND direction = 'outbound'", "messages_outbound"),
            // ... its last client message, and the first after a seq
            ("SELECT created_at FROM messages WHERE session = ?1 AND direction = 'inbound' ORDER BY seq DESC LIMIT 1", "sqlite_autoindex_messages_2"),
            ("SELECT created_at FROM messages WHERE session = ?1 AND direction = 'inbound' AND seq > ?2 ORDER BY seq LIMIT 1", "sqlite_autoindex_messages_2"),
            // ingest dedupe
            ("SELECT id FROM messages WHERE source_id = ?1 AND external_message_id = ?2", "sqlite_autoindex_messages_3"),
            // a delivery status: the outbound message by its messenger id
            ("SELECT message FROM outbox WHERE source = ?1 AND json_extract(status, '$.external_id') = ?2 AND state = 'sent'", "outbox_sent_external"),
            // due outbox entries
            ("SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY next_attempt_at, created_at, rowid LIMIT ?2", "outbox_due"),
            // an older pending entry of the same chat (head-only claims)
            ("SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.source = ?1 AND p.address = ?2 AND p.rowid < ?3", "outbox_chat_pending"),
            // due timers
            ("SELECT session FROM timers WHERE due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY due_at LIMIT ?2", "timers_due"),
            // SLA breaches of a line in a period
            ("SELECT session FROM sla_breaches WHERE line = ?1 AND due_at >= ?2 AND due_at < ?3 ORDER BY due_at, session, target LIMIT ?4", "sla_breaches_line_due"),
        ];
        for (sql, index) in hot {
            let plan = plan(&conn, sql);
            assert!(
                plan.iter()
                    .any(|p| p.starts_with("SEARCH") && p.contains(index))
                    || plan
                        .iter()
                        .any(|p| p.contains(index) && !p.starts_with("SCAN")),
                "{sql}: expected a search on {index}, got {plan:?}"
            );
            assert!(
                !plan.iter().any(|p| p.contains("USE TEMP B-TREE")),
                "{sql}: sorts instead of reading in index order: {plan:?}"
            );
        }
        // The ingest hot path: the client by key, then their open session.
        let plan = plan(
            &conn,
            "SELECT s.id, c.id FROM contacts c
             JOIN sessions s ON s.line = ?1 AND s.contact = c.id AND s.status <> 'closed'
             WHERE c.key = ?2",
        );
        assert!(
            plan.iter().all(|p| p.starts_with("SEARCH")),
            "ingest lookup scans: {plan:?}"
        );
        assert!(
            plan.iter().any(|p| p.contains("sessions_one_open")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|p| p.contains("sqlite_autoindex_contacts")),
            "{plan:?}"
        );
    }
}
