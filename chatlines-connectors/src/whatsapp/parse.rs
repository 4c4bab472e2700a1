//! Where a WhatsApp Cloud API notification becomes inbound messages and
//! status updates.

use chatlines_core::{
    Attachment, Body, DeliveryStatus, InboundMessage, ParsedWebhook, StatusUpdate, WebhookError,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// Prefix of the blob reference of media received from WhatsApp:
/// `wa:<media id>`.
pub const MEDIA_REF_PREFIX: &str = "wa:";

#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    id: String,
    from: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    image: Option<Media>,
    #[serde(default)]
    document: Option<Media>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Parses a (signature-checked) notification body.
///
/// Text, image and document messages become [`InboundMessage`]s
/// (`external_user` = `reply_address` = the sender's `wa_id`,
/// `external_message_id` = the `wamid`); other message types (audio,
/// stickers, reactions, locations…) are ignored. `sent`, `delivered`,
/// `read` and `failed` statuses become [`StatusUpdate`]s.
pub fn parse_notification(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(WebhookError::Malformed(
            "not a WhatsApp notification: expected a JSON object".to_owned(),
        ));
    }
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a WhatsApp notification: {e}")))?;
    let mut parsed = ParsedWebhook::default();
    for change in n.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let Some(value) = change.value else { continue };
        let names: HashMap<String, String> = value
            .contacts
            .into_iter()
            .filter_map(|c| Some((c.wa_id, c.profile?.name?)))
            .collect();
        for m in value.messages {
            if let Some(msg) = inbound(m, &names) {
                parsed.messages.push(msg);
            }
        }
        for s in value.statuses {
            let status = match s.status.as_str() {
                "sent" => DeliveryStatus::Sent,
                "delivered" => DeliveryStatus::Delivered,
                "read" => DeliveryStatus::Read,
                "failed" => DeliveryStatus::Failed,
                _ => continue,
            };
            parsed.statuses.push(StatusUpdate::new(
                s.id,
                status,
                timestamp(s.timestamp.as_deref()),
            ));
        }
    }
    Ok(parsed)
}

fn timestamp(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t?.parse::<i64>().ok()?, 0)
}

fn inbound(m: WaMessage, names: &HashMap<String, String>) -> Option<InboundMessage> {
    if m.id.trim().is_empty() || m.from.trim().is_empty() {
        return None;
    }
    let body = match m.kind.as_str() {
        "text" => Body::text(m.text?.body),
        "image" => media_body(m.image?, "image.jpg", "image/jpeg"),
        "document" => media_body(m.document?, "document", "application/octet-stream"),
        _ => return None,
    };
    if body.text.trim().is_empty() && body.attachments.is_empty() {
        return None;
    }
    let name = names
        .get(&m.from)
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| format!("+{}", m.from));
    let mut msg = InboundMessage::text(m.id, m.from.clone(), name, String::new())
        .with_reply_address(m.from)
        .with_body(body);
    msg.sent_at = timestamp(m.timestamp.as_deref());
    Some(msg)
}

fn media_body(media: Media, default_name: &str, default_mime: &str) -> Body {
    let name = media
        .filename
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_name.to_owned());
    let mime = media
        .mime_type
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| default_mime.to_owned());
    let blob = if media.id.is_empty() {
        String::new()
    } else {
        format!("{MEDIA_REF_PREFIX}{}", media.id)
    };
    let body = Body::text(media.caption.unwrap_or_default());
    if blob.is_empty() {
        body
    } else {
        body.with_attachment(Attachment::new(name, mime, 0, blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(value: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{value}}}]}}]}}"#
        )
    }

    #[test]
    fn text_image_document() {
        let body = wrap(
            r#"{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},
            "contacts":[{"profile":{"name":"Bea"},"wa_id":"4915"}],
            "messages":[
              {"from":"4915","id":"wamid.1","timestamp":"1700000000","type":"text","text":{"body":"hi"}},
              {"from":"4915","id":"wamid.2","timestamp":"1700000001","type":"image","image":{"id":"MEDIA1","mime_type":"image/png","caption":"see"}},
              {"from":"4916","id":"wamid.3","type":"document","document":{"id":"MEDIA2","filename":"a.pdf","mime_type":"application/pdf"}},
              {"from":"4916","id":"wamid.4","type":"sticker","sticker":{"id":"S"}}
            ]}"#,
        );
        let p = parse_notification(body.as_bytes()).expect("parses");
        assert_eq!(p.messages.len(), 3);
        let m = &p.messages[0];
        assert_eq!(
            (m.external_message_id.as_str(), m.external_user.as_str()),
            ("wamid.1", "4915")
        );
        assert_eq!(m.reply_address.as_deref(), Some("4915"));
        assert_eq!(m.display_name, "Bea");
        assert_eq!(m.body.text, "hi");
        assert_eq!(m.sent_at.map(|t| t.timestamp()), Some(1_700_000_000));
        let img = &p.messages[1];
        assert_eq!(img.body.text, "see");
        assert_eq!(img.body.attachments[0].blob, "wa:MEDIA1");
        assert_eq!(img.body.attachments[0].mime_type, "image/png");
        let doc = &p.messages[2];
        assert_eq!(doc.display_name, "+4916");
        assert_eq!(doc.body.attachments[0].name, "a.pdf");
    }

    #[test]
    fn statuses() {
        let body = wrap(
            r#"{"statuses":[
              {"id":"wamid.9","status":"delivered","timestamp":"1700000005","recipient_id":"4915"},
              {"id":"wamid.9","status":"read","timestamp":"1700000006"},
              {"id":"wamid.8","status":"failed","errors":[{"code":131047}]},
              {"id":"wamid.7","status":"deleted"}
            ]}"#,
        );
        let p = parse_notification(body.as_bytes()).expect("parses");
        let got: Vec<_> = p
            .statuses
            .iter()
            .map(|s| (s.external_message_id.as_str(), s.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("wamid.9", DeliveryStatus::Delivered),
                ("wamid.9", DeliveryStatus::Read),
                ("wamid.8", DeliveryStatus::Failed)
            ]
        );
    }

    #[test]
    fn other_fields_ignored_and_garbage_refused() {
        let other = r#"{"entry":[{"changes":[{"field":"account_update","value":{"x":1}}]}]}"#;
        assert_eq!(
            parse_notification(other.as_bytes()).expect("ok"),
            ParsedWebhook::default()
        );
        for bad in [
            "",
            "[]",
            "nope",
            r#"{"entry":5}"#,
            r#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":1}]}}]}]}"#,
        ] {
            assert!(
                matches!(
                    parse_notification(bad.as_bytes()),
                    Err(WebhookError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }
}
