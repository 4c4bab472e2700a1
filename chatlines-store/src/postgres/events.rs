//! Events between hub instances over PostgreSQL `NOTIFY`/`LISTEN`.

use super::error::store_error;
use chatlines_core::{Event, EventSink, StoreError};
use deadpool_postgres::Pool;
use futures::StreamExt;
use std::fmt;
use std::str::FromStr;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// How many events a slow [`PgEventListener`] subscriber may fall behind
/// before it misses some (it then gets `RecvError::Lagged`).
const BUFFER: usize = 1024;

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
        let payload = serde_json::to_string(event).map_err(|e| StoreError::Backend(e.into()))?;
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
/// Events arrive in the order they were committed. If the connection is
/// lost, the listener stops: [`is_closed`](Self::is_closed) turns true and
/// receivers see `RecvError::Closed`; open a new listener (and re-read state
/// that may have changed meanwhile).
pub struct PgEventListener {
    /// Keeps the connection open (dropping the client closes it).
    _client: tokio_postgres::Client,
    sender: broadcast::Sender<Event>,
    task: JoinHandle<()>,
    channel: String,
}

impl fmt::Debug for PgEventListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEventListener")
            .field("channel", &self.channel)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PgEventListener {
    /// Connects to `url` and listens on `channel` (a plain lowercase
    /// identifier). Returns once `LISTEN` is in effect: every event
    /// published after that is delivered.
    pub async fn connect(url: &str, channel: &str) -> Result<Self, StoreError> {
        super::config::check_identifier("events channel", channel)?;
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Unusable(format!(
                "invalid PostgreSQL URL {}: {e}",
                super::config::redact(url)
            ))
        })?;
        let (client, mut connection) = config.connect(NoTls).await.map_err(store_error)?;
        let (sender, _) = broadcast::channel(BUFFER);
        let tx = sender.clone();
        let name = channel.to_owned();
        let task = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        match serde_json::from_str::<Event>(n.payload()) {
                            // No subscriber is not an error.
                            Ok(event) => drop(tx.send(event)),
                            Err(e) => tracing::warn!(channel = %name, error = %e,
                                "ignoring a notification that is not a chatlines event"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(channel = %name, error = %e, "event listener connection lost");
                        break;
                    }
                }
            }
        });
        // `channel` was checked to be a plain identifier.
        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")).await {
            task.abort();
            return Err(store_error(e));
        }
        Ok(Self {
            _client: client,
            sender,
            task,
            channel: channel.to_owned(),
        })
    }

    /// A receiver of every event delivered from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The channel listened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Whether the connection has ended (no more events will come).
    pub fn is_closed(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for PgEventListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}
