//! The operators' JSON API.
//!
//! The acting user is named by the `X-User` header. This example trusts
//! it as sent; a real host puts its own authentication in front (a session
//! cookie, a token) and sets the user from that, never from the client.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatlines_core::{Body, Cursor, Error, Hub, Message, Session, SessionId, UserId};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The header naming the acting user.
pub const USER_HEADER: &str = "x-user";

/// The largest page `GET /api/sessions/{id}/messages` returns.
const MAX_PAGE: usize = 500;

/// Called after a reply is stored (the server wakes the dispatcher so the
/// reply goes out at once instead of at the next poll).
pub type OnReply = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct Api {
    hub: Hub,
    on_reply: OnReply,
}

/// The API routes, over a hub.
pub fn router(hub: Hub, on_reply: OnReply) -> Router {
    Router::new()
        .route("/api/sessions/offered", get(offered))
        .route("/api/sessions/assigned", get(assigned))
        .route("/api/sessions/{id}/take", post(take))
        .route("/api/sessions/{id}/reply", post(reply))
        .route("/api/sessions/{id}/close", post(close))
        .route("/api/sessions/{id}/messages", get(messages))
        .with_state(Api { hub, on_reply })
}

/// An API failure: a status and `{"error": "...", "retryable": bool}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retryable: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retryable: false,
        }
    }
}

/// The HTTP status for a hub error.
pub fn status_of(e: &Error) -> StatusCode {
    if e.is_retryable() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match e {
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::AlreadyTaken { .. }
        | Error::Conflict { .. }
        | Error::SessionClosed { .. }
        | Error::InvalidState { .. }
        | Error::AccountNotLinked { .. }
        | Error::NoAccountApp => StatusCode::CONFLICT,
        Error::InvalidInput { .. } | Error::InvalidLine(_) | Error::AppNotOnLine { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Error::Port { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = status_of(&e);
        if status.is_server_error() {
            tracing::warn!(error = %e, "API call failed");
        }
        Self {
            status,
            message: e.to_string(),
            retryable: e.is_retryable(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "retryable": self.retryable });
        (self.status, Json(body)).into_response()
    }
}

/// The acting user, from the `X-User` header.
#[derive(Debug)]
pub struct Actor(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user = parts
            .headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing X-User header: name the acting user",
                )
            })?;
        Ok(Actor(UserId::from(user)))
    }
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(SessionId::from_uuid)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the session id is not a UUID"))
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn offered(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
) -> ApiResult<Vec<Session>> {
    Ok(Json(hub.offered_sessions(&user).await?))
}

async fn assigned(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
) -> ApiResult<Vec<Session>> {
    Ok(Json(hub.assigned_sessions(&user).await?))
}

async fn take(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.take(&user, session_id(&id)?).await?))
}

/// The body of `POST /api/sessions/{id}/reply`.
#[derive(Debug, Deserialize)]
pub struct ReplyRequest {
    /// The text to send.
    pub text: String,
}

async fn reply(
    State(Api { hub, on_reply }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<ReplyRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Message> {
    let Json(request) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let id = session_id(&id)?;
    let message = hub.reply(&user, id, Body::text(request.text)).await?;
    on_reply();
    Ok(Json(message))
}

async fn close(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.close(&user, session_id(&id)?).await?))
}

/// Query of `GET /api/sessions/{id}/messages`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Messages after this sequence number (default: from the start).
    pub after: Option<u64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<usize>,
}

async fn messages(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Vec<Message>> {
    let cursor = page.after.map_or(Cursor::Start, Cursor::After);
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    Ok(Json(
        hub.messages(&user, session_id(&id)?, cursor, limit).await?,
    ))
}
