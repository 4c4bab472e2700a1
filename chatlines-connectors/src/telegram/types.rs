//! The parts of the Bot API's `Message` and related objects the connector
//! reads (fields it does not read are skipped when deserializing).

use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct Message {
    pub message_id: i64,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    #[serde(default)]
    pub is_topic_message: bool,
    #[serde(default)]
    pub is_automatic_forward: bool,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub sender_chat: Option<Chat>,
    pub chat: Chat,
    #[serde(default)]
    pub date: Option<i64>,
    #[serde(default)]
    pub edit_date: Option<i64>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub caption_entities: Vec<MessageEntity>,
    #[serde(default)]
    pub photo: Option<Vec<PhotoSize>>,
    #[serde(default)]
    pub document: Option<FileObject>,
    #[serde(default)]
    pub animation: Option<FileObject>,
    #[serde(default)]
    pub audio: Option<Audio>,
    #[serde(default)]
    pub video: Option<FileObject>,
    #[serde(default)]
    pub video_note: Option<FileObject>,
    #[serde(default)]
    pub voice: Option<FileObject>,
    #[serde(default)]
    pub sticker: Option<Sticker>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub venue: Option<Venue>,
    #[serde(default)]
    pub contact: Option<Contact>,
    #[serde(default)]
    pub poll: Option<Poll>,
    #[serde(default)]
    pub dice: Option<Dice>,
    #[serde(default)]
    pub game: Option<Titled>,
    #[serde(default)]
    pub invoice: Option<Titled>,
    #[serde(default)]
    pub story: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub paid_media: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub giveaway: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub checklist: Option<Checklist>,
}

#[derive(Deserialize)]
pub(super) struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Chat {
    pub id: i64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: usize,
    pub length: usize,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PhotoSize {
    pub file_id: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// Document, animation, video, video note and voice share these fields.
#[derive(Deserialize)]
pub(super) struct FileObject {
    pub file_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct Audio {
    pub file_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub performer: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Sticker {
    pub file_id: String,
    #[serde(default)]
    pub is_animated: bool,
    #[serde(default)]
    pub is_video: bool,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub live_period: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Venue {
    pub location: Location,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Deserialize)]
pub(super) struct Contact {
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Poll {
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub options: Vec<PollOption>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PollOption {
    #[serde(default)]
    pub text: String,
}

#[derive(Deserialize)]
pub(super) struct Dice {
    #[serde(default)]
    pub emoji: String,
    #[serde(default)]
    pub value: i64,
}

/// A game or an invoice: shown by its title.
#[derive(Deserialize)]
pub(super) struct Titled {
    #[serde(default)]
    pub title: String,
}

#[derive(Deserialize)]
pub(super) struct Checklist {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub tasks: Vec<ChecklistTask>,
}

#[derive(Deserialize)]
pub(super) struct ChecklistTask {
    #[serde(default)]
    pub text: String,
}

/// `message_reaction`: a user's reactions to a message changed.
#[derive(Deserialize)]
pub(super) struct MessageReactionUpdated {
    pub chat: Chat,
    pub message_id: i64,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub actor_chat: Option<Chat>,
    #[serde(default)]
    pub date: Option<i64>,
    #[serde(default)]
    pub new_reaction: Vec<ReactionType>,
}

#[derive(Deserialize)]
pub(super) struct ReactionType {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub custom_emoji_id: Option<String>,
}
