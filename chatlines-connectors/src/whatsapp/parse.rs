//! Where a WhatsApp Cloud API notification becomes inbound messages, edits,
//! reactions and status updates.
//!
//! Parsed per item: a message or status that is not what Meta documents is
//! skipped (logged at debug and reported as an [`IgnoredUpdate`]) while the
//! valid ones beside it are kept; only a body that is not the notification
//! envelope at all is refused.

use chatlines_core::{
    Attachment, Body, DeliveryFailure, DeliveryStatus, IgnoredUpdate, InboundEdit, InboundMessage,
    InboundReaction, ParsedWebhook, StatusUpdate, WebhookError,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;
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
    value: Option<Json>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Value {
    metadata: Option<Metadata>,
    contacts: Vec<Json>,
    messages: Vec<Json>,
    statuses: Vec<Json>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
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
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(flatten)]
    content: Content,
}

/// The type-specific parts of a message (also of the new content of an
/// edit).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Content {
    text: Option<Text>,
    image: Option<Media>,
    video: Option<Media>,
    audio: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Location>,
    contacts: Option<Vec<SharedContact>>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    reaction: Option<Reaction>,
    order: Option<Order>,
    system: Option<System>,
    referral: Option<Referral>,
    edit: Option<Edit>,
    revoke: Option<Revoke>,
    errors: Vec<WaError>,
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
    #[serde(default)]
    voice: bool,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct SharedContact {
    #[serde(default)]
    name: Option<ContactName>,
    #[serde(default)]
    phones: Vec<ContactPhone>,
}

#[derive(Deserialize)]
struct ContactName {
    #[serde(default)]
    formatted_name: Option<String>,
}

#[derive(Deserialize)]
struct ContactPhone {
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    button_reply: Option<Choice>,
    #[serde(default)]
    list_reply: Option<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct Button {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    message_id: String,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct Order {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    product_items: Vec<OrderItem>,
}

#[derive(Deserialize)]
struct OrderItem {
    #[serde(default)]
    product_retailer_id: String,
    #[serde(default)]
    quantity: Json,
    #[serde(default)]
    item_price: Json,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct System {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct Referral {
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    source_url: Option<String>,
}

#[derive(Deserialize)]
struct Edit {
    original_message_id: String,
    #[serde(default)]
    message: Option<EditedMessage>,
}

#[derive(Deserialize)]
struct EditedMessage {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(flatten)]
    content: Box<Content>,
}

#[derive(Deserialize)]
struct Revoke {
    original_message_id: String,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Deserialize)]
struct WaError {
    #[serde(default)]
    code: Json,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl WaError {
    fn failure(&self) -> DeliveryFailure {
        let code = match &self.code {
            Json::String(s) => s.clone(),
            Json::Null => String::new(),
            other => other.to_string(),
        };
        let title = self
            .title
            .clone()
            .or_else(|| self.message.clone())
            .unwrap_or_default();
        DeliveryFailure::new(code, title)
    }
}

/// Parses a (signature-checked) notification body, whatever number each
/// change is addressed to.
///
/// Every message type Meta documents is handled on purpose: text, image,
/// video, audio and voice, document and sticker become messages (media as
/// attachments with their captions); location, shared contacts, interactive
/// `button_reply`/`list_reply`, template quick-reply `button` and `order`
/// become readable text; `unsupported` becomes a described placeholder; an
/// ad `referral` is kept beside the text; `reaction` becomes an
/// [`InboundReaction`], `edit` and `revoke` an [`InboundEdit`]; `system`
/// notices, `request_welcome` and unknown types are ignored and reported.
/// The sender is its `wa_id` (`from`) or, without a phone number, its
/// business-scoped user id (`user_id`). `sent`, `delivered`, `read` and
/// `failed` statuses (with Meta's error code and title) become
/// [`StatusUpdate`]s.
pub fn parse_notification(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    parse(body, None)
}

/// Like [`parse_notification`], for the number `phone_number_id`: changes
/// whose `metadata.phone_number_id` names another number go to
/// [`ParsedWebhook::other_accounts`] under that number.
pub fn parse_notification_for(
    body: &[u8],
    phone_number_id: &str,
) -> Result<ParsedWebhook, WebhookError> {
    parse(body, Some(phone_number_id))
}

fn parse(body: &[u8], own: Option<&str>) -> Result<ParsedWebhook, WebhookError> {
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
            ignore(
                &mut parsed,
                &change.field,
                "a webhook field other than messages",
            );
            continue;
        }
        let Some(raw) = change.value else { continue };
        let value: Value = match serde_json::from_value(raw) {
            Ok(v) => v,
            Err(e) => {
                ignore(
                    &mut parsed,
                    "invalid_change",
                    &format!("not a messages value: {e}"),
                );
                continue;
            }
        };
        let number = value
            .metadata
            .as_ref()
            .and_then(|m| m.phone_number_id.clone());
        let target = match (own, number) {
            (Some(own), Some(number)) if number != own => {
                parsed.other_accounts.entry(number).or_default()
            }
            _ => &mut parsed,
        };
        parse_value(value, target);
    }
    Ok(parsed)
}

fn ignore(parsed: &mut ParsedWebhook, kind: &str, reason: &str) {
    tracing::debug!(kind, reason, "WhatsApp update ignored");
    parsed.ignored.push(IgnoredUpdate::new(kind, reason));
}

fn parse_value(value: Value, parsed: &mut ParsedWebhook) {
    let mut names: HashMap<String, String> = HashMap::new();
    for c in value.contacts {
        let Ok(c) = serde_json::from_value::<Contact>(c) else {
            continue;
        };
        let Some(name) = c.profile.and_then(|p| p.name) else {
            continue;
        };
        for id in [c.wa_id, c.user_id].into_iter().flatten() {
            names.insert(id, name.clone());
        }
    }
    for raw in value.messages {
        match serde_json::from_value::<WaMessage>(raw) {
            Ok(m) => message(m, &names, parsed),
            Err(e) => ignore(parsed, "invalid_message", &format!("not a message: {e}")),
        }
    }
    for raw in value.statuses {
        match serde_json::from_value::<Status>(raw) {
            Ok(s) => status(s, parsed),
            Err(e) => ignore(parsed, "invalid_status", &format!("not a status: {e}")),
        }
    }
}

fn status(s: Status, parsed: &mut ParsedWebhook) {
    let kind = match s.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => {
            ignore(
                parsed,
                &format!("status_{other}"),
                "a status chatlines does not keep",
            );
            return;
        }
    };
    if s.id.trim().is_empty() {
        ignore(parsed, "invalid_status", "a status without a message id");
        return;
    }
    let mut update = StatusUpdate::new(s.id, kind, timestamp(s.timestamp.as_deref()));
    if kind == DeliveryStatus::Failed {
        if let Some(e) = s.errors.first() {
            update = update.with_error(e.failure());
        }
    }
    parsed.statuses.push(update);
}

fn timestamp(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t?.parse::<i64>().ok()?, 0)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn message(m: WaMessage, names: &HashMap<String, String>, parsed: &mut ParsedWebhook) {
    let phone = non_empty(m.from);
    let Some(user) = phone.clone().or(non_empty(m.user_id)) else {
        ignore(
            parsed,
            "invalid_message",
            "a message without from or user_id",
        );
        return;
    };
    if m.id.trim().is_empty() {
        ignore(parsed, "invalid_message", "a message without an id");
        return;
    }
    let at = timestamp(m.timestamp.as_deref());
    let content = m.content;
    match m.kind.as_str() {
        "reaction" => {
            let Some(r) = content.reaction else {
                ignore(parsed, "invalid_message", "a reaction without its object");
                return;
            };
            let mut reaction = InboundReaction::new(r.message_id, user, non_empty(r.emoji));
            reaction.at = at;
            parsed.reactions.push(reaction);
            return;
        }
        "edit" => {
            let edit = content.edit.and_then(|e| {
                let body = body_of(&e.message.as_ref()?.kind, &e.message.as_ref()?.content).ok()?;
                Some(InboundEdit::edited(
                    e.original_message_id,
                    user.clone(),
                    body,
                ))
            });
            match edit {
                Some(mut edit) => {
                    edit.at = at;
                    parsed.edits.push(edit);
                }
                None => ignore(
                    parsed,
                    "invalid_message",
                    "an edit without readable new content",
                ),
            }
            return;
        }
        "revoke" => {
            match content.revoke {
                Some(r) => {
                    let mut edit = InboundEdit::revoked(r.original_message_id, user);
                    edit.at = at;
                    parsed.edits.push(edit);
                }
                None => ignore(parsed, "invalid_message", "a revoke without its object"),
            }
            return;
        }
        _ => {}
    }
    let body = match body_of(&m.kind, &content) {
        Ok(body) => body,
        Err(Skip::Ignored(reason)) => {
            ignore(parsed, &m.kind, &reason);
            return;
        }
        Err(Skip::Invalid(reason)) => {
            ignore(parsed, "invalid_message", &reason);
            return;
        }
    };
    let name = names
        .get(&user)
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| match &phone {
            Some(p) => format!("+{p}"),
            None => user.clone(),
        });
    let mut msg = InboundMessage::text(m.id, user.clone(), name, String::new())
        .with_reply_address(user)
        .with_body(body);
    msg.sent_at = at;
    parsed.messages.push(msg);
}

/// Why a message carries nothing to store.
enum Skip {
    /// Deliberately not stored (a system notice, an unknown type).
    Ignored(String),
    /// Not what Meta documents for its type.
    Invalid(String),
}

fn missing(kind: &str) -> Skip {
    Skip::Invalid(format!("a {kind} message without its {kind} object"))
}

fn body_of(kind: &str, c: &Content) -> Result<Body, Skip> {
    let mut body = match kind {
        "text" => Body::text(c.text.as_ref().ok_or_else(|| missing(kind))?.body.clone()),
        "image" => media_body(
            c.image.as_ref().ok_or_else(|| missing(kind))?,
            "image.jpg",
            "image/jpeg",
        ),
        "video" => media_body(
            c.video.as_ref().ok_or_else(|| missing(kind))?,
            "video.mp4",
            "video/mp4",
        ),
        "audio" => {
            let a = c.audio.as_ref().ok_or_else(|| missing(kind))?;
            let name = if a.voice { "voice.ogg" } else { "audio.ogg" };
            media_body(a, name, "audio/ogg")
        }
        "document" => media_body(
            c.document.as_ref().ok_or_else(|| missing(kind))?,
            "document",
            "application/octet-stream",
        ),
        "sticker" => media_body(
            c.sticker.as_ref().ok_or_else(|| missing(kind))?,
            "sticker.webp",
            "image/webp",
        ),
        "location" => Body::text(location_text(
            c.location.as_ref().ok_or_else(|| missing(kind))?,
        )),
        "contacts" => Body::text(contacts_text(
            c.contacts.as_deref().ok_or_else(|| missing(kind))?,
        )),
        "interactive" => {
            let i = c.interactive.as_ref().ok_or_else(|| missing(kind))?;
            let choice = match i.kind.as_str() {
                "button_reply" => i.button_reply.as_ref(),
                "list_reply" => i.list_reply.as_ref(),
                other => {
                    return Err(Skip::Ignored(format!(
                        "an interactive {other} answer chatlines does not read"
                    )))
                }
            }
            .ok_or_else(|| {
                Skip::Invalid(format!("an interactive {} without its answer", i.kind))
            })?;
            match non_empty(choice.description.clone()) {
                Some(d) => Body::text(format!("{} — {d}", choice.title)),
                None => Body::text(choice.title.clone()),
            }
        }
        "button" => {
            let b = c.button.as_ref().ok_or_else(|| missing(kind))?;
            Body::text(
                non_empty(b.text.clone())
                    .or(non_empty(b.payload.clone()))
                    .unwrap_or_default(),
            )
        }
        "order" => Body::text(order_text(c.order.as_ref().ok_or_else(|| missing(kind))?)),
        "unsupported" => {
            let why = c
                .errors
                .first()
                .map(|e| e.failure())
                .map(|f| format!(" ({} {})", f.code, f.title))
                .unwrap_or_default();
            Body::text(format!(
                "[The client sent a message WhatsApp does not deliver to businesses{why}]"
            ))
        }
        "system" => {
            let s = c.system.as_ref();
            return Err(Skip::Ignored(format!(
                "a system notice ({}): {}",
                s.and_then(|s| s.kind.clone()).unwrap_or_default(),
                s.and_then(|s| s.body.clone()).unwrap_or_default()
            )));
        }
        "request_welcome" => {
            return Err(Skip::Ignored(
                "a request for a welcome message (no content)".to_owned(),
            ))
        }
        other => {
            return Err(Skip::Ignored(format!(
                "a message type chatlines does not know ({other})"
            )))
        }
    };
    if let Some(r) = &c.referral {
        let ad: Vec<String> = [r.headline.clone(), r.source_url.clone()]
            .into_iter()
            .filter_map(non_empty)
            .collect();
        if !ad.is_empty() {
            let sep = if body.text.is_empty() { "" } else { "\n" };
            body.text = format!("{}{sep}[from an ad: {}]", body.text, ad.join(" — "));
        }
    }
    if body.text.trim().is_empty() && body.attachments.is_empty() {
        return Err(Skip::Invalid(format!("an empty {kind} message")));
    }
    Ok(body)
}

fn location_text(l: &Location) -> String {
    let mut parts = vec![format!("Location: {}, {}", l.latitude, l.longitude)];
    parts.extend(
        [l.name.clone(), l.address.clone(), l.url.clone()]
            .into_iter()
            .filter_map(non_empty),
    );
    parts.join(" — ")
}

fn contacts_text(contacts: &[SharedContact]) -> String {
    let lines: Vec<String> = contacts
        .iter()
        .map(|c| {
            let name = c
                .name
                .as_ref()
                .and_then(|n| non_empty(n.formatted_name.clone()))
                .unwrap_or_else(|| "(no name)".to_owned());
            let phones: Vec<String> = c
                .phones
                .iter()
                .filter_map(|p| non_empty(p.phone.clone()))
                .collect();
            if phones.is_empty() {
                format!("Contact: {name}")
            } else {
                format!("Contact: {name}, {}", phones.join(", "))
            }
        })
        .collect();
    lines.join("\n")
}

fn order_text(o: &Order) -> String {
    let shown = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let mut lines = vec![format!("Order of {} item(s):", o.product_items.len())];
    for item in &o.product_items {
        lines.push(format!(
            "{} × {} at {} {}",
            shown(&item.quantity),
            item.product_retailer_id,
            shown(&item.item_price),
            item.currency.clone().unwrap_or_default()
        ));
    }
    if let Some(t) = non_empty(o.text.clone()) {
        lines.push(t);
    }
    lines.join("\n")
}

fn media_body(media: &Media, default_name: &str, default_mime: &str) -> Body {
    let name = non_empty(media.filename.clone()).unwrap_or_else(|| default_name.to_owned());
    let mime = non_empty(media.mime_type.clone()).unwrap_or_else(|| default_mime.to_owned());
    let body = Body::text(media.caption.clone().unwrap_or_default());
    if media.id.is_empty() {
        body
    } else {
        body.with_attachment(Attachment::new(
            name,
            mime,
            0,
            format!("{MEDIA_REF_PREFIX}{}", media.id),
        ))
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
        assert_eq!(p.messages.len(), 4);
        assert_eq!(p.messages[3].body.attachments[0].blob, "wa:S");
        assert_eq!(p.messages[3].body.attachments[0].mime_type, "image/webp");
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
        let p = parse_notification(other.as_bytes()).expect("ok");
        assert!(p.messages.is_empty() && p.statuses.is_empty());
        assert_eq!(p.ignored.len(), 1);
        assert_eq!(p.ignored[0].kind, "account_update");
        let bad_message =
            r#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":1}]}}]}]}"#;
        let p = parse_notification(bad_message.as_bytes()).expect("the envelope is fine");
        assert!(p.messages.is_empty());
        assert_eq!(p.ignored[0].kind, "invalid_message");
        for bad in ["", "[]", "nope", r#"{"entry":5}"#] {
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
