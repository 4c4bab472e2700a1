//! The routing roster: eligibility, loads, and the answers to core's
//! roster questions, looked up inside the routing transaction.

use super::error::Fail;
use super::rows;
use super::PostgresStore;
use chatlines_core::machine::RosterQuestion;
use chatlines_core::{LineId, RosterEntry, StoreError, UserId};
use deadpool_postgres::{GenericClient, Transaction};

/// Adds `delta` (+1 or -1) to an operator's load on a line, creating an
/// ineligible entry when there is none. Loads saturate at 0.
pub(super) async fn adjust_load(
    tx: &impl GenericClient,
    line: LineId,
    user: &UserId,
    delta: i32,
) -> Result<(), Fail> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO roster (line, user_id, eligible, load) VALUES ($1, $2, false, $3)
             ON CONFLICT (line, user_id) DO UPDATE SET load = GREATEST(roster.load + $4, 0)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&line.as_uuid(), &user.as_str(), &delta.max(0), &delta],
    )
    .await?;
    Ok(())
}

/// Sets an operator's consecutive lapses on a line (creating an
/// ineligible entry when there is none) and, with `set_away`, sets them
/// away and ineligible.
pub(super) async fn set_no_answer(
    tx: &impl GenericClient,
    line: LineId,
    user: &UserId,
    count: u32,
    set_away: bool,
) -> Result<(), Fail> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO roster (line, user_id, eligible, load, no_answer, away)
             VALUES ($1, $2, false, 0, $3, $4)
             ON CONFLICT (line, user_id) DO UPDATE SET no_answer = EXCLUDED.no_answer,
                 away = roster.away OR EXCLUDED.away,
                 eligible = roster.eligible AND NOT EXCLUDED.away",
        )
        .await?;
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    tx.execute(&stmt, &[&line.as_uuid(), &user.as_str(), &count, &set_away])
        .await?;
    Ok(())
}

/// An operator's consecutive lapses on a line (0 without an entry).
pub(super) async fn no_answer(
    tx: &Transaction<'_>,
    line: LineId,
    user: &UserId,
) -> Result<u32, Fail> {
    let stmt = tx
        .prepare_cached("SELECT no_answer FROM roster WHERE line = $1 AND user_id = $2")
        .await?;
    Ok(tx
        .query_opt(&stmt, &[&line.as_uuid(), &user.as_str()])
        .await?
        .map(|row| row.try_get::<_, i32>(0))
        .transpose()?
        .map_or(0, |n| u32::try_from(n).unwrap_or(0)))
}

/// The answer to a roster question of core's machine, under the line's
/// routing lock.
pub(super) async fn answer(
    tx: &Transaction<'_>,
    line: LineId,
    question: &RosterQuestion,
) -> Result<Option<UserId>, Fail> {
    match question {
        RosterQuestion::NextAfterCursor { excluding } => {
            next_after_cursor(tx, line, excluding).await
        }
        RosterQuestion::LeastLoaded {
            capacity,
            excluding,
        } => least_loaded(tx, line, *capacity, excluding).await,
        // `RosterQuestion` is non-exhaustive: a question this store
        // cannot answer is refused, never answered "nobody".
        #[allow(unreachable_patterns)]
        other => Err(Fail::Store(StoreError::Backend(
            format!("line {line}: this store cannot answer the roster question {other:?}").into(),
        ))),
    }
}

/// Takes the line's routing lock (its routing-cursor row) until the
/// transaction ends. Every routing decision of the line holds it, and so
/// does every change that can make a queued session routable (an operator
/// made eligible, a slot freed), so of a decision "nobody free" and such a
/// change, the later one sees the earlier: either the decision sees the
/// operator, or the drain after the change sees the queued session.
pub(super) async fn lock_routing(tx: &impl GenericClient, line: LineId) -> Result<(), Fail> {
    lock_cursor(tx, line).await.map(drop)
}

/// Takes the routing lock of a line that exists (holding its row against
/// deletion until the transaction ends); `false`, locking nothing, when
/// there is no such line.
async fn lock_routing_of_a_line(tx: &Transaction<'_>, line: LineId) -> Result<bool, Fail> {
    let exists = tx
        .query_opt(
            "SELECT 1 FROM lines WHERE id = $1 FOR KEY SHARE",
            &[&line.as_uuid()],
        )
        .await?
        .is_some();
    if exists {
        lock_routing(tx, line).await?;
    }
    Ok(exists)
}

/// Locks the line's routing-cursor row (creating it if needed) and returns
/// the last user round robin assigned to. Every routing decision of the line
/// holds this lock until its transaction ends.
async fn lock_cursor(tx: &impl GenericClient, line: LineId) -> Result<Option<String>, Fail> {
    let stmt = tx
        .prepare_cached("SELECT last_user FROM routing_cursors WHERE line = $1 FOR UPDATE")
        .await?;
    if let Some(row) = tx.query_opt(&stmt, &[&line.as_uuid()]).await? {
        return Ok(row.try_get(0)?);
    }
    tx.execute(
        "INSERT INTO routing_cursors (line, last_user) VALUES ($1, NULL)
         ON CONFLICT (line) DO NOTHING",
        &[&line.as_uuid()],
    )
    .await?;
    let row = tx.query_one(&stmt, &[&line.as_uuid()]).await?;
    Ok(row.try_get(0)?)
}

/// The answer to [`RosterQuestion::NextAfterCursor`](chatlines_core::machine::RosterQuestion):
/// the first eligible user after the line's cursor in user-id order,
/// wrapping to the first one, not one of `excluding`; two index seeks
/// under the line's routing lock.
async fn next_after_cursor(
    tx: &Transaction<'_>,
    line: LineId,
    excluding: &[UserId],
) -> Result<Option<UserId>, Fail> {
    let last = lock_cursor(tx, line).await?;
    let excluding: Vec<&str> = excluding.iter().map(UserId::as_str).collect();
    let after = tx
        .prepare_cached(
            "SELECT user_id FROM roster WHERE line = $1 AND eligible AND user_id > $2
                 AND user_id <> ALL($3::text[])
             ORDER BY user_id LIMIT 1",
        )
        .await?;
    let first = tx
        .prepare_cached(
            "SELECT user_id FROM roster WHERE line = $1 AND eligible
                 AND user_id <> ALL($2::text[])
             ORDER BY user_id LIMIT 1",
        )
        .await?;
    let mut picked = None;
    if let Some(last) = &last {
        picked = tx
            .query_opt(&after, &[&line.as_uuid(), last, &excluding])
            .await?;
    }
    if picked.is_none() {
        picked = tx.query_opt(&first, &[&line.as_uuid(), &excluding]).await?;
    }
    picked
        .map(|row| row.try_get::<_, String>(0).map(UserId::new))
        .transpose()
        .map_err(Fail::from)
}

/// Moves the line's round-robin cursor (its row is locked by
/// [`next_after_cursor`]).
pub(super) async fn set_cursor(
    tx: &impl GenericClient,
    line: LineId,
    user: &UserId,
) -> Result<(), Fail> {
    let stmt = tx
        .prepare_cached("UPDATE routing_cursors SET last_user = $2 WHERE line = $1")
        .await?;
    tx.execute(&stmt, &[&line.as_uuid(), &user.as_str()])
        .await?;
    Ok(())
}

/// The answer to [`RosterQuestion::LeastLoaded`](chatlines_core::machine::RosterQuestion):
/// the eligible user with the fewest open sessions (ties by user id) whose
/// load is below `capacity`, not one of `excluding`; one index seek under
/// the line's routing lock.
async fn least_loaded(
    tx: &Transaction<'_>,
    line: LineId,
    capacity: u32,
    excluding: &[UserId],
) -> Result<Option<UserId>, Fail> {
    lock_cursor(tx, line).await?;
    let excluding: Vec<&str> = excluding.iter().map(UserId::as_str).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT user_id FROM roster WHERE line = $1 AND eligible AND load < $2
                 AND user_id <> ALL($3::text[])
             ORDER BY load, user_id LIMIT 1 FOR UPDATE",
        )
        .await?;
    let capacity = i32::try_from(capacity).unwrap_or(i32::MAX);
    Ok(tx
        .query_opt(&stmt, &[&line.as_uuid(), &capacity, &excluding])
        .await?
        .map(|row| row.try_get::<_, String>(0))
        .transpose()?
        .map(UserId::new))
}

impl PostgresStore {
    pub(super) async fn replace_roster_once(
        &self,
        line: LineId,
        eligible: &[UserId],
    ) -> Result<(), Fail> {
        let users: Vec<&str> = eligible.iter().map(UserId::as_str).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !lock_routing_of_a_line(&tx, line).await? {
            return Ok(());
        }
        tx.execute(
            "UPDATE roster SET eligible = (user_id = ANY($2)) WHERE line = $1",
            &[&line.as_uuid(), &users],
        )
        .await?;
        // An operator set away stays ineligible.
        tx.execute(
            "INSERT INTO roster (line, user_id, eligible, load)
             SELECT $1, u, true, 0 FROM unnest($2::text[]) AS u
             ON CONFLICT (line, user_id) DO UPDATE SET eligible = NOT roster.away",
            &[&line.as_uuid(), &users],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn set_eligible_once(
        &self,
        line: LineId,
        user: &UserId,
        eligible: bool,
    ) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if eligible {
            // Ineligible never creates an entry, and neither does an
            // unknown line.
            if !lock_routing_of_a_line(&tx, line).await? {
                return Ok(());
            }
            tx.execute(
                "INSERT INTO roster (line, user_id, eligible, load) VALUES ($1, $2, true, 0)
                 ON CONFLICT (line, user_id) DO UPDATE SET eligible = true,
                     no_answer = 0, away = false",
                &[&line.as_uuid(), &user.as_str()],
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE roster SET eligible = false WHERE line = $1 AND user_id = $2 AND eligible",
                &[&line.as_uuid(), &user.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn roster_once(&self, line: LineId) -> Result<Vec<RosterEntry>, Fail> {
        let client = self.client().await?;
        client
            .query(
                "SELECT user_id, eligible, load, no_answer, away FROM roster
                 WHERE line = $1 ORDER BY user_id",
                &[&line.as_uuid()],
            )
            .await?
            .iter()
            .map(rows::roster_entry)
            .collect()
    }
}
