//! The widget's HTTP endpoints: where a visitor's request becomes a
//! stored message, and where stored replies become Server-Sent Events.
//!
//! Every path is under `/webchat/{source}`:
//!
//! | method and path | what |
//! |---|---|
//! | `POST /visitor` | start (or resume) a visitor; `{"user_id", "user_hash"}` for a signed identity; answers `{token, visitor, name}` and sets the cookie; 429 when the client address started too many (served with `ConnectInfo<SocketAddr>`) |
//! | `POST /messages` | a [`VisitorMessage`](super::VisitorMessage); 429 over the rate |
//! | `GET /messages?after=&limit=` | the visitor's own history, a page |
//! | `GET /events?token=&after=` | SSE: each message after `after` (or `Last-Event-ID`), then each new one; event `ready` once caught up |
//! | `POST /files?name=` | upload a file (body = bytes, `Content-Type` = its type) |
//! | `POST /push` | a signed [`PushPayload`](super::PushPayload) from another process: wakes the visitor's streams |
//!
//! A browser request from an origin the widget does not allow is refused
//! with 403 (preflights too); allowed origins get CORS headers with
//! credentials. Requests without `Origin` (not from a browser page) still
//! need the visitor token.

use super::{PushPayload, UploadError, Visitor, WebchatMessenger, COOKIE, TOKEN_HEADER};
use super::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::signing::verify_signature_header;
use ::axum::body::Bytes;
use ::axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use ::axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use ::axum::response::sse::{Event, KeepAlive, Sse};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{get, post};
use ::axum::Router;
use chatlines_core::{
    ClientMessage, Direction, ErrorKind, Hub, Messenger, PageRequest, PageToken, SourceId,
    WebhookError, WebhookRequest,
};
use futures::Stream;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;

/// The path another process pushes delivered replies to, with `{source}`.
pub const PUSH_PATH: &str = "/webchat/{source}/push";

/// How far a push's timestamp may be from now, in seconds.
const PUSH_TOLERANCE: i64 = 300;

/// The widget sources a router serves, with the hub they write to.
#[derive(Clone)]
pub struct WebchatSources {
    hub: Hub,
    widgets: HashMap<SourceId, Arc<WebchatMessenger>>,
}

impl std::fmt::Debug for WebchatSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebchatSources")
            .field("sources", &self.widgets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebchatSources {
    /// No sources yet, over `hub`.
    pub fn new(hub: Hub) -> Self {
        Self {
            hub,
            widgets: HashMap::new(),
        }
    }

    /// Serves `widget` as `source` (register the same connector with the
    /// dispatcher's `Messengers`, so that replies wake its visitors).
    #[must_use]
    pub fn with(mut self, source: SourceId, widget: Arc<WebchatMessenger>) -> Self {
        self.widgets.insert(source, widget);
        self
    }

    /// Whether no source is served.
    pub fn is_empty(&self) -> bool {
        self.widgets.is_empty()
    }

    /// Whether `source` is one of the widgets served.
    pub fn serves(&self, source: SourceId) -> bool {
        self.widgets.contains_key(&source)
    }

    /// Wakes the open streams of `visitor` (their id on `source`): they
    /// read the stored history after the last message they sent. Nothing
    /// happens for a source not served or a visitor with no stream here.
    ///
    /// A host running several processes calls it for each message the
    /// shared event log shows in a web chat conversation, so a reply
    /// delivered by one process reaches a visitor connected to another.
    pub fn notify(&self, source: SourceId, visitor: &str) {
        if let Some(widget) = self.widgets.get(&source) {
            widget.notify(visitor);
        }
    }
}

/// A router with the widget endpoints of every source in `sources` (see
/// the module docs for the paths).
///
/// ```no_run
/// # use chatlines_connectors::webchat::{self, WebchatConfig, WebchatMessenger, WebchatSources};
/// # use std::sync::Arc;
/// # async fn demo(hub: chatlines_core::Hub, source: chatlines_core::SourceId) -> Result<(), Box<dyn std::error::Error>> {
/// let widget = Arc::new(WebchatMessenger::new(
///     WebchatConfig::new("widget-secret").with_allowed_origins(["https://shop.example"]),
/// )?);
/// let app = webchat::router(WebchatSources::new(hub).with(source, widget));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
pub fn router(sources: WebchatSources) -> Router {
    let limit = sources
        .widgets
        .values()
        .map(|w| w.config.max_file_bytes)
        .max()
        .unwrap_or(0)
        .max(64 * 1024);
    Router::new()
        .route("/webchat/{source}/visitor", post(start).options(preflight))
        .route(
            "/webchat/{source}/messages",
            post(write).get(history).options(preflight),
        )
        .route("/webchat/{source}/events", get(events).options(preflight))
        .route("/webchat/{source}/files", post(upload).options(preflight))
        .route(PUSH_PATH, post(push))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(sources))
}

type Shared = State<Arc<WebchatSources>>;

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_response(status, &json!({ "error": message.to_string() }))
}

fn webhook_status(e: &WebhookError) -> StatusCode {
    match e {
        WebhookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        WebhookError::Forbidden(_) => StatusCode::FORBIDDEN,
        WebhookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        WebhookError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn hub_status(e: &chatlines_core::Error) -> StatusCode {
    match e.kind() {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The widget serving `source`, and the CORS origin to answer with.
struct Call {
    widget: Arc<WebchatMessenger>,
    source: SourceId,
    origin: Option<HeaderValue>,
}

// A refusal is the response itself, answered at once.
#[allow(clippy::result_large_err)]
impl Call {
    fn open(sources: &WebchatSources, source: &str, headers: &HeaderMap) -> Result<Self, Response> {
        let not_found = || error(StatusCode::NOT_FOUND, "no web chat widget at this address");
        let id: SourceId = uuid::Uuid::try_parse(source)
            .map_err(|_| not_found())?
            .into();
        let widget = sources.widgets.get(&id).cloned().ok_or_else(not_found)?;
        let origin = match headers.get(header::ORIGIN) {
            None => None,
            Some(origin) => {
                let text = origin.to_str().unwrap_or_default();
                if !allowed(&widget, text, headers) {
                    return Err(error(
                        StatusCode::FORBIDDEN,
                        format!(
                            "origin {text:?} may not use this widget; add it to the widget's \
                             allowed origins"
                        ),
                    ));
                }
                Some(origin.clone())
            }
        };
        Ok(Self {
            widget,
            source: id,
            origin,
        })
    }

    /// `response` with the CORS headers of this call.
    fn finish(&self, mut response: Response) -> Response {
        if let Some(origin) = &self.origin {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        response
    }

    fn visitor(&self, headers: &HeaderMap, uri: &Uri) -> Result<Visitor, Response> {
        let mut pairs = header_pairs(headers);
        if let Some(token) = query(uri, "token") {
            pairs.push((TOKEN_HEADER.to_owned(), token));
        }
        self.widget
            .visitor(&WebhookRequest::new("GET", &pairs, "", b""))
            .map_err(|e| self.finish(error(webhook_status(&e), e)))
    }
}

fn allowed(widget: &WebchatMessenger, origin: &str, headers: &HeaderMap) -> bool {
    let origin = origin.trim_end_matches('/');
    if widget
        .config
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    if !widget.config.allow_same_origin {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    !host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn preflight(State(s): Shared, Path(source): Path<String>, headers: HeaderMap) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, x-webchat-token, last-event-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    call.finish(r)
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_hash: Option<String>,
}

/// The client address of a request served with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
struct PeerAddr(Option<std::net::IpAddr>);

impl<S: Send + Sync> ::axum::extract::FromRequestParts<S> for PeerAddr {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut ::axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

async fn start(
    State(s): Shared,
    Path(source): Path<String>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(addr) = peer {
        if let Err(wait) = call.widget.check_start(addr) {
            tracing::warn!(source = %call.source, %addr, "too many web chat visitors started");
            return call.finish(too_many_with(
                wait,
                "too many visitors started from this address",
            ));
        }
    }
    let request: StartRequest = if body.trim_ascii().is_empty() {
        StartRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return call.finish(error(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{}} or {{\"user_id\", \"user_hash\"}}: {e}"),
                ))
            }
        }
    };
    let secret = call.widget.secret();
    let visitor = match (request.user_id, request.user_hash) {
        (Some(user), Some(hash)) => match Visitor::identified(secret, &user, &hash) {
            Some(v) => v,
            None => {
                return call.finish(error(
                    StatusCode::UNAUTHORIZED,
                    "user_hash is not the HMAC-SHA256 of user_id with the widget secret",
                ))
            }
        },
        (None, None) => {
            let pairs = header_pairs(&headers);
            // A visitor who has a valid token keeps it; anyone else (a first
            // visit, a token from a rotated secret) starts anew.
            call.widget
                .visitor(&WebhookRequest::new("POST", &pairs, "", b""))
                .ok()
                .filter(|v| !v.is_identified())
                .unwrap_or_else(Visitor::anonymous)
        }
        _ => {
            return call.finish(error(
                StatusCode::BAD_REQUEST,
                "send both user_id and user_hash, or neither",
            ))
        }
    };
    let token = visitor.token(secret);
    let mut cookie = format!(
        "{COOKIE}={token}; Path=/webchat/{}; HttpOnly; SameSite=Lax; Max-Age=31536000",
        call.source
    );
    if call.widget.config.secure_cookie {
        cookie.push_str("; Secure");
    }
    let mut r = json_response(
        StatusCode::OK,
        &json!({ "token": token, "visitor": visitor.key(), "name": visitor.display_name() }),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    call.finish(r)
}

async fn write(
    State(s): Shared,
    Path(source): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let visitor = match call.visitor(&headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(wait) = call.widget.check_rate(&visitor) {
        return call.finish(too_many(wait));
    }
    let pairs = header_pairs(&headers);
    let mut pairs = pairs;
    pairs.push((TOKEN_HEADER.to_owned(), visitor.token(call.widget.secret())));
    let parsed = match call
        .widget
        .parse_webhook(WebhookRequest::new("POST", &pairs, "", &body))
    {
        Ok(p) => p,
        Err(e) => return call.finish(error(webhook_status(&e), e)),
    };
    let mut answer = None;
    for message in parsed.messages {
        match s.hub.ingest(call.source, message).await {
            Ok(posted) => answer = Some(posted),
            Err(e) => {
                tracing::warn!(source = %call.source, error = %e, "web chat message not stored");
                return call.finish(error(hub_status(&e), e));
            }
        }
    }
    let Some(posted) = answer else {
        return call.finish(error(StatusCode::BAD_REQUEST, "no message"));
    };
    call.widget.notify(visitor.key());
    call.finish(json_response(
        StatusCode::OK,
        &json!({
            "session": posted.message.session.to_string(),
            "seq": posted.message.seq,
            "duplicate": posted.duplicate,
        }),
    ))
}

fn too_many(wait: std::time::Duration) -> Response {
    too_many_with(wait, "too many messages")
}

fn too_many_with(wait: std::time::Duration, what: &str) -> Response {
    // Rounded up: a client that waits as long as told is let in.
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{what}; try again in {secs} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// A message as the widget shows it.
#[derive(Serialize)]
struct View {
    /// Resume after this message with it (`after`, `Last-Event-ID`).
    id: String,
    session: String,
    seq: u64,
    /// `visitor` or `line`.
    from: &'static str,
    author: String,
    text: String,
    attachments: Vec<FileView>,
    at: String,
}

#[derive(Serialize)]
struct FileView {
    name: String,
    mime_type: String,
    size: u64,
}

fn view(m: &ClientMessage) -> View {
    View {
        id: m.position().as_str().to_owned(),
        session: m.session.to_string(),
        seq: m.seq,
        from: match m.direction {
            Direction::Inbound => "visitor",
            Direction::Outbound => "line",
        },
        author: m.author_name.clone(),
        text: m.body.text.clone(),
        attachments: m
            .body
            .attachments
            .iter()
            .map(|a| FileView {
                name: a.name.clone(),
                mime_type: a.mime_type.clone(),
                size: a.size,
            })
            .collect(),
        at: m.at.to_rfc3339(),
    }
}

async fn history(
    State(s): Shared,
    Path(source): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let visitor = match call.visitor(&headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let limit = query(&uri, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    let page = PageRequest::from_parts(query(&uri, "after").map(PageToken::from), limit);
    match s
        .hub
        .external_conversation(call.source, visitor.key(), page)
        .await
    {
        Ok(page) => call.finish(json_response(
            StatusCode::OK,
            &json!({
                "items": page.items.iter().map(view).collect::<Vec<_>>(),
                "next": page.next.map(|t| t.as_str().to_owned()),
            }),
        )),
        Err(e) => call.finish(error(hub_status(&e), e)),
    }
}

async fn events(
    State(s): Shared,
    Path(source): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let visitor = match call.visitor(&headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|v| !v.is_empty())
        .or_else(|| query(&uri, "after").filter(|v| !v.is_empty()));
    let after = after.map(PageToken::from);
    // A token the conversation did not issue is refused now rather than
    // as a broken stream.
    if let Some(token) = &after {
        if let Err(e) = s
            .hub
            .external_conversation(
                call.source,
                visitor.key(),
                PageRequest::after(token.clone(), 1),
            )
            .await
        {
            return call.finish(error(hub_status(&e), e));
        }
    }
    let tail = Tail {
        wake: call.widget.subscribe(visitor.key()),
        hub: s.hub.clone(),
        source: call.source,
        visitor: visitor.key().to_owned(),
        after,
        pending: VecDeque::new(),
        read: true,
        ready: false,
    };
    let mut r = Sse::new(tail.stream())
        .keep_alive(KeepAlive::default())
        .into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    call.finish(r)
}

/// One visitor's stream: reads the stored history after the last message
/// sent, and waits for a wake-up when caught up.
struct Tail {
    wake: watch::Receiver<u64>,
    hub: Hub,
    source: SourceId,
    visitor: String,
    after: Option<PageToken>,
    pending: VecDeque<Event>,
    read: bool,
    ready: bool,
}

impl Tail {
    fn stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures::stream::unfold(self, |mut tail| async move {
            let event = tail.next().await?;
            Some((Ok(event), tail))
        })
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if !self.read {
                // Marks the current value seen, so a wake-up during the
                // read below is not lost.
                self.wake.changed().await.ok()?;
                self.read = true;
                continue;
            }
            self.wake.borrow_and_update();
            let page = PageRequest::from_parts(self.after.clone(), 100);
            let page = match self
                .hub
                .external_conversation(self.source, &self.visitor, page)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    // The widget reconnects with the last id it saw.
                    tracing::warn!(source = %self.source, error = %e, "web chat stream ended");
                    return None;
                }
            };
            self.read = page.next.is_some();
            for m in &page.items {
                let v = view(m);
                let data = serde_json::to_string(&v).unwrap_or_else(|_| "{}".to_owned());
                self.pending
                    .push_back(Event::default().id(v.id).event("message").data(data));
                self.after = Some(m.position());
            }
            if !self.read && !self.ready {
                self.ready = true;
                self.pending
                    .push_back(Event::default().event("ready").data("{}"));
            }
        }
    }
}

async fn upload(
    State(s): Shared,
    Path(source): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match Call::open(&s, &source, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let visitor = match call.visitor(&headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(wait) = call.widget.check_rate(&visitor) {
        return call.finish(too_many(wait));
    }
    let name = query(&uri, "name").unwrap_or_default();
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    match call.widget.upload(&visitor, &name, mime, &body).await {
        Ok(file) => call.finish(json_response(StatusCode::OK, &file)),
        Err(e) => {
            let status = match &e {
                UploadError::Disabled => StatusCode::NOT_FOUND,
                UploadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                UploadError::BadName => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            call.finish(error(status, e))
        }
    }
}

async fn push(
    State(s): Shared,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Process to process: no browser origin to check.
    let call = match Call::open(&s, &source, &HeaderMap::new()) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let unauthorized = |why: &str| error(StatusCode::UNAUTHORIZED, why);
    let Some(ts) = headers.get(TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()) else {
        return unauthorized("missing X-Chatlines-Timestamp");
    };
    let Some(sig) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return unauthorized("missing X-Chatlines-Signature");
    };
    let Ok(secs) = ts.trim().parse::<i64>() else {
        return unauthorized("X-Chatlines-Timestamp is not Unix seconds");
    };
    if (call.widget.clock.now().timestamp() - secs).abs() > PUSH_TOLERANCE {
        return unauthorized("the push is too old or from the future; refused as a replay");
    }
    if !verify_signature_header(call.widget.secret(), &[ts.as_bytes(), b".", &body], sig) {
        return unauthorized("bad signature");
    }
    let payload: PushPayload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a push: {e}")),
    };
    if payload.source != call.source.to_string() {
        return error(StatusCode::BAD_REQUEST, "the push names another source");
    }
    call.widget.notify(&payload.to);
    json_response(StatusCode::OK, &json!({}))
}
