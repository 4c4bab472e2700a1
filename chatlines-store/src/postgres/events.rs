//! Following the event log from another process: `NOTIFY` wakes, the log
//! tells.

use super::config::{redact, PostgresConfig};
use super::error::{store_error, Fail};
use super::locks::writer_key;
use super::log::{any_after, read_after};
use chatlines_core::{EventPosition, LoggedEvent, StoreError};
use deadpool_postgres::ClientWrapper;
use futures::StreamExt;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// How many events a slow [`PgEventListener`] subscriber may fall behind
/// before it gets `RecvError::Lagged` (it can read what it missed from the
/// log, after the last position it saw).
const BUFFER: usize = 1024;

/// How many events one read of the log returns at most.
const PAGE: usize = 500;

/// How long the listener waits without a notification before it reads the
/// log anyway: the wake-up for events whose notification it could not
/// have acted on (see [`PgEventListener`]).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The first wait before reading again when committed events are held back
/// by an older transaction still running; it doubles up to [`IDLE_POLL`].
const HELD_BACK_POLL: Duration = Duration::from_millis(10);

/// A dedicated connection that follows a store's event log and hands every
/// event, once and in log order, to its subscribers.
///
/// After every transaction that writes events the store sends a `NOTIFY`
/// on its channel (outside the transaction, several commits folded into
/// one); that only wakes the listener, which then reads the log
/// after the last position it delivered
/// ([`events_after`](chatlines_core::EventLogStore::events_after)). A lost
/// connection therefore loses nothing: the listener reconnects (with
/// backoff up to 5 s), listens again and reads from where it stopped.
///
/// An event is readable once every writer of the schema with a smaller
/// transaction id has ended; the listener notices events held back that
/// way and reads again shortly. Without notifications at all it still
/// reads the log every second.
///
/// ```no_run
/// # async fn run(store: chatlines_store::PostgresStore) -> Result<(), chatlines_core::StoreError> {
/// use chatlines_core::EventPosition;
/// let listener = store.event_listener(EventPosition::START).await?;
/// let mut events = listener.subscribe();
/// while let Ok(logged) = events.recv().await {
///     // update the UI; `logged.position` is where to resume after a restart
///     let _ = logged;
/// }
/// # Ok(()) }
/// ```
pub struct PgEventListener {
    sender: broadcast::Sender<LoggedEvent>,
    positions: watch::Receiver<EventPosition>,
    reconnects: watch::Receiver<u64>,
    task: JoinHandle<()>,
    channel: String,
}

impl fmt::Debug for PgEventListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEventListener")
            .field("channel", &self.channel)
            .field("position", &self.position())
            .field("reconnects", &self.reconnects())
            .finish()
    }
}

impl PgEventListener {
    /// Connects with `config`'s URL to its schema's log, listens on its
    /// events channel, and follows the log from just after `after`.
    /// Returns once listening: every event after `after` is delivered,
    /// from the log, whenever it was committed.
    ///
    /// Fails with [`StoreError::Unusable`] for invalid settings and
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect(
        config: &PostgresConfig,
        after: EventPosition,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        let channel = config.channel();
        let mut pg = tokio_postgres::Config::from_str(&config.url).map_err(|e| {
            StoreError::Unusable(format!(
                "invalid PostgreSQL URL {}: {e}",
                redact(&config.url)
            ))
        })?;
        pg.options(format!("-c search_path={}", config.schema));
        if pg.get_application_name().is_none() {
            pg.application_name("chatlines-listener");
        }
        let (sender, _) = broadcast::channel(BUFFER);
        let (positions_tx, positions) = watch::channel(after);
        let (reconnects_tx, reconnects) = watch::channel(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let follower = Follower {
            config: pg,
            writer: writer_key(&config.schema),
            channel: channel.clone(),
            sender: sender.clone(),
            positions: positions_tx,
            reconnects: reconnects_tx,
        };
        let task = tokio::spawn(follower.run(ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self {
                sender,
                positions,
                reconnects,
                task,
                channel,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable(
                "the event listener stopped before listening".to_owned(),
            )),
        }
    }

    /// A receiver of every event the listener reads from now on, in log
    /// order.
    pub fn subscribe(&self) -> broadcast::Receiver<LoggedEvent> {
        self.sender.subscribe()
    }

    /// The position of the last event read (the `after` given to
    /// [`connect`](Self::connect) until one is).
    pub fn position(&self) -> EventPosition {
        *self.positions.borrow()
    }

    /// Changes (`changed()` returns) each time the listener has read new
    /// events; its value is their last position. A wake-up for a consumer
    /// that reads the log itself, such as a [`Relay`](chatlines_core::Relay):
    ///
    /// ```no_run
    /// # async fn run(listener: chatlines_store::postgres::PgEventListener, relay: chatlines_core::Relay) {
    /// let mut woken = listener.positions();
    /// loop {
    ///     if let Err(e) = relay.catch_up().await {
    ///         tracing::warn!(error = %e, "delivery paused");
    ///     }
    ///     if woken.changed().await.is_err() {
    ///         break; // the listener was dropped
    ///     }
    /// }
    /// # }
    /// ```
    pub fn positions(&self) -> watch::Receiver<EventPosition> {
        self.positions.clone()
    }

    /// The channel listened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// How many times the listener lost its connection and listened again
    /// (nothing was missed: it read on from its position).
    pub fn reconnects(&self) -> u64 {
        *self.reconnects.borrow()
    }
}

impl Drop for PgEventListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The listener's task.
struct Follower {
    config: tokio_postgres::Config,
    writer: i32,
    channel: String,
    sender: broadcast::Sender<LoggedEvent>,
    positions: watch::Sender<EventPosition>,
    reconnects: watch::Sender<u64>,
}

impl Follower {
    /// Follows until dropped, reconnecting after failures. The first
    /// outcome (listening, or the first connection error) goes to `ready`.
    async fn run(self, ready: oneshot::Sender<Result<(), StoreError>>) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow_once(&mut ready).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    if let Some(ready) = ready.take() {
                        // Never listened: the caller gets the error.
                        let _ = ready.send(Err(e));
                        return;
                    }
                    tracing::warn!(channel = %self.channel, error = %e, "event listener connection failed");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// One connection's life: connect, `LISTEN`, then read the log after
    /// each wake-up until the connection ends. `Ok` when it ended after
    /// listening.
    async fn follow_once(
        &self,
        ready: &mut Option<oneshot::Sender<Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(store_error)?;
        let (wake, mut woken) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(connection, wake, self.channel.clone()));
        // Owns the connection task: dropping it ends the connection.
        let client = ClientWrapper::new(client, driver);
        // `channel` was checked to be a plain identifier.
        client
            .batch_execute(&format!("LISTEN {}", self.channel))
            .await
            .map_err(store_error)?;
        match ready.take() {
            Some(ready) => drop(ready.send(Ok(()))),
            None => self.reconnects.send_modify(|n| *n += 1),
        }
        let mut held_back_wait = HELD_BACK_POLL;
        loop {
            let waiting = match self.catch_up(&client).await {
                Ok(false) => {
                    held_back_wait = HELD_BACK_POLL;
                    IDLE_POLL
                }
                Ok(true) => {
                    let wait = held_back_wait;
                    held_back_wait = (held_back_wait * 2).min(IDLE_POLL);
                    wait
                }
                Err(e) => {
                    tracing::warn!(channel = %self.channel, error = %e, "event listener lost its connection");
                    return Ok(());
                }
            };
            match tokio::time::timeout(waiting, woken.recv()).await {
                // Woken: take every wake-up queued meanwhile with it.
                Ok(Some(())) => while woken.try_recv().is_ok() {},
                // The connection ended.
                Ok(None) => return Ok(()),
                Err(_elapsed) => {}
            }
        }
    }

    /// Reads and hands on every readable event after the position; `true`
    /// when later events exist that cannot be read yet.
    async fn catch_up(&self, client: &ClientWrapper) -> Result<bool, StoreError> {
        loop {
            let after = *self.positions.borrow();
            let page = read_after(client, self.writer, after, PAGE)
                .await
                .map_err(fail)?;
            let full = page.len() == PAGE;
            if let Some(last) = page.last().map(|e| e.position) {
                for event in page {
                    // No subscriber is not an error.
                    let _ = self.sender.send(event);
                }
                self.positions.send_replace(last);
            }
            if !full {
                let after = *self.positions.borrow();
                return any_after(client, after).await.map_err(fail);
            }
        }
    }
}

fn fail(f: Fail) -> StoreError {
    match f {
        Fail::Store(e) => e,
        Fail::Retry(why) => StoreError::Unavailable(why),
    }
}

/// Drives the connection, turning each notification on `channel` into a
/// wake-up; ends (dropping `wake`) when the connection does.
async fn drive(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
    wake: mpsc::UnboundedSender<()>,
    channel: String,
) {
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(n)) if n.channel() == channel => {
                if wake.send(()).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(channel = %channel, error = %e, "event listener connection ended");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_channel_names_that_need_quoting() {
        let config = PostgresConfig::new("postgres://nobody@127.0.0.1:1/none")
            .events_channel("bad; LISTEN x");
        let err = PgEventListener::connect(&config, EventPosition::START)
            .await
            .expect_err("refused before connecting");
        assert!(matches!(err, StoreError::Unusable(_)), "{err:?}");
    }
}
