//! Sources: messenger accounts bound to lines.

use crate::error::StoreError;
use crate::ids::SourceId;
use crate::source::Source;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Persistence of bound sources. Part of [`Store`](crate::Store); see the
/// [module contract](crate::store).
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Binds a source, logging `SourceBound`. `NotFound` if its line does
    /// not exist.
    async fn insert_source(&self, source: &Source) -> Result<(), StoreError>;

    /// Unbinds a source, logging `SourceUnbound`. `NotFound` if it is not
    /// bound.
    async fn delete_source(&self, id: SourceId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// A source by id.
    async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError>;

    /// All bound sources, ordered by creation time.
    async fn sources(&self) -> Result<Vec<Source>, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: SourceStore + ?Sized> SourceStore for $ptr<S> {
            async fn insert_source(&self, s: &Source) -> Result<(), StoreError> {
                (**self).insert_source(s).await
            }
            async fn delete_source(
                &self,
                id: SourceId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                (**self).delete_source(id, now).await
            }
            async fn source(&self, id: SourceId) -> Result<Option<Source>, StoreError> {
                (**self).source(id).await
            }
            async fn sources(&self) -> Result<Vec<Source>, StoreError> {
                (**self).sources().await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
