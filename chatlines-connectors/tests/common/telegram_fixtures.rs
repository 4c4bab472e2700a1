//! Bot API objects built as the Bot API documents them
//! (<https://core.telegram.org/bots/api#update>): every `Update` kind and
//! every `Message` content, with the fields Telegram fills in.
#![allow(dead_code)]

use serde_json::{json, Value};

pub const DATE: i64 = 1_700_000_000;

pub fn user(id: i64, first: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": first, "last_name": "Client",
        "username": format!("{}_{id}", first.to_lowercase()), "language_code": "en",
        "is_premium": true, "added_to_attachment_menu": false})
}

pub fn bot_user(id: i64) -> Value {
    json!({"id": id, "is_bot": true, "first_name": "Helper", "username": "helper_bot"})
}

pub fn private_chat(id: i64, first: &str) -> Value {
    json!({"id": id, "type": "private", "first_name": first, "last_name": "Client",
        "username": format!("{}_{id}", first.to_lowercase())})
}

pub fn group_chat(id: i64, title: &str) -> Value {
    json!({"id": id, "type": "group", "title": title})
}

pub fn supergroup(id: i64, title: &str, forum: bool) -> Value {
    json!({"id": id, "type": "supergroup", "title": title, "username": "shopfans", "is_forum": forum})
}

pub fn channel(id: i64, title: &str) -> Value {
    json!({"id": id, "type": "channel", "title": title, "username": "shopnews"})
}

/// A `Message` in `chat` from `from`, with `content` merged in.
pub fn message(id: i64, chat: Value, from: Option<Value>, content: Value) -> Value {
    let mut m = json!({"message_id": id, "date": DATE, "chat": chat});
    if let Some(f) = from {
        m["from"] = f;
    }
    merge(&mut m, content);
    m
}

/// A private message from person `id`.
pub fn private_message(id: i64, person: i64, content: Value) -> Value {
    message(
        id,
        private_chat(person, "Ann"),
        Some(user(person, "Ann")),
        content,
    )
}

pub fn update(update_id: i64, kind: &str, value: Value) -> Value {
    let mut u = json!({"update_id": update_id});
    u[kind] = value;
    u
}

pub fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

fn photo_sizes() -> Value {
    json!([
        {"file_id": "AgACsmall", "file_unique_id": "AQADs", "width": 90, "height": 67, "file_size": 1200},
        {"file_id": "AgACbig", "file_unique_id": "AQADb", "width": 1280, "height": 960, "file_size": 96000}
    ])
}

/// An attachment as (name, MIME type, blob).
pub type ExpectedFile = (&'static str, &'static str, &'static str);

/// (name, content fields, expected text, expected attachments).
pub type ContentCase = (&'static str, Value, &'static str, Vec<ExpectedFile>);

/// Every message content the Bot API sends, with what the connector must
/// make of it.
pub fn message_contents() -> Vec<ContentCase> {
    vec![
        ("text", json!({"text": "hello"}), "hello", vec![]),
        (
            "text_link",
            json!({"text": "see our site or the 😀 faq",
            "entities": [
                {"type": "text_link", "offset": 4, "length": 8, "url": "https://shop.example/"},
                {"type": "bold", "offset": 0, "length": 3},
                {"type": "text_link", "offset": 23, "length": 3, "url": "https://shop.example/faq"}
            ]}),
            "see our site (https://shop.example/) or the 😀 faq (https://shop.example/faq)",
            vec![],
        ),
        (
            "photo",
            json!({"photo": photo_sizes(), "caption": "my order",
                "caption_entities": [{"type": "text_link", "offset": 3, "length": 5, "url": "https://o.example/1"}]}),
            "my order (https://o.example/1)",
            vec![("photo_1280x960.jpg", "image/jpeg", "tg:AgACbig")],
        ),
        (
            "document",
            json!({"document": {"file_id": "BQACdoc", "file_unique_id": "AgADd", "file_name": "invoice.pdf",
                "mime_type": "application/pdf", "file_size": 5000,
                "thumbnail": {"file_id": "thumb", "file_unique_id": "t", "width": 90, "height": 90}},
                "caption": "the invoice"}),
            "the invoice",
            vec![("invoice.pdf", "application/pdf", "tg:BQACdoc")],
        ),
        (
            "animation",
            json!({"animation": {"file_id": "CgACanim", "file_unique_id": "AgADa", "width": 320, "height": 240,
                "duration": 3, "file_name": "funny.mp4", "mime_type": "video/mp4", "file_size": 40000},
                "document": {"file_id": "CgACanim", "file_unique_id": "AgADa", "file_name": "funny.mp4",
                "mime_type": "video/mp4", "file_size": 40000}}),
            "",
            vec![("funny.mp4", "video/mp4", "tg:CgACanim")],
        ),
        (
            "audio",
            json!({"audio": {"file_id": "CQACaudio", "file_unique_id": "AgADau", "duration": 200,
                "performer": "The Band", "title": "Song", "mime_type": "audio/mpeg", "file_size": 3_000_000}}),
            "",
            vec![("The Band - Song.mp3", "audio/mpeg", "tg:CQACaudio")],
        ),
        (
            "video",
            json!({"video": {"file_id": "BAACvideo", "file_unique_id": "AgADv", "width": 1920, "height": 1080,
                "duration": 12, "mime_type": "video/mp4", "file_size": 900_000}, "caption": "broken box"}),
            "broken box",
            vec![("video.mp4", "video/mp4", "tg:BAACvideo")],
        ),
        (
            "video_note",
            json!({"video_note": {"file_id": "DQACnote", "file_unique_id": "AgADn", "length": 240,
                "duration": 5, "file_size": 80000}}),
            "",
            vec![("video_note.mp4", "video/mp4", "tg:DQACnote")],
        ),
        (
            "voice",
            json!({"voice": {"file_id": "AwACvoice", "file_unique_id": "AgADvo", "duration": 4,
                "mime_type": "audio/ogg", "file_size": 9000}}),
            "",
            vec![("voice.ogg", "audio/ogg", "tg:AwACvoice")],
        ),
        (
            "sticker",
            json!({"sticker": {"file_id": "CAACsticker", "file_unique_id": "AgADs", "type": "regular",
                "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍",
                "set_name": "Pack", "file_size": 20000}}),
            "[sticker 👍]",
            vec![("sticker.webp", "image/webp", "tg:CAACsticker")],
        ),
        (
            "location",
            json!({"location": {"latitude": 55.751244, "longitude": 37.618423, "horizontal_accuracy": 10.0}}),
            "[location] 55.751244, 37.618423",
            vec![],
        ),
        (
            "venue",
            json!({"location": {"latitude": 48.858370, "longitude": 2.294481},
                "venue": {"location": {"latitude": 48.858370, "longitude": 2.294481},
                "title": "Eiffel Tower", "address": "Champ de Mars, Paris", "foursquare_id": "4adcda"}}),
            "[venue] Eiffel Tower — Champ de Mars, Paris (48.858370, 2.294481)",
            vec![],
        ),
        (
            "contact",
            json!({"contact": {"phone_number": "+15551234567", "first_name": "Bob", "last_name": "Smith", "user_id": 77}}),
            "[contact] Bob Smith, +15551234567",
            vec![],
        ),
        (
            "poll",
            json!({"poll": {"id": "5001", "question": "Which colour?", "options": [
                {"text": "Red", "voter_count": 0}, {"text": "Blue", "voter_count": 0}],
                "total_voter_count": 0, "is_closed": false, "is_anonymous": true, "type": "regular",
                "allows_multiple_answers": false}}),
            "[poll] Which colour? — Red / Blue",
            vec![],
        ),
        (
            "dice",
            json!({"dice": {"emoji": "🎲", "value": 4}}),
            "[dice 🎲] 4",
            vec![],
        ),
    ]
}

/// One `Update` of every kind the Bot API documents, in a private chat
/// where a chat is involved. Returns (kind, update).
pub fn every_update_kind() -> Vec<(&'static str, Value)> {
    let ann = || user(42, "Ann");
    let chat = || private_chat(42, "Ann");
    let text = || private_message(7, 42, json!({"text": "hello"}));
    let business = || {
        let mut m = private_message(8, 42, json!({"text": "to the business"}));
        m["business_connection_id"] = json!("bc1");
        m
    };
    let kinds: Vec<(&str, Value)> = vec![
        ("message", text()),
        ("edited_message", {
            let mut m = private_message(7, 42, json!({"text": "hello again"}));
            m["edit_date"] = json!(DATE + 60);
            m
        }),
        (
            "channel_post",
            message(
                3,
                channel(-1001, "Shop news"),
                None,
                json!({"text": "sale", "sender_chat": channel(-1001, "Shop news")}),
            ),
        ),
        (
            "edited_channel_post",
            message(
                3,
                channel(-1001, "Shop news"),
                None,
                json!({"text": "sale!", "edit_date": DATE + 5}),
            ),
        ),
        (
            "business_connection",
            json!({"id": "bc1", "user": ann(), "user_chat_id": 42, "date": DATE, "can_reply": true, "is_enabled": true}),
        ),
        ("business_message", business()),
        ("edited_business_message", business()),
        (
            "deleted_business_messages",
            json!({"business_connection_id": "bc1", "chat": chat(), "message_ids": [8]}),
        ),
        (
            "message_reaction",
            json!({"chat": chat(), "message_id": 7, "user": ann(), "date": DATE + 1,
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}),
        ),
        (
            "message_reaction_count",
            json!({"chat": channel(-1001, "Shop news"), "message_id": 3, "date": DATE,
            "reactions": [{"type": {"type": "emoji", "emoji": "🔥"}, "total_count": 5}]}),
        ),
        (
            "inline_query",
            json!({"id": "iq1", "from": ann(), "query": "shoes", "offset": "", "chat_type": "private"}),
        ),
        (
            "chosen_inline_result",
            json!({"result_id": "r1", "from": ann(), "query": "shoes"}),
        ),
        (
            "callback_query",
            json!({"id": "cq1", "from": ann(), "message": text(), "chat_instance": "ci", "data": "yes"}),
        ),
        (
            "shipping_query",
            json!({"id": "sq1", "from": ann(), "invoice_payload": "p",
            "shipping_address": {"country_code": "FR", "state": "", "city": "Paris", "street_line1": "1 rue", "street_line2": "", "post_code": "75001"}}),
        ),
        (
            "pre_checkout_query",
            json!({"id": "pq1", "from": ann(), "currency": "EUR", "total_amount": 1000, "invoice_payload": "p"}),
        ),
        (
            "purchased_paid_media",
            json!({"from": ann(), "paid_media_payload": "p"}),
        ),
        (
            "poll",
            json!({"id": "5001", "question": "Which colour?", "options": [{"text": "Red", "voter_count": 1}],
            "total_voter_count": 1, "is_closed": false, "is_anonymous": false, "type": "regular", "allows_multiple_answers": false}),
        ),
        (
            "poll_answer",
            json!({"poll_id": "5001", "user": ann(), "option_ids": [0]}),
        ),
        (
            "my_chat_member",
            json!({"chat": chat(), "from": ann(), "date": DATE,
            "old_chat_member": {"status": "member", "user": bot_user(1)}, "new_chat_member": {"status": "kicked", "user": bot_user(1), "until_date": 0}}),
        ),
        (
            "chat_member",
            json!({"chat": supergroup(-1002, "Fans", false), "from": ann(), "date": DATE,
            "old_chat_member": {"status": "left", "user": ann()}, "new_chat_member": {"status": "member", "user": ann()}}),
        ),
        (
            "chat_join_request",
            json!({"chat": supergroup(-1002, "Fans", false), "from": ann(), "user_chat_id": 42, "date": DATE}),
        ),
        (
            "chat_boost",
            json!({"chat": channel(-1001, "Shop news"), "boost": {"boost_id": "b1", "add_date": DATE,
            "expiration_date": DATE + 86400, "source": {"source": "premium", "user": ann()}}}),
        ),
        (
            "removed_chat_boost",
            json!({"chat": channel(-1001, "Shop news"), "boost_id": "b1", "remove_date": DATE,
            "source": {"source": "premium", "user": ann()}}),
        ),
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, (kind, value))| (kind, update(1000 + i as i64, kind, value)))
        .collect()
}
