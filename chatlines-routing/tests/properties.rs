//! Properties of the routing strategies, through a real `Hub` over a
//! `MemoryStore` with the `RuleRouter`, for random operator sets.
//!
//! * No strategy assigns an absent, blocked or non-member operator
//!   (Responsible: never an absent or blocked one).
//! * Round robin over `N` sessions and `k` present operators gives each
//!   `⌊N/k⌋` or `⌈N/k⌉`.
//! * Least loaded never exceeds capacity, also when sessions arrive
//!   concurrently; the rest wait in the queue.

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    AppSchema, Audience, Availability, FallbackCause, FieldDef, FieldKind, FieldValue, Hub, Line,
    LineConfig, RouteReason, RoutingRule, Session, SessionStatus, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const OPS: &str = "ops";
const SUPS: &str = "sups";
const CLIENTS: &str = "clients";
const APP: &str = "accounts";

/// One generated person who might be picked.
#[derive(Clone, Debug)]
struct Op {
    availability: Availability,
    member: bool,
}

fn availability() -> impl Strategy<Value = Availability> {
    prop_oneof![
        2 => Just(Availability::Present),
        1 => Just(Availability::Absent),
        1 => Just(Availability::Blocked),
    ]
}

fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (availability(), prop::bool::weighted(0.75)).prop_map(|(availability, member)| Op {
            availability,
            member,
        }),
        1..max,
    )
}

fn name(i: usize) -> UserId {
    UserId::new(format!("op{i:02}"))
}

fn client(i: usize) -> UserId {
    UserId::new(format!("client{i:03}"))
}

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

struct World {
    hub: Hub,
    store: Arc<MemoryStore>,
    dir: Arc<MemoryDirectory>,
    apps: Arc<MemoryApps>,
    ops: Vec<Op>,
}

impl World {
    /// Operators `op00…` as generated (members of `ops` or of `others`),
    /// clients `client000…`, supervisor `sue`, admin `root`.
    fn new(ops: Vec<Op>, clients: usize) -> Self {
        let dir = Arc::new(MemoryDirectory::new());
        dir.add_admin("root");
        dir.add_group(OPS);
        dir.add_group("others");
        dir.add_to_group(SUPS, "sue");
        for (i, op) in ops.iter().enumerate() {
            dir.add_to_group(if op.member { OPS } else { "others" }, name(i));
            dir.set_availability(name(i), op.availability);
        }
        for i in 0..clients {
            dir.add_to_group(CLIENTS, client(i));
        }
        let apps = Arc::new(MemoryApps::new());
        apps.add_app(AppSchema::new(
            APP,
            "Accounts",
            vec![
                FieldDef::new("account", "Account", FieldKind::Account),
                FieldDef::new("manager", "Manager", FieldKind::User),
            ],
        ));
        let store = Arc::new(MemoryStore::new());
        let hub = Hub::builder(
            store.clone(),
            dir.clone(),
            apps.clone(),
            Arc::new(RuleRouter::new()),
        )
        .build();
        Self {
            hub,
            store,
            dir,
            apps,
            ops,
        }
    }

    async fn line(&self, rule: RoutingRule) -> Result<Line, TestCaseError> {
        let mut config = LineConfig::new("Line")
            .operators(OPS)
            .supervisors(SUPS)
            .client(Audience::Group(CLIENTS.into()))
            .rule(rule.clone());
        if matches!(rule, RoutingRule::Responsible { .. }) {
            config = config.account_app(APP);
        }
        self.hub
            .create_line(&UserId::new("root"), config)
            .await
            .map_err(fail)
    }

    fn op(&self, user: &UserId) -> Option<&Op> {
        let i: usize = user.as_str().strip_prefix("op")?.parse().ok()?;
        self.ops.get(i)
    }

    /// A group strategy may only assign a present member.
    fn check_group_assignment(&self, s: &Session) -> Result<(), TestCaseError> {
        if let Some(user) = s.operator() {
            let op = self
                .op(user)
                .ok_or_else(|| fail(format!("assigned to unknown {user}")))?;
            prop_assert!(op.member, "{user} is not a member: {s:?}");
            prop_assert_eq!(op.availability, Availability::Present, "{:?}", s);
        }
        Ok(())
    }

    async fn open_sessions(&self, line: &Line) -> Result<Vec<Session>, TestCaseError> {
        let mut out = self
            .store
            .queued_sessions(line.id, 10_000)
            .await
            .map_err(fail)?;
        out.extend(
            self.store
                .offered_sessions(line.id, 10_000)
                .await
                .map_err(fail)?,
        );
        for i in 0..self.ops.len() {
            out.extend(
                self.store
                    .assigned_sessions(&name(i), None, usize::MAX)
                    .await
                    .map_err(fail)?,
            );
        }
        Ok(out)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, TestCaseError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(fail)
}

fn group_rule() -> impl Strategy<Value = RoutingRule> {
    prop_oneof![
        Just(RoutingRule::FirstCome),
        Just(RoutingRule::RoundRobin),
        (1u32..4).prop_map(|capacity| RoutingRule::LeastLoaded { capacity }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// First come, round robin and least loaded never assign an absent,
    /// blocked or non-member operator — neither when a session opens nor
    /// when availability changes hand out queued sessions.
    #[test]
    fn group_strategies_assign_only_present_members(
        ops in ops(8),
        rule in group_rule(),
        sessions in 1usize..16,
        changes in prop::collection::vec((0usize..8, availability()), 0..6),
    ) {
        runtime()?.block_on(async {
            let mut w = World::new(ops, sessions + 8);
            let line = w.line(rule.clone()).await?;
            for i in 0..sessions {
                let posted = w
                    .hub
                    .write(&client(i), line.id, chatlines_core::Body::text("hi"))
                    .await
                    .map_err(fail)?;
                w.check_group_assignment(&posted.session)?;
                if rule == RoutingRule::FirstCome {
                    prop_assert_eq!(&posted.session.status, &SessionStatus::Offered);
                }
            }
            // Availability changes hand queued sessions out; check every
            // session that changed hands at each step.
            for (k, (who, now)) in changes.into_iter().enumerate() {
                let who = who % w.ops.len();
                let before: HashMap<_, _> = w
                    .open_sessions(&line)
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s.status))
                    .collect();
                w.ops[who].availability = now;
                w.dir.set_availability(name(who), now);
                w.hub.availability_changed(&name(who)).await.map_err(fail)?;
                // A few more clients write after the change.
                let extra = w
                    .hub
                    .write(&client(sessions + k), line.id, chatlines_core::Body::text("hi"))
                    .await
                    .map_err(fail)?;
                w.check_group_assignment(&extra.session)?;
                for s in w.open_sessions(&line).await? {
                    if before.get(&s.id) != Some(&s.status) {
                        w.check_group_assignment(&s)?;
                    }
                }
            }
            Ok(())
        })?;
    }

    /// Responsible assigns the employee in the field when present, and
    /// otherwise falls back to first come with the right cause; it never
    /// assigns an absent or blocked one.
    #[test]
    fn responsible_never_assigns_an_absent_or_blocked_employee(
        ops in ops(8),
        managers in prop::collection::vec(prop::option::of(0usize..10), 1..8),
    ) {
        runtime()?.block_on(async {
            let w = World::new(ops, managers.len());
            let line = w
                .line(RoutingRule::Responsible { field: "manager".into() })
                .await?;
            let sue = UserId::new("sue");
            for (i, manager) in managers.iter().enumerate() {
                // First session: no account yet.
                let first = w
                    .hub
                    .write(&client(i), line.id, chatlines_core::Body::text("hi"))
                    .await
                    .map_err(fail)?
                    .session;
                prop_assert_eq!(&first.status, &SessionStatus::Offered);
                prop_assert_eq!(
                    &first.reason,
                    &RouteReason::ResponsibleFallback { cause: FallbackCause::NoLinkedAccount }
                );
                // Indexes past the generated operators name users the
                // directory does not list (the memory directory reports them
                // present); `None` leaves the field empty.
                let manager = manager.map(name);
                let mut values = chatlines_core::FieldValues::new();
                if let Some(m) = &manager {
                    values.insert("manager".into(), FieldValue::User(m.clone()));
                }
                let item = w.apps.add_item(&APP.into(), values);
                w.hub.link_existing_account(&sue, first.id, item).await.map_err(fail)?;
                w.hub.close(&sue, first.id).await.map_err(fail)?;

                let next = w
                    .hub
                    .write(&client(i), line.id, chatlines_core::Body::text("again"))
                    .await
                    .map_err(fail)?
                    .session;
                let availability = match &manager {
                    None => None,
                    Some(m) => Some(w.dir_availability(m).await?),
                };
                match (availability, next.operator()) {
                    (Some(Availability::Present), Some(op)) => {
                        prop_assert_eq!(Some(op), manager.as_ref());
                        prop_assert_eq!(&next.reason, &RouteReason::Responsible { field: "manager".into() });
                    }
                    (Some(Availability::Present), None) => {
                        return Err(fail(format!("present manager not assigned: {next:?}")));
                    }
                    (_, Some(op)) => {
                        return Err(fail(format!("assigned {op} though the manager is {availability:?}")));
                    }
                    (other, None) => {
                        let cause = match other {
                            None => FallbackCause::FieldEmpty,
                            Some(Availability::Absent) => FallbackCause::Absent,
                            Some(_) => FallbackCause::Blocked,
                        };
                        prop_assert_eq!(&next.status, &SessionStatus::Offered);
                        prop_assert_eq!(&next.reason, &RouteReason::ResponsibleFallback { cause });
                    }
                }
            }
            Ok(())
        })?;
    }

    /// Round robin over N sessions and k present members: each gets
    /// ⌊N/k⌋ or ⌈N/k⌉, and nobody else gets any.
    #[test]
    fn round_robin_is_fair(
        present in 1usize..6,
        others in prop::collection::vec((availability(), any::<bool>()), 0..4),
        sessions in 1usize..30,
    ) {
        runtime()?.block_on(async {
            // The present members first, then others that are absent,
            // blocked, or not members (a present non-member included).
            let mut ops: Vec<Op> = (0..present)
                .map(|_| Op { availability: Availability::Present, member: true })
                .collect();
            for (availability, member) in others {
                let member = member && availability != Availability::Present;
                ops.push(Op { availability, member });
            }
            let w = World::new(ops, sessions);
            let line = w.line(RoutingRule::RoundRobin).await?;
            let mut counts: BTreeMap<UserId, usize> = BTreeMap::new();
            for i in 0..sessions {
                let s = w
                    .hub
                    .write(&client(i), line.id, chatlines_core::Body::text("hi"))
                    .await
                    .map_err(fail)?
                    .session;
                w.check_group_assignment(&s)?;
                let op = s.operator().ok_or_else(|| fail(format!("not assigned: {s:?}")))?;
                *counts.entry(op.clone()).or_default() += 1;
            }
            let floor = sessions / present;
            let ceil = sessions.div_ceil(present);
            prop_assert!(counts.len() <= present);
            for i in 0..present {
                let c = counts.get(&name(i)).copied().unwrap_or(0);
                prop_assert!(c == floor || c == ceil, "{} got {} of {} ({:?})", name(i), c, sessions, counts);
            }
            Ok(())
        })?;
    }

    /// Round robin stays fair when the sessions open concurrently: the
    /// rotation cursor advances in the same atomic step as the assignment.
    #[test]
    fn round_robin_is_fair_under_concurrency(
        present in 1usize..5,
        sessions in 1usize..24,
    ) {
        runtime()?.block_on(async {
            let ops = (0..present)
                .map(|_| Op { availability: Availability::Present, member: true })
                .collect();
            let w = World::new(ops, sessions);
            let line = w.line(RoutingRule::RoundRobin).await?;
            let mut tasks = Vec::new();
            for i in 0..sessions {
                let hub = w.hub.clone();
                let line = line.id;
                tasks.push(tokio::spawn(async move {
                    hub.write(&client(i), line, chatlines_core::Body::text("hi")).await
                }));
            }
            let mut counts: BTreeMap<UserId, usize> = BTreeMap::new();
            for t in tasks {
                let s = t.await.map_err(fail)?.map_err(fail)?.session;
                let op = s.operator().ok_or_else(|| fail(format!("not assigned: {s:?}")))?;
                *counts.entry(op.clone()).or_default() += 1;
            }
            let (floor, ceil) = (sessions / present, sessions.div_ceil(present));
            for i in 0..present {
                let c = counts.get(&name(i)).copied().unwrap_or(0);
                prop_assert!(c == floor || c == ceil, "{} got {} of {} ({:?})", name(i), c, sessions, counts);
            }
            Ok(())
        })?;
    }

    /// Least loaded never pushes anyone over capacity, even with many
    /// sessions opened concurrently; what does not fit waits queued.
    #[test]
    fn least_loaded_respects_capacity_under_concurrency(
        ops in ops(6),
        capacity in 1u32..4,
        sessions in 1usize..24,
    ) {
        runtime()?.block_on(async {
            let w = World::new(ops, sessions);
            let line = w.line(RoutingRule::LeastLoaded { capacity }).await?;
            let mut tasks = Vec::new();
            for i in 0..sessions {
                let hub = w.hub.clone();
                let line = line.id;
                tasks.push(tokio::spawn(async move {
                    hub.write(&client(i), line, chatlines_core::Body::text("hi")).await
                }));
            }
            for t in tasks {
                let posted = t.await.map_err(fail)?.map_err(fail)?;
                w.check_group_assignment(&posted.session)?;
            }
            let cap = usize::try_from(capacity).map_err(fail)?;
            let eligible = w
                .ops
                .iter()
                .filter(|o| o.member && o.availability == Availability::Present)
                .count();
            let mut assigned = 0;
            for i in 0..w.ops.len() {
                let mine = w.store.assigned_sessions(&name(i), None, usize::MAX).await.map_err(fail)?;
                prop_assert!(mine.len() <= cap, "{} has {} > {}", name(i), mine.len(), cap);
                for s in &mine {
                    w.check_group_assignment(s)?;
                }
                assigned += mine.len();
            }
            let queued = w.store.queued_sessions(line.id, 10_000).await.map_err(fail)?;
            prop_assert_eq!(assigned, sessions.min(eligible * cap));
            prop_assert_eq!(queued.len(), sessions - assigned);
            prop_assert!(queued
                .iter()
                .all(|s| s.reason == RouteReason::NoOperatorAvailable));
            // The roster agrees with the sessions.
            for e in w.store.roster(line.id).await.map_err(fail)? {
                prop_assert!(e.load <= capacity, "{:?}", e);
            }
            Ok(())
        })?;
    }
}

impl World {
    async fn dir_availability(&self, user: &UserId) -> Result<Availability, TestCaseError> {
        use chatlines_core::Directory;
        self.dir.availability(user).await.map_err(fail)
    }
}
