//! The timer worker fires due offer timeouts through `Hub::run_due`, again
//! after each period, and stops on shutdown. Time is a `ManualClock` for
//! the hub and Tokio's paused clock for the worker's interval: nothing
//! sleeps.
#![cfg(all(feature = "timers", feature = "testkit"))]

use async_trait::async_trait;
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Error, Event, EventPosition, Hub, ManualClock, RoutePlan, RouteReason, Router, RoutingContext,
    Transition,
};
use chatlines_store::testkit::fixtures::{at, line_at, new_session};
use chatlines_store::timers::{TimerHandle, TimerWorker};
use chatlines_store::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

/// Offers every session (first come).
struct Offer;

#[async_trait]
impl Router for Offer {
    async fn plan(&self, _: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

async fn wait_fired(worker: &TimerHandle, n: u64) {
    let mut health = worker.watch_health();
    while health.borrow().fired < n {
        health.changed().await.expect("worker alive");
    }
}

async fn lapses(store: &MemoryStore) -> Vec<u32> {
    store
        .events_after(EventPosition::START, 1000)
        .await
        .expect("log")
        .into_iter()
        .filter_map(|e| match e.into_event().expect("a readable event") {
            Event::SessionUnanswered { lapses, .. } => Some(lapses),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fires_due_offer_timeouts_every_period_until_shut_down() {
    let store = Arc::new(MemoryStore::new());
    let mut line = line_at("Timed", 0);
    line.config = line.config.offer_timeout(Duration::from_secs(60));
    store.insert_line(&line).await.expect("line");
    let s = new_session(&*store, line.id, 1).await;
    let offer = Transition::Route {
        expected_version: s.version,
        plan: RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        },
    };
    store.transition(s.id, offer, at(1)).await.expect("offer");

    // The hub's time starts after the first lapse is due.
    let clock = Arc::new(ManualClock::new(at(62)));
    let hub = Hub::builder(
        store.clone(),
        Arc::new(MemoryDirectory::new()),
        Arc::new(MemoryApps::new()),
        Arc::new(Offer),
    )
    .clock(clock.clone())
    .build();
    let worker = TimerWorker::new(hub)
        .clock(clock.clone())
        .interval(Duration::from_secs(5))
        .spawn();
    wait_fired(&worker, 1).await;
    assert_eq!(lapses(&store).await, vec![1]);

    // The next period: the worker's interval passes on Tokio's paused clock.
    clock.advance(chrono::Duration::seconds(60));
    wait_fired(&worker, 2).await;
    assert_eq!(lapses(&store).await, vec![1, 2]);
    let health = worker.health();
    assert_eq!(health.failures, 0);
    assert_eq!(health.last_error, None);

    worker.shutdown().await;
    // Shut down: a due lapse stays unfired.
    clock.advance(chrono::Duration::seconds(600));
    assert_eq!(lapses(&store).await, vec![1, 2]);
    assert_eq!(store.session_timers(s.id).await.expect("timers").len(), 1);
}
