//! Where a Telegram update becomes an [`InboundMessage`].

use chatlines_core::{Attachment, Body, InboundMessage, ParsedWebhook, WebhookError};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Prefix of the blob reference of a file received from Telegram:
/// `tg:<file_id>`. The endpoint's media step (or the host) resolves it
/// with `getFile`; sending it back re-uses the file on Telegram.
pub const FILE_REF_PREFIX: &str = "tg:";

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    message: Option<TgMessage>,
}

#[derive(Deserialize)]
struct TgMessage {
    message_id: i64,
    #[serde(default)]
    from: Option<User>,
    chat: Chat,
    #[serde(default)]
    date: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    photo: Option<Vec<PhotoSize>>,
    #[serde(default)]
    document: Option<Document>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Deserialize)]
struct PhotoSize {
    file_id: String,
    #[serde(default)]
    width: u32,
    #[serde(default)]
    height: u32,
    #[serde(default)]
    file_size: Option<u64>,
}

#[derive(Deserialize)]
struct Document {
    file_id: String,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    file_size: Option<u64>,
}

/// Parses one Telegram `Update` body.
///
/// A `message` with text, a photo or a document (with its caption) becomes
/// one [`InboundMessage`]: `external_user` = `from.id`, `reply_address` =
/// `chat.id`, `external_message_id` = `"<chat_id>:<message_id>"`. Every
/// other update kind (edited messages, callback queries, channel posts,
/// stickers, messages from bots…) is acknowledged and ignored: an empty
/// [`ParsedWebhook`]. A body that is not a JSON update is
/// [`WebhookError::Malformed`].
pub fn parse_update(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(WebhookError::Malformed(
            "not a Telegram update: expected a JSON object".to_owned(),
        ));
    }
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Telegram update: {e}")))?;
    let mut parsed = ParsedWebhook::default();
    if let Some(message) = update.message.and_then(inbound) {
        parsed.messages.push(message);
    }
    Ok(parsed)
}

fn inbound(m: TgMessage) -> Option<InboundMessage> {
    let from = m.from?;
    if from.is_bot {
        return None;
    }
    let mut body = Body::text(m.text.or(m.caption).unwrap_or_default());
    if let Some(photo) = m.photo.as_deref().and_then(largest) {
        body = body.with_attachment(Attachment::new(
            format!("photo_{}x{}.jpg", photo.width, photo.height),
            "image/jpeg",
            photo.file_size.unwrap_or(0),
            format!("{FILE_REF_PREFIX}{}", photo.file_id),
        ));
    }
    if let Some(doc) = m.document {
        let name = doc
            .file_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "document".to_owned());
        let mime = doc
            .mime_type
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        body = body.with_attachment(Attachment::new(
            name,
            mime,
            doc.file_size.unwrap_or(0),
            format!("{FILE_REF_PREFIX}{}", doc.file_id),
        ));
    }
    let has_file = body
        .attachments
        .iter()
        .any(|a| a.blob.len() > FILE_REF_PREFIX.len());
    if body.text.trim().is_empty() && !has_file {
        return None;
    }
    let mut msg = InboundMessage::text(
        format!("{}:{}", m.chat.id, m.message_id),
        from.id.to_string(),
        display_name(&from),
        String::new(),
    )
    .with_reply_address(m.chat.id.to_string())
    .with_body(body);
    msg.sent_at = m.date.and_then(|d| DateTime::<Utc>::from_timestamp(d, 0));
    Some(msg)
}

fn largest(sizes: &[PhotoSize]) -> Option<&PhotoSize> {
    sizes
        .iter()
        .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file_size))
}

fn display_name(user: &User) -> String {
    let full: Vec<&str> = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !full.is_empty() {
        return full.join(" ");
    }
    match user.username.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => format!("@{u}"),
        _ => format!("Telegram user {}", user.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> InboundMessage {
        let mut p = parse_update(body.as_bytes()).expect("parses");
        assert_eq!(p.messages.len(), 1, "{body}");
        p.messages.remove(0)
    }

    #[test]
    fn text_message() {
        let m = one(
            r#"{"update_id":10,"message":{"message_id":7,"date":1700000000,
            "from":{"id":42,"is_bot":false,"first_name":"Ann","last_name":"Lee","username":"ann"},
            "chat":{"id":-100,"type":"group"},"text":"hello"}}"#,
        );
        assert_eq!(m.external_message_id, "-100:7");
        assert_eq!(m.external_user, "42");
        assert_eq!(m.reply_address.as_deref(), Some("-100"));
        assert_eq!(m.display_name, "Ann Lee");
        assert_eq!(m.body.text, "hello");
        assert!(m.body.attachments.is_empty());
        assert_eq!(m.sent_at.map(|t| t.timestamp()), Some(1_700_000_000));
    }

    #[test]
    fn photo_with_caption_takes_largest_size() {
        let m = one(
            r#"{"update_id":11,"message":{"message_id":8,"from":{"id":42,"username":"ann"},
            "chat":{"id":42},"caption":"look",
            "photo":[{"file_id":"small","width":90,"height":90,"file_size":100},
                     {"file_id":"big","width":1280,"height":960,"file_size":90000}]}}"#,
        );
        assert_eq!(m.display_name, "@ann");
        assert_eq!(m.body.text, "look");
        assert_eq!(m.body.attachments.len(), 1);
        let a = &m.body.attachments[0];
        assert_eq!(a.blob, "tg:big");
        assert_eq!(a.mime_type, "image/jpeg");
        assert_eq!(a.size, 90000);
    }

    #[test]
    fn document() {
        let m = one(
            r#"{"update_id":12,"message":{"message_id":9,"from":{"id":5},"chat":{"id":5},
            "document":{"file_id":"doc1","file_name":"report.pdf","mime_type":"application/pdf","file_size":1234}}}"#,
        );
        assert_eq!(m.display_name, "Telegram user 5");
        assert_eq!(m.body.text, "");
        let a = &m.body.attachments[0];
        assert_eq!(
            (a.name.as_str(), a.mime_type.as_str(), a.size),
            ("report.pdf", "application/pdf", 1234)
        );
        assert_eq!(a.blob, "tg:doc1");
    }

    #[test]
    fn other_updates_are_ignored() {
        for body in [
            r#"{"update_id":1,"edited_message":{"message_id":1,"chat":{"id":1},"text":"x"}}"#,
            r#"{"update_id":2,"callback_query":{"id":"q","from":{"id":1}}}"#,
            r#"{"update_id":3,"channel_post":{"message_id":1,"chat":{"id":1},"text":"x"}}"#,
            r#"{"update_id":4,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1},"sticker":{"file_id":"s"}}}"#,
            r#"{"update_id":5,"message":{"message_id":1,"from":{"id":1,"is_bot":true},"chat":{"id":1},"text":"bot"}}"#,
            r#"{"update_id":6,"message":{"message_id":1,"chat":{"id":1},"text":"no sender"}}"#,
            r#"{"update_id":7}"#,
        ] {
            assert_eq!(
                parse_update(body.as_bytes()).expect(body),
                ParsedWebhook::default()
            );
        }
    }

    #[test]
    fn malformed() {
        for body in [
            "",
            "nope",
            "[]",
            r#"{"message":{"message_id":"x"}}"#,
            r#"{"message":5}"#,
        ] {
            assert!(
                matches!(
                    parse_update(body.as_bytes()),
                    Err(WebhookError::Malformed(_))
                ),
                "{body}"
            );
        }
    }
}
