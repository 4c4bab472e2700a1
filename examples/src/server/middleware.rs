//! The layer every route of the server runs behind: it counts each answered
//! request for `GET /metrics` ([`Metrics::count_request`]) and gives a
//! plain-text failure under `/api/` and `/webchat/` the JSON error shape
//! ([`error::json_error`]).
//!
//! It is one hand-written [`tower::Layer`] rather than two
//! `axum::middleware::from_fn` functions: those box a future and clone the
//! inner service on every request, a cost every webhook pays. Here the
//! future is a plain state machine, and only the rare rewrite of a failure
//! is boxed.

use crate::error;
use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use futures::future::BoxFuture;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The route of the webhook endpoint, whose requests are also counted by
/// source.
const WEBHOOK_ROUTE: &str = "/webhooks/{source}";

/// Wraps every route: counts requests and makes API failures JSON (see the
/// module's documentation). Apply it with [`axum::Router::layer`], so that
/// the matched route is known.
#[derive(Clone)]
pub struct ServerLayer {
    metrics: Metrics,
}

impl ServerLayer {
    /// A layer counting into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`ServerLayer`] makes of a route.
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> tower::Service<Request> for ServerService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let path = request.uri().path();
        let api = path.starts_with("/api/") || path.starts_with("/webchat/");
        let webhook_source = route
            .as_ref()
            .filter(|r| r.as_str() == WEBHOOK_ROUTE)
            .map(|_| {
                self.metrics
                    .source_name(path.trim_start_matches("/webhooks/"))
            });
        ServerFuture {
            stage: Stage::Route {
                future: self.inner.call(request),
            },
            count: Some(Count {
                metrics: self.metrics.clone(),
                route,
                webhook_source,
                api,
            }),
        }
    }
}

/// What is counted once the route has answered.
struct Count {
    metrics: Metrics,
    route: Option<MatchedPath>,
    webhook_source: Option<String>,
    api: bool,
}

pin_project! {
    /// The future of [`ServerService`]: the route's answer, counted, and
    /// rewritten as JSON when it is a plain-text API failure.
    pub struct ServerFuture<F> {
        #[pin]
        stage: Stage<F>,
        count: Option<Count>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        // The route is answering.
        Route { #[pin] future: F },
        // A plain-text failure is being rewritten as JSON.
        Rewrite { future: BoxFuture<'static, Response> },
    }
}

impl<F> Future for ServerFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Route { future } => {
                    let Ok(response) = ready!(future.poll(cx));
                    let Some(count) = this.count.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    count.metrics.count_request(
                        count.route.as_ref().map(MatchedPath::as_str),
                        count.webhook_source,
                        response.status(),
                    );
                    if !(count.api && error::needs_json(&response)) {
                        return Poll::Ready(Ok(response));
                    }
                    this.stage.set(Stage::Rewrite {
                        future: Box::pin(error::json_error(response)),
                    });
                }
                StageProj::Rewrite { future } => return future.as_mut().poll(cx).map(Ok),
            }
        }
    }
}
