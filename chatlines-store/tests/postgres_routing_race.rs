//! Routing decisions and the changes that make an operator free, racing
//! over PostgreSQL from two `Hub`s: a session decided "nobody free" while
//! an operator becomes eligible (or closes a session) on another hub is
//! never left queued — the later of the two sees the other — so no
//! periodic drain is needed to find it.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Availability, Body, Error, Hub, LineConfig, RoutePlan, Router, RoutingContext,
    SessionStatus, UserId,
};
use chatlines_store::PostgresStore;
use std::sync::Arc;

/// Plans every session by the given roster rule.
struct ByRoster(RoutePlan);

#[async_trait::async_trait]
impl Router for ByRoster {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(self.0.clone())
    }
}

fn hub(store: &PostgresStore, directory: &Arc<MemoryDirectory>, plan: RoutePlan) -> Hub {
    Hub::builder(
        Arc::new(store.clone()),
        directory.clone(),
        Arc::new(MemoryApps::new()),
        Arc::new(ByRoster(plan)),
    )
    .build()
}

const ROUNDS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_becoming_present_never_misses_a_session_queued_meanwhile() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "an_operator_becoming_present_never_misses_a_session_queued_meanwhile",
        );
    };
    let schema = postgres_support::fresh_schema();
    let store_a = postgres_support::store_in(&url, &schema, 4).await;
    let store_b = postgres_support::store_in(&url, &schema, 4).await;
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_to_group("ops", "ann");
    directory.add_to_group("sups", "sue");
    directory.set_availability("ann", Availability::Absent);
    for c in 0..ROUNDS {
        directory.add_to_group("clients", format!("c{c}").as_str());
    }
    let hub_a = hub(&store_a, &directory, RoutePlan::RoundRobin);
    let hub_b = hub(&store_b, &directory, RoutePlan::RoundRobin);
    let line = hub_a
        .create_line(
            &UserId::new("root"),
            LineConfig::new("Support")
                .client(Audience::Group("clients".into()))
                .operators("ops")
                .supervisors("sups")
                .rule(chatlines_core::RoutingRule::RoundRobin),
        )
        .await
        .expect("create the line");
    let ann = UserId::new("ann");
    for round in 0..ROUNDS {
        // The session is routed on A while ann becomes present on B.
        let client = UserId::new(format!("c{round}"));
        let write = {
            let hub = hub_a.clone();
            tokio::spawn(async move { hub.write(&client, line.id, Body::text("hi")).await })
        };
        let present = {
            let (hub, directory, ann) = (hub_b.clone(), directory.clone(), ann.clone());
            tokio::spawn(async move {
                directory.set_availability("ann", Availability::Present);
                hub.availability_changed(&ann).await
            })
        };
        let posted = write.await.expect("join").expect("the client writes");
        present.await.expect("join").expect("ann is present");
        let now = hub_a
            .session(&UserId::new("sue"), posted.session.id)
            .await
            .expect("read the session");
        assert_eq!(
            now.status,
            SessionStatus::Assigned {
                operator: ann.clone()
            },
            "round {round}: left {:?} while ann is present",
            now.reason
        );
        // Back to the start: ann absent, the session closed.
        hub_a
            .close(&UserId::new("sue"), posted.session.id)
            .await
            .expect("close");
        directory.set_availability("ann", Availability::Absent);
        hub_a.availability_changed(&ann).await.expect("ann leaves");
    }
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_freed_never_misses_a_session_queued_meanwhile() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("a_slot_freed_never_misses_a_session_queued_meanwhile");
    };
    let schema = postgres_support::fresh_schema();
    let store_a = postgres_support::store_in(&url, &schema, 4).await;
    let store_b = postgres_support::store_in(&url, &schema, 4).await;
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_to_group("ops", "ann");
    directory.add_to_group("sups", "sue");
    for c in 0..=ROUNDS {
        directory.add_to_group("clients", format!("c{c}").as_str());
    }
    let plan = RoutePlan::LeastLoaded { capacity: 1 };
    let hub_a = hub(&store_a, &directory, plan.clone());
    let hub_b = hub(&store_b, &directory, plan);
    let line = hub_a
        .create_line(
            &UserId::new("root"),
            LineConfig::new("Support")
                .client(Audience::Group("clients".into()))
                .operators("ops")
                .supervisors("sups")
                .rule(chatlines_core::RoutingRule::LeastLoaded { capacity: 1 }),
        )
        .await
        .expect("create the line");
    let (ann, sue) = (UserId::new("ann"), UserId::new("sue"));
    let assigned = SessionStatus::Assigned {
        operator: ann.clone(),
    };
    // Ann's one slot is taken.
    let mut held = hub_a
        .write(&UserId::new("c0"), line.id, Body::text("hi"))
        .await
        .expect("the first client writes")
        .session;
    assert_eq!(held.status, assigned);
    for round in 1..=ROUNDS {
        // A session is routed on A while ann closes her session on B.
        let client = UserId::new(format!("c{round}"));
        let write = {
            let hub = hub_a.clone();
            tokio::spawn(async move { hub.write(&client, line.id, Body::text("hi")).await })
        };
        let close = {
            let (hub, ann, id) = (hub_b.clone(), ann.clone(), held.id);
            tokio::spawn(async move { hub.close(&ann, id).await })
        };
        let posted = write.await.expect("join").expect("the client writes");
        close.await.expect("join").expect("ann closes");
        held = hub_a
            .session(&sue, posted.session.id)
            .await
            .expect("read the session");
        assert_eq!(
            held.status, assigned,
            "round {round}: left {:?} while ann has a free slot",
            held.reason
        );
    }
    postgres_support::drop_schema(&url, &schema).await;
}
