//! An axum `Router` for the webhook endpoint (feature `axum`).

use crate::endpoint::WebhookEndpoint;
use ::axum::body::Bytes;
use ::axum::extract::{DefaultBodyLimit, Path, State};
use ::axum::http::{HeaderMap, Method, StatusCode, Uri};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::Router;
use std::sync::Arc;

/// A router mounting `GET` and `POST /webhooks/{source}` on `endpoint`,
/// with the request body limited to the endpoint's limit (larger bodies
/// get 413 before anything is read into memory or parsed).
///
/// ```no_run
/// # async fn demo(endpoint: chatlines_connectors::WebhookEndpoint) -> std::io::Result<()> {
/// let app = chatlines_connectors::axum::router(endpoint);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(endpoint: WebhookEndpoint) -> Router {
    let limit = endpoint.body_limit();
    Router::new()
        .route("/webhooks/{source}", get(handle).post(handle))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(endpoint))
}

async fn handle(
    State(endpoint): State<Arc<WebhookEndpoint>>,
    Path(source): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let answer = endpoint
        .handle(
            &source,
            method.as_str(),
            &headers,
            uri.query().unwrap_or_default(),
            &body,
        )
        .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, answer.body).into_response()
}
