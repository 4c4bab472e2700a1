//! What every connector configuration shares.

/// A connector could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is missing or unusable.
    #[error("invalid connector setting {field}: {reason}")]
    Invalid {
        /// Which setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be created (e.g. no TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

#[cfg(any(feature = "http", feature = "dispatcher"))]
pub(crate) mod duration_ms {
    //! Serde for durations as milliseconds.
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
