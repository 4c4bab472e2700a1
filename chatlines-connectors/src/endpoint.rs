//! The framework-free webhook endpoint: verify, parse, then ingest.

use crate::blobs::mark_pending;
use crate::registry::Messengers;
use crate::status::StatusSink;
use chatlines_core::{
    prepare_inbound, Error, Hub, IgnoredUpdate, InboundMessage, ParsedWebhook, SourceId,
    UpdateOutcome, WebhookError, WebhookRequest,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// What the endpoint did with the updates it received, since it was built
/// (shared by its clones). Read it with [`WebhookEndpoint::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Edits, revokes, reactions and statuses that changed a stored message.
    pub updates_applied: u64,
    /// Updates of a stored message that changed nothing (redeliveries,
    /// statuses older than the one recorded).
    pub updates_unchanged: u64,
    /// Updates naming a message never stored (nothing was written).
    pub updates_unknown_message: u64,
    /// Updates the hub refused as invalid (nothing was written).
    pub updates_invalid: u64,
    /// Edits and revokes of a message by someone who is not its author
    /// (nothing was written).
    pub updates_not_author: u64,
    /// Updates the connector deliberately did not store, by kind
    /// (`"group_message"`, `"unknown_phone_number"`, …).
    pub ignored: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Counters {
    applied: AtomicU64,
    unchanged: AtomicU64,
    unknown: AtomicU64,
    invalid: AtomicU64,
    not_author: AtomicU64,
    ignored: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn outcome(&self, outcome: &UpdateOutcome) {
        let counter = match outcome {
            UpdateOutcome::Applied { .. } => &self.applied,
            UpdateOutcome::Unchanged { .. } => &self.unchanged,
            UpdateOutcome::NotAuthor { .. } => &self.not_author,
            _ => &self.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn ignored(&self, kind: &str) {
        let mut map = self.ignored.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(kind.to_owned()).or_default() += 1;
    }

    fn snapshot(&self) -> WebhookStats {
        WebhookStats {
            updates_applied: self.applied.load(Ordering::Relaxed),
            updates_unchanged: self.unchanged.load(Ordering::Relaxed),
            updates_unknown_message: self.unknown.load(Ordering::Relaxed),
            updates_invalid: self.invalid.load(Ordering::Relaxed),
            updates_not_author: self.not_author.load(Ordering::Relaxed),
            ignored: self
                .ignored
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Receives webhook requests for every registered source, hands their
/// messages to [`Hub::ingest`], their edits and revokes to
/// [`Hub::apply_edit`], their reactions to [`Hub::apply_reaction`] and
/// their delivery statuses to [`Hub::record_status`].
///
/// An update of a message never stored, or one the hub refuses as invalid,
/// is skipped and counted ([`stats`](Self::stats)), never a refusal of the
/// request; so is every update the connector reports as ignored.
///
/// The answer is 2xx only once every inbound message of the request was
/// stored (so a messenger that gets anything else delivers again, and the
/// store's dedupe makes that harmless). Files are not downloaded here: an
/// attachment the source's connector can fetch is stored pending, with a
/// fetch job for the media worker (see [`mark_pending`]), so a slow
/// messenger file API never delays the answer and a redelivery downloads
/// nothing:
///
/// | status | when |
/// |---|---|
/// | 200 | all messages stored (body: the connector's reply, e.g. a challenge) |
/// | 400 | malformed body or query, source id not a UUID, content over the hub's limits |
/// | 401 | missing or wrong secret / signature |
/// | 403 | a verification handshake with the wrong token |
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
    counters: Arc<Counters>,
    media_wake: Option<Arc<dyn Fn() + Send + Sync>>,
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
            counters: Arc::default(),
            media_wake: None,
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

    /// Also reports delivery statuses to `sink` (they are recorded through
    /// [`Hub::record_status`] either way).
    pub fn with_status_sink(mut self, sink: Arc<dyn StatusSink>) -> Self {
        self.statuses = Some(sink);
        self
    }

    /// What the endpoint did with updates and ignored updates so far.
    pub fn stats(&self) -> WebhookStats {
        self.counters.snapshot()
    }

    /// Calls `wake` after a request stored attachments to fetch, e.g. a
    /// media worker's `MediaWake::wake`, so the download starts at once
    /// rather than at the worker's next poll.
    pub fn with_media_wake(mut self, wake: impl Fn() + Send + Sync + 'static) -> Self {
        self.media_wake = Some(Arc::new(wake));
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
        let mut parsed = parsed;
        let reply = parsed.reply.take();
        let others = std::mem::take(&mut parsed.other_accounts);
        let mut batches = vec![(source, parsed)];
        for (account, sub) in others {
            match self
                .messengers
                .source_for_account(messenger.kind(), &account)
            {
                Some(other) => batches.push((other, sub)),
                None => {
                    let n = sub.messages.len()
                        + sub.statuses.len()
                        + sub.edits.len()
                        + sub.reactions.len()
                        + sub.ignored.len();
                    tracing::debug!(%source, %account, updates = n, "updates for an account no source is bound to ignored");
                    for _ in 0..n {
                        self.counters.ignored("unknown_account");
                    }
                }
            }
        }
        // The whole request is checked before its first message is stored.
        let limits = &self.hub.config().limits;
        for (source, parsed) in &mut batches {
            parsed.messages = match prepare_all(std::mem::take(&mut parsed.messages), limits) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(%source, error = %e, "webhook message refused");
                    return WebhookResponse::new(400, e.to_string());
                }
            };
        }
        for (source, parsed) in batches {
            if let Err(response) = self.store(source, messenger.kind(), parsed).await {
                return response;
            }
        }
        WebhookResponse::new(200, reply.unwrap_or_default())
    }

    /// Stores what a request carried for one source: messages, then edits,
    /// reactions and statuses; counts what was ignored.
    async fn store(
        &self,
        source: SourceId,
        kind: &str,
        parsed: ParsedWebhook,
    ) -> Result<(), WebhookResponse> {
        let media = self.messengers.media(source);
        let mut queued_media = false;
        for mut message in parsed.messages {
            let pending = media
                .as_ref()
                .is_some_and(|fetcher| mark_pending(fetcher.as_ref(), &mut message));
            match self.hub.ingest(source, message).await {
                Ok(posted) => queued_media |= pending && !posted.duplicate,
                Err(e) => {
                    tracing::warn!(%source, error = %e, "ingest failed");
                    return Err(ingest_failure(&e));
                }
            }
        }
        if queued_media {
            if let Some(wake) = &self.media_wake {
                wake();
            }
        }
        self.count_ignored(source, kind, &parsed.ignored);
        for ignored in &parsed.ignored {
            self.counters.ignored(&ignored.kind);
        }
        for edit in parsed.edits {
            let outcome = self.hub.apply_edit(source, edit).await;
            self.counted(source, outcome)?;
        }
        for reaction in parsed.reactions {
            let outcome = self.hub.apply_reaction(source, reaction).await;
            self.counted(source, outcome)?;
        }
        for update in &parsed.statuses {
            let outcome = self.hub.record_status(source, update.clone()).await;
            self.counted(source, outcome)?;
        }
        if let Some(sink) = &self.statuses {
            for update in &parsed.statuses {
                sink.status(source, update).await;
            }
        }
        Ok(())
    }

    /// Counts an update's outcome; an invalid update is skipped, a failure
    /// of the store answers so that the messenger delivers again (updates
    /// are idempotent).
    fn counted(
        &self,
        source: SourceId,
        outcome: Result<UpdateOutcome, Error>,
    ) -> Result<(), WebhookResponse> {
        match outcome {
            Ok(outcome) => {
                match &outcome {
                    UpdateOutcome::UnknownMessage => {
                        tracing::debug!(%source, "update of a message never stored ignored");
                    }
                    UpdateOutcome::NotAuthor { message } => {
                        tracing::info!(%source, %message, "edit or revoke by someone other than the message's author refused");
                    }
                    _ => {}
                }
                self.counters.outcome(&outcome);
                Ok(())
            }
            Err(e @ Error::InvalidInput { .. }) => {
                tracing::debug!(%source, error = %e, "invalid update skipped");
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(%source, error = %e, "update failed");
                Err(ingest_failure(&e))
            }
        }
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
        WebhookError::Forbidden(_) => 403,
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
