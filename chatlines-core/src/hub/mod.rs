//! The Hub: the one facade hosts call.
//!
//! Every call that acts for a person takes that person's [`UserId`] and
//! checks policy before touching anything (and before validating input); a
//! refusal is [`Error::Forbidden`], never a silent no-op. A caller who may
//! not see a line or session gets the same [`Error::NotFound`] as for a
//! missing one. The hub hands out no store handle: a host that wants raw
//! reads keeps its own `Arc` of the store. Every list returns one
//! [`Page`] type.

mod admin;
mod bot;
mod clients;
mod colleagues;
mod delivery;
mod feed;
mod ingest;
mod linking;
mod operators;
mod page;
mod policy;
mod priority;
mod routing;
mod sla;
mod supervisors;
mod timers;
mod updates;

use crate::apps::AppCatalog;
use crate::clock::{Clock, SystemClock};
use crate::directory::Directory;
use crate::error::Error;
use crate::events::{EventPosition, LoggedEvent};
use crate::hours::{FixedZones, TimeZones};
use crate::ids::{LineId, UserId};
use crate::line::Line;
use crate::message::{Body, MessageLimits};
use crate::routing::Router;
use crate::store::Store;
use std::borrow::Cow;
use std::sync::Arc;

pub use admin::BoundSource;
pub use clients::ClientMessage;
pub use colleagues::LineOperator;
pub use feed::EventFeed;
pub use ingest::{Posted, MAX_EXTERNAL_ID};
pub use page::{Page, PageRequest, PageToken, MAX_PAGE};
pub use priority::IngestOptions;
pub use sla::MAX_SLA_BREACHES;
pub use supervisors::OperatorStatus;
pub use timers::{DueReport, TimerFailure};

/// Tunables of a [`Hub`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// Limits on message bodies.
    pub limits: MessageLimits,
    /// How many queued sessions one `drain` of a line routes at most.
    pub drain_batch: usize,
    /// How long [`Hub::run_due`] leases the timers it claims: a hub that
    /// dies while firing delays them this long (default 30 s).
    pub timer_lease: std::time::Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            limits: MessageLimits::default(),
            drain_batch: 1000,
            timer_lease: std::time::Duration::from_secs(30),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) apps: Arc<dyn AppCatalog>,
    pub(crate) router: Arc<dyn Router>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) zones: Arc<dyn TimeZones>,
    pub(crate) bot: Option<Arc<dyn crate::bot::Bot>>,
    pub(crate) config: HubConfig,
}

/// The chat centre of one tenant: lines, sessions, routing, linked apps.
///
/// Cheap to clone (an `Arc` inside); share one per tenant.
///
/// ```
/// # use chatlines_core::*;
/// # fn ports() -> (std::sync::Arc<dyn Store>, std::sync::Arc<dyn Directory>, std::sync::Arc<dyn AppCatalog>, std::sync::Arc<dyn Router>) { unimplemented!() }
/// # fn demo() {
/// let (store, directory, apps, router) = ports();
/// let hub = Hub::builder(store, directory, apps, router).build();
/// # let _ = hub;
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Hub`] from its ports.
#[must_use = "a builder does nothing until `build` is called"]
pub struct HubBuilder {
    store: Arc<dyn Store>,
    directory: Arc<dyn Directory>,
    apps: Arc<dyn AppCatalog>,
    router: Arc<dyn Router>,
    clock: Arc<dyn Clock>,
    zones: Arc<dyn TimeZones>,
    bot: Option<Arc<dyn crate::bot::Bot>>,
    config: HubConfig,
}

impl HubBuilder {
    /// The clock and id source (default: system time, random UUIDs).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The time-zone database lines' working hours are read in (default:
    /// [`FixedZones`], which knows `UTC` and fixed offsets only;
    /// `chatlines_routing::TzDatabase` knows every IANA zone).
    pub fn time_zones(mut self, zones: Arc<dyn TimeZones>) -> Self {
        self.zones = zones;
        self
    }

    /// The bot of lines with the bot stage
    /// ([`LineConfig::bot`](crate::LineConfig::bot)); without one, their
    /// new sessions are routed as on any line (see [`crate::bot`]).
    pub fn bot(mut self, bot: Arc<dyn crate::bot::Bot>) -> Self {
        self.bot = Some(bot);
        self
    }

    /// Tunables.
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// Finishes the hub.
    pub fn build(self) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                store: self.store,
                directory: self.directory,
                apps: self.apps,
                router: self.router,
                clock: self.clock,
                zones: self.zones,
                bot: self.bot,
                config: self.config,
            }),
        }
    }
}

impl Hub {
    /// Starts building a hub from the four required ports.
    pub fn builder(
        store: Arc<dyn Store>,
        directory: Arc<dyn Directory>,
        apps: Arc<dyn AppCatalog>,
        router: Arc<dyn Router>,
    ) -> HubBuilder {
        HubBuilder {
            store,
            directory,
            apps,
            router,
            clock: Arc::new(SystemClock),
            zones: Arc::new(FixedZones),
            bot: None,
            config: HubConfig::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// A session's line: the one the caller already read, or read now;
    /// `None` when the line was deleted meanwhile (nothing to route to).
    pub(crate) async fn line_for<'a>(
        &self,
        given: Option<&'a Line>,
        id: LineId,
    ) -> Result<Option<Cow<'a, Line>>, Error> {
        Ok(match given {
            Some(line) => Some(Cow::Borrowed(line)),
            None => self.inner.store.line(id).await?.map(Cow::Owned),
        })
    }

    /// Up to `limit` events of the log after `after`, in log order (see
    /// [`EventLogStore`](crate::EventLogStore)): what every change of this
    /// tenant recorded. To deliver them to a sink with a durable cursor use
    /// a [`Relay`](crate::Relay).
    pub async fn events_after(
        &self,
        after: EventPosition,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, Error> {
        Ok(self.inner.store.events_after(after, limit).await?)
    }

    pub(crate) fn check_body(&self, body: &Body) -> Result<(), Error> {
        check_body(body, &self.inner.config.limits)
    }

    pub(crate) fn forbidden(
        user: &UserId,
        action: &'static str,
        reason: impl Into<String>,
    ) -> Error {
        Error::Forbidden {
            user: user.clone(),
            action,
            reason: reason.into(),
        }
    }
}

/// Checks a body against limits: not empty, text within the byte limit,
/// attachments within count and size, each with a name and MIME type, and
/// no NUL character anywhere (see [`check_no_nul`]).
pub fn check_body(body: &Body, limits: &MessageLimits) -> Result<(), Error> {
    check_no_nul("text", &body.text)?;
    for a in &body.attachments {
        check_no_nul("attachments", &a.name)?;
        check_no_nul("attachments", &a.mime_type)?;
        check_no_nul("attachments", &a.blob)?;
    }
    if body.text.trim().is_empty() && body.attachments.is_empty() {
        return Err(Error::invalid(
            "body",
            "the message is empty: send text or at least one attachment",
        ));
    }
    if body.text.len() > limits.max_text_bytes {
        return Err(Error::invalid(
            "text",
            format!(
                "{} bytes is over the limit of {} bytes; split the message",
                body.text.len(),
                limits.max_text_bytes
            ),
        ));
    }
    if body.attachments.len() > limits.max_attachments {
        return Err(Error::invalid(
            "attachments",
            format!(
                "{} attachments is over the limit of {}",
                body.attachments.len(),
                limits.max_attachments
            ),
        ));
    }
    for a in &body.attachments {
        if a.size > limits.max_attachment_bytes {
            return Err(Error::invalid(
                "attachments",
                format!(
                    "{:?} is {} bytes, over the limit of {} bytes",
                    a.name, a.size, limits.max_attachment_bytes
                ),
            ));
        }
        if a.name.trim().is_empty() || a.mime_type.trim().is_empty() || a.blob.is_empty() {
            return Err(Error::invalid(
                "attachments",
                "every attachment needs a name, a MIME type and a blob reference",
            ));
        }
    }
    Ok(())
}

/// Refuses text holding a NUL character (U+0000): no message has a use for
/// it, and PostgreSQL cannot store it, so every store would not keep it
/// alike. The Hub checks every string it stores from a caller or a
/// messenger.
///
/// ```
/// use chatlines_core::check_no_nul;
/// assert!(check_no_nul("text", "hello").is_ok());
/// assert!(check_no_nul("text", "bad\0byte").is_err());
/// ```
pub fn check_no_nul(field: &'static str, value: &str) -> Result<(), Error> {
    match value.find('\0') {
        None => Ok(()),
        Some(at) => Err(Error::invalid(
            field,
            format!("holds a NUL character (U+0000) at byte {at}; remove it"),
        )),
    }
}
