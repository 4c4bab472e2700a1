//! The operator's desk beyond list/take/reply/close: one session's state,
//! a reply with attachments, transfer (and the line's operators to choose
//! from), return to the queue, and the client
//! block (the linked account, "+ Link", the request apps).
//!
//! Every handler acts as the request's user through the hub's policy.

use super::{session_id, ApiResult, OnReply, PageQuery};
use crate::auth::{Actor, Auth, HasAuth};
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chatlines_connectors::blobs::BlobStore;
use chatlines_core::{
    check_body, AccountLink, AppCatalog, AppId, AppSchema, Attachment, Body, FieldValues, Hub,
    ItemId, LineOperator, Message, Page, RequestRecord, Session, SessionId, UserId,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the desk's routes work with.
#[derive(Clone)]
pub struct DeskParts {
    /// The hub.
    pub hub: Hub,
    /// Sign-in.
    pub auth: Auth,
    /// The host's application catalog.
    pub apps: Arc<dyn AppCatalog>,
    /// Where reply attachments are stored (the connectors upload them
    /// from there).
    pub blobs: Arc<dyn BlobStore>,
    /// Called after a reply is stored (wakes the dispatcher).
    pub on_reply: OnReply,
}

#[derive(Clone)]
pub(crate) struct Desk {
    hub: Hub,
    auth: Auth,
    apps: Arc<dyn AppCatalog>,
    blobs: Arc<dyn BlobStore>,
    on_reply: OnReply,
}

impl HasAuth for Desk {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The desk's routes; request bodies over `max_body` bytes get 413 (which
/// bounds a reply's attachments too).
pub fn router(parts: DeskParts, max_body: usize) -> Router {
    let DeskParts {
        hub,
        auth,
        apps,
        blobs,
        on_reply,
    } = parts;
    Router::new()
        .route("/api/sessions/{id}", get(session))
        .route(
            "/api/sessions/{id}/reply-with-files",
            post(reply_with_files),
        )
        .route("/api/sessions/{id}/transfer", post(transfer))
        .route("/api/sessions/{id}/operators", get(operators))
        .route("/api/sessions/{id}/return", post(return_to_queue))
        .route("/api/sessions/{id}/client", get(client))
        .route("/api/sessions/{id}/account", post(link_account))
        .route("/api/sessions/{id}/requests", post(register_request))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Desk {
            hub,
            auth,
            apps,
            blobs,
            on_reply,
        })
}

/// A file of a reply.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewFile {
    /// The file name shown to the client.
    pub name: String,
    /// Its MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// The bytes, base64-encoded (standard alphabet, padded).
    pub data: String,
}

/// The body of `POST /api/sessions/{id}/reply-with-files`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FilesReply {
    /// The text (may be empty when there are files; sent as the first
    /// file's caption where the messenger has captions).
    #[serde(default)]
    pub text: String,
    /// The files.
    pub files: Vec<NewFile>,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/reply-with-files",
    tag = "sessions",
    description = "The assigned operator answers with files (and text). The hub's message limits apply (number and size of attachments), and the whole request must fit the API body limit.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = FilesReply,
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID, or a file is not valid base64", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is in another state", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "empty, or over the message limits", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not the session's operator, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn reply_with_files(
    State(desk): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<FilesReply>, JsonRejection>,
) -> ApiResult<Message> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    // Refused before anything is stored: not the user's session, or over
    // the limits.
    let session = desk.hub.session(&user, id).await?;
    if session.operator() != Some(&user) {
        return Err(chatlines_core::Error::Forbidden {
            user: user.clone(),
            action: "reply with files",
            reason: "only the session's assigned operator replies; take the session first".into(),
        }
        .into());
    }
    let mut decoded = Vec::with_capacity(request.files.len());
    let mut body = Body::text(request.text);
    for (i, file) in request.files.into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(file.data.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("file {i}: data is not base64: {e}")))?;
        let key = format!("uploads/{id}/{}", uuid::Uuid::new_v4());
        body.attachments.push(Attachment::new(
            file.name,
            file.mime_type,
            bytes.len() as u64,
            key.clone(),
        ));
        decoded.push((key, bytes));
    }
    check_body(&body, &desk.hub.config().limits)?;
    for (key, bytes) in &decoded {
        desk.blobs.put(key, bytes).await.map_err(|e| {
            tracing::warn!(error = %e, "storing a reply attachment failed");
            ApiError::internal(format!("cannot store the attachment: {e}"))
        })?;
    }
    let message = desk.hub.reply(&user, id, body).await?;
    (desk.on_reply)();
    Ok(Json(message))
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
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.session(&user, session_id(&id)?).await?))
}

/// The body of `POST /api/sessions/{id}/transfer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TransferRequest {
    /// The operator to hand the session to (present, of the same line).
    pub to: String,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/transfer",
    tag = "sessions",
    description = "The assigned operator hands the session to another present operator of the line.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = TransferRequest,
    responses(
        (status = 200, description = "done: the session, now the other operator's", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is in another state", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "the target is not a present operator of the line", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not the session's operator, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn transfer(
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<TransferRequest>, JsonRejection>,
) -> ApiResult<Session> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let to = UserId::from(request.to.trim());
    Ok(Json(hub.transfer_to(&user, id, &to).await?))
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}/operators",
    tag = "sessions",
    description = "The operators of the session's line, in user-id order, each with `user`, `name`, `availability` (`present`, `absent`, `blocked`) and `assigned` (holds this session): whom the session can be transferred to. For the session's operator and the line's operators and supervisors; anyone else gets 404, as for a missing session. A page: `items` and the `next` token.",
    params(("id" = String, Path, description = "the session id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "done", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session, or not one of the user's lines", body = crate::openapi::ErrorBody),
        (status = 422, description = "the page token was not issued by this list", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn operators(
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Page<LineOperator>> {
    Ok(Json(
        hub.session_operators(&user, session_id(&id)?, page.request())
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/return",
    tag = "sessions",
    description = "The assigned operator returns the session to the queue; the line's rule routes it again.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    responses(
        (status = 200, description = "done: the session as routed again", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the session is in another state", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not the session's operator, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn return_to_queue(
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<Session> {
    Ok(Json(hub.return_to_queue(&user, session_id(&id)?).await?))
}

/// The client block of a session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientInfo {
    /// The session.
    #[schema(value_type = Object)]
    pub session: Session,
    /// The client's linked account item on the line, if any.
    #[schema(value_type = Option<Object>)]
    pub account: Option<AccountLink>,
    /// The line's account application ("+ Link" creates an item of it),
    /// when it has one.
    #[schema(value_type = Option<Object>)]
    pub account_app: Option<AppSchema>,
    /// The line's request applications (the request-app buttons).
    #[schema(value_type = Vec<Object>)]
    pub request_apps: Vec<AppSchema>,
    /// Requests registered from this session.
    #[schema(value_type = Vec<Object>)]
    pub requests: Vec<RequestRecord>,
}

async fn schema(apps: &dyn AppCatalog, app: &AppId) -> Result<AppSchema, ApiError> {
    match apps.schema(app).await {
        Ok(Some(schema)) => Ok(schema),
        Ok(None) => Err(ApiError::internal(format!(
            "the line names application {app}, which the catalog does not have; \
             add it under [[apps]]"
        ))),
        Err(source) => Err(chatlines_core::Error::Port {
            port: "app catalog",
            source,
        }
        .into()),
    }
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}/client",
    tag = "sessions",
    description = "The client block: the linked account, the line's account and request applications (with their fields), and the requests registered from the session.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    responses(
        (status = 200, description = "done", body = ClientInfo),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn client(
    State(Desk { hub, apps, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<ClientInfo> {
    let id: SessionId = session_id(&id)?;
    let session = hub.session(&user, id).await?;
    let line = hub.line(&user, session.line).await?;
    let account = hub.account(&user, id).await?;
    let requests = hub.requests(&user, id).await?;
    let account_app = match &line.config.apps.account_app {
        Some(app) => Some(schema(apps.as_ref(), app).await?),
        None => None,
    };
    let mut request_apps = Vec::new();
    for app in &line.config.apps.request_apps {
        request_apps.push(schema(apps.as_ref(), app).await?);
    }
    Ok(Json(ClientInfo {
        session,
        account,
        account_app,
        request_apps,
        requests,
    }))
}

/// The body of `POST /api/sessions/{id}/account`: an existing item, or
/// the values of a new one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LinkRequest {
    /// An existing item of the line's account application.
    pub item: Option<String>,
    /// The fields of a new item, e.g. `{"name": {"kind": "text", "value":
    /// "Ann"}}` (the Account field is filled with the client).
    #[schema(value_type = Option<Object>)]
    pub values: Option<FieldValues>,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/account",
    tag = "sessions",
    description = "\"+ Link\": links the session's client to an item of the line's account application, an existing one (`item`) or a new one made from `values`.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "linked", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID, or neither or both of `item` and `values`", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session or item", body = crate::openapi::ErrorBody),
        (status = 409, description = "the line has no account application", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "the values are refused", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not the session's operator or a supervisor, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 502, description = "the application catalog failed", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn link_account(
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> ApiResult<AccountLink> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let link = match (request.item, request.values) {
        (Some(item), None) => {
            hub.link_existing_account(&user, id, ItemId(item.trim().to_owned()))
                .await?
        }
        (None, Some(values)) => hub.link_new_account(&user, id, values).await?,
        _ => {
            return Err(ApiError::bad_request(
                "send either `item` (an existing item) or `values` (a new item), not both",
            ))
        }
    };
    Ok(Json(link))
}

/// The body of `POST /api/sessions/{id}/requests`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRequest {
    /// One of the line's request applications.
    pub app: String,
    /// The item's fields (the Account field is filled with the client).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub values: FieldValues,
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/requests",
    tag = "sessions",
    description = "Registers a request: an item of one of the line's request applications for the session's (linked) client.",
    params(("id" = String, Path, description = "the session id (UUID)")),
    request_body = NewRequest,
    responses(
        (status = 200, description = "registered", body = serde_json::Value),
        (status = 400, description = "the session id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such session", body = crate::openapi::ErrorBody),
        (status = 409, description = "the client's account is not linked yet", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "not a request application of the line, or the values are refused", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not the session's operator or a supervisor, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 502, description = "the application catalog failed", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn register_request(
    State(Desk { hub, .. }): State<Desk>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<NewRequest>, JsonRejection>,
) -> ApiResult<RequestRecord> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let id = session_id(&id)?;
    let app = AppId::from(request.app.trim());
    Ok(Json(
        hub.register_request(&user, id, &app, request.values)
            .await?,
    ))
}
