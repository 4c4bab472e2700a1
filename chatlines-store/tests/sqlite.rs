//! The conformance suite against [`SqliteStore`], each case on its own
//! database file in a fresh temporary directory.
#![cfg(all(feature = "sqlite", feature = "testkit"))]

use chatlines_store::SqliteStore;
use std::cell::RefCell;

thread_local! {
    /// The case's temporary directories, removed when the test's thread ends
    /// (after the case and its store are done).
    static DIRS: RefCell<Vec<tempfile::TempDir>> = const { RefCell::new(Vec::new()) };
}

async fn fresh_store() -> SqliteStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("chatlines.db");
    DIRS.with(|d| d.borrow_mut().push(dir));
    SqliteStore::open(&path)
        .await
        .expect("open a new SQLite store")
}

chatlines_store::store_conformance_tests!(fresh_store);
