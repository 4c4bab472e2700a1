//! An axum `Router` for the webhook endpoint (feature `axum`).

use crate::endpoint::WebhookEndpoint;
use ::axum::body::Body;
use ::axum::extract::{Path, Request, State};
use ::axum::http::StatusCode;
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;

/// A router mounting `GET` and `POST /webhooks/{source}` on `endpoint`,
/// with the request body limited to the endpoint's limit (a body declared
/// larger gets 413 before any of it is read; one that turns out larger
/// gets 413 as soon as it passes the limit, and is never parsed).
///
/// ```no_run
/// # async fn demo(endpoint: chatlines_connectors::WebhookEndpoint) -> std::io::Result<()> {
/// let app = chatlines_connectors::axum::router(endpoint);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(endpoint: WebhookEndpoint) -> Router {
    Router::new()
        .route("/webhooks/{source}", get(handle).post(handle))
        .with_state(Arc::new(endpoint))
}

/// Hands the request to the endpoint. It borrows the request's parts
/// rather than extracting copies of them, and reads the body within the
/// endpoint's limit itself: the handler runs for every message a
/// messenger delivers.
async fn handle(
    State(endpoint): State<Arc<WebhookEndpoint>>,
    Path(source): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, endpoint.body_limit()).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let answer = endpoint
        .handle(
            &source,
            parts.method.as_str(),
            &headers,
            parts.uri.query().unwrap_or_default(),
            &body,
        )
        .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, answer.body).into_response()
}

/// The whole body, or the answer to give when it is over `limit` bytes
/// (413) or cannot be read (400).
async fn read_body(body: Body, limit: usize) -> Result<::axum::body::Bytes, Response> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds the limit of {limit} bytes"),
        )
            .into_response()
    };
    if ::axum::body::HttpBody::size_hint(&body)
        .lower()
        .try_into()
        .map_or(true, |declared: usize| declared > limit)
    {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err((
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {e}"),
        )
            .into_response()),
    }
}
