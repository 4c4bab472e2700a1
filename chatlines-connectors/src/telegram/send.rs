//! Where an outbound message becomes Bot API calls, and how Telegram's
//! answers map to [`SendError`].

use super::parse::FILE_REF_PREFIX;
use super::TelegramMessenger;
use crate::http::{retry_after_header, transport_error};
use chatlines_core::{Attachment, OutboundMessage, SendError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Longest caption Telegram accepts, in characters.
const MAX_CAPTION_CHARS: usize = 1024;
/// Longest text message Telegram accepts, in characters.
const MAX_TEXT_CHARS: usize = 4096;

#[derive(Deserialize, Default)]
struct ApiResponse {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize, Default)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// What a file part of a request is made of.
enum FilePart {
    /// A `file_id` or URL Telegram fetches itself.
    Reference(String),
    /// Bytes uploaded as multipart.
    Upload(Vec<u8>),
}

/// Where a message goes: a chat, and a forum topic of it when the address
/// is `<chat_id>:<message_thread_id>` (the reply address of a topic's
/// conversation).
#[derive(Clone, Copy)]
struct Target<'a> {
    chat_id: &'a str,
    thread: Option<i64>,
}

impl<'a> Target<'a> {
    fn parse(address: &'a str) -> Self {
        if let Some((chat_id, thread)) = address.rsplit_once(':') {
            if let Ok(thread) = thread.parse::<i64>() {
                return Self {
                    chat_id,
                    thread: Some(thread),
                };
            }
        }
        Self {
            chat_id: address,
            thread: None,
        }
    }

    fn payload(&self) -> Value {
        let mut payload = json!({ "chat_id": self.chat_id });
        if let Some(thread) = self.thread {
            payload["message_thread_id"] = json!(thread);
        }
        payload
    }

    fn form(&self) -> reqwest::multipart::Form {
        let form = reqwest::multipart::Form::new().text("chat_id", self.chat_id.to_owned());
        match self.thread {
            Some(thread) => form.text("message_thread_id", thread.to_string()),
            None => form,
        }
    }
}

pub(super) async fn send(
    tg: &TelegramMessenger,
    message: OutboundMessage<'_>,
) -> Result<String, SendError> {
    let chat_id = Target::parse(message.address);
    let body = message.body;
    if body.attachments.is_empty() {
        return send_text(tg, chat_id, &body.text).await;
    }
    let caption_fits = body.text.chars().count() <= MAX_CAPTION_CHARS;
    let mut first_id = None;
    if !caption_fits && !body.text.trim().is_empty() {
        first_id = Some(send_text(tg, chat_id, &body.text).await?);
    }
    for (i, attachment) in body.attachments.iter().enumerate() {
        let caption =
            (i == 0 && caption_fits && !body.text.trim().is_empty()).then_some(body.text.as_str());
        let id = send_file(tg, chat_id, attachment, caption).await?;
        first_id.get_or_insert(id);
    }
    first_id.ok_or_else(|| SendError::Permanent("nothing to send".to_owned()))
}

/// Sends a text, split into several messages if it is over Telegram's
/// limit; returns the id of the first.
async fn send_text(
    tg: &TelegramMessenger,
    chat_id: Target<'_>,
    text: &str,
) -> Result<String, SendError> {
    let mut first = None;
    for chunk in crate::http::split_text(text, MAX_TEXT_CHARS) {
        let mut payload = chat_id.payload();
        payload["text"] = json!(chunk);
        let result = tg.call_json("sendMessage", &payload).await?;
        let id = message_id(&result)?;
        first.get_or_insert(id);
    }
    first.ok_or_else(|| SendError::Permanent("nothing to send".to_owned()))
}

async fn send_file(
    tg: &TelegramMessenger,
    chat_id: Target<'_>,
    attachment: &Attachment,
    caption: Option<&str>,
) -> Result<String, SendError> {
    let (method, field) = if is_photo(&attachment.mime_type) {
        ("sendPhoto", "photo")
    } else {
        ("sendDocument", "document")
    };
    let result = match file_part(tg, attachment).await? {
        FilePart::Reference(reference) => {
            let mut payload = chat_id.payload();
            payload[field] = json!(reference);
            if let Some(c) = caption {
                payload["caption"] = json!(c);
            }
            tg.call_json(method, &payload).await?
        }
        FilePart::Upload(bytes) => {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(attachment.name.clone())
                .mime_str(&attachment.mime_type)
                .map_err(|e| {
                    SendError::Permanent(format!(
                        "attachment {:?} has an unusable MIME type: {e}",
                        attachment.name
                    ))
                })?;
            let mut form = chat_id.form().part(field, part);
            if let Some(c) = caption {
                form = form.text("caption", c.to_owned());
            }
            tg.call_multipart(method, form).await?
        }
    };
    message_id(&result)
}

fn is_photo(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/webp")
}

async fn file_part(tg: &TelegramMessenger, a: &Attachment) -> Result<FilePart, SendError> {
    if let Some(file_id) = a.blob.strip_prefix(FILE_REF_PREFIX) {
        return Ok(FilePart::Reference(file_id.to_owned()));
    }
    if let Some(blobs) = &tg.blobs {
        match blobs.get(&a.blob).await {
            Ok(Some(bytes)) => return Ok(FilePart::Upload(bytes)),
            Ok(None) => {}
            Err(e) => {
                return Err(SendError::Transient(format!(
                    "cannot read attachment {:?} from the blob store: {e}",
                    a.name
                )))
            }
        }
    }
    if a.blob.starts_with("https://") || a.blob.starts_with("http://") {
        return Ok(FilePart::Reference(a.blob.clone()));
    }
    Err(SendError::Permanent(format!(
        "attachment {:?}: blob {:?} is neither in the blob store nor a URL",
        a.name, a.blob
    )))
}

/// `"<chat_id>:<message_id>"` of a sent message (the same shape as the
/// inbound ids).
fn message_id(result: &Value) -> Result<String, SendError> {
    let id = result.get("message_id").and_then(Value::as_i64);
    let chat = result
        .get("chat")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64);
    match (chat, id) {
        (Some(chat), Some(id)) => Ok(format!("{chat}:{id}")),
        _ => Err(SendError::Uncertain(
            "Telegram accepted the request but its answer has no message id".to_owned(),
        )),
    }
}

/// Reads a Bot API answer: the `result` on success, else the mapped error.
pub(super) async fn read_answer(response: reqwest::Response) -> Result<Value, SendError> {
    let status = response.status().as_u16();
    let header_retry = retry_after_header(response.headers());
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) if status < 300 => return Err(transport_error(&e)),
        Err(_) => Default::default(),
    };
    let answer: ApiResponse = serde_json::from_slice(&bytes).unwrap_or_default();
    if (200..300).contains(&status) && answer.ok {
        return answer.result.ok_or_else(|| {
            SendError::Uncertain("Telegram answered ok without a result".to_owned())
        });
    }
    Err(classify(status, &answer, header_retry))
}

fn classify(status: u16, answer: &ApiResponse, header_retry: Option<Duration>) -> SendError {
    let code = answer.error_code.unwrap_or(status);
    let description = answer
        .description
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    match code {
        429 => {
            let retry_after = answer
                .parameters
                .as_ref()
                .and_then(|p| p.retry_after)
                .map(Duration::from_secs)
                .or(header_retry)
                .unwrap_or(Duration::from_secs(1));
            SendError::RateLimited { retry_after }
        }
        500..=599 => SendError::Transient(format!("Telegram server error: {description}")),
        403 => SendError::Permanent(format!(
            "bot was blocked by the user or may not write to this chat: {description}"
        )),
        401 | 404 => SendError::Permanent(format!(
            "Telegram rejected the bot token (check the configuration): {description}"
        )),
        200..=299 => SendError::Uncertain(format!(
            "Telegram answered HTTP {status} without ok: {description}"
        )),
        _ => SendError::Permanent(format!("Telegram refused the message: {description}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> ApiResponse {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn maps_errors() {
        let e = classify(
            429,
            &answer(
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
            ),
            None,
        );
        assert!(
            matches!(e, SendError::RateLimited { retry_after } if retry_after == Duration::from_secs(7))
        );
        let e = classify(429, &ApiResponse::default(), Some(Duration::from_secs(3)));
        assert!(
            matches!(e, SendError::RateLimited { retry_after } if retry_after == Duration::from_secs(3))
        );
        assert!(matches!(
            classify(502, &ApiResponse::default(), None),
            SendError::Transient(_)
        ));
        let e = classify(
            403,
            &answer(
                r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
            ),
            None,
        );
        assert!(
            matches!(&e, SendError::Permanent(m) if m.starts_with("bot was blocked by the user"))
        );
        let e = classify(
            400,
            &answer(r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#),
            None,
        );
        assert!(matches!(&e, SendError::Permanent(m) if m.contains("chat not found")));
    }

    #[test]
    fn splits_long_texts_on_word_boundaries() {
        use crate::http::split_text;
        assert_eq!(split_text("short", 10), vec!["short"]);
        assert_eq!(split_text("aaaa bbbb cccc", 10), vec!["aaaa bbbb ", "cccc"]);
        assert_eq!(split_text("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        let long = "ж".repeat(9000);
        let parts = split_text(&long, MAX_TEXT_CHARS);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
        assert_eq!(parts.concat(), long);
    }

    #[test]
    fn ids() {
        let r = json!({"message_id": 5, "chat": {"id": -9}});
        assert_eq!(message_id(&r).expect("id"), "-9:5");
        assert!(matches!(
            message_id(&json!({})),
            Err(SendError::Uncertain(_))
        ));
    }
}
