//! Where attachment bytes live: the [`BlobStore`] port and a filesystem
//! implementation (feature `fs-blobs`).

use async_trait::async_trait;
use chatlines_core::{BoxError, InboundMessage, SendError};
use std::sync::Arc;

/// Bytes by key. Keys are chosen by the caller (connectors use
/// `<kind>/<messenger file id>`); a put under an existing key replaces it.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`.
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BoxError>;
    /// The bytes under `key`, or `None` if there are none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError>;
}

/// A connector that can download the files its inbound messages refer to.
///
/// Parsing a webhook does no I/O, so an inbound attachment first carries a
/// messenger reference (e.g. `tg:<file_id>`). The webhook endpoint marks
/// such attachments pending ([`mark_pending`]) and the store queues a fetch
/// job with the message; the media worker (feature `media`) downloads it
/// into the connector's blob store and points the attachment at the blob
/// key. [`import_media`] does the same inline, for hosts without a worker.
#[async_trait]
pub trait FetchMedia: Send + Sync {
    /// Where downloaded files go; `None` leaves references as they are.
    fn blob_store(&self) -> Option<&Arc<dyn BlobStore>>;
    /// The messenger's file id if `blob` is a reference this connector
    /// can download.
    fn remote_file<'a>(&self, blob: &'a str) -> Option<&'a str>;
    /// Downloads a file within the connector's size limit: its bytes, and
    /// the MIME type the messenger's download answered with.
    async fn download(&self, file: &str) -> Result<Downloaded, SendError>;
}

/// A file downloaded from a messenger.
///
/// ```
/// use chatlines_connectors::blobs::Downloaded;
/// let d = Downloaded::new(b"%PDF".to_vec()).with_mime_type("application/pdf");
/// assert_eq!(d.mime_type.as_deref(), Some("application/pdf"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its MIME type as the messenger's download answered it (the
    /// `Content-Type`, without parameters), when it gave one. Stored on
    /// the attachment when the webhook gave none or a generic one.
    pub mime_type: Option<String>,
}

impl Downloaded {
    /// Bytes of no known type.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            mime_type: None,
        }
    }

    /// Sets the MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

/// Marks every attachment of `message` that is a messenger reference this
/// fetcher can download (and has a blob store for) as
/// [`Pending`](chatlines_core::AttachmentState::Pending), keeping the
/// reference; the store then queues one fetch job per such attachment with
/// the message. Returns whether any was marked. No I/O.
pub fn mark_pending(fetcher: &dyn FetchMedia, message: &mut InboundMessage) -> bool {
    if fetcher.blob_store().is_none() {
        return false;
    }
    let mut marked = false;
    for attachment in &mut message.body.attachments {
        if attachment.state.is_available() && fetcher.remote_file(&attachment.blob).is_some() {
            attachment.mark_pending();
            marked = true;
        }
    }
    marked
}

/// Downloads every attachment of `message` that is still a messenger
/// reference into the fetcher's blob store, under the key
/// `<kind>/<file id>`, and points the attachment at that key (with its
/// real size).
///
/// A download that fails leaves that attachment's reference in place (it
/// can be fetched later) and is logged; the message is never dropped for it.
pub async fn import_media(fetcher: &dyn FetchMedia, kind: &str, message: &mut InboundMessage) {
    let Some(blobs) = fetcher.blob_store() else {
        return;
    };
    for attachment in &mut message.body.attachments {
        let Some(file) = fetcher.remote_file(&attachment.blob) else {
            continue;
        };
        let key = format!("{kind}/{file}");
        match fetcher.download(file).await {
            Ok(file) => match blobs.put(&key, &file.bytes).await {
                Ok(()) => {
                    attachment.size = file.bytes.len() as u64;
                    attachment.blob = key;
                    if let Some(mime) = file.mime_type {
                        if chatlines_core::media::is_generic_mime_type(&attachment.mime_type) {
                            attachment.mime_type = mime;
                        }
                    }
                }
                Err(e) => tracing::warn!(%key, error = %e, "cannot store inbound media"),
            },
            Err(e) => tracing::warn!(%key, error = %e, "cannot download inbound media"),
        }
    }
}

/// A [`BlobStore`] keeping each blob in a file under a root directory.
///
/// Keys are mapped to file names by hex-encoding them, so no key can name a
/// path outside the root. A key whose hex form would be longer than a file
/// name may be (over [`FsBlobStore::MAX_HEX_KEY`] bytes of key) is stored
/// under the hex SHA-256 of the key instead (prefixed `sha256-`, which no
/// hex-encoded key starts with), so keys of any length work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), chatlines_core::BoxError> {
/// use chatlines_connectors::{blobs::FsBlobStore, BlobStore};
/// let dir = std::env::temp_dir().join(format!("blobs-doc-{}", std::process::id()));
/// let store = FsBlobStore::new(&dir);
/// let long_key = format!("telegram/{}", "A".repeat(300));
/// store.put(&long_key, b"bytes").await?;
/// assert_eq!(store.get(&long_key).await?, Some(b"bytes".to_vec()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "fs-blobs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs-blobs")))]
#[derive(Clone, Debug)]
pub struct FsBlobStore {
    root: std::path::PathBuf,
}

#[cfg(feature = "fs-blobs")]
impl FsBlobStore {
    /// Keeps blobs under `root` (created on first put).
    pub fn new(root: impl Into<std::path::PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The longest key (in bytes) stored under its own hex form; longer
    /// keys are stored under their SHA-256. Twice this plus the temporary
    /// suffix stays under the usual 255-byte file name limit.
    pub const MAX_HEX_KEY: usize = 100;

    fn path(&self, key: &str) -> std::path::PathBuf {
        use sha2::Digest;
        if key.len() <= Self::MAX_HEX_KEY {
            self.root.join(hex::encode(key.as_bytes()))
        } else {
            let digest = sha2::Sha256::digest(key.as_bytes());
            self.root.join(format!("sha256-{}", hex::encode(digest)))
        }
    }
}

#[cfg(feature = "fs-blobs")]
#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BoxError> {
        tokio::fs::create_dir_all(&self.root).await?;
        let path = self.path(key);
        // Write to a temporary name, then rename: readers never see half a file.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(all(test, feature = "fs-blobs"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path().join("blobs"));
        assert_eq!(store.get("telegram/x").await.expect("get"), None);
        store.put("telegram/x", b"one").await.expect("put");
        store.put("../../etc/passwd", b"two").await.expect("put");
        assert_eq!(
            store.get("telegram/x").await.expect("get"),
            Some(b"one".to_vec())
        );
        store.put("telegram/x", b"three").await.expect("put");
        assert_eq!(
            store.get("telegram/x").await.expect("get"),
            Some(b"three".to_vec())
        );
        assert_eq!(
            store.get("../../etc/passwd").await.expect("get"),
            Some(b"two".to_vec())
        );
    }

    #[tokio::test]
    async fn keys_of_any_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path());
        let at_limit = "k".repeat(FsBlobStore::MAX_HEX_KEY);
        let long = "L".repeat(300);
        let long_other = format!("{}M", "L".repeat(299));
        store.put(&at_limit, b"limit").await.expect("put at limit");
        store.put(&long, b"long").await.expect("put 300-byte key");
        store
            .put(&long_other, b"other")
            .await
            .expect("put second long key");
        assert_eq!(
            store.get(&at_limit).await.expect("get"),
            Some(b"limit".to_vec())
        );
        assert_eq!(store.get(&long).await.expect("get"), Some(b"long".to_vec()));
        assert_eq!(
            store.get(&long_other).await.expect("get"),
            Some(b"other".to_vec())
        );
        assert_eq!(store.get(&"L".repeat(301)).await.expect("get"), None);
    }
}
