//! How a reply is being delivered: what an operator sees beside it.

use super::Hub;
use crate::error::Error;
use crate::ids::{MessageId, UserId};
use crate::outbox::OutboxEntry;

impl Hub {
    /// The delivery of a reply to the client's messenger: its outbox entry
    /// (pending, with attempts so far and the last error; sent, with the
    /// messenger's id; or failed, with the reason), for whoever may read the
    /// session. `None` for a message that goes through no messenger (an
    /// inbound message, or a reply to an internal client). A message the
    /// caller may not read answers as a missing one.
    ///
    /// ```
    /// # async fn show(hub: chatlines_core::Hub, me: chatlines_core::UserId, reply: chatlines_core::MessageId) -> Result<(), chatlines_core::Error> {
    /// if let Some(entry) = hub.delivery(&me, reply).await? {
    ///     println!("{:?} after {} attempts", entry.status, entry.attempts);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn delivery(
        &self,
        actor: &UserId,
        message: MessageId,
    ) -> Result<Option<OutboxEntry>, Error> {
        let store = &self.inner.store;
        let missing = || Error::NotFound {
            what: "message",
            id: message.to_string(),
        };
        let stored = store.message(message).await?.ok_or_else(missing)?;
        match self.readable_session(actor, stored.session).await {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => return Err(missing()),
            Err(other) => return Err(other),
        }
        Ok(store.outbox_for_message(message).await?)
    }
}
