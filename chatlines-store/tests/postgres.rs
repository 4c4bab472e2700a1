//! The conformance suite against [`PostgresStore`], each case in a fresh
//! schema of the server named by `CHATLINES_PG_URL` (skipped when unset).
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_store::postgres::PostgresConfig;
use chatlines_store::PostgresStore;
use std::cell::RefCell;

/// The schemas a test thread created, dropped when the thread ends (after
/// the case and its store are done).
struct Schemas(Vec<(String, String)>);

impl Drop for Schemas {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut self.0);
        if schemas.is_empty() {
            return;
        }
        // A new thread: this one is tearing down its thread-locals.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async {
                for (url, schema) in &schemas {
                    postgres_support::drop_schema(url, schema).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

thread_local! {
    static SCHEMAS: RefCell<Schemas> = const { RefCell::new(Schemas(Vec::new())) };
}

/// A store in a fresh schema, with `configure` applied to the settings.
async fn fresh(configure: fn(PostgresConfig) -> PostgresConfig) -> Option<PostgresStore> {
    let url = postgres_support::url()?;
    let schema = postgres_support::fresh_schema();
    let config = configure(PostgresConfig::new(&url).schema(&schema).pool_size(8));
    let store = postgres_support::store_configured(config).await;
    SCHEMAS.with(|s| s.borrow_mut().0.push((url, schema)));
    Some(store)
}

/// The default settings: concurrent ingest runs in batches.
async fn fresh_store() -> Option<PostgresStore> {
    fresh(|config| config).await
}

chatlines_store::store_conformance_tests!(optional: fresh_store);

/// The suite again with ingest batching off: every message alone.
mod unbatched {
    use super::*;

    async fn fresh_store() -> Option<PostgresStore> {
        fresh(|config| config.ingest_batch(1)).await
    }

    chatlines_store::store_conformance_tests!(optional: fresh_store);
}
