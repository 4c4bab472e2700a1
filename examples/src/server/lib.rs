//! The chatlines example server as a library: [`build_app`] turns a
//! [`ServerConfig`] into an axum [`Router`] (webhooks, sign-in and the
//! operators' API) and the background work behind it ([`Server`]);
//! [`http::serve`] serves it with the configured timeouts and limits.
//!
//! The `server` binary wraps it; tests and benchmarks call it directly.

#![forbid(unsafe_code)]

pub mod admin_api;
pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod faq_bot;
pub mod host;
pub mod http;
pub mod live;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod visitor_wake;
pub mod webchat_doc;
pub mod widget;

pub use config::{EnvSecrets, Secrets, ServerConfig};

use axum::Router;
use chatlines_connectors::blobs::{BlobStore, FsBlobStore};
use chatlines_connectors::dispatcher::{Dispatcher, DispatcherConfig, DispatcherHandle};
use chatlines_connectors::media::{MediaStats, MediaWorker, MediaWorkerHandle};
use chatlines_connectors::{Messengers, WebhookEndpoint};
use chatlines_core::RelayConfig;
use chatlines_core::{Clock, Hub, LineConfig, NewSource, SourceId, Store, SystemClock, UserId};
use chatlines_routing::{RuleRouter, TzDatabase};
use chatlines_store::postgres::PostgresStore;
use chatlines_store::relay::RelayHandle;
use chatlines_store::relay::RelayWorker;
use chatlines_store::timers::{TimerHandle, TimerWorker};
use chatlines_store::SqliteStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Errors of setup, boxed (an example; a host would type them).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A source the server receives webhooks for.
#[derive(Clone, Debug)]
pub struct BoundWebhook {
    /// The source's name in the configuration.
    pub name: String,
    /// The messenger kind.
    pub kind: String,
    /// The source id (stable across restarts: found again by name).
    pub id: SourceId,
}

impl BoundWebhook {
    /// The webhook path to give the messenger, e.g. `/webhooks/<uuid>`.
    pub fn path(&self) -> String {
        format!("/webhooks/{}", self.id)
    }
}

/// What runs behind the router: the hub, the outbox dispatcher, the media
/// fetch worker and the periodic drain. Stop it with [`shutdown`](Self::shutdown).
pub struct Server {
    /// The hub.
    pub hub: Hub,
    /// The connectors by source.
    pub messengers: Messengers,
    /// The bound sources, in configuration order.
    pub sources: Vec<BoundWebhook>,
    /// The metrics `GET /metrics` shows (give them to [`http::serve`]).
    pub metrics: metrics::Metrics,
    dispatcher: Arc<Mutex<Option<DispatcherHandle>>>,
    media: MediaWorkerHandle,
    timers: TimerHandle,
    relay: RelayHandle,
    visitors: Option<visitor_wake::VisitorWake>,
    log: Arc<dyn chatlines_core::EventLogStore>,
    drain: JoinHandle<()>,
    stop: Arc<Notify>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// Wakes the dispatcher, while it runs.
fn wake_dispatcher(dispatcher: Arc<Mutex<Option<DispatcherHandle>>>) -> api::OnReply {
    Arc::new(move || {
        if let Some(handle) = dispatcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            handle.wake();
        }
    })
}

/// The event-log consumer that feeds the metrics.
const METRICS_CONSUMER: &str = "server-metrics";

impl Server {
    /// A receiver that changes after each pass of the metrics' relay.
    pub fn relay_health(
        &self,
    ) -> tokio::sync::watch::Receiver<chatlines_store::relay::RelayHealth> {
        self.relay.watch_health()
    }

    /// Waits until the metrics have seen every event logged so far (the
    /// relay delivers the log in the background).
    pub async fn events_relayed(&self) -> Result<(), chatlines_core::StoreError> {
        let mut health = self.relay.watch_health();
        loop {
            let at = self
                .log
                .consumer_position(METRICS_CONSUMER)
                .await?
                .unwrap_or(chatlines_core::EventPosition::START);
            if self.log.events_after(at, 1).await?.is_empty() {
                return Ok(());
            }
            self.relay.wake();
            if health.changed().await.is_err() {
                return Ok(());
            }
        }
    }

    /// The media worker's counters (inbound files fetched, retried,
    /// failed), updated after every file.
    pub fn media_stats(&self) -> tokio::sync::watch::Receiver<MediaStats> {
        self.media.stats()
    }

    /// The outbox dispatcher's health (sent, failed, retried, last error),
    /// updated after each outcome is recorded; `None` once shut down.
    pub fn dispatcher_health(
        &self,
    ) -> Option<tokio::sync::watch::Receiver<chatlines_connectors::dispatcher::DispatcherHealth>>
    {
        self.dispatcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(DispatcherHandle::health)
    }

    /// Stops the drain loop, the dispatcher and the media worker (sends and
    /// downloads in flight finish; claimed but unstarted work is released
    /// for the next start).
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(e) = self.drain.await {
            tracing::error!(error = %e, "drain task ended abnormally");
        }
        let handle = self
            .dispatcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
        self.media.shutdown().await;
        self.timers.shutdown().await;
        if let Some(visitors) = self.visitors {
            visitors.shutdown().await;
        }
        self.relay.shutdown().await;
    }
}

/// The media directory named in the configuration, as a blob store.
pub fn blob_store(config: &ServerConfig) -> Arc<dyn BlobStore> {
    Arc::new(FsBlobStore::new(&config.blobs))
}

/// Opens the store the configuration names: PostgreSQL when `database` is
/// a `postgres://` (or `postgresql://`) URL, otherwise the SQLite file
/// (`:memory:` for a private in-memory database).
pub async fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, BoxError> {
    let database = config.database.as_str();
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let pg = config.postgres.to_store_config(database);
        return Ok(Arc::new(PostgresStore::connect(pg).await?));
    }
    if database == ":memory:" {
        return Ok(Arc::new(SqliteStore::open_in_memory().await?));
    }
    Ok(Arc::new(SqliteStore::open(database).await?))
}

/// Builds the app: opens the store, creates missing lines, binds missing
/// sources, registers their connectors, starts the dispatcher and the
/// drain loop, and returns the router with `/webhooks/{source}` and
/// `/api/...` mounted. Needs a Tokio runtime.
pub async fn build_app(
    config: &ServerConfig,
    secrets: &dyn Secrets,
) -> Result<(Router, Server), BoxError> {
    // A missing secret stops startup before the database is created.
    let blobs = blob_store(config);
    for spec in &config.sources {
        host::connector(spec, secrets, &blobs)?;
    }
    let store = open_store(config).await?;
    build_app_with_store(config, secrets, store).await
}

/// [`build_app`] over a store the caller opened.
pub async fn build_app_with_store(
    config: &ServerConfig,
    secrets: &dyn Secrets,
    store: Arc<dyn Store>,
) -> Result<(Router, Server), BoxError> {
    build_app_with(config, secrets, store, Arc::new(SystemClock)).await
}

/// [`build_app`] over a store the caller opened and a clock (which the hub
/// and the expiry of sign-in sessions use).
pub async fn build_app_with(
    config: &ServerConfig,
    secrets: &dyn Secrets,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<(Router, Server), BoxError> {
    // Build every connector and the credentials first: a missing secret or
    // a bad hash stops startup before anything is written.
    let blobs = blob_store(config);
    let mut connectors = Vec::new();
    for spec in &config.sources {
        connectors.push(host::connector(spec, secrets, &blobs)?);
    }
    let metrics = metrics::Metrics::new();
    // Sign-in sessions live in the same database as the store, so every
    // server process over it honours the same cookies.
    let sign_ins = auth::SignIns::open(config).await?;
    let auth = auth::Auth::with_sign_ins(&config.auth, clock.clone(), metrics.clone(), sign_ins)?;
    // The relay feeds the metrics, wakes the live event streams, and wakes
    // the dispatcher for messages to clients written anywhere (automatic
    // replies, or a reply through another process).
    let tail = live::Tail::default();
    let dispatcher: Arc<Mutex<Option<DispatcherHandle>>> = Arc::new(Mutex::new(None));
    let events: Arc<dyn chatlines_core::EventSink> = Arc::new(metrics::MetricsSink {
        metrics: metrics.clone(),
        inner: Arc::new(live::TailSink(tail.clone())),
        outbound: wake_dispatcher(dispatcher.clone()),
    });
    if auth.trusts_user_header() {
        tracing::warn!(
            "auth.trust_user_header is on: any client that reaches this server can act as any \
             user by sending X-User; only run it so behind a proxy that authenticates and sets \
             the header"
        );
    }

    let directory = Arc::new(host::directory(&config.directory));
    let apps = Arc::new(host::apps(&config.apps));
    // Lines with `bot = { ... }` meet the FAQ bot first.
    let faq = faq_bot::FaqBot::new(
        config
            .lines
            .iter()
            .filter_map(|l| l.bot.as_ref().map(|b| (l.name.as_str(), b))),
    );
    let mut builder = Hub::builder(
        store.clone(),
        directory,
        apps.clone(),
        Arc::new(RuleRouter::new()),
    )
    .clock(clock.clone())
    .time_zones(Arc::new(TzDatabase));
    if !faq.is_empty() {
        builder = builder.bot(Arc::new(faq));
    }
    let hub = builder.build();
    // The event log feeds the metrics: a relay with a durable cursor, woken
    // after every reply and every webhook, and once a second.
    let log: Arc<dyn chatlines_core::EventLogStore> = store.clone();
    let relay = RelayWorker::new(log.clone(), events, RelayConfig::new(METRICS_CONSUMER))
        .clock(clock.clone())
        .spawn();
    let admin = UserId::from(config.admin.as_str());

    let mut lines = hub.lines(&admin).await?;
    for spec in &config.lines {
        if lines.iter().any(|l| l.name() == spec.name) {
            continue;
        }
        let mut line = LineConfig::new(spec.name.as_str())
            .operators(spec.operators.as_str())
            .rule(spec.rule.clone());
        if let Some(s) = &spec.supervisors {
            line = line.supervisors(s.as_str());
        }
        if let Some(app) = &spec.account_app {
            line = line.account_app(app.as_str());
        }
        for app in &spec.request_apps {
            line = line.request_app(app.as_str());
        }
        if let Some(secs) = spec.offer_timeout_secs {
            line = line.offer_timeout(Duration::from_secs(secs));
        }
        if let Some(group) = &spec.overflow {
            line = line.overflow(group.as_str());
        }
        if let Some(hours) = &spec.hours {
            line = line.hours(hours.clone());
        }
        if let Some(bot) = &spec.bot {
            line = line.bot(bot.settings());
            if let Some(secs) = bot.timeout_secs {
                line = line.bot_timeout(Duration::from_secs(secs));
            }
        }
        if let Some(sla) = &spec.sla {
            line = line.sla(sla.clone());
        }
        if let Some(secs) = spec.inactivity_secs {
            line = line.inactivity(Duration::from_secs(secs));
        }
        // Set as given (validated by the hub: a warning needs both).
        line.timers.inactivity_warning_secs = spec.inactivity_warning_secs;
        line.timers.inactivity_warning = spec.inactivity_warning.clone();
        if let Some(then) = spec.never_answered {
            line = line.never_answered(then);
        }
        if let Some(secs) = spec.reopen_secs {
            line = line.reopen(Duration::from_secs(secs));
        }
        let line = hub.create_line(&admin, line).await?;
        tracing::info!(line = %line.id, name = %spec.name, "created line");
        lines.push(line);
    }

    let messengers = Messengers::new();
    let bound = hub.bound_sources(&admin).await?;
    let mut sources = Vec::new();
    let mut widgets = chatlines_connectors::webchat::WebchatSources::new(hub.clone());
    let mut demo_widget = None;
    for (spec, connector) in config.sources.iter().zip(connectors) {
        let kind = spec.connector.kind();
        let line = lines
            .iter()
            .find(|l| l.name() == spec.line)
            .ok_or_else(|| format!("source {:?}: no line named {:?}", spec.name, spec.line))?;
        let existing = bound
            .iter()
            .find(|b| b.source.config_ref == spec.name && b.source.kind == kind);
        let id = match existing {
            Some(b) => {
                if b.source.line != line.id {
                    tracing::warn!(source = %spec.name, "bound to another line than configured; unbind it to move it");
                }
                b.source.id
            }
            None => {
                let source = hub
                    .bind_source(
                        &admin,
                        line.id,
                        NewSource::new(kind, spec.display_name.as_str(), spec.name.as_str()),
                    )
                    .await?;
                tracing::info!(source = %source.id, name = %spec.name, "bound source");
                source.id
            }
        };
        if let Some(widget) = connector.webchat() {
            widgets = widgets.with(id, widget);
            demo_widget.get_or_insert(id);
        }
        connector.register(&messengers, id);
        sources.push(BoundWebhook {
            name: spec.name.clone(),
            kind: kind.to_owned(),
            id,
        });
    }

    metrics.set_sources(sources.iter().map(|s| (s.id, s.name.clone())));
    let visitors = if widgets.is_empty() {
        None
    } else {
        Some(follow_visitors(config, &store, &log, widgets.clone(), &tail).await?)
    };

    // The hub's clock: outbox entries are due by the time it wrote them.
    let spawned = Dispatcher::builder(store.clone(), messengers.clone())
        .clock(clock.clone())
        .config(
            DispatcherConfig::default()
                .with_poll_interval(Duration::from_millis(config.dispatch_poll_ms.max(1))),
        )
        .build()
        .spawn();
    let dispatcher_health = spawned.health();
    *dispatcher
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(spawned);
    let on_reply: api::OnReply = wake_dispatcher(dispatcher.clone());

    let stop = Arc::new(Notify::new());
    let drain = tokio::spawn(drain_loop(
        hub.clone(),
        Duration::from_millis(config.drain_interval_ms.max(1)),
        stop.clone(),
        metrics.clone(),
    ));

    // Inbound files are fetched in the background: the webhook is answered
    // once the message is stored with its attachments pending.
    // Offer timeouts and every other timer fire from the store, so any
    // number of server processes over one database give each one effect.
    let timers = TimerWorker::new(hub.clone())
        .clock(clock.clone())
        .interval(Duration::from_millis(config.timer_interval_ms.max(1)))
        .spawn();
    let media = MediaWorker::builder(store.clone(), messengers.clone())
        .clock(clock.clone())
        .build()
        .spawn();
    let media_wake = media.waker();
    let endpoint = WebhookEndpoint::new(hub.clone(), messengers.clone())
        .with_media_wake(move || media_wake.wake());
    let router = chatlines_connectors::axum::router(endpoint.clone())
        .merge(auth::router(auth.clone(), config.http.max_api_body_bytes))
        .merge(api::router(
            hub.clone(),
            auth.clone(),
            on_reply.clone(),
            config.http.max_api_body_bytes,
        ))
        .merge(api::desk::router(
            api::desk::DeskParts {
                hub: hub.clone(),
                auth: auth.clone(),
                apps,
                blobs: blob_store(config),
                on_reply,
            },
            config.http.max_api_body_bytes,
        ))
        .merge(api::board::router(
            hub.clone(),
            auth.clone(),
            admin.clone(),
            config.http.max_api_body_bytes,
        ))
        .merge(admin_api::router(
            hub.clone(),
            auth.clone(),
            config.http.max_api_body_bytes,
        ))
        .merge(live::router(hub.clone(), auth, tail))
        .merge(openapi::router())
        .merge(console::router())
        .merge(chatlines_connectors::webchat::router(widgets))
        .merge(widget::router(demo_widget))
        .merge(
            Router::new()
                .route("/metrics", axum::routing::get(metrics::scrape))
                .with_state(metrics::Scrape {
                    metrics: metrics.clone(),
                    store,
                    endpoint: Some(endpoint),
                    dispatcher: Some(dispatcher_health),
                    clock: clock.clone(),
                }),
        )
        .layer(middleware::ServerLayer::new(metrics.clone()));
    Ok((
        router,
        Server {
            hub,
            messengers,
            sources,
            metrics,
            dispatcher,
            media,
            timers,
            relay,
            visitors,
            log,
            drain,
            stop,
        },
    ))
}

/// Starts waking web chat visitors of this process from the shared event
/// log, from about its newest event (where the server's relay is).
async fn follow_visitors(
    config: &ServerConfig,
    store: &Arc<dyn Store>,
    log: &Arc<dyn chatlines_core::EventLogStore>,
    widgets: chatlines_connectors::webchat::WebchatSources,
    tail: &live::Tail,
) -> Result<visitor_wake::VisitorWake, BoxError> {
    let start = log
        .consumer_position(METRICS_CONSUMER)
        .await?
        .unwrap_or(chatlines_core::EventPosition::START);
    let database = config.database.as_str();
    let listener = if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let pg = config.postgres.to_store_config(database);
        Some(chatlines_store::postgres::PgEventListener::connect(&pg, start).await?)
    } else {
        None
    };
    Ok(visitor_wake::VisitorWake::spawn(
        store.clone(),
        widgets,
        start,
        tail.watch(),
        listener,
    ))
}

async fn drain_loop(hub: Hub, every: Duration, stop: Arc<Notify>, metrics: metrics::Metrics) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.notified() => return,
        }
        match hub.drain().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(routed = n, "drained queued sessions"),
            Err(e) => {
                metrics.drain_failed();
                tracing::warn!(error = %e, "drain failed; trying again next round");
            }
        }
    }
}
