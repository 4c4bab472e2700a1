//! The conformance suite against [`PostgresStore`], each case in a fresh
//! schema of the server named by `CHATLINES_PG_URL` (skipped when unset).
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_store::PostgresStore;

async fn fresh_store() -> Option<PostgresStore> {
    let url = postgres_support::url()?;
    let schema = postgres_support::fresh_schema();
    Some(postgres_support::store_in(&url, &schema, 8).await)
}

chatlines_store::store_conformance_tests!(optional: fresh_store);
