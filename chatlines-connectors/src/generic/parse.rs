//! The generic webhook's JSON shape and its parser.

use chatlines_core::{
    Attachment, Body, DeliveryStatus, InboundMessage, ParsedWebhook, StatusUpdate, WebhookError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An inbound request body (see the crate docs for an example).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InboundPayload {
    /// Client messages.
    #[serde(default)]
    pub messages: Vec<GenericMessage>,
    /// Delivery statuses of messages chatlines sent.
    #[serde(default)]
    pub statuses: Vec<GenericStatus>,
}

/// One client message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenericMessage {
    /// The sender system's message id (idempotency key).
    pub id: String,
    /// The sender system's user id.
    pub user: String,
    /// The user's display name (default: the user id).
    #[serde(default)]
    pub name: Option<String>,
    /// Where replies go, if not the user id.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Attached files.
    #[serde(default)]
    pub attachments: Vec<GenericAttachment>,
    /// When it was written.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// An attached file, by URL (or any reference the host's blob storage
/// understands).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenericAttachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime_type: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Where the bytes are.
    pub url: String,
}

/// A delivery status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenericStatus {
    /// The id the receiver returned when chatlines sent the message.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: DeliveryStatus,
    /// When.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Parses a (signature-checked) generic webhook body.
pub fn parse_payload(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(WebhookError::Malformed(
            "not a chatlines webhook payload: expected a JSON object".to_owned(),
        ));
    }
    let payload: InboundPayload = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a chatlines webhook payload: {e}")))?;
    let mut parsed = ParsedWebhook::default();
    for m in payload.messages {
        if m.id.trim().is_empty() || m.user.trim().is_empty() {
            return Err(WebhookError::Malformed(
                "every message needs a non-blank id and user".to_owned(),
            ));
        }
        let mut body = Body::text(m.text);
        for a in m.attachments {
            body = body.with_attachment(Attachment::new(a.name, a.mime_type, a.size, a.url));
        }
        let name = m
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| m.user.clone());
        let reply = m.reply_to.unwrap_or_else(|| m.user.clone());
        let mut msg = InboundMessage::text(m.id, m.user, name, String::new())
            .with_reply_address(reply)
            .with_body(body);
        msg.sent_at = m.sent_at;
        parsed.messages.push(msg);
    }
    for s in payload.statuses {
        parsed
            .statuses
            .push(StatusUpdate::new(s.id, s.status, s.at));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let body = br#"{"messages":[{"id":"m-1","user":"u-42","name":"Ann","text":"hi",
            "attachments":[{"name":"a.pdf","mime_type":"application/pdf","size":3,"url":"https://x/a.pdf"}],
            "sent_at":"2024-05-01T10:00:00Z"},
            {"id":"m-2","user":"u-43","reply_to":"room-1","text":"yo"}],
            "statuses":[{"id":"out-1","status":"read"}]}"#;
        let p = parse_payload(body).expect("parses");
        assert_eq!(p.messages.len(), 2);
        let a = &p.messages[0];
        assert_eq!(
            (
                a.external_message_id.as_str(),
                a.external_user.as_str(),
                a.display_name.as_str()
            ),
            ("m-1", "u-42", "Ann")
        );
        assert_eq!(a.reply_address.as_deref(), Some("u-42"));
        assert_eq!(a.body.attachments[0].blob, "https://x/a.pdf");
        let b = &p.messages[1];
        assert_eq!(
            (b.display_name.as_str(), b.reply_address.as_deref()),
            ("u-43", Some("room-1"))
        );
        assert_eq!(p.statuses[0].status, DeliveryStatus::Read);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            &b""[..],
            b"[]",
            b"{\"messages\":[{\"id\":\"x\"}]}",
            b"{\"msgs\":[]}",
            b"{\"statuses\":[{\"id\":\"x\",\"status\":\"lost\"}]}",
        ] {
            assert!(matches!(
                parse_payload(bad),
                Err(WebhookError::Malformed(_))
            ));
        }
    }
}
