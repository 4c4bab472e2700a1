//! Scenarios on the memory store: `ingest_memory`, `route_scaling/*`.

use crate::report::{median, Measured, Outcome, Scenario};
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    AccountLink, AppSchema, Audience, Body, Clock, ContactKey, ExternalRef, FieldDef, FieldKind,
    FieldValue, Hub, InboundMessage, LineConfig, LineId, NewInbound, NewSource, Router,
    RoutingContext, RoutingRule, Store, SystemClock, Transition, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ingest_memory",
            run: || Box::pin(ingest_memory()),
        },
        Scenario {
            name: "route_scaling",
            run: || Box::pin(route_scaling()),
        },
    ]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct World {
    hub: Hub,
    store: Arc<dyn Store>,
    directory: Arc<MemoryDirectory>,
    apps: Arc<MemoryApps>,
    line: LineId,
}

async fn world(operators: usize, rule: RoutingRule) -> Result<World, String> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_group("clients");
    for i in 0..operators {
        directory.add_to_group("ops", format!("op{i:05}"));
    }
    let apps = Arc::new(MemoryApps::new());
    apps.add_app(AppSchema::new(
        "customers",
        "Customers",
        vec![
            FieldDef::new("account", "Account", FieldKind::Account),
            FieldDef::new("manager", "Manager", FieldKind::User),
        ],
    ));
    let hub = Hub::builder(
        store.clone(),
        directory.clone(),
        apps.clone(),
        Arc::new(RuleRouter::new()),
    )
    .build();
    let line = hub
        .create_line(
            &"root".into(),
            LineConfig::new("bench")
                .account_app("customers")
                .client(Audience::Group("clients".into()))
                .operators("ops")
                .rule(rule),
        )
        .await
        .map_err(err)?
        .id;
    Ok(World {
        hub,
        store,
        directory,
        apps,
        line,
    })
}

/// Messages/s through `Hub::ingest` into open sessions vs the same messages
/// appended straight through `Store::append_inbound`. Each side has its own
/// identical world; rounds alternate and the best round of each counts.
async fn ingest_memory() -> Outcome {
    const CONTACTS: usize = 1_000;
    const ROUND: usize = 100_000;
    const ROUNDS: usize = 3;
    let ours_world = ingest_world(CONTACTS).await?;
    let base_world = ingest_world(CONTACTS).await?;
    let users: Vec<String> = (0..CONTACTS).map(|c| format!("u{c}")).collect();
    let clock = SystemClock;
    let (mut ours, mut baseline) = (0f64, 0f64);
    for round in 0..ROUNDS {
        let ids: Vec<String> = (0..ROUND).map(|i| format!("r{round}m{i}")).collect();

        let (w, source) = &ours_world;
        let start = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let msg =
                InboundMessage::text(id.clone(), users[i % CONTACTS].clone(), "client", "text");
            w.hub.ingest(*source, msg).await.map_err(err)?;
        }
        ours = ours.max(ROUND as f64 / start.elapsed().as_secs_f64());

        // Baseline: the store work alone, same messages, same ids.
        let (w, source) = &base_world;
        let start = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let key = ContactKey::External {
                source: *source,
                external_user: users[i % CONTACTS].clone(),
            };
            let new = NewInbound::new(w.line, key, "client", Body::text("text"), clock.now())
                .with_external(ExternalRef {
                    source: *source,
                    message_id: id.clone(),
                });
            w.store.append_inbound(new).await.map_err(err)?;
        }
        baseline = baseline.max(ROUND as f64 / start.elapsed().as_secs_f64());
    }
    Ok(vec![Measured::throughput(
        "ingest_memory",
        ours,
        baseline,
        "msg/s",
    )])
}

/// A world with one source and one open session per contact.
async fn ingest_world(contacts: usize) -> Result<(World, chatlines_core::SourceId), String> {
    let w = world(10, RoutingRule::FirstCome).await?;
    let source = w
        .hub
        .bind_source(
            &"root".into(),
            w.line,
            NewSource::new("bench", "bench", "bench"),
        )
        .await
        .map_err(err)?;
    for c in 0..contacts {
        w.hub
            .ingest(
                source.id,
                InboundMessage::text(format!("open-{c}"), format!("u{c}"), "client", "hi"),
            )
            .await
            .map_err(err)?;
    }
    Ok((w, source.id))
}

/// Median time of one routing decision (plan + atomic store transition)
/// with 10,000 operators divided by the same with 10, per strategy.
///
/// The two rosters take turns, one decision each: this machine's speed
/// drifts by up to 2x within seconds, and a roster measured only after
/// the other would carry that drift into the ratio.
async fn route_scaling() -> Outcome {
    const SESSIONS: usize = 3_000;
    let rules = [
        ("first_come", RoutingRule::FirstCome),
        (
            "responsible",
            RoutingRule::Responsible {
                field: "manager".into(),
            },
        ),
        ("round_robin", RoutingRule::RoundRobin),
        (
            "least_loaded",
            RoutingRule::LeastLoaded {
                capacity: 1_000_000,
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, rule) in rules {
        let small = Roster::new(10, rule.clone()).await?;
        let large = Roster::new(10_000, rule).await?;
        let (mut small_times, mut large_times) =
            (Vec::with_capacity(SESSIONS), Vec::with_capacity(SESSIONS));
        for s in 0..SESSIONS {
            small_times.push(small.decide(s).await?);
            large_times.push(large.decide(s).await?);
        }
        out.push(Measured::scaling(
            format!("route_scaling/{name}"),
            median(large_times),
            median(small_times),
            "ns",
        ));
    }
    Ok(out)
}

/// A line with `operators` operators routing by one rule.
struct Roster {
    w: World,
    line: chatlines_core::Line,
    operators: usize,
    router: RuleRouter,
}

impl Roster {
    async fn new(operators: usize, rule: RoutingRule) -> Result<Self, String> {
        let w = world(operators, rule).await?;
        let line = w
            .store
            .line(w.line)
            .await
            .map_err(err)?
            .ok_or("line vanished")?;
        Ok(Self {
            w,
            line,
            operators,
            router: RuleRouter::new(),
        })
    }

    /// Opens client `s`'s session (linked to the account its responsible
    /// manager, one of the operators, keeps) and returns the nanoseconds
    /// its routing decision took.
    async fn decide(&self, s: usize) -> Result<f64, String> {
        let (w, clock) = (&self.w, SystemClock);
        let user = UserId::from(format!("client{s}"));
        w.directory.add_to_group("clients", user.clone());
        let appended = w
            .store
            .append_inbound(NewInbound::new(
                w.line,
                ContactKey::Internal { user },
                "client",
                Body::text("hello"),
                clock.now(),
            ))
            .await
            .map_err(err)?;
        let manager = UserId::from(format!("op{:05}", s % self.operators));
        let item = create_item_for_bench(&w.apps, manager).await?;
        let link = AccountLink::new(
            w.line,
            appended.session.contact,
            "customers".into(),
            item,
            None,
            clock.now(),
        );
        w.store.put_account_link(&link).await.map_err(err)?;

        let session = appended.session;
        let start = Instant::now();
        let account = w
            .store
            .account_link(w.line, session.contact)
            .await
            .map_err(err)?;
        let ctx = RoutingContext::new(
            &self.line,
            &session,
            account.as_ref(),
            &*w.directory,
            &*w.apps,
        );
        let plan = self.router.plan(ctx).await.map_err(err)?;
        w.store
            .transition(
                session.id,
                Transition::Route {
                    expected_version: session.version,
                    plan,
                },
                clock.now(),
            )
            .await
            .map_err(err)?;
        Ok(start.elapsed().as_nanos() as f64)
    }
}

async fn create_item_for_bench(
    apps: &MemoryApps,
    manager: UserId,
) -> Result<chatlines_core::ItemId, String> {
    use chatlines_core::AppCatalog;
    let mut values = chatlines_core::FieldValues::new();
    values.insert("manager".into(), FieldValue::User(manager));
    apps.create_item(&"customers".into(), values)
        .await
        .map_err(err)
}
