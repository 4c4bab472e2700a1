//! A hub over a `MemoryStore` with fake host ports, one line ("Shop",
//! operated by `ann`) and one bound source.
#![allow(dead_code)]

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Body, ContactKey, Cursor, Event, EventPosition, Hub, InboundMessage, Line, LineConfig, Message,
    MessageId, NewSource, OutboxEntry, SessionId, Source, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use std::sync::Arc;

pub struct World {
    pub hub: Hub,
    pub store: Arc<MemoryStore>,
    pub line: Line,
    pub source: Source,
}

pub fn ann() -> UserId {
    UserId::new("ann")
}

impl World {
    pub async fn new(kind: &str) -> Self {
        Self::over(Arc::new(MemoryStore::new()), kind).await
    }

    pub async fn over(store: Arc<MemoryStore>, kind: &str) -> Self {
        let dir = Arc::new(MemoryDirectory::new());
        dir.add_admin("root");
        dir.add_to_group("ops", "ann");
        let hub = Hub::builder(
            store.clone(),
            dir,
            Arc::new(MemoryApps::new()),
            Arc::new(RuleRouter::new()),
        )
        .build();
        let root = UserId::new("root");
        let line = hub
            .create_line(&root, LineConfig::new("Shop").operators("ops"))
            .await
            .expect("line");
        let source = hub
            .bind_source(&root, line.id, NewSource::new(kind, "bot", "cfg"))
            .await
            .expect("source");
        Self {
            hub,
            store,
            line,
            source,
        }
    }

    /// Every event in the store's log, oldest first.
    pub async fn events(&self) -> Vec<Event> {
        self.store
            .events_after(EventPosition::START, usize::MAX)
            .await
            .expect("read the event log")
            .into_iter()
            .map(|e| e.into_event().expect("a readable event"))
            .collect()
    }

    /// Every stored message of the client `external_user` on this source,
    /// in every session, oldest first.
    pub async fn messages_of(&self, external_user: &str) -> Vec<Message> {
        let key = ContactKey::External {
            source: self.source.id,
            external_user: external_user.to_owned(),
        };
        let Some(contact) = self.store.contact_by_key(&key).await.expect("read") else {
            return vec![];
        };
        let mut out = vec![];
        for s in self
            .store
            .contact_sessions(self.line.id, contact.id)
            .await
            .expect("sessions")
        {
            out.extend(
                self.store
                    .messages(s.id, Cursor::Start, 1000)
                    .await
                    .expect("messages"),
            );
        }
        out
    }

    /// A client session from `external_user` (chat `chat`) taken by ann.
    pub async fn taken_session(&self, external_user: &str, chat: &str) -> SessionId {
        let posted = self
            .hub
            .ingest(
                self.source.id,
                InboundMessage::text(format!("{chat}:first"), external_user, "Client", "hello")
                    .with_reply_address(chat),
            )
            .await
            .expect("ingest");
        self.hub
            .take(&ann(), posted.session.id)
            .await
            .expect("take");
        posted.session.id
    }

    /// ann replies `texts` in the session; returns the message ids.
    pub async fn replies(&self, session: SessionId, texts: &[String]) -> Vec<MessageId> {
        let mut ids = vec![];
        for t in texts {
            ids.push(
                self.hub
                    .reply(&ann(), session, Body::text(t.clone()))
                    .await
                    .expect("reply")
                    .id,
            );
        }
        ids
    }

    /// The outbox entry of a reply (it must exist).
    pub async fn entry(&self, message: MessageId) -> OutboxEntry {
        self.store
            .outbox_for_message(message)
            .await
            .expect("read the outbox")
            .expect("the reply has an outbox entry")
    }
}
