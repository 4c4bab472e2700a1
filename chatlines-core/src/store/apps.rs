//! Linked apps: account links and registered requests.

use crate::apps::{AccountLink, RequestRecord};
use crate::error::StoreError;
use crate::ids::{ContactId, LineId, SessionId};
use async_trait::async_trait;
use std::sync::Arc;

/// Persistence of account links and requests. Part of
/// [`Store`](crate::Store); see the [module contract](crate::store).
#[async_trait]
pub trait AppLinkStore: Send + Sync {
    /// Links (or re-links) the client's account item on a line, logging
    /// `AccountLinked`.
    async fn put_account_link(&self, link: &AccountLink) -> Result<(), StoreError>;

    /// The client's linked account item on a line.
    async fn account_link(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<AccountLink>, StoreError>;

    /// Records a request registered from a session, logging
    /// `RequestRegistered`.
    async fn insert_request(&self, request: &RequestRecord) -> Result<(), StoreError>;

    /// Requests registered from a session, oldest first.
    async fn requests(&self, session: SessionId) -> Result<Vec<RequestRecord>, StoreError>;
}

macro_rules! forward {
    ($ptr:ident) => {
        #[async_trait]
        impl<S: AppLinkStore + ?Sized> AppLinkStore for $ptr<S> {
            async fn put_account_link(&self, a: &AccountLink) -> Result<(), StoreError> {
                (**self).put_account_link(a).await
            }
            async fn account_link(
                &self,
                l: LineId,
                c: ContactId,
            ) -> Result<Option<AccountLink>, StoreError> {
                (**self).account_link(l, c).await
            }
            async fn insert_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
                (**self).insert_request(r).await
            }
            async fn requests(&self, s: SessionId) -> Result<Vec<RequestRecord>, StoreError> {
                (**self).requests(s).await
            }
        }
    };
}

forward!(Arc);
forward!(Box);
