//! Where an outbound message becomes Cloud API calls, and how the API's
//! error codes map to [`SendError`].

use super::parse::MEDIA_REF_PREFIX;
use super::WhatsAppMessenger;
use crate::http::{retry_after_header, transport_error};
use chatlines_core::{Attachment, OutboundMessage, SendError, SendReceipt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

const MAX_CAPTION_CHARS: usize = 1024;
/// Longest text message WhatsApp accepts, in characters.
const MAX_TEXT_CHARS: usize = 4096;

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize, Default)]
pub(super) struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// The longest text WhatsApp accepts in one template body parameter.
const MAX_PARAMETER_CHARS: usize = 1024;

/// Whether a send failed because the customer-service window is closed.
fn window_closed(e: &SendError) -> bool {
    matches!(e, SendError::Permanent(m) if m.starts_with(WINDOW_CLOSED))
}

const WINDOW_CLOSED: &str = "outside the 24-hour window";

/// Sends `message` as written or, when WhatsApp refuses it because the
/// customer-service window is closed and a template is configured, the
/// template in its place (the receipt says so).
pub(super) async fn send(
    wa: &WhatsAppMessenger,
    message: OutboundMessage<'_>,
) -> Result<SendReceipt, SendError> {
    match send_as_is(wa, &message).await {
        Ok(id) => Ok(SendReceipt::new(id)),
        Err(e) if window_closed(&e) => match &wa.config.window_template {
            Some(template) => {
                let id = send_template(wa, template, &message).await?;
                tracing::info!(
                    template = %template.name,
                    message = ?message.message,
                    "the customer-service window is closed: sent as template"
                );
                Ok(SendReceipt::new(id).with_substitute(format!(
                    "{WINDOW_CLOSED}: sent as template {} ({})",
                    template.name, template.language
                )))
            }
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// A template parameter's text: never empty (WhatsApp refuses empty
/// parameters), at most what a parameter holds.
fn parameter_text(text: &str) -> String {
    let t = text.trim();
    let t = if t.is_empty() { "…" } else { t };
    t.chars().take(MAX_PARAMETER_CHARS).collect()
}

/// Sends the configured template in place of `message`.
async fn send_template(
    wa: &WhatsAppMessenger,
    template: &super::WindowTemplate,
    message: &OutboundMessage<'_>,
) -> Result<String, SendError> {
    use super::TemplateParameter;
    let parameters: Vec<Value> = template
        .parameters
        .iter()
        .map(|p| {
            let text = match p {
                TemplateParameter::Text(t) => t.clone(),
                TemplateParameter::Reply => parameter_text(&message.body.text),
                TemplateParameter::Address => message.address.to_owned(),
                TemplateParameter::ContactName => {
                    parameter_text(message.contact_name.unwrap_or_default())
                }
                #[allow(unreachable_patterns)]
                _ => String::new(),
            };
            json!({"type": "text", "text": text})
        })
        .collect();
    let mut body = json!({"name": template.name, "language": {"code": template.language}});
    if !parameters.is_empty() {
        body["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    post_message(
        wa,
        &json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": message.address, "type": "template", "template": body}),
    )
    .await
    .map_err(|e| match e {
        SendError::Permanent(m) => SendError::Permanent(format!(
            "{WINDOW_CLOSED}, and the template was refused: {m}"
        )),
        other => other,
    })
}

async fn send_as_is(
    wa: &WhatsAppMessenger,
    message: &OutboundMessage<'_>,
) -> Result<String, SendError> {
    let to = message.address;
    let body = message.body;
    if body.attachments.is_empty() {
        return send_text(wa, to, &body.text).await;
    }
    let caption_fits = body.text.chars().count() <= MAX_CAPTION_CHARS;
    let mut first_id = None;
    if !caption_fits && !body.text.trim().is_empty() {
        first_id = Some(send_text(wa, to, &body.text).await?);
    }
    for (i, a) in body.attachments.iter().enumerate() {
        let kind = if a.mime_type.starts_with("image/") {
            "image"
        } else {
            "document"
        };
        let mut media = media_object(wa, a, kind).await?;
        if i == 0 && caption_fits && !body.text.trim().is_empty() {
            media["caption"] = json!(body.text);
        }
        if kind == "document" {
            media["filename"] = json!(a.name);
        }
        let id = post_message(
            wa,
            &json!({"messaging_product": "whatsapp", "to": to, "type": kind, kind: media}),
        )
        .await?;
        first_id.get_or_insert(id);
    }
    first_id.ok_or_else(|| SendError::Permanent("nothing to send".to_owned()))
}

/// Sends a text, split into several messages if it is over the limit;
/// returns the id of the first.
async fn send_text(wa: &WhatsAppMessenger, to: &str, text: &str) -> Result<String, SendError> {
    let mut first = None;
    for chunk in crate::http::split_text(text, MAX_TEXT_CHARS) {
        let id = post_message(
            wa,
            &json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": to, "type": "text", "text": {"body": chunk}}),
        )
        .await?;
        first.get_or_insert(id);
    }
    first.ok_or_else(|| SendError::Permanent("nothing to send".to_owned()))
}

async fn media_object(
    wa: &WhatsAppMessenger,
    a: &Attachment,
    kind: &str,
) -> Result<Value, SendError> {
    if let Some(id) = a.blob.strip_prefix(MEDIA_REF_PREFIX) {
        return Ok(json!({ "id": id }));
    }
    if let Some(blobs) = &wa.blobs {
        match blobs.get(&a.blob).await {
            Ok(Some(bytes)) => {
                let id = upload(wa, a, bytes, kind).await?;
                return Ok(json!({ "id": id }));
            }
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
        return Ok(json!({ "link": a.blob }));
    }
    Err(SendError::Permanent(format!(
        "attachment {:?}: blob {:?} is neither in the blob store nor a URL",
        a.name, a.blob
    )))
}

async fn upload(
    wa: &WhatsAppMessenger,
    a: &Attachment,
    bytes: Vec<u8>,
    _kind: &str,
) -> Result<String, SendError> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(a.name.clone())
        .mime_str(&a.mime_type)
        .map_err(|e| {
            SendError::Permanent(format!(
                "attachment {:?} has an unusable MIME type: {e}",
                a.name
            ))
        })?;
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", a.mime_type.clone())
        .part("file", part);
    let response = wa
        .client
        .post(wa.url(&format!("{}/media", wa.config.phone_number_id)))
        .bearer_auth(wa.config.access_token.expose())
        .multipart(form)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let answer = read_answer(wa, response).await?;
    answer
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SendError::Transient("media upload answered without an id".to_owned()))
}

async fn post_message(wa: &WhatsAppMessenger, payload: &Value) -> Result<String, SendError> {
    let response = wa
        .client
        .post(wa.url(&format!("{}/messages", wa.config.phone_number_id)))
        .bearer_auth(wa.config.access_token.expose())
        .json(payload)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let answer = read_answer(wa, response).await?;
    answer
        .pointer("/messages/0/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            SendError::Uncertain("WhatsApp accepted the request but named no message id".to_owned())
        })
}

/// Reads a Graph API answer: its JSON on success, else the mapped error.
pub(super) async fn read_answer(
    wa: &WhatsAppMessenger,
    response: reqwest::Response,
) -> Result<Value, SendError> {
    let status = response.status().as_u16();
    let header_retry = retry_after_header(response.headers());
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) if status < 300 => return Err(transport_error(&e)),
        Err(_) => Default::default(),
    };
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes).map_err(|e| {
            SendError::Uncertain(format!(
                "WhatsApp accepted the request; unreadable answer: {e}"
            ))
        });
    }
    let answer: ErrorAnswer = serde_json::from_slice(&bytes).unwrap_or_default();
    let default_wait = Duration::from_secs(wa.config.rate_limit_wait_secs);
    Err(classify(
        status,
        &answer.error.unwrap_or_default(),
        header_retry,
        default_wait,
    ))
}

pub(super) fn classify(
    status: u16,
    error: &ApiError,
    header_retry: Option<Duration>,
    default_wait: Duration,
) -> SendError {
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    let retry_after = header_retry.unwrap_or(default_wait);
    match error.code {
        // Throughput, pair rate, spam rate and app-level rate limits.
        Some(130429 | 131056 | 131048 | 4 | 80007) => SendError::RateLimited { retry_after },
        Some(131047) => SendError::Permanent(format!(
            "{WINDOW_CLOSED}: the client must write first, or send an approved template ({message})"
        )),
        Some(190) => SendError::Permanent(format!(
            "WhatsApp rejected the access token (check the configuration): {message}"
        )),
        // Unknown error, service temporarily unavailable, something went wrong.
        Some(1 | 2 | 131000 | 131016) => SendError::Transient(format!("WhatsApp: {message}")),
        _ if status == 429 => SendError::RateLimited { retry_after },
        _ if status >= 500 => SendError::Transient(format!("WhatsApp server error: {message}")),
        _ => SendError::Permanent(format!("WhatsApp refused the message: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i64) -> ApiError {
        ApiError {
            code: Some(code),
            message: Some("m".to_owned()),
        }
    }

    #[test]
    fn maps_codes() {
        let w = Duration::from_secs(60);
        assert!(
            matches!(classify(400, &err(130429), None, w), SendError::RateLimited { retry_after } if retry_after == w)
        );
        assert!(
            matches!(classify(400, &err(131056), Some(Duration::from_secs(2)), w), SendError::RateLimited { retry_after } if retry_after == Duration::from_secs(2))
        );
        assert!(
            matches!(classify(400, &err(131047), None, w), SendError::Permanent(m) if m.starts_with("outside the 24-hour window"))
        );
        assert!(matches!(
            classify(503, &ApiError::default(), None, w),
            SendError::Transient(_)
        ));
        assert!(matches!(
            classify(500, &err(131000), None, w),
            SendError::Transient(_)
        ));
        assert!(matches!(
            classify(400, &err(100), None, w),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            classify(429, &ApiError::default(), None, w),
            SendError::RateLimited { .. }
        ));
    }
}
