//! Where a failure becomes an HTTP status: every API answer that is not a
//! success is an [`ApiError`], and its status is decided here and nowhere
//! else ([`status_of`] for the hub's errors, [`ApiError`]'s constructors for
//! the server's own).

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatlines_core::Error;
use serde_json::json;
use std::time::Duration;

/// An API failure: a status and `{"error": "...", "retryable": bool}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
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
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 429: too many attempts; try again after `wait`.
    pub fn too_many(message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retryable: true,
            retry_after: Some(wait),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
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
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "retryable": self.retryable });
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
