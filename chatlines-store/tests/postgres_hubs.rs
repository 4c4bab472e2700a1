//! Two `Hub`s over one PostgreSQL schema: what one hub does, a listener on
//! the other instance reads from the event log, and the first-come rule
//! holds across them.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Body, Error, Event, EventPosition, Hub, LineConfig, LoggedEvent, RoutePlan,
    RouteReason, Router, RoutingContext, UserId,
};
use chatlines_store::PostgresStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// Offers every session to the line's operators (first come).
struct Offer;

#[async_trait::async_trait]
impl Router for Offer {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

fn hub(store: &PostgresStore, directory: &Arc<MemoryDirectory>) -> Hub {
    Hub::builder(
        Arc::new(store.clone()),
        directory.clone(),
        Arc::new(MemoryApps::new()),
        Arc::new(Offer),
    )
    .build()
}

/// Waits for the first event matching `wanted` (bounded, so a missing
/// event fails instead of hanging; no assertion on speed).
async fn wait_for(rx: &mut Receiver<LoggedEvent>, wanted: impl Fn(&Event) -> bool) -> Event {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Ok(logged) if wanted(logged.event().expect("readable")) => {
                    return logged.into_event().expect("readable")
                }
                Ok(_) => {}
                Err(e) => panic!("listener stopped: {e}"),
            }
        }
    })
    .await;
    found.expect("the event arrived within 30 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_hub_does_the_other_hears() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("what_one_hub_does_the_other_hears");
    };
    let schema = postgres_support::fresh_schema();
    let store_a = postgres_support::store_in(&url, &schema, 4).await;
    let store_b = postgres_support::store_in(&url, &schema, 4).await;
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_to_group("clients", "alice");
    directory.add_to_group("ops", "ann");
    directory.add_to_group("ops", "bob");
    let (hub_a, hub_b) = (hub(&store_a, &directory), hub(&store_b, &directory));
    let listen_a = store_a
        .event_listener(EventPosition::START)
        .await
        .expect("listener A");
    let listen_b = store_b
        .event_listener(EventPosition::START)
        .await
        .expect("listener B");
    let (mut rx_a, mut rx_b) = (listen_a.subscribe(), listen_b.subscribe());

    let line = hub_a
        .create_line(
            &UserId::new("root"),
            LineConfig::new("Support")
                .client(Audience::Group("clients".into()))
                .operators("ops"),
        )
        .await
        .expect("create line on A");
    let posted = hub_a
        .write(&UserId::new("alice"), line.id, Body::text("hello"))
        .await
        .expect("alice writes through A");
    let session = posted.session.id;
    wait_for(
        &mut rx_b,
        |e| matches!(e, Event::SessionOffered { session: s, .. } if *s == session),
    )
    .await;
    // B sees the offer in the store too.
    let offered = hub_b
        .offered_sessions(&UserId::new("ann"), chatlines_core::PageRequest::first(100))
        .await
        .expect("offered on B");
    assert!(offered.items.iter().any(|s| s.id == session));

    // Ann takes through B; A's listener hears it, and Bob's take through A
    // loses.
    hub_b
        .take(&UserId::new("ann"), session)
        .await
        .expect("ann takes through B");
    let assigned = wait_for(
        &mut rx_a,
        |e| matches!(e, Event::SessionAssigned { session: s, .. } if *s == session),
    )
    .await;
    assert!(
        matches!(&assigned, Event::SessionAssigned { operator, .. } if operator.as_str() == "ann")
    );
    let lost = hub_a.take(&UserId::new("bob"), session).await;
    assert!(
        matches!(&lost, Err(Error::AlreadyTaken { by: Some(by), .. }) if by.as_str() == "ann"),
        "{lost:?}"
    );
    postgres_support::drop_schema(&url, &schema).await;
}
