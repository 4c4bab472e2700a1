//! Where a pooled connection is opened: TCP (or a Unix socket) with a
//! connect timeout and TCP keepalive, wrapped in [`Watchdog`], which gives
//! up on a server that stops answering.
//!
//! A frozen server (a stopped process, a stalled disk, a proxy that
//! stopped forwarding) still has its kernel acknowledge what the client
//! sends, so neither TCP keepalive nor the server-side
//! `statement_timeout` ends a call waiting on it. The watchdog counts the
//! requests the client sent that end in a `ReadyForQuery` answer (the
//! startup, each simple `Query`, each `Sync`) against the
//! `ReadyForQuery` messages received; while any is outstanding and
//! nothing arrives for [`PostgresConfig::answer_timeout`], reading fails.
//! The connection then closes, every call waiting on it fails with a
//! retryable [`StoreError::Unavailable`](chatlines_core::StoreError), and
//! the pool opens a fresh connection for the next call.
//!
//! [`PostgresConfig::answer_timeout`]: super::PostgresConfig::answer_timeout

use deadpool_postgres::Connect;
use futures::future::BoxFuture;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Opens pooled connections (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgConnect {
    /// How long an outstanding request may go without any answer.
    pub(crate) answer_timeout: Duration,
}

impl Connect for PgConnect {
    fn connect(
        &self,
        config: &Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        let config = config.clone();
        let answer_timeout = self.answer_timeout;
        Box::pin(async move {
            let socket: Box<dyn Io> = match open_socket(&config).await {
                Ok(s) => Box::new(Watchdog::new(s, answer_timeout)),
                // The driver's error type has no public constructor; a
                // stream that fails at once makes the driver wrap the I/O
                // error in one.
                Err(e) => Box::new(Failed(Some(e))),
            };
            let (client, connection) = config.connect_raw(socket, NoTls).await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                }
            });
            Ok((client, task))
        })
    }
}

/// A socket to the server.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the first reachable host of `config`, with its connect
/// timeout and TCP keepalive settings.
async fn open_socket(config: &Config) -> io::Result<Box<dyn Io>> {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let count = hosts.len().max(addrs.len());
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the PostgreSQL URL names no host",
    );
    for i in 0..count {
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432);
        let target = match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) => Host::Tcp(ip.to_string()),
            (None, Some(h)) => h.clone(),
            (None, None) => continue,
        };
        match within(
            config.get_connect_timeout(),
            connect_one(&target, port, config),
        )
        .await
        {
            Ok(socket) => return Ok(socket),
            Err(e) => {
                tracing::debug!(host = ?target, port, error = %e, "PostgreSQL host unreachable");
                last = e;
            }
        }
    }
    Err(last)
}

async fn within<T>(
    limit: Option<&Duration>,
    f: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        Some(d) => tokio::time::timeout(*d, f).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting took longer than the connect timeout ({d:?})"),
            ))
        }),
        None => f.await,
    }
}

async fn connect_one(host: &Host, port: u16, config: &Config) -> io::Result<Box<dyn Io>> {
    match host {
        Host::Tcp(name) => {
            let stream = TcpStream::connect((name.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            if config.get_keepalives() {
                let mut keepalive =
                    socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
                if let Some(interval) = config.get_keepalives_interval() {
                    keepalive = keepalive.with_interval(interval);
                }
                socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
            }
            Ok(Box::new(stream))
        }
        #[cfg(unix)]
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            Ok(Box::new(tokio::net::UnixStream::connect(path).await?))
        }
        #[cfg(not(unix))]
        Host::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not available on this platform",
        )),
    }
}

/// A stream whose first operation fails with the given error.
struct Failed(Option<io::Error>);

impl Failed {
    fn error(&mut self) -> io::Error {
        self.0
            .take()
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))
    }
}

impl AsyncRead for Failed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.error()))
    }
}

impl AsyncWrite for Failed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(self.error()))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.error()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Splits a byte stream of protocol messages (`type`, 4-byte big-endian
/// length counting itself, payload) and reports each message's type.
#[derive(Debug)]
struct Framer {
    /// The next message has no type byte (the frontend's startup).
    untyped: bool,
    header: [u8; 5],
    have: usize,
    /// Payload bytes still to skip.
    skip: usize,
}

impl Framer {
    fn new(untyped_first: bool) -> Self {
        Self {
            untyped: untyped_first,
            header: [0; 5],
            have: 0,
            skip: 0,
        }
    }

    /// Feeds `bytes`; calls `seen` with each message type (`0` for the
    /// startup message) once its header is complete.
    fn feed(&mut self, mut bytes: &[u8], mut seen: impl FnMut(u8)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let need = if self.untyped { 4 } else { 5 };
            let n = (need - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < need {
                return;
            }
            let (kind, len) = if self.untyped {
                let len = [
                    self.header[0],
                    self.header[1],
                    self.header[2],
                    self.header[3],
                ];
                (0, u32::from_be_bytes(len))
            } else {
                let len = [
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ];
                (self.header[0], u32::from_be_bytes(len))
            };
            self.untyped = false;
            self.have = 0;
            self.skip = usize::try_from(len.saturating_sub(4)).unwrap_or(usize::MAX);
            seen(kind);
        }
    }
}

/// A socket that fails its reads when an outstanding request gets no
/// answer in time (see the module docs).
pub(crate) struct Watchdog<S> {
    inner: S,
    limit: Duration,
    sent: Framer,
    received: Framer,
    /// Requests awaiting their `ReadyForQuery`.
    outstanding: u64,
    /// When the current wait started or last saw an answer byte.
    since: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl<S> Watchdog<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            sent: Framer::new(true),
            received: Framer::new(false),
            outstanding: 0,
            since: Instant::now(),
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn arm(&mut self, cx: &mut Context<'_>) {
        self.sleep.as_mut().reset(self.since + self.limit);
        // Register the waker: the connection task may not read again
        // before the deadline if nothing arrives.
        let _ = self.sleep.as_mut().poll(cx);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watchdog<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = &buf.filled()[before..];
                if !got.is_empty() {
                    let mut answered = 0;
                    this.received.feed(got, |kind| {
                        if kind == b'Z' {
                            answered += 1;
                        }
                    });
                    this.outstanding = this.outstanding.saturating_sub(answered);
                    this.since = Instant::now();
                    if this.outstanding > 0 {
                        this.arm(cx);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.outstanding > 0 && this.sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "PostgreSQL sent no answer within {:?}; the server may be frozen \
                             or unreachable",
                            this.limit
                        ),
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watchdog<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        let mut requests = 0;
        this.sent.feed(&buf[..written], |kind| {
            if matches!(kind, 0 | b'Q' | b'S') {
                requests += 1;
            }
        });
        if requests > 0 {
            if this.outstanding == 0 {
                this.since = Instant::now();
            }
            this.outstanding += requests;
            this.arm(cx);
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framer_finds_message_types_across_split_writes() {
        // Startup (length 8), then Query "x" (length 4 + 2), then Sync.
        let mut bytes = vec![0, 0, 0, 8, 0, 3, 0, 0];
        bytes.extend_from_slice(&[b'Q', 0, 0, 0, 6, b'x', 0]);
        bytes.extend_from_slice(&[b'S', 0, 0, 0, 4]);
        for split in 0..bytes.len() {
            let mut framer = Framer::new(true);
            let mut seen = Vec::new();
            framer.feed(&bytes[..split], |k| seen.push(k));
            framer.feed(&bytes[split..], |k| seen.push(k));
            assert_eq!(seen, vec![0, b'Q', b'S'], "split at {split}");
        }
    }
}
