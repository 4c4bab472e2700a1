//! Shared setup of the seed scenario tests: a Hub over a `MemoryStore`, the
//! `RuleRouter`, and in-memory host ports (directory, apps, event log).
//!
//! Every test file builds its own [`World`]; nothing is shared between tests.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory, RecordingSink};
use chatlines_core::{
    AppSchema, Attachment, Availability, Body, Error, FieldDef, FieldKind, Hub, Line, LineConfig,
    Session, SessionId, UserId,
};
use chatlines_core::{Event, Relay, RelayConfig};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use std::sync::Arc;

/// What a test returns: `?` works on Hub, store and port errors.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The administrator of every world.
pub const ADMIN: &str = "root";
/// The operators group of most lines, with `ann`, `bob` and `cat`.
pub const OPS: &str = "ops";
/// The supervisors group of most lines, with `sue`.
pub const SUPS: &str = "sups";
/// A group of internal clients, with `carl` and `dora`.
pub const STAFF: &str = "staff";

/// The account-linking application: an Account field, a Text field and a
/// User field ("manager").
pub const CLIENTS_APP: &str = "clients";
/// A request application with an Account field.
pub const TICKETS_APP: &str = "tickets";
/// Another request application with an Account field, on no line by default.
pub const COMPLAINTS_APP: &str = "complaints";
/// An application without an Account field.
pub const NOTES_APP: &str = "notes";

/// A hub with every port it needs, and handles on the fakes to arrange and
/// inspect them.
pub struct World {
    /// The hub under test.
    pub hub: Hub,
    /// The store, read directly to check what was (not) written.
    pub store: Arc<MemoryStore>,
    /// The host's directory.
    pub dir: Arc<MemoryDirectory>,
    /// The host's applications.
    pub apps: Arc<MemoryApps>,
    /// Every event the hub published.
    pub events: Events,
}

impl World {
    /// A world with an administrator, operators `ann`, `bob`, `cat` (group
    /// `ops`), supervisor `sue` (group `sups`), internal clients `carl` and
    /// `dora` (group `staff`), and the applications `clients`, `tickets`,
    /// `complaints` and `notes`.
    pub fn new() -> Self {
        let dir = Arc::new(MemoryDirectory::new());
        dir.add_admin(ADMIN);
        for op in ["ann", "bob", "cat"] {
            dir.add_to_group(OPS, op);
        }
        dir.add_to_group(SUPS, "sue");
        dir.add_to_group(STAFF, "carl");
        dir.add_to_group(STAFF, "dora");

        let apps = Arc::new(MemoryApps::new());
        apps.add_app(AppSchema::new(
            CLIENTS_APP,
            "Clients",
            vec![
                FieldDef::new("account", "Account", FieldKind::Account),
                FieldDef::new("name", "Name", FieldKind::Text),
                FieldDef::new("manager", "Account manager", FieldKind::User),
            ],
        ));
        apps.add_app(AppSchema::new(
            TICKETS_APP,
            "Tickets",
            vec![
                FieldDef::new("subject", "Subject", FieldKind::Text),
                FieldDef::new("client", "Client", FieldKind::Account),
            ],
        ));
        apps.add_app(AppSchema::new(
            COMPLAINTS_APP,
            "Complaints",
            vec![
                FieldDef::new("client", "Client", FieldKind::Account),
                FieldDef::new("text", "Text", FieldKind::Text),
            ],
        ));
        apps.add_app(AppSchema::new(
            NOTES_APP,
            "Notes",
            vec![
                FieldDef::new("text", "Text", FieldKind::Text),
                FieldDef::new("author", "Author", FieldKind::User),
            ],
        ));
        Self::with_ports(dir, apps)
    }

    /// A world over the given directory and apps.
    pub fn with_ports(dir: Arc<MemoryDirectory>, apps: Arc<MemoryApps>) -> Self {
        Self::build(dir, apps, None)
    }

    /// [`World::new`] with the hub on `clock` (to let time pass without
    /// sleeping).
    pub fn with_clock(clock: Arc<dyn chatlines_core::Clock>) -> Self {
        let w = Self::new();
        Self::build(w.dir, w.apps, Some(clock))
    }

    fn build(
        dir: Arc<MemoryDirectory>,
        apps: Arc<MemoryApps>,
        clock: Option<Arc<dyn chatlines_core::Clock>>,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let events = Events::new(store.clone());
        let mut builder = Hub::builder(
            store.clone(),
            dir.clone(),
            apps.clone(),
            Arc::new(RuleRouter::new()),
        );
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        let hub = builder.build();
        Self {
            hub,
            store,
            dir,
            apps,
            events,
        }
    }

    /// A second hub over the same store and ports (another instance, or
    /// this one after a restart).
    pub fn another_hub(&self) -> Hub {
        Hub::builder(
            self.store.clone(),
            self.dir.clone(),
            self.apps.clone(),
            Arc::new(RuleRouter::new()),
        )
        .build()
    }

    /// Creates a line as the administrator.
    pub async fn line(&self, config: LineConfig) -> TestResult<Line> {
        Ok(self.hub.create_line(&user(ADMIN), config).await?)
    }

    /// The session as stored now.
    pub async fn stored_session(&self, id: SessionId) -> TestResult<Session> {
        use chatlines_core::SessionStore;
        Ok(self
            .store
            .session(id)
            .await?
            .ok_or("the session is not in the store")?)
    }

    /// Sets a user's availability in the directory and tells the hub.
    pub async fn set_availability(&self, who: &str, availability: Availability) -> TestResult {
        self.dir.set_availability(who, availability);
        self.hub.availability_changed(&user(who)).await?;
        Ok(())
    }
}

/// A user id.
pub fn user(id: &str) -> UserId {
    UserId::new(id)
}

/// `n` seconds, for `ManualClock::advance`.
pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Assigned to `who`.
pub fn assigned_to(who: &str) -> chatlines_core::SessionStatus {
    chatlines_core::SessionStatus::Assigned {
        operator: user(who),
    }
}

/// A text body.
pub fn text(s: &str) -> Body {
    Body::text(s)
}

/// A small PNG attachment.
pub fn png(name: &str) -> Attachment {
    Attachment::new(name, "image/png", 1024, format!("blob://{name}"))
}

/// A first-come line for the `staff` group, operated by `ops`, supervised
/// by `sups`.
pub fn staff_line(name: &str) -> LineConfig {
    LineConfig::new(name)
        .operators(OPS)
        .supervisors(SUPS)
        .client(chatlines_core::Audience::Group(STAFF.into()))
}

/// Whether an error is `Forbidden`.
pub fn is_forbidden(e: &Error) -> bool {
    matches!(e, Error::Forbidden { .. })
}

/// Whether an error is `InvalidInput`.
pub fn is_invalid_input(e: &Error) -> bool {
    matches!(e, Error::InvalidInput { .. })
}

/// The event log as the host sees it: a [`Relay`] delivering the store's
/// log to a recording sink.
pub struct Events {
    relay: Relay,
    sink: Arc<RecordingSink>,
}

impl Events {
    fn new(store: Arc<MemoryStore>) -> Self {
        let sink = Arc::new(RecordingSink::new());
        let relay = Relay::new(store, sink.clone(), RelayConfig::new("tests"));
        Self { relay, sink }
    }

    /// Delivers what is new in the log. The memory store answers at once,
    /// so blocking on it here never waits.
    fn pump(&self) {
        if let Err(e) = futures::executor::block_on(self.relay.catch_up()) {
            panic!("relaying the event log failed: {e}");
        }
    }

    /// Every event delivered since the last `drain`.
    pub fn events(&self) -> Vec<Event> {
        self.pump();
        self.sink.events()
    }

    /// Every event delivered since the last `drain`, then forgets them.
    pub fn drain(&self) -> Vec<Event> {
        self.pump();
        self.sink.drain()
    }
}
