//! The conformance suite against [`MemoryStore`].
#![cfg(feature = "testkit")]

use chatlines_store::MemoryStore;

async fn fresh_store() -> MemoryStore {
    MemoryStore::new()
}

chatlines_store::store_conformance_tests!(fresh_store);

/// The durability helpers agree with a store that was not restarted (the
/// memory store cannot be); persistent stores run them across a reopen.
#[test]
fn durability_helpers_hold_without_restart() {
    chatlines_store::testkit::run_case(
        "durability_helpers_hold_without_restart",
        || async {
            Some(std::sync::Arc::new(MemoryStore::new()) as chatlines_store::testkit::SharedStore)
        },
        |store| async move {
            let ack = chatlines_store::testkit::durability::write_acknowledged(&*store).await;
            chatlines_store::testkit::durability::check_acknowledged(&*store, &ack).await;
        },
    );
}
