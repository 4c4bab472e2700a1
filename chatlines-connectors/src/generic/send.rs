//! Outbound delivery of the generic webhook: a signed POST.

use super::parse::GenericAttachment;
use super::{GenericWebhook, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::http::{retry_after_header, transport_error};
use crate::signing::signature_header;
use chatlines_core::{OutboundMessage, SendError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The body of an outbound POST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboundPayload {
    /// The stored message's id: the same on every retry of one message, so
    /// the receiver can drop redeliveries (delivery is at least once). A
    /// fresh id only when the sender names no stored message.
    pub id: String,
    /// The chatlines source id.
    pub source: String,
    /// The address (the user id or `reply_to` from the inbound message).
    pub to: String,
    /// The text.
    pub text: String,
    /// Attached files (`url` = the blob reference).
    pub attachments: Vec<GenericAttachment>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    id: Option<String>,
}

pub(super) async fn send(
    hook: &GenericWebhook,
    message: OutboundMessage<'_>,
) -> Result<String, SendError> {
    let id = message
        .message
        .map(|m| m.to_string())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let payload = OutboundPayload {
        id: id.clone(),
        source: message.source.id.to_string(),
        to: message.address.to_owned(),
        text: message.body.text.clone(),
        attachments: message
            .body
            .attachments
            .iter()
            .map(|a| GenericAttachment {
                name: a.name.clone(),
                mime_type: a.mime_type.clone(),
                size: a.size,
                url: a.blob.clone(),
            })
            .collect(),
    };
    let body = serde_json::to_vec(&payload)
        .map_err(|e| SendError::Permanent(format!("cannot encode the message: {e}")))?;
    let timestamp = hook.clock.now().timestamp().to_string();
    let signature = signature_header(
        hook.config.signing_secret.expose().as_bytes(),
        &[timestamp.as_bytes(), b".", &body],
    );
    let response = hook
        .client
        .post(&hook.outbound_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp)
        .header(SIGNATURE_HEADER, signature)
        // The same on every retry of one stored message, so a receiver can
        // drop a resend whose first answer was lost.
        .header(IDEMPOTENCY_HEADER, id.as_str())
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status().as_u16();
    let retry_after = retry_after_header(response.headers());
    match status {
        200..=299 => {
            let bytes = response.bytes().await.unwrap_or_default();
            let answer: Option<Answer> = serde_json::from_slice(&bytes).ok();
            Ok(answer.and_then(|a| a.id).unwrap_or(id))
        }
        429 => Err(SendError::RateLimited {
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        }),
        408 | 500..=599 => Err(SendError::Transient(format!(
            "receiver answered HTTP {status}"
        ))),
        _ => Err(SendError::Permanent(format!(
            "receiver refused the message with HTTP {status}"
        ))),
    }
}
