//! The conformance suite against [`MemoryStore`].
#![cfg(feature = "testkit")]

use chatlines_store::MemoryStore;

async fn fresh_store() -> MemoryStore {
    MemoryStore::new()
}

chatlines_store::store_conformance_tests!(fresh_store);
