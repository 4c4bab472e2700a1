//! The event log: appending a call's events in its transaction, reading
//! them back in a safe order, consumers' cursors and pruning.
//!
//! See the [module docs](super) for why a reader that resumes after a
//! position never misses an event.

use super::error::Fail;
use super::rows::{big, limit, ns, time, unsigned};
use super::PostgresStore;
use chatlines_core::{Event, EventId, EventPosition, LoggedEvent, StoreError};
use chrono::{DateTime, Utc};
use deadpool_postgres::{ClientWrapper, GenericClient};
use tokio_postgres::types::{FromSql, Json, Type};
use uuid::Uuid;

/// Appends events (ids, times, bodies, in log order). Listeners are woken
/// after the commit (see [`Wake`](super::wake::Wake)).
pub(super) const APPEND_EVENTS: &str = "INSERT INTO events (id, at_ns, body)
     SELECT u.id, u.at_ns, u.body
     FROM unnest($1::uuid[], $2::bigint[], $3::jsonb[]) WITH ORDINALITY AS u(id, at_ns, body, n)
     ORDER BY u.n";

/// The reading bound, part one: the next transaction id to be assigned,
/// and the (32-bit) ids of the transactions holding the schema's writer
/// lock (`$1`) right now.
const READ_BOUND: &str = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next,
         ARRAY(
             SELECT a.backend_xid::text::bigint
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = 1702261875::oid
               AND l.objid = $1::bigint::oid AND l.objsubid = 2
               AND a.backend_xid IS NOT NULL
         ) AS writers";

/// Up to `$4` events after position (`$1`, `$2`) below the bound `$3`.
const EVENTS_AFTER: &str = "SELECT tx::text::bigint AS tx, seq, id, at_ns, body
     FROM events
     WHERE (tx, seq) > ($1::bigint::text::xid8, $2)
       AND tx < $3::bigint::text::xid8
     ORDER BY tx, seq
     LIMIT $4";

/// Whether events after (`$1`, `$2`) exist (readable or not yet).
const ANY_AFTER: &str = "SELECT EXISTS (
         SELECT 1 FROM events WHERE (tx, seq) > ($1::bigint::text::xid8, $2)
     )";

/// The full (64-bit) id of a running transaction from its 32-bit id, given
/// the next id to be assigned: the one nearest to it.
fn full_xid(next: u64, xid: u32) -> u64 {
    // Wrapping difference of the low halves, as a signed distance.
    let distance = i64::from(xid.wrapping_sub(next as u32) as i32);
    next.saturating_add_signed(distance)
}

/// Below which transaction id events may be read: no writer of the schema
/// with a smaller id is still running (see the [module docs](super)).
async fn read_bound(client: &ClientWrapper, writer: i32) -> Result<i64, Fail> {
    let stmt = client.prepare_cached(READ_BOUND).await?;
    let row = client.query_one(&stmt, &[&i64::from(writer)]).await?;
    let next = unsigned(row.try_get("next")?);
    let writers: Vec<i64> = row.try_get("writers")?;
    let bound = writers
        .into_iter()
        .map(|x| full_xid(next, u32::try_from(x).unwrap_or(u32::MAX)))
        .fold(next, u64::min);
    Ok(big(bound)?)
}

/// The events of one atomic call (or one ingest batch), ready to append.
#[derive(Default)]
pub(super) struct EventRows {
    ids: Vec<Uuid>,
    ats: Vec<i64>,
    bodies: Vec<Json<Event>>,
}

impl EventRows {
    /// Events of a change made at `at`.
    pub(super) fn of(events: Vec<Event>, at: DateTime<Utc>) -> Result<Self, Fail> {
        let mut rows = Self::default();
        rows.push(events, at)?;
        Ok(rows)
    }

    /// Adds the events of a change made at `at`, after those already held.
    pub(super) fn push(&mut self, events: Vec<Event>, at: DateTime<Utc>) -> Result<(), Fail> {
        let at = ns(at)?;
        for event in events {
            self.ids.push(Uuid::now_v7());
            self.ats.push(at);
            self.bodies.push(Json(event));
        }
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends them in the caller's transaction; commit it with
    /// [`PostgresStore::commit`] so listeners are woken. Nothing happens
    /// for no events.
    pub(super) async fn append(&self, client: &impl GenericClient) -> Result<(), Fail> {
        if self.is_empty() {
            return Ok(());
        }
        let stmt = client.prepare_cached(APPEND_EVENTS).await?;
        client
            .execute(&stmt, &[&self.ids, &self.ats, &self.bodies])
            .await?;
        Ok(())
    }

    /// The parameters of [`APPEND_EVENTS`] (for callers that pipeline it).
    pub(super) fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 3] {
        [&self.ids, &self.ats, &self.bodies]
    }
}

/// A position's parts as column values.
fn position_params(p: EventPosition) -> Result<(i64, i64), StoreError> {
    Ok((big(p.tx)?, big(p.seq)?))
}

/// A `jsonb` (or `json`) column as its JSON text, not decoded.
struct JsonText<'a>(&'a str);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        // The binary form of `jsonb` is a version byte (1) and the text.
        let text = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb binary format version".into()),
            }
        } else {
            raw
        };
        Ok(JsonText(std::str::from_utf8(text)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

/// One row of [`EVENTS_AFTER`]: the body is kept as stored and decoded
/// only when a reader asks for it ([`LoggedEvent::event`]).
pub(super) fn logged_event(row: &tokio_postgres::Row) -> Result<LoggedEvent, Fail> {
    let tx: i64 = row.try_get(0)?;
    let seq: i64 = row.try_get(1)?;
    let JsonText(body) = row.try_get(4)?;
    Ok(LoggedEvent::from_json(
        EventId(row.try_get::<_, Uuid>(2)?),
        EventPosition::new(unsigned(tx), unsigned(seq)),
        time(row.try_get(3)?),
        body,
    ))
}

/// Reads up to `n` events after `after`: two statements, the bound first,
/// so the read's snapshot is taken after every writer below the bound
/// ended.
pub(super) async fn read_after(
    client: &ClientWrapper,
    writer: i32,
    after: EventPosition,
    n: usize,
) -> Result<Vec<LoggedEvent>, Fail> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let (tx, seq) = position_params(after)?;
    let bound = read_bound(client, writer).await?;
    let stmt = client.prepare_cached(EVENTS_AFTER).await?;
    client
        .query(&stmt, &[&tx, &seq, &bound, &limit(n)])
        .await?
        .iter()
        .map(logged_event)
        .collect()
}

/// Whether events after `after` exist: after a read that returned fewer
/// than asked, some are held back by writers still running.
pub(super) async fn any_after(client: &ClientWrapper, after: EventPosition) -> Result<bool, Fail> {
    let (tx, seq) = position_params(after)?;
    let stmt = client.prepare_cached(ANY_AFTER).await?;
    Ok(client.query_one(&stmt, &[&tx, &seq]).await?.try_get(0)?)
}

impl PostgresStore {
    pub(super) async fn events_after_once(
        &self,
        after: EventPosition,
        n: usize,
    ) -> Result<Vec<LoggedEvent>, Fail> {
        let client = self.client().await?;
        read_after(&client, self.writer, after, n).await
    }

    pub(super) async fn consumer_position_once(
        &self,
        consumer: &str,
    ) -> Result<Option<EventPosition>, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT tx::text::bigint AS tx, seq FROM event_consumers WHERE name = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&consumer]).await? else {
            return Ok(None);
        };
        Ok(Some(EventPosition::new(
            unsigned(row.try_get("tx")?),
            unsigned(row.try_get("seq")?),
        )))
    }

    pub(super) async fn save_consumer_position_once(
        &self,
        consumer: &str,
        position: EventPosition,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        let (tx, seq) = position_params(position)?;
        let client = self.client().await?;
        // A saved position that is not behind stays.
        let stmt = client
            .prepare_cached(
                "INSERT INTO event_consumers AS c (name, tx, seq, saved_ns)
                 VALUES ($1, $2::bigint::text::xid8, $3, $4)
                 ON CONFLICT (name) DO UPDATE
                     SET tx = EXCLUDED.tx, seq = EXCLUDED.seq, saved_ns = EXCLUDED.saved_ns
                     WHERE (c.tx, c.seq) <= (EXCLUDED.tx, EXCLUDED.seq)",
            )
            .await?;
        client
            .execute(&stmt, &[&consumer, &tx, &seq, &ns(now)?])
            .await?;
        Ok(())
    }

    pub(super) async fn remove_consumer_once(&self, consumer: &str) -> Result<(), Fail> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM event_consumers WHERE name = $1", &[&consumer])
            .await?;
        Ok(())
    }

    pub(super) async fn prune_events_once(
        &self,
        before: DateTime<Utc>,
        n: usize,
    ) -> Result<u64, Fail> {
        if n == 0 {
            return Ok(0);
        }
        let client = self.client().await?;
        // The oldest `n` events up to the slowest consumer's position (all
        // of them without consumers), of which those older than `before`
        // go: a bounded index range, deleted by row address. Row locks
        // only, and on rows no writer touches.
        let stmt = client
            .prepare_cached(
                "WITH slowest AS (
                     SELECT tx, seq FROM event_consumers
                     UNION ALL SELECT '18446744073709551615'::xid8, 9223372036854775807
                     ORDER BY 1, 2
                     LIMIT 1
                 ), oldest AS (
                     SELECT e.ctid AS row_id, e.at_ns FROM events e
                     WHERE (e.tx, e.seq) <= (SELECT s.tx, s.seq FROM slowest s)
                     ORDER BY e.tx, e.seq
                     LIMIT $2
                 )
                 DELETE FROM events
                 WHERE ctid = ANY (ARRAY(SELECT row_id FROM oldest WHERE at_ns < $1))",
            )
            .await?;
        Ok(client.execute(&stmt, &[&ns(before)?, &limit(n)]).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::full_xid;

    #[test]
    fn running_ids_are_widened_to_the_nearest_full_id() {
        let next = (7u64 << 32) | 100;
        assert_eq!(full_xid(next, 90), (7 << 32) | 90);
        assert_eq!(full_xid(next, 105), (7 << 32) | 105);
        // Just before the epoch turned.
        assert_eq!(
            full_xid(next, u32::MAX - 3),
            (6 << 32) | u64::from(u32::MAX - 3)
        );
        let next = (3u64 << 32) | u64::from(u32::MAX - 1);
        // Just after it turns.
        assert_eq!(full_xid(next, 2), (4 << 32) | 2);
    }
}
