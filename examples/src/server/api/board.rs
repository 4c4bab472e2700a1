//! The supervisor board: the lines a user supervises, a line's open
//! sessions (queue, offers, assignments, with waiting time and priority)
//! and its operators (availability, load), assigning a session to an
//! operator, and setting a session's priority.
//!
//! Every handler acts as the request's user through the hub's policy.

use super::{session_id, ApiResult};
use crate::auth::{Actor, Auth, HasAuth};
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatlines_core::{
    Error, FieldProblem, Hub, LineId, OperatorStatus, PageRequest, Priority, Session,
    SessionOverview, SessionSla, SlaBreach, SlaState, SlaTarget, UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Sessions and operators shown per line (the board is for one screen).
const BOARD_LIMIT: usize = 500;

#[derive(Clone)]
pub(crate) struct Board {
    hub: Hub,
    auth: Auth,
    /// The server's administrator, used only to enumerate the lines; what
    /// each user sees is decided by the hub as that user.
    admin: UserId,
}

impl HasAuth for Board {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The board's routes; `admin` enumerates the lines (each is then shown
/// only to its supervisors); request bodies over `max_body` bytes get 413.
pub fn router(hub: Hub, auth: Auth, admin: UserId, max_body: usize) -> Router {
    Router::new()
        .route("/api/board/lines", get(lines))
        .route("/api/board/lines/{id}", get(board))
        .route("/api/board/lines/{id}/sla-breaches", get(sla_breaches))
        .route("/api/sessions/{id}/assign", post(assign))
        .route("/api/sessions/{id}/priority", post(set_priority))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Board { hub, auth, admin })
}

/// A line the user supervises.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupervisedLine {
    /// The line's id.
    #[schema(value_type = String)]
    pub id: LineId,
    /// Its name.
    pub name: String,
}

#[utoipa::path(
    get,
    path = "/api/board/lines",
    tag = "board",
    description = "The lines the user supervises (empty for everyone else).",
    responses(
        (status = 200, description = "done", body = Vec<SupervisedLine>),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn lines(
    State(Board { hub, admin, .. }): State<Board>,
    Actor(user): Actor,
) -> ApiResult<Vec<SupervisedLine>> {
    let mut out = Vec::new();
    for line in hub.lines(&admin).await? {
        // The hub's policy decides: a line is the user's to supervise when
        // its roster is shown to them.
        match hub.line_roster(&user, line.id, PageRequest::first(1)).await {
            Ok(_) => out.push(SupervisedLine {
                id: line.id,
                name: line.name().to_owned(),
            }),
            Err(Error::Forbidden { .. } | Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(out))
}

/// Where a session stands against its line's service levels, as the board
/// shows it: a breached target (the first one breached), else the running
/// target due first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BoardSla {
    /// `ok`, `warning` or `breached`.
    #[schema(value_type = String)]
    pub state: SlaState,
    /// `first_response`, `next_response` or `resolution`.
    #[schema(value_type = String)]
    pub target: SlaTarget,
    /// When the target is (or was) due.
    pub due_at: DateTime<Utc>,
}

impl BoardSla {
    /// The board's view of a session's clocks; `None` when nothing runs
    /// and nothing was breached.
    fn of(sla: &SessionSla) -> Option<Self> {
        let breached = SlaTarget::ALL.into_iter().find_map(|t| {
            sla.clock(t)
                .filter(|c| c.state == SlaState::Breached)
                .map(|c| (t, c))
        });
        let (target, clock) = breached.or_else(|| sla.next_due())?;
        Some(Self {
            state: clock.state,
            target,
            due_at: clock.due_at,
        })
    }
}

/// One open session on the board.
#[derive(Debug, Serialize)]
pub struct BoardSession {
    /// The session with its waiting time and last message times.
    #[serde(flatten)]
    pub overview: SessionOverview,
    /// Its SLA state, on a line with SLA targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_state: Option<BoardSla>,
}

/// A line's board.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineBoard {
    /// The line's open sessions, oldest first, each with its status, its
    /// priority (`session.priority`: `low`, `normal`, `high`, `urgent`),
    /// since when its client waits (`waiting_since`), when each side last
    /// wrote, and on a line with SLA targets its `sla_state` (a
    /// [`BoardSla`]: `{state, target, due_at}`).
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<BoardSession>,
    /// The line's priority aging step in seconds, when on: a waiting
    /// session's effective priority rises one step per step waited since
    /// it opened (the console shows it).
    pub priority_aging_secs: Option<u64>,
    /// The line's operators, each with availability, eligibility and load.
    #[schema(value_type = Vec<Object>)]
    pub operators: Vec<OperatorStatus>,
}

fn line_id(raw: &str) -> Result<LineId, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(LineId::from_uuid)
        .map_err(|_| ApiError::bad_request("the line id is not a UUID"))
}

#[utoipa::path(
    get,
    path = "/api/board/lines/{id}",
    tag = "board",
    description = "A line's board: its open sessions (queued, offered, assigned) with waiting time, and its operators with availability and load (the first 500 of each). Supervisors of the line only.",
    params(("id" = String, Path, description = "the line id (UUID)")),
    responses(
        (status = 200, description = "done", body = LineBoard),
        (status = 400, description = "the line id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such line (or not visible to the user)", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a supervisor of the line", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn board(
    State(Board { hub, .. }): State<Board>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<LineBoard> {
    let line = line_id(&id)?;
    let sessions = hub
        .line_sessions(&user, line, None, PageRequest::first(BOARD_LIMIT))
        .await?;
    let operators = hub
        .line_roster(&user, line, PageRequest::first(BOARD_LIMIT))
        .await?;
    let sessions = sessions
        .items
        .into_iter()
        .map(|overview| BoardSession {
            sla_state: overview.session.sla.as_deref().and_then(BoardSla::of),
            overview,
        })
        .collect();
    let priority_aging_secs = hub.line(&user, line).await?.timers().priority_aging_secs;
    Ok(Json(LineBoard {
        sessions,
        operators: operators.items,
        priority_aging_secs,
    }))
}

/// The period of `GET /api/board/lines/{id}/sla-breaches`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreachQuery {
    /// The start of the period (RFC 3339), inclusive.
    pub from: DateTime<Utc>,
    /// The end of the period (RFC 3339), exclusive.
    pub until: DateTime<Utc>,
    /// At most this many breaches (default 1000, at most 10000).
    pub limit: Option<usize>,
}

/// One breached target.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreachRecord {
    /// The session.
    #[schema(value_type = String)]
    pub session: chatlines_core::SessionId,
    /// `first_response`, `next_response` or `resolution`.
    #[schema(value_type = String)]
    pub target: SlaTarget,
    /// When the target was due.
    pub due_at: DateTime<Utc>,
    /// When the breach was recorded.
    pub breached_at: DateTime<Utc>,
    /// The operator the session was assigned to then.
    pub operator: Option<String>,
}

impl From<SlaBreach> for BreachRecord {
    fn from(b: SlaBreach) -> Self {
        Self {
            session: b.session,
            target: b.target,
            due_at: b.due_at,
            breached_at: b.breached_at,
            operator: b.operator.map(|u| u.as_str().to_owned()),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/board/lines/{id}/sla-breaches",
    tag = "board",
    description = "A line's SLA breaches whose due time lies in [from, until), earliest first: the report of missed first responses, next responses and resolutions. Supervisors of the line and administrators only.",
    params(("id" = String, Path, description = "the line id (UUID)"), BreachQuery),
    responses(
        (status = 200, description = "done", body = Vec<BreachRecord>),
        (status = 400, description = "the line id is not a UUID, or the period is malformed", body = crate::openapi::ErrorBody),
        (status = 422, description = "the period ends before it starts", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such line (or not visible to the user)", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a supervisor of the line", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn sla_breaches(
    State(Board { hub, .. }): State<Board>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Query(query): Query<BreachQuery>,
) -> ApiResult<Vec<BreachRecord>> {
    let line = line_id(&id)?;
    let limit = query.limit.unwrap_or(1000);
    let breaches = hub
        .sla_breaches(&user, line, query.from, query.until, limit)
        .await?;
    Ok(Json(breaches.into_iter().map(BreachRecord::from).collect()))
}

/// The body of `POST /api/sessions/{id}/assign`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignRequest {
    /// The operator to assign the session to (present, of the line).
    pub operator: String,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/assign",
    tag = "board",
    description = "A supervisor of the line assigns an open session to a present operator of the line (overriding an offer or a previous assignee).",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "done: the session, now the operator's", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is closed", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "not a present operator of the line", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a supervisor of the line, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn assign(
    State(Board { hub, .. }): State<Board>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<AssignRequest>, JsonRejection>,
) -> ApiResult<Session> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let operator = UserId::from(request.operator.trim());
    Ok(Json(hub.assign(&user, id, &operator).await?))
}

/// The body of `POST /api/sessions/{id}/priority`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PriorityRequest {
    /// The new priority: `low`, `normal`, `high` or `urgent`.
    #[schema(example = "high")]
    pub priority: String,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/priority",
    tag = "board",
    description = "A supervisor of the line (or an administrator) sets an open session's priority: queues, offers and drains serve the highest priority first, then the longest waiting. Setting the priority it has changes nothing.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = PriorityRequest,
    responses(
        (status = 200, description = "done: the session with its priority", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is closed", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "not a priority: `problems` names the field `priority`", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a supervisor of the line, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn set_priority(
    State(Board { hub, .. }): State<Board>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<PriorityRequest>, JsonRejection>,
) -> ApiResult<Session> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let priority: Priority =
        request
            .priority
            .trim()
            .parse()
            .map_err(|e: chatlines_core::priority::BadPriority| {
                ApiError::invalid_fields(vec![FieldProblem::new(
                    "priority",
                    e.to_string(),
                    "invalid",
                )])
            })?;
    Ok(Json(hub.set_priority(&user, id, priority).await?))
}
