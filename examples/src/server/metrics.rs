//! `GET /metrics`: where the server's counters and gauges are kept and
//! rendered in the Prometheus (OpenMetrics) text format.
//!
//! Counters come from three places: the server's layer on every request
//! ([`crate::middleware`]: HTTP requests by route and status, webhook
//! requests by source and outcome), the event sink the hub and the
//! dispatcher publish to (session changes, messages, deliveries), and the
//! sign-in handler. Gauges about waiting sessions and the outbox backlog
//! are read from the store at each scrape, the dispatcher's health from
//! its watch channel.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chatlines_connectors::dispatcher::DispatcherHealth;
use chatlines_core::{BoxError, Event, EventSink, LoggedEvent, SourceId, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};

/// How many waiting sessions per line and state a scrape counts at most.
const SCRAPE_LIMIT: usize = 10_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    source: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IgnoredLabels {
    source_kind: String,
    update_kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    line: String,
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitingLabels {
    line: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LineLabels {
    line: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorLabels {
    line: String,
    operator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DispatcherLabels {
    what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LineInfoLabels {
    line: String,
    name: String,
}

/// The server's metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    sources: RwLock<HashMap<String, String>>,
    http_requests: Family<HttpLabels, Counter>,
    webhook_requests: Family<WebhookLabels, Counter>,
    ignored_updates: Family<IgnoredLabels, Counter>,
    session_events: Family<SessionLabels, Counter>,
    messages: Family<DirectionLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    sign_ins: Family<OutcomeLabels, Counter>,
    drain_failures: Counter,
    connections_open: Gauge,
    connections_refused: Counter,
    http_timeouts: Family<TimeoutLabels, Counter>,
    waiting: Family<WaitingLabels, Gauge>,
    oldest_wait: Family<WaitingLabels, Gauge<f64, AtomicU64>>,
    line_info: Family<LineInfoLabels, Gauge>,
    assigned: Family<LineLabels, Gauge>,
    operator_load: Family<OperatorLabels, Gauge>,
    operator_eligible: Family<OperatorLabels, Gauge>,
    outbox_pending: Gauge,
    timers_due: Gauge,
    dispatcher: Family<DispatcherLabels, Gauge>,
    dispatcher_last: Family<DispatcherLabels, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    /// A fresh set of metrics, every counter at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chatlines");
        let inner = Inner {
            sources: RwLock::new(HashMap::new()),
            http_requests: Family::default(),
            webhook_requests: Family::default(),
            ignored_updates: Family::default(),
            session_events: Family::default(),
            messages: Family::default(),
            deliveries: Family::default(),
            sign_ins: Family::default(),
            drain_failures: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            http_timeouts: Family::default(),
            waiting: Family::default(),
            oldest_wait: Family::default(),
            line_info: Family::default(),
            assigned: Family::default(),
            operator_load: Family::default(),
            operator_eligible: Family::default(),
            outbox_pending: Gauge::default(),
            timers_due: Gauge::default(),
            dispatcher: Family::default(),
            dispatcher_last: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            inner.http_requests.clone(),
        );
        registry.register(
            "webhook_requests",
            "Webhook requests by source and outcome (accepted, refused, invalid, too_large, \
             unavailable, error)",
            inner.webhook_requests.clone(),
        );
        registry.register(
            "webhook_updates_ignored",
            "Webhook updates deliberately not stored, by messenger kind and update kind \
             (channel_post, group_message, …), read at scrape time",
            inner.ignored_updates.clone(),
        );
        registry.register(
            "session_events",
            "Session changes by line and event (opened, offered, queued, assigned, \
             transferred, closed)",
            inner.session_events.clone(),
        );
        registry.register(
            "messages",
            "Messages stored, by direction (in: from clients, out: from operators), and client edits, revokes and reactions",
            inner.messages.clone(),
        );
        registry.register(
            "outbox_deliveries",
            "Outbox entries the dispatcher finished, by outcome (succeeded, failed: given up)",
            inner.deliveries.clone(),
        );
        registry.register(
            "sign_ins",
            "Password sign-in attempts by outcome (ok, refused, limited)",
            inner.sign_ins.clone(),
        );
        registry.register(
            "drain_failures",
            "Rounds of routing queued sessions that failed (retried next round)",
            inner.drain_failures.clone(),
        );
        registry.register(
            "http_connections_open",
            "HTTP connections open now",
            inner.connections_open.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections refused because max_connections were open",
            inner.connections_refused.clone(),
        );
        registry.register(
            "http_timeouts",
            "Connections closed by a timeout, by kind (header, keep_alive, body)",
            inner.http_timeouts.clone(),
        );
        registry.register(
            "sessions_waiting",
            "Sessions waiting for an operator, by line and state (queued, offered), read at \
             scrape time",
            inner.waiting.clone(),
        );
        registry.register(
            "session_oldest_wait_seconds",
            "How long the oldest waiting session of each line and state has been open",
            inner.oldest_wait.clone(),
        );
        registry.register(
            "sessions_assigned",
            "Open sessions assigned to an operator, by line, read at scrape time",
            inner.assigned.clone(),
        );
        registry.register(
            "operator_load",
            "Open sessions each operator of a line holds, read at scrape time",
            inner.operator_load.clone(),
        );
        registry.register(
            "operator_eligible",
            "1 when the operator may be picked on the line (in its group and present)",
            inner.operator_eligible.clone(),
        );
        registry.register(
            "outbox_pending",
            "Outbox entries waiting for their first attempt or a retry, read from the store at \
             scrape time",
            inner.outbox_pending.clone(),
        );
        registry.register(
            "timers_due",
            "Timers (offer timeouts, ...) due and not yet fired, read from the store at scrape \
             time; above zero for long means no timer worker keeps up",
            inner.timers_due.clone(),
        );
        registry.register(
            "dispatcher",
            "The outbox dispatcher of this process, by what: running (1 or 0), in_flight, \
             sent, failed, retried (attempts scheduled again), deferred (held back locally), \
             panics (caught in a send), restarts",
            inner.dispatcher.clone(),
        );
        registry.register(
            "dispatcher_last_seconds",
            "Unix time of the dispatcher's last success and last error, by what \
             (success, error); absent until seen",
            inner.dispatcher_last.clone(),
        );
        registry.register(
            "line_info",
            "Each line's id and name (value 1)",
            inner.line_info.clone(),
        );
        Self {
            inner: Arc::new(Inner { registry, ..inner }),
        }
    }

    /// Brings the ignored-update counters up to the endpoint's counts.
    pub fn record_ignored(&self, counts: &[chatlines_connectors::IgnoredCount]) {
        for c in counts {
            let counter = self.inner.ignored_updates.get_or_create(&IgnoredLabels {
                source_kind: c.source_kind.clone(),
                update_kind: c.update_kind.clone(),
            });
            let seen = counter.get();
            if c.count > seen {
                counter.inc_by(c.count - seen);
            }
        }
    }

    /// Names the webhook sources (id, name) for the webhook counters;
    /// requests to other ids count as source `unknown`.
    pub fn set_sources(&self, sources: impl IntoIterator<Item = (SourceId, String)>) {
        let mut map = self
            .inner
            .sources
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.extend(sources.into_iter().map(|(id, name)| (id.to_string(), name)));
    }

    /// Counts a sign-in attempt.
    pub fn sign_in(&self, outcome: &'static str) {
        self.inner
            .sign_ins
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A connection was accepted (`true`) or ended (`false`).
    pub fn connection(&self, opened: bool) {
        if opened {
            self.inner.connections_open.inc();
        } else {
            self.inner.connections_open.dec();
        }
    }

    /// A connection over the cap was refused.
    pub fn connection_refused(&self) {
        self.inner.connections_refused.inc();
    }

    /// A connection was closed by a timeout of `kind`.
    pub fn http_timeout(&self, kind: &'static str) {
        self.inner
            .http_timeouts
            .get_or_create(&TimeoutLabels { kind })
            .inc();
    }

    /// Shows the dispatcher's health in the `dispatcher` gauges.
    pub fn record_dispatcher(&self, health: &DispatcherHealth) {
        let set = |what: &'static str, value: u64| {
            self.inner
                .dispatcher
                .get_or_create(&DispatcherLabels { what })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("running", u64::from(health.running));
        set(
            "in_flight",
            u64::try_from(health.in_flight).unwrap_or(u64::MAX),
        );
        set("sent", health.sent);
        set("failed", health.failed);
        set("retried", health.retried);
        set("deferred", health.deferred);
        set("panics", health.panics);
        set("restarts", u64::from(health.restarts));
        for (what, at) in [
            ("success", health.last_success),
            ("error", health.last_error_at),
        ] {
            if let Some(at) = at {
                // Millisecond precision is what the gauge needs.
                #[allow(clippy::cast_precision_loss)]
                let secs = at.timestamp_millis() as f64 / 1000.0;
                self.inner
                    .dispatcher_last
                    .get_or_create(&DispatcherLabels { what })
                    .set(secs);
            }
        }
    }

    /// Counts a failed routing round.
    pub fn drain_failed(&self) {
        self.inner.drain_failures.inc();
    }

    fn record_event(&self, event: &Event) {
        let session = |line: &chatlines_core::LineId, event: &'static str| {
            self.inner
                .session_events
                .get_or_create(&SessionLabels {
                    line: line.to_string(),
                    event,
                })
                .inc();
        };
        let message = |direction: &'static str| {
            self.inner
                .messages
                .get_or_create(&DirectionLabels { direction })
                .inc();
        };
        let delivery = |outcome: &'static str| {
            self.inner
                .deliveries
                .get_or_create(&OutcomeLabels { outcome })
                .inc();
        };
        match event {
            Event::SessionOpened { line, .. } => session(line, "opened"),
            Event::SessionOffered { line, .. } => session(line, "offered"),
            Event::SessionQueued { line, .. } => session(line, "queued"),
            Event::SessionAssigned { line, .. } => session(line, "assigned"),
            Event::SessionTransferred { line, .. } => session(line, "transferred"),
            Event::SessionClosed { line, .. } => session(line, "closed"),
            Event::MessageIn { .. } => message("in"),
            Event::MessageOut { .. } => message("out"),
            Event::MessageEdited { .. } => message("edited"),
            Event::MessageRevoked { .. } => message("revoked"),
            Event::MessageReacted { .. } => message("reacted"),
            Event::DeliveryStatusChanged { status, .. } => delivery(match status {
                chatlines_core::DeliveryStatus::Sent => "sent",
                chatlines_core::DeliveryStatus::Delivered => "delivered",
                chatlines_core::DeliveryStatus::Read => "read",
                chatlines_core::DeliveryStatus::Failed => "failed_reported",
            }),
            Event::DeliverySucceeded { .. } => delivery("succeeded"),
            Event::DeliveryFailed { .. } => delivery("failed"),
            _ => {}
        }
    }

    /// Reads the waiting sessions of every line from `store` into the
    /// gauges.
    async fn refresh(
        &self,
        store: &dyn Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), chatlines_core::StoreError> {
        let pending = store.outbox_pending().await?;
        self.inner
            .outbox_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        let due = store.due_timers(now).await?;
        self.inner
            .timers_due
            .set(i64::try_from(due).unwrap_or(i64::MAX));
        let lines = store.lines().await?;
        self.inner.waiting.clear();
        self.inner.oldest_wait.clear();
        self.inner.line_info.clear();
        self.inner.assigned.clear();
        self.inner.operator_load.clear();
        self.inner.operator_eligible.clear();
        for line in lines {
            let roster = store.roster(line.id).await?;
            let mut assigned = 0i64;
            for entry in roster {
                let labels = OperatorLabels {
                    line: line.id.to_string(),
                    operator: entry.user.to_string(),
                };
                assigned += i64::from(entry.load);
                self.inner
                    .operator_load
                    .get_or_create(&labels)
                    .set(i64::from(entry.load));
                self.inner
                    .operator_eligible
                    .get_or_create(&labels)
                    .set(i64::from(entry.eligible));
            }
            self.inner
                .assigned
                .get_or_create(&LineLabels {
                    line: line.id.to_string(),
                })
                .set(assigned);
            self.inner
                .line_info
                .get_or_create(&LineInfoLabels {
                    line: line.id.to_string(),
                    name: line.name().to_owned(),
                })
                .set(1);
            let queued = store.queued_sessions(line.id, SCRAPE_LIMIT).await?;
            let offered = store.offered_sessions(line.id, SCRAPE_LIMIT).await?;
            for (state, sessions) in [("queued", queued), ("offered", offered)] {
                let labels = WaitingLabels {
                    line: line.id.to_string(),
                    state,
                };
                let count = i64::try_from(sessions.len()).unwrap_or(i64::MAX);
                self.inner.waiting.get_or_create(&labels).set(count);
                let oldest = sessions.iter().map(|s| s.opened_at).min();
                let wait = oldest.map_or(0.0, |t| {
                    let ms = (now - t).num_milliseconds().max(0);
                    // Millisecond precision is what the gauge needs.
                    #[allow(clippy::cast_precision_loss)]
                    let secs = ms as f64 / 1000.0;
                    secs
                });
                self.inner.oldest_wait.get_or_create(&labels).set(wait);
            }
        }
        Ok(())
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }

    /// The name of the webhook source whose id (as it appears in the
    /// webhook's path) is `id`, or `unknown`.
    pub fn source_name(&self, id: &str) -> String {
        self.inner
            .sources
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Counts one answered request by route (`unmatched` when no route
    /// matched) and status, and a webhook request also by its source's
    /// name and outcome.
    pub fn count_request(
        &self,
        route: Option<&str>,
        webhook_source: Option<String>,
        status: StatusCode,
    ) {
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                route: route.unwrap_or("unmatched").to_owned(),
                status: status.as_u16(),
            })
            .inc();
        if let Some(source) = webhook_source {
            self.inner
                .webhook_requests
                .get_or_create(&WebhookLabels {
                    source,
                    outcome: webhook_outcome(status),
                })
                .inc();
        }
    }
}

fn webhook_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "accepted",
        401 | 403 => "refused",
        413 => "too_large",
        503 => "unavailable",
        400..=499 => "invalid",
        _ => "error",
    }
}

/// The state of `GET /metrics`.
#[derive(Clone)]
pub struct Scrape {
    /// The metrics.
    pub metrics: Metrics,
    /// The store the gauges are read from.
    pub store: Arc<dyn Store>,
    /// The webhook endpoint whose ignored-update counts are shown.
    pub endpoint: Option<chatlines_connectors::WebhookEndpoint>,
    /// The outbox dispatcher's health, when one runs in this process.
    pub dispatcher: Option<tokio::sync::watch::Receiver<DispatcherHealth>>,
    /// The server's clock: what "due" and "waiting" are measured against.
    pub clock: Arc<dyn chatlines_core::Clock>,
}

/// `GET /metrics`.
pub async fn scrape(State(s): State<Scrape>) -> Response {
    if let Err(e) = s.metrics.refresh(&*s.store, s.clock.now()).await {
        // Counters are still worth serving; the gauges keep their last
        // values.
        tracing::warn!(error = %e, "metrics: cannot read waiting sessions");
    }
    if let Some(endpoint) = &s.endpoint {
        s.metrics.record_ignored(&endpoint.ignored());
    }
    if let Some(health) = &s.dispatcher {
        let health = health.borrow().clone();
        s.metrics.record_dispatcher(&health);
    }
    match s.metrics.encode() {
        Ok(text) => {
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// An event sink that counts what it sees and passes it on.
pub struct MetricsSink {
    /// The metrics.
    pub metrics: Metrics,
    /// Where events go next.
    pub inner: Arc<dyn EventSink>,
    /// Called for each message to a client (`message_out`): wakes the
    /// outbox dispatcher.
    pub outbound: Arc<dyn Fn() + Send + Sync>,
}

#[async_trait::async_trait]
impl EventSink for MetricsSink {
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError> {
        match event.event() {
            Ok(content) => {
                self.metrics.record_event(content);
                if matches!(content, chatlines_core::Event::MessageOut { .. }) {
                    (self.outbound)();
                }
            }
            // Not counted, still passed on: the next sink decides.
            Err(error) => tracing::warn!(%error, "metrics: an event is not counted"),
        }
        self.inner.publish(event).await
    }
}
