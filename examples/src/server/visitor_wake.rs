//! Where a message in the shared event log becomes a wake-up of a web
//! chat visitor's streams in this process.
//!
//! A visitor's stream is held by one server process, but the reply may
//! be written, and delivered, through another: the dispatcher's send
//! only wakes streams of the process it runs in. So every process
//! follows the event log, which all of them share, and wakes its own
//! streams for each message of a widget conversation (a reply, or the
//! visitor's own message from another tab). It reads the log after a
//! wake-up: on PostgreSQL the store's `NOTIFY` (a [`PgEventListener`]),
//! in every case this process's relay, and at the latest every
//! [`POLL`].
//!
//! It starts at the newest event (what happens from now on): a visitor
//! who connects later reads the stored history anyway.

use chatlines_connectors::webchat::WebchatSources;
use chatlines_core::{ContactId, ContactKey, Event, EventPosition, LoggedEvent, SourceId, Store};
use chatlines_store::postgres::PgEventListener;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Events read from the log per query.
const PAGE: usize = 500;
/// The longest wait before the log is read without a wake-up.
pub const POLL: Duration = Duration::from_secs(1);
/// Contacts remembered (a contact's source and id never change).
const REMEMBERED: usize = 10_000;

/// The follower: stop it with [`shutdown`](Self::shutdown).
pub struct VisitorWake {
    task: JoinHandle<()>,
    stop: Arc<Notify>,
}

impl std::fmt::Debug for VisitorWake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitorWake").finish_non_exhaustive()
    }
}

impl VisitorWake {
    /// Follows `store`'s log from `start` (skipping what is already
    /// there), waking `widgets`' visitors. `local` changes when this
    /// process's relay passed events on; `listener`, on PostgreSQL, when
    /// any process committed some.
    pub fn spawn(
        store: Arc<dyn Store>,
        widgets: WebchatSources,
        start: EventPosition,
        local: watch::Receiver<EventPosition>,
        listener: Option<PgEventListener>,
    ) -> Self {
        let stop = Arc::new(Notify::new());
        let follower = Follower {
            store,
            widgets,
            at: start,
            contacts: HashMap::new(),
        };
        let task = tokio::spawn(follower.run(local, listener, stop.clone()));
        Self { task, stop }
    }

    /// Stops following.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the visitor wake-up task ended abnormally");
        }
    }
}

struct Follower {
    store: Arc<dyn Store>,
    widgets: WebchatSources,
    at: EventPosition,
    contacts: HashMap<ContactId, Option<(SourceId, String)>>,
}

impl Follower {
    async fn run(
        mut self,
        mut local: watch::Receiver<EventPosition>,
        listener: Option<PgEventListener>,
        stop: Arc<Notify>,
    ) {
        let mut shared = listener.as_ref().map(PgEventListener::positions);
        // Skip what the log holds already.
        let mut caught_up = false;
        loop {
            match self.store.events_after(self.at, PAGE).await {
                Ok(events) => {
                    let full = events.len() == PAGE;
                    for logged in &events {
                        self.at = logged.position;
                        if caught_up {
                            self.wake(logged).await;
                        }
                    }
                    if full {
                        continue;
                    }
                    caught_up = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "visitor wake-ups: reading the log failed; trying again");
                }
            }
            tokio::select! {
                () = stop.notified() => return,
                () = changed(Some(&mut local)) => {}
                () = changed(shared.as_mut()) => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Wakes the visitor of a web chat conversation the event is a
    /// message of.
    async fn wake(&mut self, logged: &LoggedEvent) {
        let contact = match logged.event() {
            Ok(Event::MessageOut { contact, .. } | Event::MessageIn { contact, .. }) => *contact,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "visitor wake-ups: an event could not be read");
                return;
            }
        };
        if !self.contacts.contains_key(&contact) {
            let found = match self.store.contact(contact).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, %contact, "visitor wake-ups: reading the contact failed");
                    return;
                }
            };
            let visitor = found.and_then(|c| match c.key {
                ContactKey::External {
                    source,
                    external_user,
                } if self.widgets.serves(source) => Some((source, external_user)),
                _ => None,
            });
            if self.contacts.len() >= REMEMBERED {
                self.contacts.clear();
            }
            self.contacts.insert(contact, visitor);
        }
        if let Some(Some((source, visitor))) = self.contacts.get(&contact) {
            self.widgets.notify(*source, visitor);
        }
    }
}

/// Returns when `positions` changes; never when there is none or its
/// sender is gone (the poll still wakes the follower).
async fn changed(positions: Option<&mut watch::Receiver<EventPosition>>) {
    if let Some(positions) = positions {
        if positions.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
