//! Where a Telegram message's content becomes a [`Body`]: media become
//! attachments (referencing the file as `tg:<file_id>`), the rest readable
//! text or a described placeholder.

use super::parse::FILE_REF_PREFIX;
use super::types::{Message, MessageEntity, PhotoSize};
use chatlines_core::{Attachment, Body};

/// Fields of a `Message` that make it a service message (a change of the
/// chat, a payment, a shared user…) rather than something a person wrote.
pub(super) const SERVICE_FIELDS: &[&str] = &[
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "refunded_payment",
    "users_shared",
    "chat_shared",
    "gift",
    "unique_gift",
    "connected_website",
    "write_access_allowed",
    "passport_data",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "checklist_tasks_done",
    "checklist_tasks_added",
    "direct_message_price_changed",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "giveaway_winners",
    "paid_message_price_changed",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "web_app_data",
];

/// The body of a message: its text or caption (with `text_link` URLs kept)
/// and its media as attachments, or a placeholder describing content that
/// is not text (`[poll] Question? — a / b`). Empty when the message carries
/// nothing a person wrote (a service message).
pub(super) fn body(m: &Message) -> Body {
    let mut parts: Vec<String> = Vec::new();
    let mut attachments = Vec::new();
    if let Some(photo) = m.photo.as_deref().and_then(largest) {
        attachments.push(file(
            format!("photo_{}x{}.jpg", photo.width, photo.height),
            "image/jpeg",
            photo.file_size,
            &photo.file_id,
        ));
    }
    // An animation also comes as `document` (for older clients): one file.
    if let Some(a) = &m.animation {
        attachments.push(file(
            named(a.file_name.as_deref(), "animation.mp4"),
            &mime(a.mime_type.as_deref(), "video/mp4"),
            a.file_size,
            &a.file_id,
        ));
    } else if let Some(doc) = &m.document {
        attachments.push(file(
            named(doc.file_name.as_deref(), "document"),
            &mime(doc.mime_type.as_deref(), "application/octet-stream"),
            doc.file_size,
            &doc.file_id,
        ));
    }
    if let Some(a) = &m.audio {
        let fallback = match (a.performer.as_deref(), a.title.as_deref()) {
            (Some(p), Some(t)) if !p.trim().is_empty() && !t.trim().is_empty() => {
                format!("{} - {}.mp3", p.trim(), t.trim())
            }
            (_, Some(t)) if !t.trim().is_empty() => format!("{}.mp3", t.trim()),
            _ => "audio.mp3".to_owned(),
        };
        attachments.push(file(
            named(a.file_name.as_deref(), &fallback),
            &mime(a.mime_type.as_deref(), "audio/mpeg"),
            a.file_size,
            &a.file_id,
        ));
    }
    if let Some(v) = &m.video {
        attachments.push(file(
            named(v.file_name.as_deref(), "video.mp4"),
            &mime(v.mime_type.as_deref(), "video/mp4"),
            v.file_size,
            &v.file_id,
        ));
    }
    if let Some(v) = &m.video_note {
        attachments.push(file(
            "video_note.mp4".to_owned(),
            "video/mp4",
            v.file_size,
            &v.file_id,
        ));
    }
    if let Some(v) = &m.voice {
        attachments.push(file(
            "voice.ogg".to_owned(),
            &mime(v.mime_type.as_deref(), "audio/ogg"),
            v.file_size,
            &v.file_id,
        ));
    }
    if let Some(s) = &m.sticker {
        let (name, mime) = if s.is_video {
            ("sticker.webm", "video/webm")
        } else if s.is_animated {
            ("sticker.tgs", "application/x-tgsticker")
        } else {
            ("sticker.webp", "image/webp")
        };
        attachments.push(file(name.to_owned(), mime, s.file_size, &s.file_id));
        parts.push(match s.emoji.as_deref().map(str::trim) {
            Some(e) if !e.is_empty() => format!("[sticker {e}]"),
            _ => "[sticker]".to_owned(),
        });
    }
    if let Some(v) = &m.venue {
        parts.push(format!(
            "[venue] {} — {} ({})",
            v.title.trim(),
            v.address.trim(),
            coordinates(v.location.latitude, v.location.longitude)
        ));
    } else if let Some(l) = &m.location {
        let what = if l.live_period.is_some() {
            "live location"
        } else {
            "location"
        };
        parts.push(format!("[{what}] {}", coordinates(l.latitude, l.longitude)));
    }
    if let Some(c) = &m.contact {
        let name = [Some(c.first_name.as_str()), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        parts.push(format!("[contact] {name}, {}", c.phone_number.trim()));
    }
    if let Some(p) = &m.poll {
        let what = if p.kind.as_deref() == Some("quiz") {
            "quiz"
        } else {
            "poll"
        };
        let options: Vec<&str> = p.options.iter().map(|o| o.text.trim()).collect();
        parts.push(format!(
            "[{what}] {} — {}",
            p.question.trim(),
            options.join(" / ")
        ));
    }
    if let Some(d) = &m.dice {
        parts.push(format!("[dice {}] {}", d.emoji, d.value));
    }
    if let Some(g) = &m.game {
        parts.push(format!("[game] {}", g.title.trim()));
    }
    if let Some(i) = &m.invoice {
        parts.push(format!("[invoice] {}", i.title.trim()));
    }
    if let Some(c) = &m.checklist {
        let tasks: Vec<&str> = c.tasks.iter().map(|t| t.text.trim()).collect();
        parts.push(format!(
            "[checklist] {} — {}",
            c.title.trim(),
            tasks.join(" / ")
        ));
    }
    if m.story.is_some() {
        parts.push("[story]".to_owned());
    }
    if m.paid_media.is_some() {
        parts.push("[paid media]".to_owned());
    }
    if m.giveaway.is_some() {
        parts.push("[giveaway]".to_owned());
    }
    let written = match (&m.text, &m.caption) {
        (Some(text), _) => with_links(text, &m.entities),
        (None, Some(caption)) => with_links(caption, &m.caption_entities),
        (None, None) => String::new(),
    };
    if !written.trim().is_empty() {
        parts.push(written);
    }
    let mut body = Body::text(parts.join("\n"));
    body.attachments = attachments;
    body
}

fn file(name: String, mime: &str, size: Option<u64>, file_id: &str) -> Attachment {
    Attachment::new(
        name,
        mime,
        size.unwrap_or(0),
        format!("{FILE_REF_PREFIX}{file_id}"),
    )
}

fn named(name: Option<&str>, fallback: &str) -> String {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => fallback.to_owned(),
    }
}

fn mime(mime: Option<&str>, fallback: &str) -> String {
    match mime.map(str::trim) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => fallback.to_owned(),
    }
}

fn coordinates(latitude: f64, longitude: f64) -> String {
    format!("{latitude:.6}, {longitude:.6}")
}

fn largest(sizes: &[PhotoSize]) -> Option<&PhotoSize> {
    sizes
        .iter()
        .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file_size))
}

/// The text with each `text_link` entity followed by its URL in
/// parentheses (`"our site (https://example.com)"`). Entity offsets and
/// lengths count UTF-16 code units, as the Bot API documents; an entity
/// outside the text, or overlapping an earlier link, is skipped.
pub(super) fn with_links(text: &str, entities: &[MessageEntity]) -> String {
    let mut links: Vec<(usize, &str)> = entities
        .iter()
        .filter(|e| e.kind == "text_link")
        .filter_map(|e| {
            let url = e.url.as_deref()?.trim();
            let end = e.offset.checked_add(e.length)?;
            (!url.is_empty()).then_some((end, url))
        })
        .collect();
    if links.is_empty() {
        return text.to_owned();
    }
    links.sort_by_key(|(end, _)| *end);
    let mut out = String::with_capacity(text.len() + 32 * links.len());
    let mut units = 0usize;
    let mut next = links.iter().peekable();
    for c in text.chars() {
        out.push(c);
        units += c.len_utf16();
        while let Some((end, url)) = next.peek() {
            if *end > units {
                break;
            }
            if *end == units {
                out.push_str(" (");
                out.push_str(url);
                out.push(')');
            }
            next.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(offset: usize, length: usize, url: &str) -> MessageEntity {
        MessageEntity {
            kind: "text_link".to_owned(),
            offset,
            length,
            url: Some(url.to_owned()),
        }
    }

    #[test]
    fn text_links_keep_their_url() {
        assert_eq!(
            with_links("see our site now", &[link(4, 8, "https://x.example")]),
            "see our site (https://x.example) now"
        );
        // Offsets count UTF-16 units: 😀 is two of them.
        assert_eq!(
            with_links("😀 here", &[link(3, 4, "https://y.example")]),
            "😀 here (https://y.example)"
        );
        assert_eq!(
            with_links("a b", &[link(0, 1, "u1"), link(2, 1, "u2")]),
            "a (u1) b (u2)"
        );
        // Outside the text: skipped, never a panic.
        assert_eq!(with_links("ab", &[link(5, 9, "u")]), "ab");
        assert_eq!(with_links("ab", &[link(usize::MAX, 9, "u")]), "ab");
        let bold = MessageEntity {
            kind: "bold".to_owned(),
            offset: 0,
            length: 2,
            url: None,
        };
        assert_eq!(with_links("ab", &[bold]), "ab");
    }
}
