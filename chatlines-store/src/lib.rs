#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "relay")]
pub mod relay;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
