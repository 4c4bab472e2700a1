#![doc = include_str!("../README.md")]
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
pub mod http;

#[cfg(feature = "telegram")]
pub mod telegram;

#[cfg(feature = "whatsapp")]
pub mod whatsapp;

#[cfg(feature = "webhook")]
pub mod generic;

#[cfg(feature = "dispatcher")]
pub mod dispatcher;

#[cfg(feature = "axum")]
pub mod axum;

pub use blobs::{BlobStore, FetchMedia};
pub use config::ConfigError;
pub use endpoint::{WebhookEndpoint, WebhookResponse};
pub use registry::Messengers;
pub use secret::Secret;
