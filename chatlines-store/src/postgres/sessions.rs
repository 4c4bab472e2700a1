//! Reading sessions, and applying transitions as core's machine decides.

use super::error::Fail;
use super::locks::{lock_session_keys, locked_session};
use super::log::EventRows;
use super::roster::{adjust_load, answer, lock_routing, set_cursor, set_no_answer};
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
        // planner can use the partial index `sessions_serving`. With
        // priority aging the order is a computed key: the line's waiting
        // sessions of that status are sorted.
        let aging = {
            let client = self.client().await?;
            super::timers::settings(&client, line)
                .await?
                .priority_aging()
        };
        match aging.and_then(|a| a.num_nanoseconds()) {
            None => {
                let filter = format!(
                    "line = $1 AND status = '{status}' \
                     ORDER BY priority DESC, opened_ns, ord LIMIT $2"
                );
                self.sessions_query(&filter, &[&line.as_uuid(), &limit(n)])
                    .await
            }
            Some(step) => {
                let filter = format!(
                    "line = $1 AND status = '{status}' \
                     ORDER BY opened_ns - priority * $3::bigint, opened_ns, ord LIMIT $2"
                );
                self.sessions_query(&filter, &[&line.as_uuid(), &limit(n), &step])
                    .await
            }
        }
    }

    /// Lines with queued sessions after `after`, by id (the partial index
    /// `sessions_queued`).
    pub(super) async fn queued_lines_once(
        &self,
        after: Option<LineId>,
        n: usize,
    ) -> Result<Vec<LineId>, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT line FROM sessions
                 WHERE status = 'queued' AND ($1::uuid IS NULL OR line > $1)
                 ORDER BY line LIMIT $2",
            )
            .await?;
        client
            .query(&stmt, &[&after.map(|a| a.as_uuid()), &limit(n)])
            .await?
            .iter()
            .map(|row| Ok(LineId(row.try_get(0)?)))
            .collect()
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

    /// Offered sessions of every line the operator is eligible on,
    /// highest priority first, then oldest: the operator's roster entries
    /// (`roster_by_user`) joined to each line's waiting sessions
    /// (`sessions_serving`), sorted (the lines' offers merge).
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
             ORDER BY s.priority DESC, s.opened_ns, s.ord LIMIT $2",
            serving_after_clause(after, 3)
        );
        self.session_rows(&sql, &[&operator.as_str(), &limit(n), &after.map(|a| a.0)])
            .await
    }

    /// A line's open sessions with their message times: the last operator
    /// message is a seek on `messages_outbound`; the first client message
    /// after it, and the last client message, are seeks on
    /// `(session, seq)` (the latter reads back over the operator messages
    /// that end the session, if any).
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

    pub(super) async fn sla_breaches_once(
        &self,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<chatlines_core::SlaBreach>, Fail> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {} FROM sla_breaches
                 WHERE line = $1 AND due_ns >= $2 AND due_ns < $3
                 ORDER BY due_ns, session, target LIMIT $4",
                rows::SLA_BREACH_COLUMNS
            ))
            .await?;
        client
            .query(
                &stmt,
                &[
                    &line.as_uuid(),
                    &rows::ns_bound(from),
                    &rows::ns_bound(until),
                    &limit(n),
                ],
            )
            .await?
            .iter()
            .map(rows::sla_breach)
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
        let line = lock_session_keys(&tx, self.writer, id).await?;
        // One round trip for both reads.
        let (session, settings) =
            futures::try_join!(locked_session(&tx, id), super::timers::settings(&tx, line))?;
        let answer = match machine::roster_question(&session, change) {
            None => None,
            Some(q) => answer(&tx, line, &q).await?,
        };
        let changeset = machine::decide(&session, change, now, answer.as_ref(), &settings)?;
        write_changeset(&tx, &session, &changeset).await?;
        let notice = super::messages::write_notice(&tx, &changeset, now).await?;
        let mut events = changeset.events;
        events.extend(notice);
        EventRows::of(events, now)?.append(&tx).await?;
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

/// `AND (-priority, opened_ns, ord)` of `s` after those of the session
/// bound to `$param` (the serving order; no row when that session is
/// unknown), or a condition on the parameter only.
fn serving_after_clause(after: Option<SessionId>, param: u8) -> String {
    if after.is_some() {
        format!(
            "AND (-s.priority, s.opened_ns, s.ord) > \
             (SELECT -a.priority, a.opened_ns, a.ord FROM sessions a WHERE a.id = ${param})"
        )
    } else {
        format!("AND ${param}::uuid IS NULL")
    }
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
                 updated_ns = $7, closed_ns = $8, sla = $9, priority = $10
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
                &s.sla.as_ref().map(Json),
                &i16::from(s.priority.rank()),
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
    if c.loads.iter().any(|load| load.delta < 0) {
        // A freed slot is written under the line's routing lock: a routing
        // decision that found nobody free either committed first (and the
        // drain after this change finds its session queued) or reads the
        // freed slot.
        lock_routing(tx, s.line).await?;
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
    super::timers::write(tx, c, before.version).await?;
    for b in &c.breaches {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO sla_breaches
                     (session, target, due_ns, line, contact, breached_ns, operator)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (session, target, due_ns) DO UPDATE SET
                     breached_ns = excluded.breached_ns, operator = excluded.operator",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &b.session.as_uuid(),
                &b.target.name(),
                &ns(b.due_at)?,
                &b.line.as_uuid(),
                &b.contact.as_uuid(),
                &ns(b.breached_at)?,
                &b.operator.as_ref().map(UserId::as_str),
            ],
        )
        .await?;
    }
    Ok(())
}
