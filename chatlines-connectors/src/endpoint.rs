//! The framework-free webhook endpoint: verify, parse, then ingest.

use crate::blobs::import_media;
use crate::registry::Messengers;
use crate::status::StatusSink;
use chatlines_core::{
    prepare_inbound, Error, Hub, IgnoredUpdate, InboundMessage, SourceId, WebhookError,
    WebhookRequest,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The default largest accepted body: 3 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 3 * 1024 * 1024;

/// What to answer the messenger.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (a verification challenge, or a short reason on errors).
    pub body: String,
}

impl WebhookResponse {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }

    /// Whether the request was accepted (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Receives webhook requests for every registered source and hands their
/// messages to [`Hub::ingest`].
///
/// The answer is 2xx only once every inbound message of the request was
/// stored (so a messenger that gets anything else delivers again, and the
/// store's dedupe makes that harmless):
///
/// | status | when |
/// |---|---|
/// | 200 | all messages stored (body: the connector's reply, e.g. a challenge) |
/// | 400 | malformed body or query, source id not a UUID, content over the hub's limits |
/// | 401 | missing or wrong secret / signature |
/// | 404 | no connector registered for the source, or source not bound |
/// | 405 | a method the connector does not use |
/// | 413 | body over the limit (checked before anything is parsed) |
/// | 503 | the store (or a host port) failed; retry |
///
/// Nothing is stored on any 4xx: every check and every parse runs before
/// the first message is ingested (each message passes
/// [`prepare_inbound`], the validation `Hub::ingest` runs).
///
/// Updates a connector deliberately did not store
/// ([`ParsedWebhook::ignored`](chatlines_core::ParsedWebhook::ignored)) are
/// logged at debug level and counted per source kind and update kind once
/// the request is answered 200; [`WebhookEndpoint::ignored`] reads the
/// counts.
#[derive(Clone)]
pub struct WebhookEndpoint {
    hub: Hub,
    messengers: Messengers,
    body_limit: usize,
    statuses: Option<Arc<dyn StatusSink>>,
    ignored: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

/// How many updates of one kind from one messenger kind were deliberately
/// not stored (see [`WebhookEndpoint::ignored`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct IgnoredCount {
    /// The connector's kind (`"telegram"`).
    pub source_kind: String,
    /// The update kind ([`IgnoredUpdate::kind`], e.g. `"channel_post"`).
    pub update_kind: String,
    /// How many were ignored since the endpoint was built.
    pub count: u64,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("messengers", &self.messengers)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    /// An endpoint over a hub and a connector registry, with the default
    /// body limit.
    pub fn new(hub: Hub, messengers: Messengers) -> Self {
        Self {
            hub,
            messengers,
            body_limit: DEFAULT_BODY_LIMIT,
            statuses: None,
            ignored: Arc::default(),
        }
    }

    /// A snapshot of the ignored-update counters, ordered by source kind
    /// then update kind. Clones of an endpoint share the counters.
    pub fn ignored(&self) -> Vec<IgnoredCount> {
        let counts = match self.ignored.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        counts
            .iter()
            .map(|((source_kind, update_kind), count)| IgnoredCount {
                source_kind: source_kind.clone(),
                update_kind: update_kind.clone(),
                count: *count,
            })
            .collect()
    }

    fn count_ignored(&self, source: SourceId, kind: &str, ignored: &[IgnoredUpdate]) {
        if ignored.is_empty() {
            return;
        }
        let mut counts = match self.ignored.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        for update in ignored {
            tracing::debug!(
                %source,
                source_kind = kind,
                update_kind = %update.kind,
                reason = %update.reason,
                "webhook update ignored"
            );
            *counts
                .entry((kind.to_owned(), update.kind.clone()))
                .or_insert(0) += 1;
        }
    }

    /// Sets the largest accepted body in bytes.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Reports delivery statuses to `sink`.
    pub fn with_status_sink(mut self, sink: Arc<dyn StatusSink>) -> Self {
        self.statuses = Some(sink);
        self
    }

    /// The largest accepted body in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The connector registry.
    pub fn messengers(&self) -> &Messengers {
        &self.messengers
    }

    /// Handles one request to `/webhooks/{source_id}`.
    pub async fn handle(
        &self,
        source_id: &str,
        method: &str,
        headers: &[(String, String)],
        query: &str,
        body: &[u8],
    ) -> WebhookResponse {
        let Ok(uuid) = uuid::Uuid::parse_str(source_id) else {
            return WebhookResponse::new(400, "the source id is not a UUID");
        };
        let source = SourceId::from_uuid(uuid);
        let Some(messenger) = self.messengers.get(source) else {
            return WebhookResponse::new(404, "unknown source");
        };
        if !matches!(method, "GET" | "POST") {
            return WebhookResponse::new(405, format!("method {method} not allowed"));
        }
        if body.len() > self.body_limit {
            return WebhookResponse::new(
                413,
                format!(
                    "body of {} bytes exceeds the limit of {} bytes",
                    body.len(),
                    self.body_limit
                ),
            );
        }
        let parsed =
            match messenger.parse_webhook(WebhookRequest::new(method, headers, query, body)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(%source, error = %e, "webhook refused");
                    return refusal(&e);
                }
            };
        let limits = &self.hub.config().limits;
        let mut messages = match prepare_all(parsed.messages, limits) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%source, error = %e, "webhook message refused");
                return WebhookResponse::new(400, e.to_string());
            }
        };
        if let Some(fetcher) = self.messengers.media(source) {
            for message in &mut messages {
                import_media(fetcher.as_ref(), messenger.kind(), message).await;
            }
            // A download changes attachment sizes: check the whole request
            // again before its first message is stored.
            messages = match prepare_all(messages, limits) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(%source, error = %e, "webhook message refused after media");
                    return WebhookResponse::new(400, e.to_string());
                }
            };
        }
        for message in messages {
            if let Err(e) = self.hub.ingest(source, message).await {
                tracing::warn!(%source, error = %e, "ingest failed");
                return ingest_failure(&e);
            }
        }
        if let Some(sink) = &self.statuses {
            for update in &parsed.statuses {
                sink.status(source, update).await;
            }
        }
        self.count_ignored(source, messenger.kind(), &parsed.ignored);
        WebhookResponse::new(200, parsed.reply.unwrap_or_default())
    }
}

/// Runs [`prepare_inbound`] on every message of a request, so none is
/// stored unless all can be.
fn prepare_all(
    messages: Vec<InboundMessage>,
    limits: &chatlines_core::MessageLimits,
) -> Result<Vec<InboundMessage>, Error> {
    messages
        .into_iter()
        .map(|m| prepare_inbound(m, limits))
        .collect()
}

fn refusal(e: &WebhookError) -> WebhookResponse {
    let status = match e {
        WebhookError::Unauthorized(_) => 401,
        WebhookError::Malformed(_) => 400,
        WebhookError::TooLarge { .. } => 413,
        WebhookError::MethodNotAllowed(_) => 405,
        _ => 400,
    };
    WebhookResponse::new(status, e.to_string())
}

fn ingest_failure(e: &Error) -> WebhookResponse {
    match e {
        Error::NotFound { .. } => WebhookResponse::new(404, e.to_string()),
        Error::InvalidInput { .. } => WebhookResponse::new(400, e.to_string()),
        Error::Store(_) | Error::Port { .. } | Error::Conflict { .. } => {
            WebhookResponse::new(503, "temporarily unavailable; deliver again")
        }
        _ if e.is_retryable() => {
            WebhookResponse::new(503, "temporarily unavailable; deliver again")
        }
        _ => WebhookResponse::new(500, "internal error"),
    }
}
