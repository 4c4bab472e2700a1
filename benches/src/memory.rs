//! Scenarios on the memory store: `ingest_memory`, `route_scaling`.

use crate::report::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    Vec::new()
}
