//! Outbound delivery of the generic webhook: a signed POST.

use super::parse::GenericAttachment;
use super::GenericWebhook;
use crate::http::{retry_after_header, transport_error};
use chatlines_core::{OutboundMessage, SendError};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
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

// The header names of `super` in the lower case HTTP/1 sends, ready made.
static TIMESTAMP: HeaderName = HeaderName::from_static("x-chatlines-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("x-chatlines-signature");
static IDEMPOTENCY: HeaderName = HeaderName::from_static("idempotency-key");
static JSON: HeaderValue = HeaderValue::from_static("application/json");

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
    let signature = hook
        .key
        .signature_header(&[timestamp.as_bytes(), b".", &body]);
    let request = match &hook.outbound {
        Some(url) => hook.client.post(url.clone()),
        None => hook.client.post(&hook.outbound_url),
    };
    let response = request
        .header(CONTENT_TYPE, JSON.clone())
        .header(TIMESTAMP.clone(), timestamp)
        .header(SIGNATURE.clone(), signature)
        // The same on every retry of one stored message, so a receiver can
        // drop a resend whose first answer was lost.
        .header(IDEMPOTENCY.clone(), id.as_str())
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

#[cfg(test)]
mod tests {
    use super::super::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    use super::*;

    #[test]
    fn the_ready_made_header_names_are_the_documented_ones() {
        for (name, documented) in [
            (&TIMESTAMP, TIMESTAMP_HEADER),
            (&SIGNATURE, SIGNATURE_HEADER),
            (&IDEMPOTENCY, IDEMPOTENCY_HEADER),
        ] {
            assert_eq!(
                HeaderName::from_bytes(documented.as_bytes()).ok().as_ref(),
                Some(name)
            );
        }
    }
}
