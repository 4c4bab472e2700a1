//! `GET /api/openapi.json`: the API described from the handlers' own
//! annotations (utoipa), so the document changes with the code.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// One Server-Sent Event of `GET /api/events`, as an event-stream client
/// reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamedEvent {
    /// The change's kind, e.g. `message_posted`, `session_assigned`.
    pub event: String,
    /// Its log position (`TX.SEQ`): send it back as `Last-Event-ID` (or
    /// `?after=`) to continue after it.
    pub id: String,
    /// The logged event as JSON: its id, position, time and body.
    pub data: String,
}

/// The error answer every API failure has.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do.
    pub error: String,
    /// The broad class: `forbidden`, `not_found`, `conflict`, `invalid`,
    /// `unavailable`, `internal`.
    pub kind: String,
    /// The failure's stable name, e.g. `already_taken`, `session_closed`,
    /// `invalid_line`, `csrf`, `too_many_requests`: what a client reacts to.
    pub code: String,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// When the input was invalid: each problem with the field it
    /// concerns, for a form to show next to that field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemBody>,
}

/// One problem of an invalid input.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// The field, e.g. `name`, `operators`, `capacity`.
    pub field: String,
    /// What is wrong, for people.
    pub problem: String,
    /// A short stable name of the problem, e.g. `unknown_group`.
    pub code: String,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatlines example server",
        description = "Webhooks from messengers in, sign-in, and the operators' API."
    ),
    paths(
        crate::auth::routes::sign_in,
        crate::auth::routes::sign_out,
        crate::auth::routes::me,
        crate::api::offered,
        crate::api::assigned,
        crate::api::take,
        crate::api::reply,
        crate::api::close,
        crate::api::messages,
        crate::api::desk::session,
        crate::api::desk::reply_with_files,
        crate::api::desk::transfer,
        crate::api::desk::operators,
        crate::api::desk::return_to_queue,
        crate::api::desk::client,
        crate::api::desk::link_account,
        crate::api::desk::register_request,
        crate::api::board::lines,
        crate::api::board::board,
        crate::api::board::sla_breaches,
        crate::api::board::assign,
        crate::api::board::set_priority,
        crate::live::events,
        webhook_get,
        webhook_post,
        metrics,
        openapi_json,
    ),
    components(schemas(ErrorBody, ProblemBody, StreamedEvent)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign-in and sessions"),
        (name = "sessions", description = "Operators' work on sessions"),
        (name = "board", description = "Supervisors' line board"),
        (name = "events", description = "Live updates from the event log"),
        (name = "webhooks", description = "Messenger webhooks (verified by each connector)"),
        (name = "operations", description = "Metrics and this document")
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "set by POST /api/auth/sign-in",
            ))),
        );
        components.add_security_scheme(
            "csrf_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "the session's CSRF token, on every state-changing request made with the cookie",
            ))),
        );
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token from `server new-token`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "trusted_user_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-User",
                "believed only with auth.trust_user_header = true",
            ))),
        );
    }
}

/// Adds to every API operation the refusals its extractors answer before
/// the handler runs, so that no route can leave one undocumented: 400 for a
/// malformed path or query parameter; 400, 413, 415 and 422 for a JSON
/// body that is malformed, over the limit, not JSON, or of the wrong shape.
/// Each is the [`ErrorBody`] shape ([`crate::middleware`] makes sure of
/// it). The webhook routes answer their messengers in plain text
/// and document their own answers.
struct Refusals;

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let has_parameters = operation.parameters.iter().flatten().any(|p| match p {
                    utoipa::openapi::RefOr::T(p) => {
                        matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query)
                    }
                    // A shared parameter may be anywhere: assume it
                    // can be malformed.
                    utoipa::openapi::RefOr::Ref(_) => true,
                });
                let mut refusals = Vec::new();
                if has_parameters || operation.request_body.is_some() {
                    refusals.push(("400", "a malformed parameter or body"));
                }
                if operation.request_body.is_some() {
                    refusals.extend([
                        ("413", "the body is over the limit"),
                        ("415", "the body is not `application/json`"),
                        ("422", "the body does not have the documented shape"),
                    ]);
                }
                for (status, description) in refusals {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

/// A response with the [`ErrorBody`] shape.
fn error_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// A messenger's webhook verification request (WhatsApp's `hub.challenge`).
#[utoipa::path(
    get,
    path = "/webhooks/{source}",
    tag = "webhooks",
    params(("source" = String, Path, description = "the source id printed at startup")),
    responses(
        (status = 200, description = "verified: the challenge is echoed"),
        (status = 400, description = "the source id is not a UUID, or the query is not a verification request"),
        (status = 401, description = "wrong verify token"),
        (status = 403, description = "wrong verify token (WhatsApp)"),
        (status = 404, description = "no such source"),
        (status = 405, description = "this source's messenger has no verification handshake")
    ),
    security(())
)]
#[allow(dead_code)]
fn webhook_get() {}

/// A messenger's update; each connector verifies its own signature or
/// secret header.
#[utoipa::path(
    post,
    path = "/webhooks/{source}",
    tag = "webhooks",
    params(("source" = String, Path, description = "the source id printed at startup")),
    request_body(content = serde_json::Value, description = "the messenger's update, as it sends it"),
    responses(
        (status = 200, description = "every message of the request is stored"),
        (status = 400, description = "malformed body"),
        (status = 401, description = "bad secret or signature; nothing stored"),
        (status = 404, description = "no such source"),
        (status = 413, description = "body over the limit"),
        (status = 503, description = "the store failed; the messenger delivers again")
    ),
    security(())
)]
#[allow(dead_code)]
fn webhook_post() {}

/// Counters and gauges in the Prometheus (OpenMetrics) text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "the metrics", content_type = "application/openmetrics-text", body = String)),
    security(())
)]
#[allow(dead_code)]
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "the OpenAPI document", body = serde_json::Value)),
    security(())
)]
#[allow(dead_code)]
fn openapi_json() {}

/// The whole document: every route group's paths, then the refusals
/// [`Refusals`] adds to each of them.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::admin_api::AdminApiDoc::openapi());
    doc.merge(crate::webchat_doc::WebchatApiDoc::openapi());
    Refusals.modify(&mut doc);
    doc
}

/// The route serving the document.
pub fn router() -> Router {
    // Shared, not owned, by the handler: the server clones every handler
    // for each connection it accepts, and the document is large.
    let doc = Arc::new(document());
    Router::new().route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(&*doc).into_response() }
        }),
    )
}
