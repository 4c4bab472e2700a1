//! The administrators' JSON API: lines (list, create, edit, delete) and
//! the bound messenger accounts (Administration > Extensions >
//! Messengers).
//!
//! Every handler acts as the request's [`Actor`] through the hub, whose
//! policy decides: administrators configure lines, a line's supervisors
//! may edit it, nobody else changes anything. An invalid configuration is
//! answered 422 with `problems`, each naming the field it concerns (the
//! same names as [`LineRequest`]'s fields), and nothing is stored.
//! Problems of the request's shape (an unknown rule name, a malformed
//! client entry, a missing version) are answered before the policy, as a
//! malformed body is: they tell nothing about the host's apps and groups,
//! which only someone who may configure the line learns of.

use crate::auth::{Actor, Auth, HasAuth};
use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chatlines_core::{
    Audience, BoundSource, ErrorKind, FieldProblem, Hub, Line, LineConfig, LineId, RoutingRule,
    UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

#[derive(Clone)]
pub(crate) struct AdminApi {
    hub: Hub,
    auth: Auth,
}

impl HasAuth for AdminApi {
    fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The administrators' routes, over a hub; request bodies over
/// `max_body` bytes get 413.
pub fn router(hub: Hub, auth: Auth, max_body: usize) -> Router {
    Router::new()
        .route("/api/admin/access", get(access))
        .route("/api/admin/lines", get(list_lines).post(create_line))
        .route(
            "/api/admin/lines/{id}",
            get(get_line).put(update_line).delete(delete_line),
        )
        .route("/api/admin/sources", get(list_sources))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(AdminApi { hub, auth })
}

/// The administrators' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        access,
        list_lines,
        create_line,
        get_line,
        update_line,
        delete_line,
        list_sources
    ),
    components(schemas(Access, LineRequest, LineView, SourceView)),
    tags((name = "admin", description = "Administration: lines and messenger accounts"))
)]
pub struct AdminApiDoc;

/// What the acting user may administer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Access {
    /// Whether the user is an administrator (configures lines and sees the
    /// messenger accounts).
    pub administrator: bool,
}

/// A line's configuration as a form sends it: every field of the seed's
/// Applications, Clients and Employees blocks. Blank strings count as not
/// set.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LineRequest {
    /// The line's name, shown to clients.
    pub name: String,
    /// Applications block, "For account linking": an app with an Account
    /// field.
    pub account_app: Option<String>,
    /// Applications block, "For registering requests": apps with an
    /// Account field.
    pub request_apps: Vec<String>,
    /// Clients block: `user:<id>`, `group:<id>` or `unit:<id>`; empty for
    /// a line of external clients only.
    pub clients: Vec<String>,
    /// Clients block, "Operator name → Display": clients see the
    /// operator's name (else the line's name).
    pub show_operator_name: bool,
    /// Employees block, the routing rule: `first_come` (default),
    /// `responsible`, `round_robin` or `least_loaded`.
    pub rule: Option<String>,
    /// For `responsible`: the User field of the account app that holds
    /// the responsible employee.
    pub responsible_field: Option<String>,
    /// For `least_loaded`: the most open sessions per operator.
    pub capacity: Option<u32>,
    /// Employees block: the operators group (every rule needs one).
    pub operators: Option<String>,
    /// Employees block: the supervisors group.
    pub supervisors: Option<String>,
    /// On edit: the version the form was filled from (else 409 when the
    /// line changed since).
    pub version: Option<u64>,
}

fn set(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl LineRequest {
    /// The core configuration, or the problems of fields core cannot
    /// represent (an unknown rule, a malformed client entry). The rest is
    /// validated by the hub.
    pub fn to_config(&self) -> Result<LineConfig, ApiError> {
        let mut problems = Vec::new();
        let mut config = LineConfig::new(self.name.as_str())
            .show_operator_name(self.show_operator_name)
            .rule(self.routing_rule(&mut problems));
        if let Some(app) = set(self.account_app.as_ref()) {
            config = config.account_app(app);
        }
        for app in &self.request_apps {
            if let Some(app) = set(Some(app)) {
                config = config.request_app(app);
            }
        }
        for entry in &self.clients {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match audience(entry) {
                Some(a) => config = config.client(a),
                None => problems.push(FieldProblem::new(
                    "clients",
                    format!("{entry:?}: write user:<id>, group:<id> or unit:<id>"),
                    "bad_client",
                )),
            }
        }
        if let Some(group) = set(self.operators.as_ref()) {
            config = config.operators(group);
        }
        if let Some(group) = set(self.supervisors.as_ref()) {
            config = config.supervisors(group);
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ApiError::invalid_fields(problems))
        }
    }

    fn routing_rule(&self, problems: &mut Vec<FieldProblem>) -> RoutingRule {
        match set(self.rule.as_ref()).unwrap_or("first_come") {
            "first_come" => RoutingRule::FirstCome,
            "round_robin" => RoutingRule::RoundRobin,
            // A missing field or capacity is left to core, which names the
            // field and says what it needs.
            "responsible" => RoutingRule::Responsible {
                field: set(self.responsible_field.as_ref()).unwrap_or("").into(),
            },
            "least_loaded" => RoutingRule::LeastLoaded {
                capacity: self.capacity.unwrap_or(0),
            },
            other => {
                problems.push(FieldProblem::new(
                    "rule",
                    format!(
                        "{other:?} is not a rule: choose first_come, responsible, round_robin \
                         or least_loaded"
                    ),
                    "unknown_rule",
                ));
                RoutingRule::FirstCome
            }
        }
    }
}

fn audience(entry: &str) -> Option<Audience> {
    let (kind, id) = entry.split_once(':')?;
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    match kind.trim() {
        "user" => Some(Audience::User(id.into())),
        "group" => Some(Audience::Group(id.into())),
        "unit" => Some(Audience::Unit(id.into())),
        _ => None,
    }
}

fn audience_entry(a: &Audience) -> String {
    match a {
        Audience::User(u) => format!("user:{u}"),
        Audience::Group(g) => format!("group:{g}"),
        Audience::Unit(u) => format!("unit:{u}"),
    }
}

/// A line as the administration pages show it: its settings in the
/// fields of [`LineRequest`], and the messenger accounts bound to it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineView {
    /// The line's id (UUID).
    pub id: String,
    /// Its version: send it back with an edit.
    pub version: u64,
    /// The line's name.
    pub name: String,
    /// The account-linking app.
    pub account_app: Option<String>,
    /// The request-registration apps.
    pub request_apps: Vec<String>,
    /// The Clients block as `user:`, `group:` and `unit:` entries.
    pub clients: Vec<String>,
    /// Whether clients see the operator's name.
    pub show_operator_name: bool,
    /// The routing rule's name.
    pub rule: String,
    /// The Responsible rule's User field.
    pub responsible_field: Option<String>,
    /// The least-loaded rule's capacity.
    pub capacity: Option<u32>,
    /// The operators group.
    pub operators: Option<String>,
    /// The supervisors group.
    pub supervisors: Option<String>,
    /// Clients block, "External sources": the messenger accounts bound to
    /// the line (administrators only; empty for others).
    pub sources: Vec<SourceView>,
    /// When the line was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl LineView {
    fn new(line: &Line, sources: &[SourceView]) -> Self {
        let config = &line.config;
        let (responsible_field, capacity) = match &config.employees.rule {
            RoutingRule::Responsible { field } => (Some(field.to_string()), None),
            RoutingRule::LeastLoaded { capacity } => (None, Some(*capacity)),
            _ => (None, None),
        };
        let id = line.id.to_string();
        Self {
            version: line.version,
            name: config.name.clone(),
            account_app: config.apps.account_app.as_ref().map(ToString::to_string),
            request_apps: config
                .apps
                .request_apps
                .iter()
                .map(ToString::to_string)
                .collect(),
            clients: config.clients.members.iter().map(audience_entry).collect(),
            show_operator_name: config.clients.show_operator_name,
            rule: config.employees.rule.name().to_owned(),
            responsible_field,
            capacity,
            operators: line.operators().map(ToString::to_string),
            supervisors: line.supervisors().map(ToString::to_string),
            sources: sources.iter().filter(|s| s.line == id).cloned().collect(),
            created_at: line.created_at,
            updated_at: line.updated_at,
            id,
        }
    }
}

/// A messenger account bound to a line (Administration > Extensions >
/// Messengers).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    /// The source's id (UUID).
    pub id: String,
    /// The messenger kind: `telegram`, `whatsapp`, `webhook`….
    pub kind: String,
    /// The account's name for people, e.g. `@acme_support_bot`.
    pub name: String,
    /// The host's name of the connector configuration (the source's
    /// `name` in the server configuration).
    pub config_ref: String,
    /// The line it feeds (UUID).
    pub line: String,
    /// That line's name.
    pub line_name: String,
    /// The webhook address to give the messenger, relative to this
    /// server's origin.
    pub webhook: String,
    /// When it was bound.
    pub created_at: DateTime<Utc>,
}

impl From<&BoundSource> for SourceView {
    fn from(b: &BoundSource) -> Self {
        let s = &b.source;
        Self {
            id: s.id.to_string(),
            kind: s.kind.clone(),
            name: s.display_name.clone(),
            config_ref: s.config_ref.clone(),
            line: s.line.to_string(),
            line_name: b.line_name.clone(),
            webhook: format!("/webhooks/{}", s.id),
            created_at: s.created_at,
        }
    }
}

/// The bound accounts `user` may see: all of them for an administrator,
/// none for anyone else (a supervisor editing a line).
async fn visible_sources(hub: &Hub, user: &UserId) -> Result<Vec<SourceView>, ApiError> {
    match hub.bound_sources(user).await {
        Ok(bound) => Ok(bound.iter().map(SourceView::from).collect()),
        Err(e) if e.kind() == ErrorKind::Forbidden => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn line_id(raw: &str) -> Result<LineId, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(LineId::from_uuid)
        .map_err(|_| ApiError::bad_request("the line id is not a UUID"))
}

type ApiResult<T> = Result<Json<T>, ApiError>;

#[utoipa::path(
    get,
    path = "/api/admin/access",
    tag = "admin",
    description = "Whether the signed-in user is an administrator (a console shows the administration pages only then).",
    responses(
        (status = 200, description = "done", body = Access),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary directory failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn access(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
) -> ApiResult<Access> {
    Ok(Json(Access {
        administrator: hub.is_administrator(&user).await?,
    }))
}

#[utoipa::path(
    get,
    path = "/api/admin/lines",
    tag = "admin",
    description = "Every line with its settings and bound messenger accounts (administrators only).",
    responses(
        (status = 200, description = "done", body = [LineView]),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "only administrators see every line", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn list_lines(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
) -> ApiResult<Vec<LineView>> {
    let lines = hub.lines(&user).await?;
    let sources = visible_sources(&hub, &user).await?;
    Ok(Json(
        lines.iter().map(|l| LineView::new(l, &sources)).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/admin/lines",
    tag = "admin",
    description = "Creates a line (administrators only). An invalid configuration gets 422 with every problem, each naming its field; nothing is stored.",
    request_body = LineRequest,
    responses(
        (status = 201, description = "created", body = LineView),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "only administrators create lines, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "invalid configuration: `problems` by field", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn create_line(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
    body: Result<Json<LineRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<LineView>), ApiError> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let line = hub.create_line(&user, request.to_config()?).await?;
    let sources = visible_sources(&hub, &user).await?;
    Ok((StatusCode::CREATED, Json(LineView::new(&line, &sources))))
}

#[utoipa::path(
    get,
    path = "/api/admin/lines/{id}",
    tag = "admin",
    description = "One line with its settings (administrators, and the line's supervisors and operators).",
    params(("id" = String, Path, description = "the line id (UUID)")),
    responses(
        (status = 200, description = "done", body = LineView),
        (status = 400, description = "the line id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such line, or not one the user may see", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn get_line(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
    Path(id): Path<String>,
) -> ApiResult<LineView> {
    let line = hub.line(&user, line_id(&id)?).await?;
    let sources = visible_sources(&hub, &user).await?;
    Ok(Json(LineView::new(&line, &sources)))
}

#[utoipa::path(
    put,
    path = "/api/admin/lines/{id}",
    tag = "admin",
    description = "Replaces a line's settings (administrators and the line's supervisors); `version` must be the one the form was filled from. An invalid configuration gets 422 with every problem by field and leaves the line as it was.",
    params(("id" = String, Path, description = "the line id (UUID)")),
    request_body = LineRequest,
    responses(
        (status = 200, description = "done", body = LineView),
        (status = 400, description = "the line id is not a UUID", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the policy refuses, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such line, or not one the user may see", body = crate::openapi::ErrorBody),
        (status = 409, description = "the line changed since `version`: re-read it", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 422, description = "invalid configuration: `problems` by field", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn update_line(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
    Path(id): Path<String>,
    body: Result<Json<LineRequest>, JsonRejection>,
) -> ApiResult<LineView> {
    let id = line_id(&id)?;
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    let Some(version) = request.version else {
        return Err(ApiError::invalid_fields(vec![FieldProblem::new(
            "version",
            "send the version the form was filled from",
            "missing_version",
        )]));
    };
    let config = request.to_config()?;
    let line = hub.update_line(&user, id, version, config).await?;
    let sources = visible_sources(&hub, &user).await?;
    Ok(Json(LineView::new(&line, &sources)))
}

/// Query of `DELETE /api/admin/lines/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// The version the caller last read.
    pub version: u64,
}

#[utoipa::path(
    delete,
    path = "/api/admin/lines/{id}",
    tag = "admin",
    description = "Deletes a line (administrators only): its messenger accounts are unbound and its open sessions closed; history stays.",
    params(("id" = String, Path, description = "the line id (UUID)"), DeleteQuery),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "the line id is not a UUID, or no version", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "only administrators delete lines, or the CSRF token is missing", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such line", body = crate::openapi::ErrorBody),
        (status = 409, description = "the line changed since `version`: re-read it", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn delete_line(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
    Path(id): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "{}: send ?version=<the version last read>",
            e.body_text()
        ))
    })?;
    hub.delete_line(&user, line_id(&id)?, q.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/admin/sources",
    tag = "admin",
    description = "Every messenger account bound to a line, with its webhook address (administrators only; Administration > Extensions > Messengers).",
    responses(
        (status = 200, description = "done", body = [SourceView]),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "only administrators manage messenger accounts", body = crate::openapi::ErrorBody),
        (status = 503, description = "temporary store failure; retry", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn list_sources(
    State(AdminApi { hub, .. }): State<AdminApi>,
    Actor(user): Actor,
) -> ApiResult<Vec<SourceView>> {
    let bound = hub.bound_sources(&user).await?;
    Ok(Json(bound.iter().map(SourceView::from).collect()))
}
