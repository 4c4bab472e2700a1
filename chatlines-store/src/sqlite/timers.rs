//! Timers: written with session changes, claimed by due time (the
//! `timers_due` index), fired under the one writer.

use super::rows::{int, limit, time, ts, DbResult};
use super::sessions;
use chatlines_core::machine::{self, Changeset};
use chatlines_core::{
    ClaimedTimer, FireOutcome, LineConfig, LineId, RoutingRule, SessionId, StoreError, Timer,
    TimerKind, TimerSettings,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::hash_map::{Entry, HashMap};
use uuid::Uuid;

const TIMER_COLS: &str = "session, line, kind, due_at, armed_version";

fn timer(row: &Row<'_>) -> rusqlite::Result<Timer> {
    let kind: String = row.get(2)?;
    let kind = TimerKind::from_name(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown timer kind {kind:?}").into(),
        )
    })?;
    let version: i64 = row.get(4)?;
    Ok(Timer::new(
        SessionId(row.get(0)?),
        LineId(row.get(1)?),
        kind,
        time(row.get(3)?),
        u64::try_from(version).unwrap_or(0),
    ))
}

/// A line's timer settings, read from its configuration (the default when
/// the line is gone or deleted).
pub(crate) fn settings(conn: &Connection, line: LineId) -> Result<TimerSettings, StoreError> {
    #[derive(serde::Deserialize)]
    struct Timers {
        #[serde(default)]
        timers: TimerSettings,
    }
    let config: Option<String> = conn
        .prepare_cached("SELECT config FROM lines WHERE id = ?1 AND deleted_at IS NULL")
        .db()?
        .query_row([line.0], |r| r.get(0))
        .optional()
        .db()?;
    match config {
        None => Ok(TimerSettings::default()),
        Some(json) => serde_json::from_str::<Timers>(&json)
            .map(|t| t.timers)
            .map_err(|e| {
                StoreError::Backend(format!("line {line}: bad stored config: {e}").into())
            }),
    }
}

/// A line's routing rule and timer settings, read from its configuration
/// (the defaults when the line is gone or deleted).
pub(crate) fn timing(
    conn: &Connection,
    line: LineId,
) -> Result<(RoutingRule, TimerSettings), StoreError> {
    let config: Option<String> = conn
        .prepare_cached("SELECT config FROM lines WHERE id = ?1 AND deleted_at IS NULL")
        .db()?
        .query_row([line.0], |r| r.get(0))
        .optional()
        .db()?;
    match config {
        None => Ok(Default::default()),
        Some(json) => serde_json::from_str::<LineConfig>(&json)
            .map(|c| (c.employees.rule, c.timers))
            .map_err(|e| {
                StoreError::Backend(format!("line {line}: bad stored config: {e}").into())
            }),
    }
}

/// Writes a changeset's timers: its cancels, the move of the kept ones
/// (armed at `expected`, the version the change was decided on) to the
/// new version, then its arms (each replacing the session's timer of its
/// kind, lease dropped).
pub(crate) fn write(conn: &Connection, c: &Changeset, expected: u64) -> Result<(), StoreError> {
    write_plan(conn, c.session.id, &c.cancel, &[])?;
    if c.keep_timers {
        conn.prepare_cached(
            "UPDATE timers SET armed_version = ?2 WHERE session = ?1 AND armed_version = ?3",
        )
        .db()?
        .execute(params![
            c.session.id.0,
            int(c.session.version),
            int(expected)
        ])
        .db()?;
    }
    write_plan(conn, c.session.id, &[], &c.arm)
}

/// Writes the timers of a message (or a changeset): the cancels of
/// `session`, then the arms.
pub(crate) fn write_plan(
    conn: &Connection,
    session: SessionId,
    cancel: &[TimerKind],
    arm: &[Timer],
) -> Result<(), StoreError> {
    if !cancel.is_empty() {
        let mut delete = conn
            .prepare_cached("DELETE FROM timers WHERE session = ?1 AND kind = ?2")
            .db()?;
        for kind in cancel {
            delete.execute(params![session.0, kind.name()]).db()?;
        }
    }
    if !arm.is_empty() {
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO timers (session, line, kind, due_at, armed_version)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (session, kind) DO UPDATE SET
                     line = excluded.line, due_at = excluded.due_at,
                     armed_version = excluded.armed_version,
                     lease_token = NULL, lease_until = NULL",
            )
            .db()?;
        for t in arm {
            upsert
                .execute(params![
                    t.session.0,
                    t.line.0,
                    t.kind.name(),
                    ts(t.due_at)?,
                    int(t.armed_version)
                ])
                .db()?;
        }
    }
    Ok(())
}

pub(crate) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: usize,
) -> Result<Vec<ClaimedTimer>, StoreError> {
    let due: Vec<Timer> = conn
        .prepare_cached(&format!(
            "SELECT {TIMER_COLS} FROM timers
             WHERE due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY due_at LIMIT ?2"
        ))
        .db()?
        .query_map(params![ts(now)?, limit(max)], timer)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let mut lease = conn
        .prepare_cached(
            "UPDATE timers SET lease_token = ?3, lease_until = ?4 WHERE session = ?1 AND kind = ?2",
        )
        .db()?;
    let until = ts(lease_until)?;
    let mut claimed = Vec::with_capacity(due.len());
    for t in due {
        let token = Uuid::new_v4();
        lease
            .execute(params![t.session.0, t.kind.name(), token, until])
            .db()?;
        claimed.push(ClaimedTimer::new(t, token, lease_until));
    }
    Ok(claimed)
}

/// A line's routing rule and timer settings, by line: what firing needs
/// of each line, read once per write transaction (nothing a timer writes
/// changes a line).
type Timings = HashMap<LineId, (RoutingRule, TimerSettings)>;

pub(crate) fn fire(
    conn: &Connection,
    claimed: &ClaimedTimer,
    now: DateTime<Utc>,
) -> Result<FireOutcome, StoreError> {
    fire_with(conn, claimed, now, &mut Timings::new())
}

/// Fires claimed timers in order in the caller's transaction, each inside
/// its own savepoint: a timer that fails (or panics) has its writes rolled
/// back and its error in its place, and the others go on. The `Err` is for
/// the batch as a whole (a savepoint statement failed): nothing of it is
/// to be kept then.
pub(crate) fn fire_batch(
    conn: &Connection,
    claimed: &[ClaimedTimer],
    now: DateTime<Utc>,
) -> Result<Vec<Result<FireOutcome, StoreError>>, StoreError> {
    let mut timings = Timings::new();
    let mut outcomes = Vec::with_capacity(claimed.len());
    for timer in claimed {
        exec(conn, "SAVEPOINT timer")?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fire_with(conn, timer, now, &mut timings)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(
                session = %timer.timer.session,
                kind = %timer.timer.kind,
                "firing a timer panicked; its writes were rolled back"
            );
            Err(StoreError::Backend(
                "firing the timer panicked (a bug in chatlines); nothing was written".into(),
            ))
        });
        if outcome.is_err() {
            exec(conn, "ROLLBACK TO timer")?;
        }
        exec(conn, "RELEASE timer")?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Runs one cached statement without parameters.
fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql).db()?.execute([]).db()?;
    Ok(())
}

fn fire_with(
    conn: &Connection,
    claimed: &ClaimedTimer,
    now: DateTime<Utc>,
    timings: &mut Timings,
) -> Result<FireOutcome, StoreError> {
    let key = &claimed.timer;
    let held: Option<Timer> = conn
        .prepare_cached(&format!(
            "SELECT {TIMER_COLS} FROM timers WHERE session = ?1 AND kind = ?2 AND lease_token = ?3"
        ))
        .db()?
        .query_row(
            params![key.session.0, key.kind.name(), claimed.token],
            timer,
        )
        .optional()
        .db()?;
    let Some(stored) = held else {
        return Ok(FireOutcome::Gone);
    };
    let Some(session) = sessions::get(conn, stored.session)? else {
        return Ok(FireOutcome::Gone);
    };
    let (rule, settings) = match timings.entry(session.line) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => slot.insert(timing(conn, session.line)?),
    };
    let question = machine::fire_question(&session, &stored, rule, settings);
    let next = match &question.route {
        Some(q) => super::roster::answer(conn, session.line, q)?,
        None => None,
    };
    let lapses = match &question.lapses_of {
        Some(user) => super::roster::no_answer(conn, session.line, user)?,
        None => 0,
    };
    let answer = machine::FireAnswer::new(next, lapses);
    match machine::fire(&session, &stored, now, rule, settings, &answer)? {
        Some(changeset) => {
            let expected = session.version;
            Ok(FireOutcome::Fired(sessions::write_changeset(
                conn, changeset, expected, now,
            )?))
        }
        None => {
            conn.prepare_cached("DELETE FROM timers WHERE session = ?1 AND kind = ?2")
                .db()?
                .execute(params![stored.session.0, stored.kind.name()])
                .db()?;
            Ok(FireOutcome::Stale)
        }
    }
}

/// How many timers are due at `now` (an index range on `due_at`).
pub(crate) fn due(conn: &Connection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM timers WHERE due_at <= ?1")
        .db()?
        .query_row(params![ts(now)?], |row| row.get(0))
        .db()?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn of_session(conn: &Connection, session: SessionId) -> Result<Vec<Timer>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {TIMER_COLS} FROM timers WHERE session = ?1 ORDER BY kind"
    ))
    .db()?
    .query_map([session.0], timer)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}
