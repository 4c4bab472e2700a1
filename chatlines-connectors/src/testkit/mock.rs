//! A local HTTP server standing in for a messenger's API: answers what the
//! harness scripts and records every request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, Mutex};

/// One request the mock received.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method (`POST`).
    pub method: String,
    /// The path, as sent (still percent-encoded).
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What the mock answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MockReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl MockReply {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }

    /// An empty answer with this status.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest, usize) -> MockReply + Send + Sync>;

#[derive(Clone)]
struct MockState {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    responder: Responder,
}

/// A running mock API on 127.0.0.1; stops when dropped.
pub struct MockApi {
    url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MockApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockApi").field("url", &self.url).finish()
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockApi {
    /// Starts a server answering `responder(request, index)`, `index`
    /// counting requests from 0.
    ///
    /// # Panics
    ///
    /// When no port on 127.0.0.1 can be bound (a test cannot go on).
    pub async fn start(
        responder: impl Fn(&RecordedRequest, usize) -> MockReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = MockState {
            requests: Arc::clone(&requests),
            responder: Arc::new(responder),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a mock API on 127.0.0.1: {e}"),
        };
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("the mock API has no address: {e}"),
        };
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::debug!(error = %e, "mock API stopped");
            }
        });
        Self {
            url,
            requests,
            task,
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        match self.requests.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

async fn handle(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let index = {
        let mut all = match state.requests.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        all.push(recorded.clone());
        all.len() - 1
    };
    let reply = (state.responder)(&recorded, index);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// An address where nothing listens (bound, then released).
///
/// # Panics
///
/// When no port on 127.0.0.1 can be bound.
pub fn dead_url() -> String {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("cannot bind 127.0.0.1: {e}"),
    };
    match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(e) => panic!("no local address: {e}"),
    }
}
