#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blobs;
mod config;
pub mod endpoint;
mod registry;
mod secret;
pub mod signing;
pub mod status;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "telegram")]
#[cfg_attr(docsrs, doc(cfg(feature = "telegram")))]
pub mod telegram;

#[cfg(feature = "whatsapp")]
#[cfg_attr(docsrs, doc(cfg(feature = "whatsapp")))]
pub mod whatsapp;

#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub mod generic;

#[cfg(feature = "bot")]
#[cfg_attr(docsrs, doc(cfg(feature = "bot")))]
pub mod bot;

#[cfg(feature = "webchat")]
#[cfg_attr(docsrs, doc(cfg(feature = "webchat")))]
pub mod webchat;

#[cfg(feature = "dispatcher")]
#[cfg_attr(docsrs, doc(cfg(feature = "dispatcher")))]
pub mod dispatcher;

#[cfg(feature = "media")]
#[cfg_attr(docsrs, doc(cfg(feature = "media")))]
pub mod media;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

pub use blobs::{BlobStore, Downloaded, FetchMedia};
pub use config::ConfigError;
pub use endpoint::{IgnoredCount, WebhookEndpoint, WebhookResponse, WebhookStats};
pub use registry::Messengers;
pub use secret::Secret;
