//! Where connections are accepted and held to their limits: a connection
//! cap, a header read timeout, a keep-alive idle timeout and a request
//! body timeout, on HTTP/1.1 over hyper.
//!
//! The header and idle timeouts live in [`Guarded`], a wrapper around the
//! socket that knows (from the service) whether a request is in progress:
//! while none is, the connection must deliver a complete request head
//! within [`Limits::header_read`] of its first byte, and the first byte
//! within [`Limits::keep_alive`] of the previous response (or
//! [`Limits::header_read`] of the accept). A request body that pauses
//! longer than [`Limits::body`] between chunks fails; the request is
//! answered 408 and the connection closed.

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The peer address of a request's connection (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Timeouts and the connection cap.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request head must arrive within this long of its first byte.
    pub header_read: Duration,
    /// A request body may pause this long between chunks.
    pub body: Duration,
    /// An idle kept-alive connection is closed after this long.
    pub keep_alive: Duration,
    /// At most this many connections at once.
    pub max_connections: usize,
}

impl From<&HttpConfig> for Limits {
    fn from(c: &HttpConfig) -> Self {
        Self {
            header_read: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            body: Duration::from_millis(c.body_timeout_ms.max(1)),
            keep_alive: Duration::from_millis(c.keep_alive_timeout_ms.max(1)),
            max_connections: c.max_connections.max(1),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// requests in progress finish (at most `limits.body` plus the time their
/// handlers need) and returns. Connections, refusals and timeouts are
/// counted in `metrics`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving
                    // the connections there are.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.connection_refused();
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics.connection(true);
        let conn = Arc::new(ConnState::new());
        let io = TokioIo::new(Guarded::new(stream, conn.clone(), limits, metrics.clone()));
        let service = hyper::service::service_fn({
            let app = app.clone();
            let metrics = metrics.clone();
            move |req: Request<Incoming>| {
                handle(
                    app.clone(),
                    conn.clone(),
                    addr,
                    limits,
                    metrics.clone(),
                    req,
                )
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The header and idle timeouts are Guarded's (hyper's header timer
        // would also cut idle connections at the header timeout).
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        let connection = graceful.watch(builder.serve_connection(io, service));
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, peer = %addr, "connection ended with an error");
            }
            metrics.connection(false);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    tracing::warn!("connection limit reached: refusing a connection");
    let _ = stream
        .write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n\
              retry-after: 1\r\ncontent-length: 34\r\n\r\ntoo many connections; retry later\n",
        )
        .await;
    let _ = stream.shutdown().await;
}

async fn handle(
    app: Router,
    conn: Arc<ConnState>,
    addr: SocketAddr,
    limits: Limits,
    metrics: Metrics,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let busy = conn.start_request();
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut req = req.map(|incoming| {
        Body::new(Watched {
            inner: tower_http::timeout::TimeoutBody::new(limits.body, incoming),
            timed_out: timed_out.clone(),
        })
    });
    req.extensions_mut().insert(ClientAddr(addr));
    // The peer address as axum's extractors expect it (the web chat
    // widget limits visitor starts per address with it).
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    let response = match app.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let response = if timed_out.load(Ordering::Relaxed) {
        tracing::info!(peer = %addr, "request body stalled: answering 408 and closing");
        metrics.http_timeout("body");
        let mut r = Response::new(Body::from("the request body stalled; send it faster\n"));
        *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    } else {
        response
    };
    Ok(response.map(|body| Body::new(Tracked { inner: body, busy })))
}

pin_project! {
    /// A request body that records whether it timed out.
    struct Watched<B> {
        #[pin]
        inner: B,
        timed_out: Arc<AtomicBool>,
    }
}

impl<B> http_body::Body for Watched<B>
where
    B: http_body::Body<Error = axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Err(e)) = &frame {
            if e.is::<tower_http::timeout::TimeoutError>() {
                this.timed_out.store(true, Ordering::Relaxed);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A response body that marks its request finished when dropped.
    struct Tracked<B> {
        #[pin]
        inner: B,
        busy: Busy,
    }
}

impl<B: http_body::Body> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What a connection's socket wrapper needs to know about its requests.
#[derive(Debug)]
struct ConnState {
    inner: Mutex<ConnInner>,
}

#[derive(Debug)]
struct ConnInner {
    /// Requests between their head and the end of their response.
    busy: usize,
    /// When the connection was accepted or its last response ended.
    idle_since: Instant,
    /// Whether a response was already sent (the idle timeout applies).
    served: bool,
    /// When the first byte of a request head arrived.
    head_started: Option<Instant>,
    /// The socket reader to wake when the connection goes idle.
    reader: Option<Waker>,
}

impl ConnState {
    fn new() -> Self {
        Self {
            inner: Mutex::new(ConnInner {
                busy: 0,
                idle_since: Instant::now(),
                served: false,
                head_started: None,
                reader: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start_request(self: &Arc<Self>) -> Busy {
        let mut s = self.lock();
        s.busy += 1;
        s.head_started = None;
        Busy(self.clone())
    }
}

/// A request in progress; dropping it (with the response body) returns
/// the connection to idle.
#[derive(Debug)]
struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.busy = s.busy.saturating_sub(1);
            s.idle_since = Instant::now();
            s.served = true;
            s.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

pin_project! {
    /// A socket that fails its reads when the peer is too slow to send a
    /// request head, or idles too long between requests.
    struct Guarded<IO> {
        #[pin]
        io: IO,
        conn: Arc<ConnState>,
        limits: Limits,
        metrics: Metrics,
        sleep: Pin<Box<Sleep>>,
        deadline: Option<Instant>,
    }
}

impl<IO> Guarded<IO> {
    fn new(io: IO, conn: Arc<ConnState>, limits: Limits, metrics: Metrics) -> Self {
        Self {
            io,
            conn,
            limits,
            metrics,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
        }
    }
}

impl<IO: AsyncRead> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut s = this.conn.lock();
                    if s.busy == 0 && s.head_started.is_none() {
                        s.head_started = Some(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let (deadline, what, kind) = {
                    let mut s = this.conn.lock();
                    if s.busy > 0 {
                        // A body being read is the body timeout's.
                        return Poll::Pending;
                    }
                    s.reader = Some(cx.waker().clone());
                    match s.head_started {
                        Some(t) => (t + this.limits.header_read, "the request head", "header"),
                        None if s.served => (
                            s.idle_since + this.limits.keep_alive,
                            "the next request",
                            "keep_alive",
                        ),
                        None => (
                            s.idle_since + this.limits.header_read,
                            "a request",
                            "header",
                        ),
                    }
                };
                if *this.deadline != Some(deadline) {
                    this.sleep.as_mut().reset(deadline);
                    *this.deadline = Some(deadline);
                }
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.metrics.http_timeout(kind);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client did not send {what} in time"),
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
