//! The host's side: the user directory and the connectors, built from the
//! configuration.

use crate::config::{ConnectorSpec, DirectoryConfig, Secrets, SourceSpec};
use crate::BoxError;
use chatlines_connectors::blobs::BlobStore;
use chatlines_connectors::generic::{GenericConfig, GenericWebhook};
use chatlines_connectors::telegram::{TelegramConfig, TelegramMessenger};
use chatlines_connectors::webchat::{WebchatConfig, WebchatMessenger};
use chatlines_connectors::whatsapp::{WhatsAppConfig, WhatsAppMessenger};
use chatlines_connectors::Messengers;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{AppSchema, FieldDef, SourceId};
use std::sync::Arc;

/// The example's directory: administrators, groups and names from the
/// configuration; everyone is present. A real host implements
/// [`chatlines_core::Directory`] over its own users instead.
pub fn directory(config: &DirectoryConfig) -> MemoryDirectory {
    let directory = MemoryDirectory::new();
    for admin in &config.admins {
        directory.add_admin(admin.as_str());
    }
    for (group, members) in &config.groups {
        directory.add_group(group.as_str());
        for user in members {
            directory.add_to_group(group.as_str(), user.as_str());
        }
    }
    for (user, name) in &config.names {
        directory.set_name(user.as_str(), name.as_str());
    }
    directory
}

/// The in-memory catalog of the configured business applications.
pub fn apps(specs: &[crate::config::AppSpec]) -> MemoryApps {
    let apps = MemoryApps::new();
    for spec in specs {
        let fields = spec
            .fields
            .iter()
            .map(|f| FieldDef::new(f.id.as_str(), f.label.as_str(), f.kind))
            .collect();
        apps.add_app(AppSchema::new(spec.id.as_str(), spec.name.as_str(), fields));
    }
    apps
}

fn secret(secrets: &dyn Secrets, source: &str, var: &str) -> Result<String, BoxError> {
    secrets.get(var).ok_or_else(|| {
        format!("source {source:?}: set the environment variable {var} (it holds a secret)").into()
    })
}

/// A source's connector, built from the configuration.
pub enum Connector {
    /// A Telegram bot (fetches inbound media).
    Telegram(Arc<TelegramMessenger>),
    /// A WhatsApp Cloud API number (fetches inbound media).
    WhatsApp(Arc<WhatsAppMessenger>),
    /// The generic signed webhook.
    Webhook(Arc<GenericWebhook>),
    /// The web chat widget (its endpoints are mounted by the server).
    Webchat(Arc<WebchatMessenger>),
}

impl Connector {
    /// Registers the connector for `source`, with its media fetching where
    /// the messenger sends files by reference.
    pub fn register(self, messengers: &Messengers, source: SourceId) {
        match self {
            Connector::Telegram(m) => messengers.insert_with_media(source, m),
            Connector::WhatsApp(m) => messengers.insert_with_media(source, m),
            Connector::Webhook(m) => messengers.insert(source, m),
            Connector::Webchat(m) => messengers.insert(source, m),
        }
    }

    /// The widget, when this is the web chat connector.
    pub fn webchat(&self) -> Option<Arc<WebchatMessenger>> {
        match self {
            Connector::Webchat(m) => Some(Arc::clone(m)),
            _ => None,
        }
    }
}

/// Builds the connector of a source, reading its secrets. Telegram and
/// WhatsApp download media clients send into `blobs` and upload reply
/// attachments from it.
pub fn connector(
    spec: &SourceSpec,
    secrets: &dyn Secrets,
    blobs: &Arc<dyn BlobStore>,
) -> Result<Connector, BoxError> {
    let name = spec.name.as_str();
    let connector = match &spec.connector {
        ConnectorSpec::Telegram {
            bot_token_env,
            webhook_secret_env,
            api_base,
            groups,
        } => {
            let mut c = TelegramConfig::new(
                secret(secrets, name, bot_token_env)?,
                secret(secrets, name, webhook_secret_env)?,
            )
            .with_groups(*groups);
            if let Some(base) = api_base {
                c = c.with_api_base(base.as_str());
            }
            Connector::Telegram(Arc::new(
                TelegramMessenger::new(c)?.with_blobs(Arc::clone(blobs)),
            ))
        }
        ConnectorSpec::Whatsapp {
            phone_number_id,
            access_token_env,
            app_secret_env,
            verify_token_env,
            api_base,
            window_template,
        } => {
            let mut c = WhatsAppConfig::new(
                phone_number_id.as_str(),
                secret(secrets, name, access_token_env)?,
                secret(secrets, name, app_secret_env)?,
                secret(secrets, name, verify_token_env)?,
            );
            if let Some(base) = api_base {
                c = c.with_api_base(base.as_str());
            }
            if let Some(template) = window_template {
                c = c.with_window_template(template.clone());
            }
            Connector::WhatsApp(Arc::new(
                WhatsAppMessenger::new(c)?.with_blobs(Arc::clone(blobs)),
            ))
        }
        ConnectorSpec::Webhook {
            signing_secret_env,
            outbound_url,
        } => Connector::Webhook(Arc::new(GenericWebhook::new(GenericConfig::new(
            secret(secrets, name, signing_secret_env)?,
            outbound_url.as_str(),
        ))?)),
        ConnectorSpec::Webchat {
            secret_env,
            allowed_origins,
            messages_per_minute,
            visitors_per_minute_per_address,
        } => {
            let mut c = WebchatConfig::new(secret(secrets, name, secret_env)?)
                .with_allowed_origins(allowed_origins.iter().cloned());
            if let Some(n) = messages_per_minute {
                c = c.with_messages_per_minute(*n);
            }
            if let Some(n) = visitors_per_minute_per_address {
                c = c.with_visitors_per_minute_per_address(*n);
            }
            Connector::Webchat(Arc::new(
                WebchatMessenger::new(c)?.with_blobs(Arc::clone(blobs)),
            ))
        }
    };
    Ok(connector)
}
