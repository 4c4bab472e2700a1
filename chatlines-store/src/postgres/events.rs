//! Events between hub instances over PostgreSQL `NOTIFY`/`LISTEN`.

use super::error::store_error;
use chatlines_core::{Event, EventSink, StoreError};
use deadpool_postgres::Pool;
use futures::StreamExt;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// How many events a slow [`PgEventListener`] subscriber may fall behind
/// before it misses some (it then gets `RecvError::Lagged`).
const BUFFER: usize = 1024;

/// The longest `NOTIFY` payload PostgreSQL accepts, in bytes.
const MAX_PAYLOAD: usize = 7_999;

/// An [`EventSink`] that publishes every event as JSON with `pg_notify` on
/// a channel, so [`PgEventListener`]s of every instance receive it.
///
/// Get one from [`PostgresStore::event_sink`](super::PostgresStore::event_sink)
/// and hand it to the hub. Publishing never fails the hub's operation: an
/// error is logged and the event dropped.
#[derive(Clone)]
pub struct PgEventSink {
    pool: Pool,
    channel: String,
}

impl fmt::Debug for PgEventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEventSink")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl PgEventSink {
    pub(crate) fn new(pool: Pool, channel: String) -> Self {
        Self { pool, channel }
    }

    /// The channel events are published on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    async fn try_publish(&self, event: &Event) -> Result<(), StoreError> {
        let payload = payload(event)?;
        let client = self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!("no PostgreSQL connection available: {e}"))
        })?;
        let stmt = client
            .prepare_cached("SELECT pg_notify($1, $2)")
            .await
            .map_err(store_error)?;
        client
            .execute(&stmt, &[&self.channel, &payload])
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// The event as JSON that fits a `NOTIFY`: an over-long `error` text (a
/// messenger's answer quoted in `DeliveryFailed`) is cut to fit and ends
/// in `…`; any other event too large for a notification is an error.
fn payload(event: &Event) -> Result<String, StoreError> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(e.into()))?;
    if json.len() <= MAX_PAYLOAD {
        return Ok(json);
    }
    let value = serde_json::to_value(event).map_err(|e| StoreError::Backend(e.into()))?;
    let Some(error) = value
        .get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
    else {
        return Err(StoreError::Backend(
            format!(
                "the event is {} bytes as JSON, over the {MAX_PAYLOAD}-byte NOTIFY limit",
                json.len()
            )
            .into(),
        ));
    };
    // Escaping can make the text longer in JSON than in memory, so search
    // for the longest prefix whose JSON fits.
    let cut = |keep: usize| -> Result<String, StoreError> {
        let mut value = value.clone();
        value["error"] = serde_json::Value::String(format!("{}…", &error[..keep]));
        serde_json::to_string(&value).map_err(|e| StoreError::Backend(e.into()))
    };
    let (mut fits, mut too_long) = (0, error.len());
    while too_long - fits > 1 {
        let mut mid = fits + (too_long - fits) / 2;
        while !error.is_char_boundary(mid) {
            mid -= 1;
        }
        if mid == fits {
            break;
        }
        if cut(mid)?.len() <= MAX_PAYLOAD {
            fits = mid;
        } else {
            too_long = mid;
        }
    }
    let json = cut(fits)?;
    if json.len() > MAX_PAYLOAD {
        return Err(StoreError::Backend(
            "the event is over the NOTIFY limit even without its error text".into(),
        ));
    }
    Ok(json)
}

#[async_trait::async_trait]
impl EventSink for PgEventSink {
    async fn publish(&self, event: &Event) {
        if let Err(e) = self.try_publish(event).await {
            tracing::warn!(channel = %self.channel, error = %e, ?event, "event not published");
        }
    }
}

/// A dedicated connection that `LISTEN`s on a channel and delivers the
/// events of every instance (its own included) to subscribers.
///
/// Events arrive in the order they were committed. When the connection is
/// lost the listener reconnects (with backoff up to 5 s) and listens again;
/// events published while it was away are missed. Each time it listens
/// again, [`reconnects`](Self::reconnects) grows and [`gaps`](Self::gaps)
/// fires: a host that caches state re-reads it then (the listener is
/// already listening, so nothing published after the re-read is missed).
pub struct PgEventListener {
    sender: broadcast::Sender<Event>,
    task: JoinHandle<()>,
    channel: String,
    reconnects: watch::Receiver<u64>,
}

impl fmt::Debug for PgEventListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEventListener")
            .field("channel", &self.channel)
            .field("reconnects", &self.reconnects())
            .finish()
    }
}

impl PgEventListener {
    /// Connects to `url` and listens on `channel` (a plain lowercase
    /// identifier). Returns once `LISTEN` is in effect: every event
    /// published after that is delivered.
    pub async fn connect(url: &str, channel: &str) -> Result<Self, StoreError> {
        super::config::check_identifier("events channel", channel)?;
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Unusable(format!(
                "invalid PostgreSQL URL {}: {e}",
                super::config::redact(url)
            ))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("chatlines-listener");
        }
        let (sender, _) = broadcast::channel(BUFFER);
        let (gaps, reconnects) = watch::channel(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            config,
            channel.to_owned(),
            sender.clone(),
            gaps,
            ready_tx,
        ));
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self {
                sender,
                task,
                channel: channel.to_owned(),
                reconnects,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable(
                "the event listener stopped before listening".to_owned(),
            )),
        }
    }

    /// A receiver of every event delivered from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The channel listened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// How many times the listener lost its connection and listened
    /// again (events published meanwhile were missed).
    pub fn reconnects(&self) -> u64 {
        *self.reconnects.borrow()
    }

    /// Fires (`changed()` returns) each time the listener listens again
    /// after losing its connection; its value is [`reconnects`](Self::reconnects).
    ///
    /// ```no_run
    /// # async fn run(listener: chatlines_store::postgres::PgEventListener) {
    /// let mut events = listener.subscribe();
    /// let mut gaps = listener.gaps();
    /// loop {
    ///     tokio::select! {
    ///         Ok(event) = events.recv() => { /* update the UI */ let _ = event; }
    ///         Ok(()) = gaps.changed() => { /* events were missed: re-read state */ }
    ///         else => break,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn gaps(&self) -> watch::Receiver<u64> {
        let mut gaps = self.reconnects.clone();
        gaps.mark_unchanged();
        gaps
    }
}

impl Drop for PgEventListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects, listens and pumps notifications until dropped, reconnecting
/// after failures. The first outcome (listening, or the first connection
/// error) goes to `ready`.
async fn run(
    config: tokio_postgres::Config,
    channel: String,
    sender: broadcast::Sender<Event>,
    gaps: watch::Sender<u64>,
    ready: oneshot::Sender<Result<(), StoreError>>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&config, &channel, &sender, &mut ready, &gaps).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                if let Some(ready) = ready.take() {
                    // Never connected: the caller gets the error.
                    let _ = ready.send(Err(e));
                    return;
                }
                tracing::warn!(channel = %channel, error = %e, "event listener connection failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: connect, `LISTEN`, deliver until it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    sender: &broadcast::Sender<Event>,
    ready: &mut Option<oneshot::Sender<Result<(), StoreError>>>,
    gaps: &watch::Sender<u64>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(store_error)?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // `channel` was checked to be a plain identifier.
    let sql = format!("LISTEN {channel}");
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    // The connection must be polled for the LISTEN to complete.
    loop {
        tokio::select! {
            done = &mut listen => {
                done.map_err(store_error)?;
                break;
            }
            message = messages.next() => match message {
                Some(Ok(m)) => deliver(channel, sender, m),
                Some(Err(e)) => return Err(store_error(e)),
                None => return Err(StoreError::Unavailable("connection closed".to_owned())),
            },
        }
    }
    match ready.take() {
        Some(ready) => drop(ready.send(Ok(()))),
        // Listening again after a lost connection.
        None => gaps.send_modify(|n| *n += 1),
    }
    while let Some(message) = messages.next().await {
        match message {
            Ok(m) => deliver(channel, sender, m),
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "event listener connection lost");
                break;
            }
        }
    }
    Ok(())
}

fn deliver(channel: &str, sender: &broadcast::Sender<Event>, message: AsyncMessage) {
    if let AsyncMessage::Notification(n) = message {
        match serde_json::from_str::<Event>(n.payload()) {
            // No subscriber is not an error.
            Ok(event) => drop(sender.send(event)),
            Err(e) => tracing::warn!(channel = %channel, error = %e,
                "ignoring a notification that is not a chatlines event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatlines_core::{MessageId, OutboxId};
    use uuid::Uuid;

    fn failed(error: String) -> Event {
        Event::DeliveryFailed {
            entry: OutboxId::from_uuid(Uuid::now_v7()),
            message: MessageId::from_uuid(Uuid::now_v7()),
            error,
        }
    }

    #[test]
    fn small_events_are_sent_whole() {
        let event = failed("chat not found".to_owned());
        let json = payload(&event).expect("fits");
        assert_eq!(serde_json::from_str::<Event>(&json).expect("parses"), event);
    }

    #[test]
    fn a_long_delivery_error_is_cut_to_fit() {
        // Quotes and multi-byte characters grow or split under escaping.
        for unit in ["x", "\"", "\u{1F600}", "é\n"] {
            let event = failed(unit.repeat(20_000));
            let json = payload(&event).expect("cut to fit");
            assert!(json.len() <= MAX_PAYLOAD, "{} bytes", json.len());
            match serde_json::from_str::<Event>(&json).expect("parses") {
                Event::DeliveryFailed { error, .. } => {
                    assert!(error.ends_with('…'));
                    assert!(
                        error.len() > MAX_PAYLOAD / 4,
                        "cut too much: {}",
                        error.len()
                    );
                    assert!(unit.repeat(20_000).starts_with(error.trim_end_matches('…')));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
