//! Versioned schema migrations, applied under an advisory lock.
//!
//! Each migration is a SQL file applied in one transaction together with its
//! row in `chatlines_migrations`. The transaction first takes a
//! transaction-level advisory lock keyed by the schema name, so several
//! instances starting together apply each migration exactly once. A schema
//! written by a newer chatlines (a version this build does not know) is
//! refused with [`StoreError::Unusable`] before anything is changed.

use super::error::store_error;
use chatlines_core::StoreError;
use deadpool_postgres::Object;

/// The migrations, in order: (version, SQL).
pub(crate) const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_ingest_batches.sql")),
    (3, include_str!("migrations/0003_event_log.sql")),
    (4, include_str!("migrations/0004_outbox_chat_heads.sql")),
    (5, include_str!("migrations/0005_media_queue.sql")),
    (6, include_str!("migrations/0006_message_updates.sql")),
    (7, include_str!("migrations/0007_supervisor_lists.sql")),
    (8, include_str!("migrations/0008_message_sent_at.sql")),
    (9, include_str!("migrations/0009_timers.sql")),
    (10, include_str!("migrations/0010_outbox_substitute.sql")),
    (11, include_str!("migrations/0011_roster_no_answer.sql")),
    (12, include_str!("migrations/0012_session_bot_state.sql")),
    (13, include_str!("migrations/0013_sla.sql")),
    (14, include_str!("migrations/0014_session_priority.sql")),
    (15, include_str!("migrations/0015_sessions_queued.sql")),
    (16, include_str!("migrations/0016_ingest_in_one_call.sql")),
    (17, include_str!("migrations/0017_set_based_ingest.sql")),
    (
        18,
        include_str!("migrations/0018_outbound_messages_index.sql"),
    ),
];

/// The schema version this build writes.
pub(crate) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings `schema` to the latest version.
pub(crate) async fn migrate(client: &mut Object, schema: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(store_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('chatlines migrate ' || $1, 0))",
        &[&schema],
    )
    .await
    .map_err(store_error)?;
    // `schema` was checked to be a plain lowercase identifier.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.chatlines_migrations (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(store_error)?;
    let row = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.chatlines_migrations"),
            &[],
        )
        .await
        .map_err(store_error)?;
    let current: i32 = row.try_get(0).map_err(store_error)?;
    if current > latest() {
        // Dropping `tx` rolls back: nothing changed.
        return Err(StoreError::Unusable(format!(
            "schema {schema} is at version {current}, written by a newer chatlines \
             (this build knows up to {}); upgrade chatlines or use another schema",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tracing::info!(schema, version, "applying chatlines migration");
        tx.batch_execute(&format!("SET LOCAL search_path TO {schema}; {sql}"))
            .await
            .map_err(store_error)?;
        tx.execute(
            &format!("INSERT INTO {schema}.chatlines_migrations (version) VALUES ($1)"),
            &[version],
        )
        .await
        .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)
}
