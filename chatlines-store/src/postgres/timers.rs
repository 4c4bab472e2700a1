//! Timers: written with session changes, claimed with `FOR UPDATE SKIP
//! LOCKED` on the due index, fired under the session's locks.

use super::error::Fail;
use super::locks::{lock_session_keys, locked_session};
use super::log::EventRows;
use super::rows::{big, limit, ns, time, unsigned};
use super::sessions::write_changeset;
use super::PostgresStore;
use chatlines_core::machine::{self, Changeset};
use chatlines_core::{
    ClaimedTimer, FireOutcome, LineId, RoutingRule, SessionId, StoreError, Timer, TimerKind,
    TimerSettings,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;
use tokio_postgres::Row;
use uuid::Uuid;

const TIMER_COLUMNS: &str = "session, line, kind, due_ns, armed_version";

fn timer(row: &Row) -> Result<Timer, Fail> {
    let kind: &str = row.try_get(2)?;
    let kind = TimerKind::from_name(kind).ok_or_else(|| {
        Fail::Store(StoreError::Backend(
            format!("unknown timer kind {kind:?} in the timers table").into(),
        ))
    })?;
    Ok(Timer::new(
        SessionId::from_uuid(row.try_get(0)?),
        LineId::from_uuid(row.try_get(1)?),
        kind,
        time(row.try_get(3)?),
        unsigned(row.try_get(4)?),
    ))
}

/// A line's timer settings (the default when the line is gone).
pub(super) async fn settings(
    client: &impl GenericClient,
    line: LineId,
) -> Result<TimerSettings, Fail> {
    let stmt = client
        .prepare_cached("SELECT coalesce(config->'timers', '{}'::jsonb) FROM lines WHERE id = $1")
        .await?;
    match client.query_opt(&stmt, &[&line.as_uuid()]).await? {
        None => Ok(TimerSettings::default()),
        Some(row) => Ok(row.try_get::<_, Json<TimerSettings>>(0)?.0),
    }
}

/// A line's routing rule and timer settings (the defaults when the line
/// is gone).
pub(super) async fn timing(
    client: &impl GenericClient,
    line: LineId,
) -> Result<(RoutingRule, TimerSettings), Fail> {
    let stmt = client
        .prepare_cached(
            "SELECT config->'employees'->'rule', coalesce(config->'timers', '{}'::jsonb)
             FROM lines WHERE id = $1",
        )
        .await?;
    match client.query_opt(&stmt, &[&line.as_uuid()]).await? {
        None => Ok(Default::default()),
        Some(row) => Ok((
            row.try_get::<_, Option<Json<RoutingRule>>>(0)?
                .map(|j| j.0)
                .unwrap_or_default(),
            row.try_get::<_, Json<TimerSettings>>(1)?.0,
        )),
    }
}

/// Writes a changeset's timers: its cancels, the move of the kept ones
/// (armed at `expected`, the version the change was decided on) to the
/// new version, then its arms (each replacing the session's timer of its
/// kind, lease dropped).
pub(super) async fn write(
    tx: &impl GenericClient,
    c: &Changeset,
    expected: u64,
) -> Result<(), Fail> {
    write_plan(tx, &[c.session.id], &c.cancel, &[]).await?;
    if c.keep_timers {
        // Timers armed at the version the change was decided on stay
        // current at the new version.
        let stmt = tx
            .prepare_cached(
                "UPDATE timers SET armed_version = $2 WHERE session = $1 AND armed_version = $3",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &c.session.id.as_uuid(),
                &big(c.session.version)?,
                &big(expected)?,
            ],
        )
        .await?;
    }
    write_plan(tx, &[], &[], &c.arm).await
}

/// Writes timers outside a transition (messages): cancels the kinds
/// `cancel` of every session of `sessions`, then arms `arm`.
pub(super) async fn write_plan(
    tx: &impl GenericClient,
    sessions: &[SessionId],
    cancel: &[TimerKind],
    arm: &[Timer],
) -> Result<(), Fail> {
    if !cancel.is_empty() && !sessions.is_empty() {
        let kinds: Vec<&str> = cancel.iter().map(|k| k.name()).collect();
        let ids: Vec<Uuid> = sessions.iter().map(|s| s.as_uuid()).collect();
        let stmt = tx
            .prepare_cached("DELETE FROM timers WHERE session = ANY($1) AND kind = ANY($2)")
            .await?;
        tx.execute(&stmt, &[&ids, &kinds]).await?;
    }
    if !arm.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO timers (session, line, kind, due_ns, armed_version)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (session, kind) DO UPDATE SET
                     line = excluded.line, due_ns = excluded.due_ns,
                     armed_version = excluded.armed_version,
                     lease_token = NULL, lease_ns = NULL",
            )
            .await?;
        for t in arm {
            tx.execute(
                &stmt,
                &[
                    &t.session.as_uuid(),
                    &t.line.as_uuid(),
                    &t.kind.name(),
                    &ns(t.due_at)?,
                    &big(t.armed_version)?,
                ],
            )
            .await?;
        }
    }
    Ok(())
}

impl PostgresStore {
    pub(super) async fn claim_timers_once(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<ClaimedTimer>, Fail> {
        let client = self.client().await?;
        // One token per claim: a claim's timers are its own until the lease
        // ends, and any later claim uses another token.
        let token = Uuid::new_v4();
        let stmt = client
            .prepare_cached(&format!(
                "WITH due AS (
                     SELECT session, kind FROM timers
                     WHERE due_ns <= $1 AND (lease_ns IS NULL OR lease_ns <= $1)
                     ORDER BY due_ns LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE timers t SET lease_token = $3, lease_ns = $4
                 FROM due WHERE t.session = due.session AND t.kind = due.kind
                 RETURNING {}",
                TIMER_COLUMNS
                    .split(", ")
                    .map(|c| format!("t.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await?;
        let mut claimed = client
            .query(&stmt, &[&ns(now)?, &limit(n), &token, &ns(lease_until)?])
            .await?
            .iter()
            .map(|row| timer(row).map(|t| ClaimedTimer::new(t, token, lease_until)))
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| c.timer.due_at);
        Ok(claimed)
    }

    pub(super) async fn fire_timer_once(
        &self,
        claimed: &ClaimedTimer,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, Fail> {
        let key = &claimed.timer;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let line = match lock_session_keys(&tx, self.writer, key.session).await {
            Ok(line) => line,
            Err(Fail::Store(StoreError::NotFound { .. })) => return Ok(FireOutcome::Gone),
            Err(e) => return Err(e),
        };
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {TIMER_COLUMNS} FROM timers
                 WHERE session = $1 AND kind = $2 AND lease_token = $3 FOR UPDATE"
            ))
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&key.session.as_uuid(), &key.kind.name(), &claimed.token];
        // The session, the timer and the line's settings in one round trip.
        let (session, row, (rule, settings)) = futures::try_join!(
            locked_session(&tx, key.session),
            async { Ok(tx.query_opt(&stmt, &params).await?) },
            timing(&tx, line),
        )?;
        let Some(row) = row else {
            return Ok(FireOutcome::Gone);
        };
        let stored = timer(&row)?;
        let question = machine::fire_question(&session, &stored, &rule, &settings);
        let next = match &question.route {
            Some(q) => super::roster::answer(&tx, session.line, q).await?,
            None => None,
        };
        let lapses = match &question.lapses_of {
            Some(user) => super::roster::no_answer(&tx, session.line, user).await?,
            None => 0,
        };
        let answer = machine::FireAnswer::new(next, lapses);
        let outcome = match machine::fire(&session, &stored, now, &rule, &settings, &answer)? {
            Some(changeset) => {
                write_changeset(&tx, &session, &changeset).await?;
                let notice = super::messages::write_notice(&tx, &changeset, now).await?;
                let mut events = changeset.events;
                events.extend(notice);
                EventRows::of(events, now)?.append(&tx).await?;
                FireOutcome::Fired(changeset.session)
            }
            None => {
                let stmt = tx
                    .prepare_cached("DELETE FROM timers WHERE session = $1 AND kind = $2")
                    .await?;
                tx.execute(&stmt, &[&stored.session.as_uuid(), &stored.kind.name()])
                    .await?;
                FireOutcome::Stale
            }
        };
        self.commit(tx).await?;
        Ok(outcome)
    }

    pub(super) async fn due_timers_once(&self, now: DateTime<Utc>) -> Result<u64, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM timers WHERE due_ns <= $1")
            .await?;
        let n: i64 = client.query_one(&stmt, &[&ns(now)?]).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(super) async fn session_timers_once(&self, id: SessionId) -> Result<Vec<Timer>, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {TIMER_COLUMNS} FROM timers WHERE session = $1 ORDER BY kind"
            ))
            .await?;
        client
            .query(&stmt, &[&id.as_uuid()])
            .await?
            .iter()
            .map(timer)
            .collect()
    }
}
