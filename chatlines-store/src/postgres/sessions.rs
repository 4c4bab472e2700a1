//! Reading sessions and applying transitions.

use super::error::Fail;
use super::roster::{adjust_load, least_loaded, next_round_robin};
use super::rows::{self, big, limit, ns};
use super::PostgresStore;
use chatlines_core::{
    ContactId, LineId, RoutePlan, RouteReason, Session, SessionId, SessionStatus, StoreError,
    Transition, UserId,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::types::{Json, ToSql};

fn invalid(session: &Session, action: &'static str) -> Fail {
    Fail::Store(StoreError::InvalidState {
        session: session.id,
        state: session.status.name(),
        action,
    })
}

fn not_found(id: SessionId) -> Fail {
    Fail::Store(StoreError::NotFound {
        what: "session",
        id: id.to_string(),
    })
}

fn assigned(operator: UserId, reason: RouteReason) -> (SessionStatus, RouteReason) {
    (SessionStatus::Assigned { operator }, reason)
}

fn queued(reason: RouteReason) -> (SessionStatus, RouteReason) {
    (SessionStatus::Queued, reason)
}

/// Take in one statement: the conditional update and the load increment.
/// Of any number of concurrent takes exactly one updates the row; the
/// others find it assigned once the winner commits.
const TAKE: &str = "WITH taken AS (
         UPDATE sessions SET status = 'assigned', operator = $2, reason = $3,
             version = version + 1, updated_ns = $4
         WHERE id = $1 AND status IN ('queued', 'offered')
         RETURNING *
     ), load AS (
         INSERT INTO roster (line, user_id, eligible, load)
         SELECT line, operator, false, 1 FROM taken
         ON CONFLICT (line, user_id) DO UPDATE SET load = roster.load + 1
     )
     SELECT id, line, contact, status, operator, reason, version, last_seq, opened_ns,
         updated_ns, closed_ns FROM taken";

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

    pub(super) async fn open_session_once(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<Session>, Fail> {
        Ok(self
            .sessions_query(
                "line = $1 AND contact = $2 AND status <> 'closed'",
                &[&line.as_uuid(), &contact.as_uuid()],
            )
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
    ) -> Result<Vec<Session>, Fail> {
        self.sessions_query(
            "status = 'assigned' AND operator = $1 ORDER BY opened_ns, ord",
            &[&operator.as_str()],
        )
        .await
    }

    pub(super) async fn transition_once(
        &self,
        id: SessionId,
        change: &Transition,
        now: DateTime<Utc>,
    ) -> Result<Session, Fail> {
        if let Transition::Take { operator } = change {
            return self.take_once(id, operator, now).await;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!(
            "SELECT {} FROM sessions WHERE id = $1 FOR UPDATE",
            rows::SESSION_COLUMNS
        );
        let stmt = tx.prepare_cached(&sql).await?;
        let row = tx
            .query_opt(&stmt, &[&id.as_uuid()])
            .await?
            .ok_or_else(|| not_found(id))?;
        let mut session = rows::session(&row)?;
        let (status, reason) = plan_outcome(&tx, &session, change).await?;

        let before = session.operator().cloned();
        let after = status.operator().cloned();
        if before != after {
            // A fixed order (by user id) keeps concurrent transfers from
            // deadlocking on each other's roster rows.
            let mut changes: Vec<(UserId, i32)> = before
                .into_iter()
                .map(|u| (u, -1))
                .chain(after.into_iter().map(|u| (u, 1)))
                .collect();
            changes.sort();
            for (user, delta) in &changes {
                adjust_load(&tx, session.line, user, *delta).await?;
            }
        }
        if status == SessionStatus::Closed {
            session.closed_at = Some(now);
        }
        session.status = status;
        session.reason = reason;
        session.version = session.version.saturating_add(1);
        session.updated_at = now;
        let (status, operator) = rows::status_columns(&session.status);
        let stmt = tx
            .prepare_cached(
                "UPDATE sessions SET status = $2, operator = $3, reason = $4, version = $5,
                     updated_ns = $6, closed_ns = $7
                 WHERE id = $1",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &id.as_uuid(),
                &status,
                &operator,
                &Json(&session.reason),
                &big(session.version)?,
                &ns(now)?,
                &session.closed_at.map(ns).transpose()?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn take_once(
        &self,
        id: SessionId,
        operator: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Session, Fail> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(TAKE).await?;
        let taken = client
            .query_opt(
                &stmt,
                &[
                    &id.as_uuid(),
                    &operator.as_str(),
                    &Json(&RouteReason::Taken),
                    &ns(now)?,
                ],
            )
            .await?;
        if let Some(row) = taken {
            return rows::session(&row);
        }
        drop(client);
        let session = self.session_once(id).await?.ok_or_else(|| not_found(id))?;
        match &session.status {
            SessionStatus::Assigned { operator: by } => {
                Err(Fail::Store(StoreError::AlreadyTaken {
                    session: id,
                    by: Some(by.clone()),
                }))
            }
            SessionStatus::Closed => Err(invalid(&session, "take")),
            // Returned to the queue between the two statements: try again.
            _ => Err(Fail::Retry(format!("session {id} changed during take"))),
        }
    }
}

/// Decides what a transition does, or why it may not happen. Routing plans
/// that pick from the roster do so here, inside the transaction.
async fn plan_outcome(
    tx: &Transaction<'_>,
    s: &Session,
    change: &Transition,
) -> Result<(SessionStatus, RouteReason), Fail> {
    match change {
        Transition::Route {
            expected_version,
            plan,
        } => {
            if s.version != *expected_version || s.status != SessionStatus::Queued {
                return Err(Fail::Store(StoreError::Conflict {
                    what: "session",
                    id: s.id.to_string(),
                    expected: *expected_version,
                    actual: s.version,
                }));
            }
            route(tx, s.line, plan).await
        }
        Transition::Take { operator } => match &s.status {
            SessionStatus::Queued | SessionStatus::Offered => {
                Ok(assigned(operator.clone(), RouteReason::Taken))
            }
            SessionStatus::Assigned { operator: by } => {
                Err(Fail::Store(StoreError::AlreadyTaken {
                    session: s.id,
                    by: Some(by.clone()),
                }))
            }
            SessionStatus::Closed => Err(invalid(s, "take")),
        },
        Transition::Assign { operator, by } => {
            if !s.is_open() {
                return Err(invalid(s, "assign"));
            }
            Ok(assigned(
                operator.clone(),
                RouteReason::AssignedBySupervisor { by: by.clone() },
            ))
        }
        Transition::Transfer { from, to } => {
            if s.operator() != Some(from) {
                return Err(invalid(
                    s,
                    "transfer from an operator it is not assigned to",
                ));
            }
            Ok(match to {
                Some(to) => assigned(to.clone(), RouteReason::Transferred { by: from.clone() }),
                None => queued(RouteReason::Returned { by: from.clone() }),
            })
        }
        Transition::Close { by_operator } => {
            if !s.is_open() {
                return Err(invalid(s, "close"));
            }
            if let Some(op) = by_operator {
                if s.operator() != Some(op) {
                    return Err(invalid(s, "close for an operator it is not assigned to"));
                }
            }
            Ok((SessionStatus::Closed, s.reason.clone()))
        }
        // `Transition` is non-exhaustive: a variant this store does not know
        // cannot be carried out.
        #[allow(unreachable_patterns)]
        _ => Err(invalid(s, "apply an unsupported transition")),
    }
}

/// Carries out a routing plan against the line's roster.
async fn route(
    tx: &Transaction<'_>,
    line: LineId,
    plan: &RoutePlan,
) -> Result<(SessionStatus, RouteReason), Fail> {
    let none_free = || queued(RouteReason::NoOperatorAvailable);
    Ok(match plan {
        RoutePlan::Assign { operator, reason } => assigned(operator.clone(), reason.clone()),
        RoutePlan::Offer { reason } => (SessionStatus::Offered, reason.clone()),
        RoutePlan::Queue { reason } => queued(reason.clone()),
        RoutePlan::RoundRobin => match next_round_robin(tx, line).await? {
            Some(user) => assigned(user, RouteReason::RoundRobin),
            None => none_free(),
        },
        RoutePlan::LeastLoaded { capacity } => match least_loaded(tx, line, *capacity).await? {
            Some(user) => assigned(user, RouteReason::LeastLoaded),
            None => none_free(),
        },
        // `RoutePlan` is non-exhaustive: refuse a plan this store does not
        // know rather than guess.
        #[allow(unreachable_patterns)]
        other => {
            return Err(Fail::Store(StoreError::Backend(
                format!("unsupported routing plan {other:?}").into(),
            )))
        }
    })
}
