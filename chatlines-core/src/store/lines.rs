//! Lines: the configured chat centres.

use crate::error::StoreError;
use crate::ids::LineId;
use crate::line::Line;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Persistence of lines. Part of [`Store`](crate::Store); see the
/// [module contract](crate::store).
#[async_trait]
pub trait LineStore: Send + Sync {
    /// Stores a new line, logging `LineCreated`. `AlreadyExists` if the id
    /// is taken.
    async fn insert_line(&self, line: &Line) -> Result<(), StoreError>;

    /// Replaces a line whose stored version is `expected_version`, logging
    /// `LineUpdated`; the new record's version must be `expected_version + 1`.
    async fn update_line(&self, line: &Line, expected_version: u64) -> Result<(), StoreError>;

    /// Deletes a line at `expected_version`: it disappears from `line` and
    /// `lines`, its sources are unbound, its open sessions closed (each
    /// through core's machine, logging `SessionClosed`) and its roster
    /// dropped; stored messages stay readable. Logs `LineDeleted`.
    async fn delete_line(
        &self,
        id: LineId,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A line by id (`None` once deleted).
    async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError>;

    /// The same as [`line`](Self::line), shared instead of copied, for
    /// readers that only look at it (the hub reads the line of every
    /// inbound message). The default wraps `line`; a store that keeps its
    /// lines in memory can hand out the one it holds.
    async fn shared_line(&self, id: LineId) -> Result<Option<Arc<Line>>, StoreError> {
        Ok(self.line(id).await?.map(Arc::new))
    }

    /// All lines, ordered by creation time.
    async fn lines(&self) -> Result<Vec<Line>, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: LineStore + ?Sized> LineStore for $ptr<S> {
            async fn insert_line(&self, line: &Line) -> Result<(), StoreError> {
                (**self).insert_line(line).await
            }
            async fn update_line(&self, line: &Line, v: u64) -> Result<(), StoreError> {
                (**self).update_line(line, v).await
            }
            async fn delete_line(
                &self,
                id: LineId,
                v: u64,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                (**self).delete_line(id, v, now).await
            }
            async fn line(&self, id: LineId) -> Result<Option<Line>, StoreError> {
                (**self).line(id).await
            }
            async fn shared_line(&self, id: LineId) -> Result<Option<Arc<Line>>, StoreError> {
                (**self).shared_line(id).await
            }
            async fn lines(&self) -> Result<Vec<Line>, StoreError> {
                (**self).lines().await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
