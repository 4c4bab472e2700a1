//! The web chat widget's visitor routes (`/webchat/{source}/…`, served
//! by `chatlines_connectors::webchat::router`) described for
//! `GET /api/openapi.json`.
//!
//! The connector has no OpenAPI dependency, so the routes and their wire
//! shapes are described here, from the connector's documentation
//! (`chatlines_connectors::webchat`); the API fuzz (`.ci/fuzz-api`)
//! checks every answer against them.

// The schemas describe JSON the connector writes; the server never builds
// them.
#![allow(dead_code)]

use utoipa::OpenApi;

/// The routes of the widget.
#[derive(OpenApi)]
#[openapi(
    paths(
        start,
        start_preflight,
        write,
        history,
        messages_preflight,
        events,
        events_preflight,
        upload,
        upload_preflight,
        push
    ),
    components(schemas(
        VisitorStart,
        VisitorStarted,
        VisitorMessageBody,
        VisitorFileBody,
        Written,
        ConversationPage,
        ConversationMessage,
        ConversationFile,
        PushBody,
        WebchatError,
        WebchatStreamEvent
    )),
    tags((name = "webchat", description = "The web chat widget's visitor routes (a visitor token, not a sign-in)"))
)]
pub struct WebchatApiDoc;

/// One Server-Sent Event of `GET /webchat/{source}/events`, as an
/// event-stream client reads it.
#[derive(utoipa::ToSchema)]
pub struct WebchatStreamEvent {
    /// `message` (a message of the conversation) or `ready` (the
    /// conversation so far was sent).
    pub event: String,
    /// A message's id, to send back as `after` when reconnecting; absent
    /// on `ready`.
    pub id: Option<String>,
    /// The message as JSON (`{}` on `ready`).
    pub data: String,
}

/// A refusal of the widget's routes.
#[derive(utoipa::ToSchema)]
pub struct WebchatError {
    /// What went wrong.
    pub error: String,
}

/// The body of `POST /webchat/{source}/visitor`: empty (`{}`) for an
/// anonymous visitor, or a signed identity.
#[derive(utoipa::ToSchema)]
pub struct VisitorStart {
    /// The host's user id of a signed-in customer.
    pub user_id: Option<String>,
    /// Hex HMAC-SHA256 of `user_id` with the widget secret.
    pub user_hash: Option<String>,
}

/// A started visitor.
#[derive(utoipa::ToSchema)]
pub struct VisitorStarted {
    /// The visitor token: send it as `X-Webchat-Token` (or `?token=`)
    /// where the cookie is not sent.
    pub token: String,
    /// The visitor's id on the source.
    pub visitor: String,
    /// The name the line sees.
    pub name: String,
}

/// A visitor's message.
#[derive(utoipa::ToSchema)]
pub struct VisitorMessageBody {
    /// The widget's id of the message (1 to 64 letters, digits, `-`,
    /// `_`): resending it stores nothing new.
    pub id: String,
    /// The text.
    pub text: Option<String>,
    /// Files uploaded before, each as the upload answered.
    pub attachments: Option<Vec<VisitorFileBody>>,
}

/// An uploaded file.
#[derive(utoipa::ToSchema)]
pub struct VisitorFileBody {
    /// The blob key.
    pub blob: String,
    /// The file name.
    pub name: String,
    /// The MIME type.
    pub mime_type: String,
    /// The size in bytes.
    pub size: u64,
}

/// A stored visitor message.
#[derive(utoipa::ToSchema)]
pub struct Written {
    /// The session.
    pub session: String,
    /// The message's number in the session.
    pub seq: u64,
    /// Whether the message id was sent before (nothing new was stored).
    pub duplicate: bool,
}

/// A page of the visitor's own conversation.
#[derive(utoipa::ToSchema)]
pub struct ConversationPage {
    /// The messages, oldest first.
    pub items: Vec<ConversationMessage>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// A message as the widget shows it (also each SSE event's data).
#[derive(utoipa::ToSchema)]
pub struct ConversationMessage {
    /// Resume after this message with it (`after`, `Last-Event-ID`).
    pub id: String,
    /// The session.
    pub session: String,
    /// The number in the session.
    pub seq: u64,
    /// `visitor` or `line`.
    pub from: String,
    /// The author's name as the visitor sees it.
    pub author: String,
    /// The text.
    pub text: String,
    /// The files.
    pub attachments: Vec<ConversationFile>,
    /// When it was written (RFC 3339).
    pub at: String,
}

/// A file of a message.
#[derive(utoipa::ToSchema)]
pub struct ConversationFile {
    /// The file name.
    pub name: String,
    /// The MIME type.
    pub mime_type: String,
    /// The size in bytes.
    pub size: u64,
}

/// A delivered reply announced by another process.
#[derive(utoipa::ToSchema)]
pub struct PushBody {
    /// The delivered message's id.
    pub id: String,
    /// The source.
    pub source: String,
    /// The visitor.
    pub to: String,
    /// The text.
    pub text: String,
}

/// Starts (or resumes) a visitor: answers its token and sets the
/// `chatlines_webchat` cookie.
#[utoipa::path(
    post,
    path = "/webchat/{source}/visitor",
    tag = "webchat",
    params(("source" = String, Path, description = "the web chat source id")),
    request_body(content = VisitorStart, description = "`{}` or a signed identity"),
    responses(
        (status = 200, description = "the visitor", body = VisitorStarted),
        (status = 400, description = "malformed body, or only one of user_id and user_hash", body = WebchatError),
        (status = 401, description = "user_hash does not sign user_id", body = WebchatError),
        (status = 403, description = "the page's origin may not use this widget", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError),
        (status = 413, description = "the body is over the limit", body = WebchatError),
        (status = 429, description = "too many visitors started from this address; see Retry-After", body = WebchatError)
    ),
    security(())
)]
fn start() {}

/// A visitor's message.
#[utoipa::path(
    post,
    path = "/webchat/{source}/messages",
    tag = "webchat",
    params(
        ("source" = String, Path, description = "the web chat source id"),
        ("token" = Option<String>, Query, description = "the visitor token (or the header, or the cookie)"),
        ("X-Webchat-Token" = Option<String>, Header, description = "the visitor token")
    ),
    request_body(content = VisitorMessageBody),
    responses(
        (status = 200, description = "stored", body = Written),
        (status = 400, description = "not a widget message", body = WebchatError),
        (status = 401, description = "no valid visitor token", body = WebchatError),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError),
        (status = 409, description = "a concurrent change; send again", body = WebchatError),
        (status = 413, description = "the body is over the limit", body = WebchatError),
        (status = 429, description = "too many messages; see Retry-After", body = WebchatError),
        (status = 503, description = "the store is unavailable; send again", body = WebchatError)
    ),
    security(())
)]
fn write() {}

/// The visitor's own conversation, a page.
#[utoipa::path(
    get,
    path = "/webchat/{source}/messages",
    tag = "webchat",
    params(
        ("source" = String, Path, description = "the web chat source id"),
        ("after" = Option<String>, Query, description = "continue after this message id"),
        ("limit" = Option<u32>, Query, description = "at most this many (default 100)"),
        ("token" = Option<String>, Query, description = "the visitor token (or the header, or the cookie)"),
        ("X-Webchat-Token" = Option<String>, Header, description = "the visitor token")
    ),
    responses(
        (status = 200, description = "a page", body = ConversationPage),
        (status = 400, description = "`after` is not a position of this conversation", body = WebchatError),
        (status = 401, description = "no valid visitor token", body = WebchatError),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError),
        (status = 503, description = "the store is unavailable", body = WebchatError)
    ),
    security(())
)]
fn history() {}

/// Server-Sent Events: each message after `after` (or `Last-Event-ID`),
/// then each new one (event `message`, data a `ConversationMessage`);
/// event `ready` once caught up.
#[utoipa::path(
    get,
    path = "/webchat/{source}/events",
    tag = "webchat",
    params(
        ("source" = String, Path, description = "the web chat source id"),
        ("after" = Option<String>, Query, description = "continue after this message id"),
        ("token" = Option<String>, Query, description = "the visitor token (EventSource cannot send headers)"),
        ("X-Webchat-Token" = Option<String>, Header, description = "the visitor token")
    ),
    responses(
        (status = 200, description = "an event stream", content_type = "text/event-stream", body = WebchatStreamEvent),
        (status = 400, description = "`after` is not a position of this conversation", body = WebchatError),
        (status = 401, description = "no valid visitor token", body = WebchatError),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError),
        (status = 503, description = "the store is unavailable", body = WebchatError)
    ),
    security(())
)]
fn events() {}

/// Uploads a file for a later message: the body is the file, its
/// `Content-Type` the file's type.
#[utoipa::path(
    post,
    path = "/webchat/{source}/files",
    tag = "webchat",
    params(
        ("source" = String, Path, description = "the web chat source id"),
        ("name" = Option<String>, Query, description = "the file name"),
        ("token" = Option<String>, Query, description = "the visitor token (or the header, or the cookie)"),
        ("X-Webchat-Token" = Option<String>, Header, description = "the visitor token")
    ),
    request_body(content = String, content_type = "application/octet-stream", description = "the file's bytes"),
    responses(
        (status = 200, description = "stored; name it in a message", body = VisitorFileBody),
        (status = 400, description = "missing or bad file name", body = WebchatError),
        (status = 401, description = "no valid visitor token", body = WebchatError),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address, or uploads are off", body = WebchatError),
        (status = 413, description = "the file is over the limit", body = WebchatError),
        (status = 429, description = "too many messages; see Retry-After", body = WebchatError),
        (status = 503, description = "the file could not be stored", body = WebchatError)
    ),
    security(())
)]
fn upload() {}

/// A delivered reply signed by another process with the widget secret;
/// wakes the visitor's streams here.
#[utoipa::path(
    post,
    path = "/webchat/{source}/push",
    tag = "webchat",
    params(
        ("source" = String, Path, description = "the web chat source id"),
        ("X-Chatlines-Timestamp" = String, Header, description = "Unix seconds of the signature"),
        ("X-Chatlines-Signature" = String, Header, description = "sha256=<hex HMAC of \"{timestamp}.{body}\">")
    ),
    request_body(content = PushBody),
    responses(
        (status = 200, description = "the visitor's streams were woken", body = serde_json::Value),
        (status = 400, description = "not a push, or for another source", body = WebchatError),
        (status = 401, description = "missing, stale or wrong signature", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError),
        (status = 413, description = "the body is over the limit", body = WebchatError)
    ),
    security(())
)]
fn push() {}

/// A CORS preflight of `/visitor`.
#[utoipa::path(
    options,
    path = "/webchat/{source}/visitor",
    tag = "webchat",
    params(("source" = String, Path, description = "the web chat source id")),
    responses(
        (status = 204, description = "allowed; the CORS headers say what"),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError)
    ),
    security(())
)]
fn start_preflight() {}

/// A CORS preflight of `/messages`.
#[utoipa::path(
    options,
    path = "/webchat/{source}/messages",
    tag = "webchat",
    params(("source" = String, Path, description = "the web chat source id")),
    responses(
        (status = 204, description = "allowed; the CORS headers say what"),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError)
    ),
    security(())
)]
fn messages_preflight() {}

/// A CORS preflight of `/events`.
#[utoipa::path(
    options,
    path = "/webchat/{source}/events",
    tag = "webchat",
    params(("source" = String, Path, description = "the web chat source id")),
    responses(
        (status = 204, description = "allowed; the CORS headers say what"),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError)
    ),
    security(())
)]
fn events_preflight() {}

/// A CORS preflight of `/files`.
#[utoipa::path(
    options,
    path = "/webchat/{source}/files",
    tag = "webchat",
    params(("source" = String, Path, description = "the web chat source id")),
    responses(
        (status = 204, description = "allowed; the CORS headers say what"),
        (status = 403, description = "origin not allowed", body = WebchatError),
        (status = 404, description = "no widget at this address", body = WebchatError)
    ),
    security(())
)]
fn upload_preflight() {}
