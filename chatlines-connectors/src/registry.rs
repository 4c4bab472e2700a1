//! Which connector serves which source.

use crate::blobs::FetchMedia;
use chatlines_core::{Messenger, SourceId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
struct Entry {
    messenger: Arc<dyn Messenger>,
    media: Option<Arc<dyn FetchMedia>>,
}

/// A shared map `source id -> connector`, read by the webhook endpoint and
/// the dispatcher. Cheap to clone; sources can be added and removed while
/// both run.
#[derive(Clone, Default)]
pub struct Messengers {
    inner: Arc<RwLock<HashMap<SourceId, Entry>>>,
}

impl Entry {
    fn account(&self) -> Option<(&str, &str)> {
        Some((self.messenger.kind(), self.messenger.account_id()?))
    }
}

impl std::fmt::Debug for Messengers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<(SourceId, String)> = match self.inner.read() {
            Ok(map) => map
                .iter()
                .map(|(k, e)| (*k, e.messenger.kind().to_owned()))
                .collect(),
            Err(_) => Vec::new(),
        };
        f.debug_struct("Messengers")
            .field("sources", &kinds)
            .finish()
    }
}

impl Messengers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the connector of a source.
    pub fn insert(&self, source: SourceId, messenger: Arc<dyn Messenger>) {
        self.put(
            source,
            Entry {
                messenger,
                media: None,
            },
        );
    }

    /// Registers a connector that also downloads inbound files: the webhook
    /// endpoint stores its inbound attachments pending (see
    /// [`mark_pending`](crate::blobs::mark_pending)) and the media worker
    /// fetches them into its blob store.
    pub fn insert_with_media<M>(&self, source: SourceId, messenger: Arc<M>)
    where
        M: Messenger + FetchMedia + 'static,
    {
        let media: Arc<dyn FetchMedia> = messenger.clone();
        self.put(
            source,
            Entry {
                messenger,
                media: Some(media),
            },
        );
    }

    fn put(&self, source: SourceId, entry: Entry) {
        match self.inner.write() {
            Ok(mut map) => {
                map.insert(source, entry);
            }
            Err(poisoned) => {
                poisoned.into_inner().insert(source, entry);
            }
        }
    }

    /// Builder-style [`insert`](Self::insert).
    pub fn with(self, source: SourceId, messenger: Arc<dyn Messenger>) -> Self {
        self.insert(source, messenger);
        self
    }

    /// Removes a source's connector.
    pub fn remove(&self, source: SourceId) -> Option<Arc<dyn Messenger>> {
        self.inner
            .write()
            .ok()
            .and_then(|mut m| m.remove(&source))
            .map(|e| e.messenger)
    }

    /// The connector of a source.
    pub fn get(&self, source: SourceId) -> Option<Arc<dyn Messenger>> {
        self.inner
            .read()
            .ok()
            .and_then(|m| m.get(&source).map(|e| e.messenger.clone()))
    }

    /// The media downloader of a source, if it was registered with one.
    pub fn media(&self, source: SourceId) -> Option<Arc<dyn FetchMedia>> {
        self.inner
            .read()
            .ok()
            .and_then(|m| m.get(&source).and_then(|e| e.media.clone()))
    }

    /// The source whose connector of `kind` serves the messenger account
    /// `account` (see [`Messenger::account_id`]), e.g. the source bound to a
    /// WhatsApp `phone_number_id`.
    pub fn source_for_account(&self, kind: &str, account: &str) -> Option<SourceId> {
        let map = self.inner.read().ok()?;
        map.iter()
            .find(|(_, e)| e.account() == Some((kind, account)))
            .map(|(id, _)| *id)
    }

    /// How many sources are registered.
    pub fn len(&self) -> usize {
        self.inner.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
