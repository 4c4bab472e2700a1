//! The operators' JSON API.
//!
//! Every handler acts as the request's [`Actor`] (see [`crate::auth`]):
//! the hub's policy decides what that user may do, and a refusal comes
//! back as an [`ApiError`] whose status [`crate::error`] decides.

use crate::auth::{Actor, Auth, HasAuth};
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatlines_core::{Body, Hub, Message, Page, PageRequest, PageToken, Session, SessionId};
use serde::Deserialize;
use std::sync::Arc;

pub mod board;
pub mod desk;

/// Called after a reply is stored (the server wakes the dispatcher so the
/// reply goes out at once instead of at the next poll).
pub type OnReply = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Api {
    hub: Hub,
    on_reply: OnReply,
    auth: Auth,
}

impl HasAuth for Api {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The API routes, over a hub; request bodies over `max_body` bytes get
/// 413.
pub fn router(hub: Hub, auth: Auth, on_reply: OnReply, max_body: usize) -> Router {
    Router::new()
        .route("/api/sessions/offered", get(offered))
        .route("/api/sessions/assigned", get(assigned))
        .route("/api/sessions/{id}/take", post(take))
        .route("/api/sessions/{id}/reply", post(reply))
        .route("/api/sessions/{id}/close", post(close))
        .route("/api/sessions/{id}/messages", get(messages))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Api {
            hub,
            on_reply,
            auth,
        })
}

pub(crate) fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(SessionId::from_uuid)
        .map_err(|_| ApiError::bad_request("the session id is not a UUID"))
}

pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

#[utoipa::path(
    get,
    path = "/api/sessions/offered",
    tag = "sessions",
    description = "Sessions offered to the user: waiting on lines they operate. A page: `items` and the `next` token.",
    params(PageQuery),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 422, description = "the page token was not issued by this list", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn offered(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Query(page): Query<PageQuery>,
) -> ApiResult<Page<Session>> {
    Ok(Json(hub.offered_sessions(&user, page.request()).await?))
}

#[utoipa::path(
    get,
    path = "/api/sessions/assigned",
    tag = "sessions",
    description = "The user's open sessions. A page: `items` and the `next` token.",
    params(PageQuery),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 422, description = "the page token was not issued by this list", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn assigned(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Query(page): Query<PageQuery>,
) -> ApiResult<Page<Session>> {
    Ok(Json(hub.assigned_sessions(&user, page.request()).await?))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/take",
    tag = "sessions",
    description = "Takes an offered session (first come: one of concurrent takers wins).",
    params(("id" = String, Path, description = "the session id (UUID)")),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "already taken or in another state", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn take(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.take(&user, session_id(&id)?).await?))
}

/// The body of `POST /api/sessions/{id}/reply`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplyRequest {
    /// The text to send.
    pub text: String,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/reply",
    tag = "sessions",
    description = "The assigned operator answers; the reply is delivered by the outbox dispatcher.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = ReplyRequest,
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is in another state", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "invalid text (e.g. empty)", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn reply(
    State(Api { hub, on_reply, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<ReplyRequest>, JsonRejection>,
) -> ApiResult<Message> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let message = hub.reply(&user, id, Body::text(request.text)).await?;
    on_reply();
    Ok(Json(message))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/close",
    tag = "sessions",
    description = "Closes the session.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is in another state", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn close(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.close(&user, session_id(&id)?).await?))
}

/// The paging query of every list: `?page=<token>&limit=<n>`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` token of the previous page (default: the first page).
    pub page: Option<String>,
    /// At most this many items (default 100, at most 500).
    pub limit: Option<usize>,
}

impl PageQuery {
    fn request(self) -> PageRequest {
        PageRequest::from_parts(self.page.map(PageToken::from), self.limit.unwrap_or(100))
    }
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}/messages",
    tag = "sessions",
    description = "The history, oldest first. A page: `items` and the `next` token.",
    params(("id" = String, Path, description = "the session id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 422, description = "the page token was not issued by this list", body = crate::openapi::ErrorBody),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn messages(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Page<Message>> {
    Ok(Json(
        hub.messages(&user, session_id(&id)?, page.request())
            .await?,
    ))
}
