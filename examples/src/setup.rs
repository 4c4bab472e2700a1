//! Opening the store the examples run on.

use chatlines_core::Store;
use std::sync::Arc;

/// The store for the quickstart.
pub async fn open_store() -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    Ok(Arc::new(chatlines_store::MemoryStore::new()))
}
