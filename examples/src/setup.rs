//! Opening the store the examples run on.

use chatlines_core::Store;
use chatlines_store::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

/// The default database file, in the working directory.
pub const DEFAULT_DB: &str = "chatlines-quickstart.db";

/// The embedded default store: a SQLite file named by the first argument,
/// else by `CHATLINES_DB`, else [`DEFAULT_DB`] in the working directory.
/// `:memory:` uses a private in-memory database.
pub async fn open_store() -> Result<(Arc<dyn Store>, String), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("CHATLINES_DB").ok())
        .unwrap_or_else(|| DEFAULT_DB.to_owned());
    if path == ":memory:" {
        return Ok((Arc::new(SqliteStore::open_in_memory().await?), path));
    }
    let store = SqliteStore::open(PathBuf::from(&path)).await?;
    Ok((Arc::new(store), path))
}
