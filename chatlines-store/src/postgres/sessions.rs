//! Reading sessions, and applying transitions as core's machine decides.

use super::error::Fail;
use super::locks::lock_session;
use super::log::EventRows;
use super::roster::{adjust_load, answer, set_cursor, set_no_answer};
use super::rows::{self, big, limit, ns};
use super::PostgresStore;
use chatlines_core::machine::{self, Changeset};
use chatlines_core::{
    ContactId, LineId, Session, SessionId, SessionOverview, SessionState, Transition, UserId,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::{Json, ToSql};

impl PostgresStore {
    async fn sessions_query(
        &self,
        filter: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Session>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM sessions WHERE {filter}",
            rows::SESSION_COLUMNS
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query(&stmt, params)
            .await?
            .iter()
            .map(rows::session)
            .collect()
    }

    pub(super) async fn session_once(&self, id: SessionId) -> Result<Option<Session>, Fail> {
        Ok(self
            .sessions_query("id = $1", &[&id.as_uuid()])
            .await?
            .pop())
    }

    pub(super) async fn contact_sessions_once(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Vec<Session>, Fail> {
        self.sessions_query(
            "line = $1 AND contact = $2 ORDER BY opened_ns, ord",
            &[&line.as_uuid(), &contact.as_uuid()],
        )
        .await
    }

    pub(super) async fn waiting_sessions_once(
        &self,
        line: LineId,
        status: &'static str,
        n: usize,
    ) -> Result<Vec<Session>, Fail> {
        // The status is spelled out (it is one of two constants) so the
        // planner can use the partial index `sessions_waiting`.
        let filter = format!("line = $1 AND status = '{status}' ORDER BY opened_ns, ord LIMIT $2");
        self.sessions_query(&filter, &[&line.as_uuid(), &limit(n)])
            .await
    }

    pub(super) async fn assigned_sessions_once(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        n: usize,
    ) -> Result<Vec<Session>, Fail> {
        let cols = qualified_sessions();
        let sql = format!(
            "SELECT {cols} FROM sessions s
             WHERE s.status = 'assigned' AND s.operator = $1 {}
             ORDER BY s.opened_ns, s.ord LIMIT $2",
            after_clause(after, 3)
        );
        self.session_rows(&sql, &[&operator.as_str(), &limit(n), &after.map(|a| a.0)])
            .await
    }

    /// Offered sessions of every line the operator is eligible on: the
    /// operator's roster entries (`roster_by_user`) joined to each line's
    /// waiting sessions (`sessions_waiting`).
    pub(super) async fn offered_to_once(
        &self,
        operator: &UserId,
        after: Option<SessionId>,
        n: usize,
    ) -> Result<Vec<Session>, Fail> {
        let cols = qualified_sessions();
        let sql = format!(
            "SELECT {cols} FROM roster r
             JOIN sessions s ON s.line = r.line AND s.status = 'offered'
             WHERE r.user_id = $1 AND r.eligible {}
             ORDER BY s.opened_ns, s.ord LIMIT $2",
            after_clause(after, 3)
        );
        self.session_rows(&sql, &[&operator.as_str(), &limit(n), &after.map(|a| a.0)])
            .await
    }

    /// A line's open sessions with their message times, each an index seek
    /// on `messages_by_direction`.
    pub(super) async fn line_sessions_once(
        &self,
        line: LineId,
        state: Option<SessionState>,
        after: Option<SessionId>,
        n: usize,
    ) -> Result<Vec<SessionOverview>, Fail> {
        if state == Some(SessionState::Closed) {
            return Ok(Vec::new());
        }
        let cols = qualified_sessions();
        let last = |direction: &str| {
            format!(
                "(SELECT m.created_ns FROM messages m
                  WHERE m.session = s.id AND m.direction = '{direction}'
                  ORDER BY m.seq DESC LIMIT 1)"
            )
        };
        let sql = format!(
            "SELECT {cols},
                 (SELECT m.created_ns FROM messages m
                  WHERE m.session = s.id AND m.direction = 'inbound'
                    AND m.seq > coalesce((SELECT max(o.seq) FROM messages o
                                          WHERE o.session = s.id AND o.direction = 'outbound'), 0)
                  ORDER BY m.seq LIMIT 1) AS waiting_ns,
                 {} AS last_in_ns, {} AS last_out_ns
             FROM sessions s
             WHERE s.line = $1 AND s.status <> 'closed'
               AND ($4::text IS NULL OR s.status = $4) {}
             ORDER BY s.opened_ns, s.ord LIMIT $2",
            last("inbound"),
            last("outbound"),
            after_clause(after, 3)
        );
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let state = state.map(SessionState::name);
        client
            .query(
                &stmt,
                &[&line.as_uuid(), &limit(n), &after.map(|a| a.0), &state],
            )
            .await?
            .iter()
            .map(|row| {
                let at = |c: &str| -> Result<_, Fail> {
                    Ok(row.try_get::<_, Option<i64>>(c)?.map(rows::time))
                };
                Ok(SessionOverview::new(
                    rows::session(row)?,
                    at("waiting_ns")?,
                    at("last_in_ns")?,
                    at("last_out_ns")?,
                ))
            })
            .collect()
    }

    async fn session_rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Session>, Fail> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await?;
        client
            .query(&stmt, params)
            .await?
            .iter()
            .map(rows::session)
            .collect()
    }

    pub(super) async fn transition_once(
        &self,
        id: SessionId,
        change: &Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let session = lock_session(&tx, self.writer, id).await?;
        let line = session.line;
        let answer = match machine::roster_question(&session, change) {
            None => None,
            Some(q) => answer(&tx, line, &q).await?,
        };
        let settings = super::timers::settings(&tx, line).await?;
        let changeset = machine::decide(&session, change, now, answer.as_ref(), &settings)?;
        write_changeset(&tx, &session, &changeset).await?;
        EventRows::of(changeset.events, now)?.append(&tx).await?;
        self.commit(tx).await?;
        Ok(changeset.session)
    }
}

/// The session columns qualified by `s`.
fn qualified_sessions() -> String {
    rows::SESSION_COLUMNS
        .split(',')
        .map(|c| format!("s.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `AND (opened_ns, ord)` of `s` after those of the session bound to
/// `$param` (no row when that session is unknown); with no `after`, a
/// condition on the parameter only, so every statement binds the same
/// parameters.
fn after_clause(after: Option<SessionId>, param: u8) -> String {
    if after.is_some() {
        format!(
            "AND (s.opened_ns, s.ord) > \
             (SELECT a.opened_ns, a.ord FROM sessions a WHERE a.id = ${param})"
        )
    } else {
        format!("AND ${param}::uuid IS NULL")
    }
}

/// Writes what core decided for `before`: the session (guarded by the
/// version it was decided on), the load changes in their order (by user
/// id, so concurrent changes lock roster rows in one order), and the
/// round-robin cursor, and the timers. The events are the caller's to
/// append.
pub(super) async fn write_changeset(
    tx: &impl GenericClient,
    before: &Session,
    c: &Changeset,
) -> Result<(), Fail> {
    let s = &c.session;
    let (status, operator) = rows::status_columns(&s.status);
    let stmt = tx
        .prepare_cached(
            "UPDATE sessions SET status = $3, operator = $4, reason = $5, version = $6,
                 updated_ns = $7, closed_ns = $8
             WHERE id = $1 AND version = $2",
        )
        .await?;
    let updated = tx
        .execute(
            &stmt,
            &[
                &s.id.as_uuid(),
                &big(before.version)?,
                &status,
                &operator,
                &Json(&s.reason),
                &big(s.version)?,
                &ns(s.updated_at)?,
                &s.closed_at.map(ns).transpose()?,
            ],
        )
        .await?;
    if updated != 1 {
        // The session is locked, so this means a writer outside the lock
        // scheme changed it: decide again on what it is now.
        return Err(Fail::Retry(format!(
            "session {} changed during a transition",
            s.id
        )));
    }
    for load in &c.loads {
        adjust_load(tx, s.line, &load.user, load.delta).await?;
    }
    for mark in &c.no_answer {
        set_no_answer(tx, s.line, &mark.user, mark.count, mark.set_away).await?;
    }
    if let Some(user) = &c.cursor {
        set_cursor(tx, s.line, user).await?;
    }
    super::timers::write(tx, c).await?;
    Ok(())
}
