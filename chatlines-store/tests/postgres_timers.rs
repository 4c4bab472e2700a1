//! Four hubs over one PostgreSQL schema fire the offer timeouts of 1,000
//! sessions concurrently: in each period every session lapses exactly once
//! (counted in the event log), however the hubs' claims interleave.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Error, Event, EventPosition, Hub, RoutePlan, RouteReason, Router, RoutingContext, SessionId,
    Transition,
};
use chatlines_store::testkit::fixtures::{at, line_at, new_session};
use chatlines_store::PostgresStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const SESSIONS: usize = 1000;
const HUBS: usize = 4;

/// Offers every session (first come).
struct Offer;

#[async_trait::async_trait]
impl Router for Offer {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

/// How many `SessionUnanswered` each session has with `lapses`.
async fn lapsed(store: &PostgresStore, lapses: u32) -> BTreeMap<SessionId, usize> {
    let mut out = BTreeMap::new();
    let mut after = EventPosition::START;
    loop {
        let page = store.events_after(after, 1000).await.expect("events_after");
        let Some(last) = page.last() else {
            return out;
        };
        after = last.position;
        for e in page {
            if let Event::SessionUnanswered {
                session, lapses: n, ..
            } = e.into_event().expect("a readable event")
            {
                if n == lapses {
                    *out.entry(session).or_default() += 1;
                }
            }
        }
    }
}

/// Every hub calls `run_due(now)` until nothing more is claimed; returns
/// the timers each fired.
async fn run_period(hubs: &[Hub], now: chrono::DateTime<chrono::Utc>) -> Vec<usize> {
    let mut tasks = Vec::new();
    for hub in hubs {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            let mut fired = 0;
            loop {
                let report = hub.run_due(now, 50).await.expect("run_due");
                assert!(report.failures.is_empty(), "{:?}", report.failures);
                fired += report.fired;
                if report.claimed == 0 {
                    return fired;
                }
            }
        }));
    }
    let mut fired = Vec::new();
    for t in tasks {
        fired.push(t.await.expect("hub task"));
    }
    fired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hubs_fire_each_offer_timeout_once_per_period() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("four_hubs_fire_each_offer_timeout_once_per_period");
    };
    let schema = postgres_support::fresh_schema();
    let mut stores = Vec::new();
    for _ in 0..HUBS {
        stores.push(postgres_support::store_in(&url, &schema, 4).await);
    }
    let store = stores[0].clone();
    let mut line = line_at("Timed", 0);
    line.config = line.config.offer_timeout(Duration::from_secs(60));
    store.insert_line(&line).await.expect("line");

    // 1,000 offered sessions, opened and offered eight at a time.
    let mut sessions: Vec<SessionId> = Vec::with_capacity(SESSIONS);
    for chunk in 0..SESSIONS / 8 {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let line = line.id;
            tasks.push(tokio::spawn(async move {
                let s = new_session(&store, line, 1).await;
                let offer = Transition::Route {
                    expected_version: s.version,
                    plan: RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                };
                store.transition(s.id, offer, at(1)).await.expect("offer");
                s.id
            }));
        }
        for t in tasks {
            sessions.push(t.await.expect("open"));
        }
        assert_eq!(sessions.len(), (chunk + 1) * 8);
    }

    let directory = Arc::new(MemoryDirectory::new());
    let hubs: Vec<Hub> = stores
        .iter()
        .map(|s| {
            Hub::builder(
                Arc::new(s.clone()),
                directory.clone(),
                Arc::new(MemoryApps::new()),
                Arc::new(Offer),
            )
            .build()
        })
        .collect();

    // Period 1 (all due at 61 s, fired late at 1,000 s: re-armed for
    // 1,060 s), then period 2.
    for (lapses, now) in [(1, at(1000)), (2, at(1060))] {
        let fired = run_period(&hubs, now).await;
        assert_eq!(
            fired.iter().sum::<usize>(),
            SESSIONS,
            "period {lapses}: {fired:?}"
        );
        let counts = lapsed(&store, lapses).await;
        assert_eq!(
            counts.len(),
            SESSIONS,
            "period {lapses}: every session lapsed"
        );
        for id in &sessions {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "period {lapses}: session {id} lapsed once"
            );
        }
        // Nothing more is due in this period.
        assert_eq!(hubs[1].run_due(now, 100).await.expect("again").claimed, 0);
    }
    drop((hubs, stores, store));
    postgres_support::drop_schema(&url, &schema).await;
}
