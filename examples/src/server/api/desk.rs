//! The operator's desk beyond the basic list/take/reply/close: one
//! session's state.

use super::{session_id, Api, ApiResult};
use crate::auth::Actor;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chatlines_core::Session;

/// The desk's routes (state: the API's).
pub(crate) fn routes() -> Router<Api> {
    Router::new().route("/api/sessions/{id}", get(session))
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}",
    tag = "sessions",
    description = "One session: its status (and operator), line and client.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn session(
    State(Api { hub, .. }): State<Api>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.session(&user, session_id(&id)?).await?))
}
