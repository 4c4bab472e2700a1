//! Where a Telegram `Update` becomes what the hub stores: messages, edits
//! and reactions, or an [`IgnoredUpdate`] saying why not.
//!
//! Every update kind of the Bot API is recognised. Private chats are
//! conversations by default; groups and supergroups only when
//! [`ParseOptions::groups`] is on, and then the conversation is the group
//! chat (or one forum topic of it), never the member's private chat.

use super::content::{self, SERVICE_FIELDS};
use super::types::{Chat, Message, MessageReactionUpdated, User};
use chatlines_core::validation::clean_metadata;
use chatlines_core::{
    Body, IgnoredUpdate, InboundEdit, InboundMessage, InboundReaction, ParsedWebhook, WebhookError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix of the blob reference of a file received from Telegram:
/// `tg:<file_id>`. The endpoint's media step (or the host) resolves it
/// with `getFile`; sending it back re-uses the file on Telegram.
pub const FILE_REF_PREFIX: &str = "tg:";

/// Prefix of the external user of a group conversation:
/// `group:<chat_id>`, or `group:<chat_id>:<message_thread_id>` for a forum
/// topic. A private chat's external user is the person's numeric id, so
/// the two never share a contact.
pub const GROUP_PREFIX: &str = "group:";

/// How updates are read (see [`TelegramConfig::groups`](super::TelegramConfig::groups)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Messages in groups and supergroups become conversations of their
    /// own (off by default: they are ignored and counted).
    pub groups: bool,
}

impl ParseOptions {
    /// Whether group chats are conversations.
    pub fn with_groups(mut self, groups: bool) -> Self {
        self.groups = groups;
        self
    }
}

/// Parses one Telegram `Update` body with the default options (private
/// chats only); see [`parse_update_with`].
pub fn parse_update(body: &[u8]) -> Result<ParsedWebhook, WebhookError> {
    parse_update_with(body, ParseOptions::default())
}

/// Parses one Telegram `Update` body.
///
/// - `message` in a private chat: one [`InboundMessage`] with
///   `external_user` = `from.id`, `reply_address` = `chat.id`,
///   `external_message_id` = `"<chat_id>:<message_id>"`, `sent_at` =
///   `date`. Media (photo, document, animation, audio, video, video note,
///   voice, sticker) become attachments with the caption as text; location,
///   venue, contact, poll, dice and the like a described placeholder
///   (`[poll] Question? — a / b`); `text_link` entities keep their URL.
/// - `message` in a group or supergroup, with [`ParseOptions::groups`]: the
///   conversation is the chat (`external_user` = `group:<chat_id>`, reply
///   address the chat), or one forum topic (`group:<chat_id>:<thread>`,
///   reply address `<chat_id>:<thread>`); the text starts with the
///   author's name (`"Ann: hello"`). Without the option: ignored.
/// - `edited_message`: an [`InboundEdit`] of that message.
/// - `message_reaction`: an [`InboundReaction`] (the newest reaction, or
///   `None` when the person removed theirs).
/// - Channel posts, automatic forwards, business messages, inline and
///   callback queries, payments, polls' state, membership changes, boosts,
///   service messages, messages from bots, and kinds this connector does
///   not know: an [`IgnoredUpdate`] naming the kind and why.
///
/// A body that is not a JSON object, or a message kind whose content is not
/// shaped as the Bot API documents, is [`WebhookError::Malformed`].
///
/// ```
/// use chatlines_connectors::telegram::{parse_update_with, ParseOptions};
/// let body = br#"{"update_id":1,"message":{"message_id":7,"date":1700000000,
///     "from":{"id":42,"is_bot":false,"first_name":"Ann"},
///     "chat":{"id":-100,"type":"group","title":"Shop fans"},"text":"hi"}}"#;
/// let private_only = parse_update_with(body, ParseOptions::default()).unwrap();
/// assert!(private_only.messages.is_empty());
/// assert_eq!(private_only.ignored[0].kind, "group_message");
/// let groups = parse_update_with(body, ParseOptions::default().with_groups(true)).unwrap();
/// assert_eq!(groups.messages[0].external_user, "group:-100");
/// assert_eq!(groups.messages[0].body.text, "Ann: hi");
/// ```
pub fn parse_update_with(
    body: &[u8],
    options: ParseOptions,
) -> Result<ParsedWebhook, WebhookError> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(WebhookError::Malformed(
            "not a Telegram update: expected a JSON object".to_owned(),
        ));
    }
    let update: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Telegram update: {e}")))?;
    let mut parsed = ParsedWebhook::default();
    let mut kinds = 0;
    for (kind, value) in update {
        if kind == "update_id" {
            continue;
        }
        kinds += 1;
        update_kind(&kind, value, options, &mut parsed)?;
    }
    if kinds == 0 {
        parsed.ignored.push(IgnoredUpdate::new(
            "empty_update",
            "the update carries no kind",
        ));
    }
    Ok(parsed)
}

fn update_kind(
    kind: &str,
    value: Value,
    options: ParseOptions,
    parsed: &mut ParsedWebhook,
) -> Result<(), WebhookError> {
    let ignore = |reason: &str| IgnoredUpdate::new(kind, reason);
    let ignored = match kind {
        "message" => match message(value, options)? {
            Ok(m) => {
                parsed.messages.push(m);
                return Ok(());
            }
            Err(i) => i,
        },
        "edited_message" => match edit(value, options)? {
            Ok(e) => {
                parsed.edits.push(e);
                return Ok(());
            }
            Err(i) => i,
        },
        "message_reaction" => match reaction(value, options)? {
            Ok(r) => {
                parsed.reactions.push(r);
                return Ok(());
            }
            Err(i) => i,
        },
        "channel_post" | "edited_channel_post" => {
            ignore("channel posts are not a client's conversation")
        }
        "business_connection"
        | "business_message"
        | "edited_business_message"
        | "deleted_business_messages" => ignore("business accounts are not connected to lines"),
        "message_reaction_count" => ignore("anonymous reaction counts name no person"),
        "inline_query" | "chosen_inline_result" => ignore("inline mode is not used by lines"),
        "callback_query" => ignore("the connector sends no inline keyboards"),
        "shipping_query" | "pre_checkout_query" | "purchased_paid_media" => {
            ignore("payments are not handled by lines")
        }
        "poll" | "poll_answer" => ignore("a poll's state is not a message"),
        "my_chat_member" | "chat_member" | "chat_join_request" => {
            ignore("membership changes are not messages")
        }
        "chat_boost" | "removed_chat_boost" => ignore("boosts are not messages"),
        other => IgnoredUpdate::new(
            "unknown",
            format!("update kind {other:?} is not known to this connector"),
        ),
    };
    parsed.ignored.push(ignored);
    Ok(())
}

/// Who a message belongs to: the conversation's contact and reply address,
/// and (in groups) the author to show.
struct Conversation {
    external_user: String,
    reply_address: String,
    display_name: String,
    author: Option<String>,
}

fn message(
    value: Value,
    options: ParseOptions,
) -> Result<Result<InboundMessage, IgnoredUpdate>, WebhookError> {
    let service = service_field(&value);
    let m = typed_message("message", value)?;
    let conversation = match conversation(&m, options, "") {
        Ok(c) => c,
        Err(i) => return Ok(Err(i)),
    };
    if let Some(field) = service {
        return Ok(Err(IgnoredUpdate::new(
            "service_message",
            format!("a {field} service message is not written by a person"),
        )));
    }
    let Some(body) = body_of(&m, &conversation) else {
        return Ok(Err(IgnoredUpdate::new(
            "empty_message",
            "the message carries nothing this connector can show",
        )));
    };
    let mut msg = InboundMessage::text(
        external_id(&m),
        conversation.external_user,
        conversation.display_name,
        String::new(),
    )
    .with_reply_address(conversation.reply_address)
    .with_body(body);
    msg.sent_at = m.date.and_then(|d| DateTime::<Utc>::from_timestamp(d, 0));
    Ok(Ok(msg))
}

fn edit(
    value: Value,
    options: ParseOptions,
) -> Result<Result<InboundEdit, IgnoredUpdate>, WebhookError> {
    let m = typed_message("edited_message", value)?;
    let conversation = match conversation(&m, options, "edited_") {
        Ok(c) => c,
        Err(i) => return Ok(Err(i)),
    };
    let Some(body) = body_of(&m, &conversation) else {
        return Ok(Err(IgnoredUpdate::new(
            "edited_message",
            "the edited message carries nothing this connector can show",
        )));
    };
    let mut edit = InboundEdit::edited(external_id(&m), conversation.external_user, body);
    if let Some(at) = m
        .edit_date
        .and_then(|d| DateTime::<Utc>::from_timestamp(d, 0))
    {
        edit = edit.at(at);
    }
    Ok(Ok(edit))
}

fn reaction(
    value: Value,
    options: ParseOptions,
) -> Result<Result<InboundReaction, IgnoredUpdate>, WebhookError> {
    let r: MessageReactionUpdated = serde_json::from_value(value)
        .map_err(|e| WebhookError::Malformed(format!("not a Telegram message_reaction: {e}")))?;
    match r.chat.kind.as_deref() {
        Some("private") | None => {}
        Some("group" | "supergroup") if options.groups => {}
        Some("group" | "supergroup") => {
            return Ok(Err(IgnoredUpdate::new(
                "group_reaction",
                "group chats are not enabled for this source",
            )))
        }
        Some(_) => {
            return Ok(Err(IgnoredUpdate::new(
                "channel_reaction",
                "channel posts are not a client's conversation",
            )))
        }
    }
    let who = match (&r.user, &r.actor_chat) {
        (Some(u), _) => u.id,
        (None, Some(c)) => c.id,
        (None, None) => {
            return Ok(Err(IgnoredUpdate::new(
                "message_reaction",
                "the reaction names nobody",
            )))
        }
    };
    let emoji = r.new_reaction.last().map(|t| match t.kind.as_str() {
        "emoji" => t.emoji.clone().unwrap_or_default(),
        "custom_emoji" => format!(
            "custom_emoji:{}",
            t.custom_emoji_id.as_deref().unwrap_or_default()
        ),
        "paid" => "\u{2b50}".to_owned(),
        other => format!("[{other}]"),
    });
    let mut reaction = InboundReaction::new(
        format!("{}:{}", r.chat.id, r.message_id),
        who.to_string(),
        emoji,
    );
    reaction.at = r.date.and_then(|d| DateTime::<Utc>::from_timestamp(d, 0));
    Ok(Ok(reaction))
}

fn typed_message(kind: &str, value: Value) -> Result<Message, WebhookError> {
    serde_json::from_value(value)
        .map_err(|e| WebhookError::Malformed(format!("not a Telegram {kind}: {e}")))
}

fn service_field(value: &Value) -> Option<&'static str> {
    let object = value.as_object()?;
    SERVICE_FIELDS
        .iter()
        .copied()
        .find(|f| object.contains_key(*f))
}

fn external_id(m: &Message) -> String {
    format!("{}:{}", m.chat.id, m.message_id)
}

/// The message's body, with the author's name in front in a group; `None`
/// when there is nothing to show.
fn body_of(m: &Message, conversation: &Conversation) -> Option<Body> {
    let mut body = content::body(m);
    let has_file = body
        .attachments
        .iter()
        .any(|a| a.blob.len() > FILE_REF_PREFIX.len());
    if body.text.trim().is_empty() && !has_file {
        return None;
    }
    if let Some(author) = &conversation.author {
        body.text = if body.text.is_empty() {
            format!("{author}:")
        } else {
            format!("{author}: {}", body.text)
        };
    }
    Some(body)
}

/// Whose conversation a message is, or why it is ignored. `edited` prefixes
/// the ignored kinds of edits (`edited_group_message`).
fn conversation(
    m: &Message,
    options: ParseOptions,
    edited: &str,
) -> Result<Conversation, IgnoredUpdate> {
    let ignore = |kind: &str, reason: &str| IgnoredUpdate::new(format!("{edited}{kind}"), reason);
    let private = match m.chat.kind.as_deref() {
        Some("private") => true,
        Some("group" | "supergroup") => false,
        Some("channel") => {
            return Err(ignore(
                "channel_message",
                "channel posts are not a client's conversation",
            ))
        }
        Some(_) => return Err(ignore("unknown_chat", "the chat type is not known")),
        // Without a type (not what the Bot API sends): private only when
        // the chat is the sender's own.
        None => m.from.as_ref().is_some_and(|f| f.id == m.chat.id),
    };
    if private {
        let from = match &m.from {
            None => {
                return Err(ignore(
                    "message_without_sender",
                    "the message names no sender",
                ))
            }
            Some(f) if f.is_bot => return Err(ignore("bot_message", "written by a bot")),
            Some(f) => f,
        };
        return Ok(Conversation {
            external_user: from.id.to_string(),
            reply_address: m.chat.id.to_string(),
            display_name: display_name(from),
            author: None,
        });
    }
    if !options.groups {
        return Err(ignore(
            "group_message",
            "group chats are not enabled for this source",
        ));
    }
    if m.is_automatic_forward {
        return Err(ignore(
            "automatic_forward",
            "a channel post forwarded into its discussion group",
        ));
    }
    let author = match (&m.sender_chat, &m.from) {
        (Some(chat), _) => chat_name(chat),
        (None, Some(f)) if f.is_bot => return Err(ignore("bot_message", "written by a bot")),
        (None, Some(f)) => display_name(f),
        (None, None) => {
            return Err(ignore(
                "message_without_sender",
                "the message names no sender",
            ))
        }
    };
    let thread = m.message_thread_id.filter(|_| m.is_topic_message);
    let chat = m.chat.id;
    let title = chat_name(&m.chat);
    let (external_user, reply_address, display_name) = match thread {
        Some(t) => (
            format!("{GROUP_PREFIX}{chat}:{t}"),
            format!("{chat}:{t}"),
            format!("{title} (topic {t})"),
        ),
        None => (format!("{GROUP_PREFIX}{chat}"), chat.to_string(), title),
    };
    Ok(Conversation {
        external_user,
        reply_address,
        display_name,
        author: Some(clean_metadata(&author).into_owned()),
    })
}

fn chat_name(chat: &Chat) -> String {
    if let Some(title) = chat
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return title.to_owned();
    }
    let full = join_names(chat.first_name.as_deref(), chat.last_name.as_deref());
    if !full.is_empty() {
        return full;
    }
    match chat.username.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => format!("@{u}"),
        _ => format!("Telegram chat {}", chat.id),
    }
}

fn join_names(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn display_name(user: &User) -> String {
    let full = join_names(user.first_name.as_deref(), user.last_name.as_deref());
    if !full.is_empty() {
        return full;
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
            "chat":{"id":42,"type":"private"},"text":"hello"}}"#,
        );
        assert_eq!(m.external_message_id, "42:7");
        assert_eq!(m.external_user, "42");
        assert_eq!(m.reply_address.as_deref(), Some("42"));
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
    fn other_updates_are_ignored_and_named() {
        for (body, kind) in [
            (
                r#"{"update_id":2,"callback_query":{"id":"q","from":{"id":1}}}"#,
                "callback_query",
            ),
            (
                r#"{"update_id":3,"channel_post":{"message_id":1,"chat":{"id":1},"text":"x"}}"#,
                "channel_post",
            ),
            (
                r#"{"update_id":5,"message":{"message_id":1,"from":{"id":1,"is_bot":true},"chat":{"id":1},"text":"bot"}}"#,
                "bot_message",
            ),
            (
                r#"{"update_id":6,"message":{"message_id":1,"chat":{"id":1,"type":"private"},"text":"no sender"}}"#,
                "message_without_sender",
            ),
            (
                r#"{"update_id":8,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1},"pinned_message":{"message_id":0,"chat":{"id":1},"date":0}}}"#,
                "service_message",
            ),
            (
                r#"{"update_id":9,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1}}}"#,
                "empty_message",
            ),
            (r#"{"update_id":10,"future_kind":{}}"#, "unknown"),
            (r#"{"update_id":7}"#, "empty_update"),
        ] {
            let parsed = parse_update(body.as_bytes()).expect(body);
            assert!(parsed.messages.is_empty(), "{body}");
            let kinds: Vec<&str> = parsed.ignored.iter().map(|i| i.kind.as_str()).collect();
            assert_eq!(kinds, vec![kind], "{body}");
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
            r#"{"edited_message":{"chat":{"id":1}}}"#,
            r#"{"message_reaction":{"message_id":1}}"#,
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
