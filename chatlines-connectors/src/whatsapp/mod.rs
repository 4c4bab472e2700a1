//! WhatsApp Cloud API connector (feature `whatsapp`).
//!
//! Supports: the GET verification handshake (a wrong `hub.verify_token` is
//! refused with 403); POST notifications verified by `X-Hub-Signature-256`
//! (HMAC-SHA256 of the raw body with the app secret, checked in constant
//! time before parsing), parsed per item (see [`parse_notification`]):
//! every documented message type, reactions, edits and revokes, and
//! `sent`/`delivered`/`read`/`failed` statuses with Meta's error code and
//! title, recorded through the hub by the webhook endpoint. One callback URL
//! serves several numbers: each change is routed by its
//! `metadata.phone_number_id` ([`Messenger::account_id`]). Outbound text,
//! images and documents (by media id, uploaded from a [`BlobStore`], or by
//! link); inbound media download into a [`BlobStore`]. A reply refused
//! because the 24-hour customer-service window is closed fails permanently
//! with that reason, or, when the source configures a
//! [`WindowTemplate`], is sent as that template instead (logged, and the
//! messenger id it returns is the template message's).

mod config;
mod parse;
mod send;

pub use crate::status::{advance, StatusTracker};
pub use config::{TemplateParameter, WhatsAppConfig, WindowTemplate};
pub use parse::{parse_notification, parse_notification_for, MEDIA_REF_PREFIX};

use crate::blobs::{BlobStore, Downloaded, FetchMedia};
use crate::config::ConfigError;
use crate::http::{self, read_limited, transport_error};
use crate::signing::verify_signature_header;
use async_trait::async_trait;
use chatlines_core::{
    Capabilities, Messenger, OutboundMessage, ParsedWebhook, SendError, SendReceipt, WebhookError,
    WebhookRequest,
};
use serde_json::Value;
use std::sync::Arc;

/// The header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// A connector for one WhatsApp Business phone number.
#[derive(Clone)]
pub struct WhatsAppMessenger {
    config: WhatsAppConfig,
    api_base: String,
    client: reqwest::Client,
    blobs: Option<Arc<dyn BlobStore>>,
}

impl std::fmt::Debug for WhatsAppMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppMessenger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WhatsAppMessenger {
    /// Builds the connector. Fails if a secret, the phone number id or the
    /// base URL is missing or unusable.
    pub fn new(config: WhatsAppConfig) -> Result<Self, ConfigError> {
        for (field, empty) in [
            ("phone_number_id", config.phone_number_id.trim().is_empty()),
            ("access_token", config.access_token.is_empty()),
            ("app_secret", config.app_secret.is_empty()),
            ("verify_token", config.verify_token.is_empty()),
        ] {
            if empty {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "empty; take it from the app dashboard".to_owned(),
                });
            }
        }
        let api_base = http::base_url("api_base", &config.api_base)?;
        let client = http::client(&config.http)?;
        Ok(Self {
            config,
            api_base,
            client,
            blobs: None,
        })
    }

    /// Uploads outbound attachments from (and downloads inbound media into)
    /// this blob store.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.api_base, self.config.api_version)
    }

    fn verify_handshake(&self, query: &str) -> Result<ParsedWebhook, WebhookError> {
        let (mut mode, mut token, mut challenge) = (None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "hub.mode" => mode = Some(v.into_owned()),
                "hub.verify_token" => token = Some(v.into_owned()),
                "hub.challenge" => challenge = Some(v.into_owned()),
                _ => {}
            }
        }
        if mode.as_deref() != Some("subscribe") {
            return Err(WebhookError::Malformed(
                "verification request without hub.mode=subscribe".to_owned(),
            ));
        }
        match token {
            Some(t) if self.config.verify_token.matches(&t) => {}
            _ => return Err(WebhookError::Forbidden("wrong hub.verify_token".to_owned())),
        }
        let challenge =
            challenge.ok_or_else(|| WebhookError::Malformed("missing hub.challenge".to_owned()))?;
        let mut parsed = ParsedWebhook::default();
        parsed.reply = Some(challenge);
        Ok(parsed)
    }

    /// Downloads a media file by id (URL lookup, then download), refusing
    /// files over `max_media_bytes`.
    pub async fn download_media(&self, media_id: &str) -> Result<Downloaded, SendError> {
        let response = self
            .client
            .get(self.url(media_id))
            .bearer_auth(self.config.access_token.expose())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let info = send::read_answer(self, response).await?;
        let limit = self.config.max_media_bytes;
        if let Some(size) = info.get("file_size").and_then(Value::as_u64) {
            if size > limit {
                return Err(SendError::Permanent(format!(
                    "media of {size} bytes is over the limit of {limit} bytes"
                )));
            }
        }
        let url = info
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| SendError::Permanent("media lookup answered without url".to_owned()))?;
        let response = self
            .client
            .get(url)
            .bearer_auth(self.config.access_token.expose())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(if status.is_server_error() {
                SendError::Transient(format!("media download failed: HTTP {status}"))
            } else {
                SendError::Permanent(format!("media download failed: HTTP {status}"))
            });
        }
        // The download's Content-Type, else the media object's `mime_type`.
        let answered = crate::http::mime_type(response.headers())
            .filter(|m| !chatlines_core::media::is_generic_mime_type(m));
        let described = info
            .get("mime_type")
            .and_then(Value::as_str)
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| m.contains('/') && m.len() <= 255 && !m.chars().any(char::is_control));
        let bytes = read_limited(response, limit)
            .await
            .map_err(|e| SendError::Permanent(format!("media download refused: {e}")))?;
        Ok(Downloaded {
            bytes,
            mime_type: answered.or(described),
        })
    }
}

#[async_trait]
impl Messenger for WhatsAppMessenger {
    fn kind(&self) -> &str {
        "whatsapp"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.text = true;
        c.media = true;
        c.captions = true;
        // The messenger's documented limit of one text message.
        c.max_text_chars = Some(4096);
        c.receipts = true;
        c
    }

    fn account_id(&self) -> Option<&str> {
        Some(&self.config.phone_number_id)
    }

    fn parse_webhook(&self, request: WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
        match request.method {
            "GET" => self.verify_handshake(request.query),
            "POST" => {
                let Some(signature) = request.header(SIGNATURE_HEADER) else {
                    return Err(WebhookError::Unauthorized(format!(
                        "missing {SIGNATURE_HEADER} header"
                    )));
                };
                if !verify_signature_header(
                    self.config.app_secret.expose().as_bytes(),
                    &[request.body],
                    signature,
                ) {
                    return Err(WebhookError::Unauthorized("bad body signature".to_owned()));
                }
                parse_notification_for(request.body, &self.config.phone_number_id)
            }
            other => Err(WebhookError::MethodNotAllowed(other.to_owned())),
        }
    }

    async fn send(&self, message: OutboundMessage<'_>) -> Result<String, SendError> {
        send::send(self, message).await.map(|r| r.external_id)
    }

    async fn send_with_receipt(
        &self,
        message: OutboundMessage<'_>,
    ) -> Result<SendReceipt, SendError> {
        send::send(self, message).await
    }
}

#[async_trait]
impl FetchMedia for WhatsAppMessenger {
    fn blob_store(&self) -> Option<&Arc<dyn BlobStore>> {
        self.blobs.as_ref()
    }

    fn remote_file<'a>(&self, blob: &'a str) -> Option<&'a str> {
        blob.strip_prefix(MEDIA_REF_PREFIX)
    }

    async fn download(&self, file: &str) -> Result<Downloaded, SendError> {
        self.download_media(file).await
    }
}
