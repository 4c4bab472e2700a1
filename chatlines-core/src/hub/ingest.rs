//! Inbound messages from messenger connectors.

use super::Hub;
use crate::contact::{Contact, ContactKey};
use crate::error::Error;
use crate::ids::SourceId;
use crate::message::{ExternalRef, Message};
use crate::messenger::InboundMessage;
use crate::session::Session;
use crate::store::NewInbound;
use serde::{Deserialize, Serialize};

/// The result of a client's message (written in the platform or ingested).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Posted {
    /// The stored message (the earlier copy, for a duplicate).
    pub message: Message,
    /// The session, after routing when it was just opened.
    pub session: Session,
    /// The client.
    pub contact: Contact,
    /// Whether this message opened the session.
    pub opened: bool,
    /// Whether this was a redelivery of a stored message (nothing changed).
    pub duplicate: bool,
}

/// The longest external id accepted (message or user), in bytes.
pub const MAX_EXTERNAL_ID: usize = 256;

impl Hub {
    /// Stores a message a connector parsed from a source's webhook:
    /// dedupes by the messenger's message id, finds or creates the contact,
    /// continues the open session or opens one, and routes a new session.
    ///
    /// Attachments marked [`Pending`](crate::AttachmentState::Pending) (the
    /// file is still at the messenger) get one fetch job each in the same
    /// atomic store call ([`machine::media_jobs`](crate::machine::media_jobs)).
    ///
    /// Delivering the same message again returns the stored one with
    /// `duplicate: true` and changes nothing (and queues no fetch).
    pub async fn ingest(&self, source: SourceId, inbound: InboundMessage) -> Result<Posted, Error> {
        self.check_body(&inbound.body)?;
        super::check_no_nul("display_name", &inbound.display_name)?;
        if let Some(address) = &inbound.reply_address {
            super::check_no_nul("reply_address", address)?;
        }
        for (field, value) in [
            ("external_message_id", &inbound.external_message_id),
            ("external_user", &inbound.external_user),
        ] {
            if value.is_empty() || value.len() > MAX_EXTERNAL_ID {
                return Err(Error::invalid(
                    field,
                    format!("must be 1 to {MAX_EXTERNAL_ID} bytes"),
                ));
            }
            super::check_no_nul(field, value)?;
        }
        let store = &self.inner.store;
        let source = store.source(source).await?.ok_or_else(|| Error::NotFound {
            what: "source",
            id: source.to_string(),
        })?;
        let clock = &self.inner.clock;
        let new = NewInbound {
            line: source.line,
            contact_key: ContactKey::External {
                source: source.id,
                external_user: inbound.external_user,
            },
            display_name: inbound.display_name,
            reply_address: inbound.reply_address,
            contact_id: clock.new_id().into(),
            session_id: clock.new_id().into(),
            message_id: clock.new_id().into(),
            body: inbound.body,
            external: Some(ExternalRef {
                source: source.id,
                message_id: inbound.external_message_id,
            }),
            now: clock.now(),
        };
        let appended = store.append_inbound(new).await?;
        self.after_inbound(appended, None).await
    }
}
