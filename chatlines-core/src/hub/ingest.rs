//! Inbound messages from messenger connectors.

use super::Hub;
use crate::contact::{Contact, ContactKey};
use crate::error::Error;
use crate::ids::SourceId;
use crate::message::{ExternalRef, Message};
use crate::messenger::InboundMessage;
use crate::session::Session;
use crate::store::{InboundFollowUp, NewInbound};
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
    /// Whether this message reopened the client's closed session (the
    /// line's reopen window).
    #[serde(default)]
    pub reopened: bool,
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
    /// `duplicate: true` and changes nothing (and queues no fetch). The
    /// message is checked and cleaned by
    /// [`prepare_inbound`](crate::prepare_inbound) first (control characters
    /// in names are replaced; bad text or ids refused).
    pub async fn ingest(&self, source: SourceId, inbound: InboundMessage) -> Result<Posted, Error> {
        self.ingest_inner(source, inbound, super::priority::IngestOptions::default())
            .await
    }

    pub(crate) async fn ingest_inner(
        &self,
        source: SourceId,
        inbound: InboundMessage,
        options: super::priority::IngestOptions,
    ) -> Result<Posted, Error> {
        let inbound = crate::validation::prepare_inbound(inbound, &self.inner.config.limits)?;
        let store = &self.inner.store;
        let source = store.source(source).await?.ok_or_else(|| Error::NotFound {
            what: "source",
            id: source.to_string(),
        })?;
        let clock = &self.inner.clock;
        let now = clock.now();
        let contact_key = ContactKey::External {
            source: source.id,
            external_user: inbound.external_user,
        };
        let opening = super::priority::Opening {
            priority: options.priority,
            source: Some((source.kind.as_str(), source.id)),
        };
        // Without the line the store refuses the message (NotFound).
        let line = store.shared_line(source.line).await?;
        let (sla, opening_priority) = match &line {
            Some(line) => (
                self.sla_dues(line, now),
                self.opening_priority(line, &contact_key, &opening).await,
            ),
            None => (None, None),
        };
        let new = NewInbound {
            line: source.line,
            contact_key,
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
            sent_at: inbound.sent_at,
            now,
            follow_up: InboundFollowUp {
                sla,
                opening_priority,
            },
        };
        let appended = store.append_inbound(new).await?;
        self.after_inbound(appended, line.as_deref()).await
    }
}
