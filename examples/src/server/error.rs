//! Where a failure becomes an HTTP status: every API answer that is not a
//! success is an [`ApiError`], and its status is decided here and nowhere
//! else ([`status_of`] for the hub's errors, [`ApiError`]'s constructors for
//! the server's own).

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatlines_core::{Error, FieldProblem};
use serde_json::json;
use std::time::Duration;

/// An API failure: a status and `{"error": "...", "kind": "...", "code":
/// "...", "retryable": bool}`, with `"problems": [{"field", "problem",
/// "code"}]` when the input had problems a form shows next to its fields.
/// `kind` is the failure's broad class and `code` its stable name (for a
/// hub error, [`Error::code`]), so a client reacts to them, never to the
/// message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
    problems: Vec<FieldProblem>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code_of_status(status),
            message: message.into(),
            retryable: false,
            retry_after: None,
            problems: Vec::new(),
        }
    }

    /// 422: the input has problems, each named by its field.
    pub fn invalid_fields(problems: Vec<FieldProblem>) -> Self {
        let message = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.problem))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            problems,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid input: {message}"),
            )
        }
    }

    /// The input's problems by field (empty unless the input was invalid).
    pub fn problems(&self) -> &[FieldProblem] {
        &self.problems
    }

    /// 400: the request is malformed (a path id, a query).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid credentials (sign in, or send a valid token).
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: signed in, but the request lacks its CSRF token.
    pub fn csrf(message: impl Into<String>) -> Self {
        Self {
            code: "csrf",
            ..Self::new(StatusCode::FORBIDDEN, message)
        }
    }

    /// 429: too many attempts; try again after `wait`.
    pub fn too_many(message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retryable: true,
            retry_after: Some(wait),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    /// 503: a part the server needs is unavailable now; try again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// 500: the server failed in a way the caller cannot fix.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A JSON body that could not be read: 413 when it is over the size
    /// limit, 415 without a JSON content type, 400 or 422 when malformed.
    pub fn body(rejection: &JsonRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }

    /// What went wrong and what to do.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable name of the failure (the body's `code`).
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// The code of a failure the server itself answers, from its status.
fn code_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_input",
        429 => "too_many_requests",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// The broad class of a status, as [`ErrorKind::name`](chatlines_core::ErrorKind::name) names them.
fn kind_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "invalid",
    }
}

/// The HTTP status for a hub error.
pub fn status_of(e: &Error) -> StatusCode {
    // A version conflict is retryable after re-reading, but it is the
    // caller's stale copy, not the server, that failed: 409.
    if e.is_retryable() && !matches!(e, Error::Conflict { .. }) {
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
            code: e.code(),
            message: e.to_string(),
            retryable: e.is_retryable(),
            retry_after: None,
            problems: e.field_problems(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": self.message,
            "kind": kind_of_status(self.status),
            "code": self.code,
            "retryable": self.retryable,
        });
        if !self.problems.is_empty() {
            body["problems"] = json!(self.problems);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The longest rejection text [`json_error`] carries over (axum's own
/// rejections are a sentence).
const MAX_REJECTION_TEXT: usize = 4 * 1024;

/// Whether an API response is a plain-text failure that [`json_error`]
/// rewrites: a client or server error whose body is not JSON already.
/// (The server's layer asks only for requests under `/api/` and
/// `/webchat/`.)
pub fn needs_json(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives a plain-text failure the [`ApiError`] JSON shape, with the same
/// status and its text as `error`: the failures the framework produces
/// before a handler runs (a malformed path or query parameter, an unknown
/// method, a body over the limit) come as plain text. Called by the
/// server's layer ([`crate::middleware`]) where [`needs_json`] says so.
pub async fn json_error(response: Response) -> Response {
    let status = response.status();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let text = match axum::body::to_bytes(response.into_body(), MAX_REJECTION_TEXT).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    };
    let mut error = ApiError::new(status, text);
    error.retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
    let mut response = error.into_response();
    if let Some(v) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
