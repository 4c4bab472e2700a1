//! Differential property test: random sequences of session transitions and
//! roster changes, on random rosters, applied to each store give the same
//! sessions, loads, round-robin picks, refusals and events as core's
//! machine alone (a model that answers the roster questions from a plain
//! map and calls `machine::decide`).
#![cfg(feature = "testkit")]

#[cfg(feature = "postgres")]
mod postgres_support;

use chatlines_core::machine::{self, RosterQuestion};
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Event, EventPosition, LineId, RoutePlan, RouteReason, Session, SessionId, StoreError,
    Transition, UserId,
};
use chatlines_store::testkit::fixtures::{at, new_line, new_session};
use chatlines_store::MemoryStore;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

const USERS: usize = 4;
const SESSIONS: usize = 3;

fn user(i: usize) -> UserId {
    UserId::new(format!("u{i}"))
}

/// One step of a scenario; indexes pick users and sessions.
#[derive(Clone, Debug)]
enum Op {
    Route {
        session: usize,
        plan: u8,
        user: usize,
        capacity: u32,
        stale: bool,
    },
    Take {
        session: usize,
        user: usize,
    },
    Assign {
        session: usize,
        user: usize,
    },
    Transfer {
        session: usize,
        from: usize,
        to: usize,
    },
    Return {
        session: usize,
        from: usize,
    },
    Close {
        session: usize,
        by: Option<usize>,
    },
    SetEligible {
        user: usize,
        eligible: bool,
    },
    ReplaceRoster {
        eligible: Vec<bool>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SESSIONS;
    let u = 0..USERS;
    prop_oneof![
        4 => (s.clone(), 0u8..5, u.clone(), 0u32..3, proptest::bool::weighted(0.15))
            .prop_map(|(session, plan, user, capacity, stale)| Op::Route { session, plan, user, capacity, stale }),
        3 => (s.clone(), u.clone()).prop_map(|(session, user)| Op::Take { session, user }),
        1 => (s.clone(), u.clone()).prop_map(|(session, user)| Op::Assign { session, user }),
        2 => (s.clone(), u.clone(), u.clone()).prop_map(|(session, from, to)| Op::Transfer { session, from, to }),
        2 => (s.clone(), u.clone()).prop_map(|(session, from)| Op::Return { session, from }),
        1 => (s.clone(), proptest::option::of(u.clone())).prop_map(|(session, by)| Op::Close { session, by }),
        2 => (u.clone(), any::<bool>()).prop_map(|(user, eligible)| Op::SetEligible { user, eligible }),
        1 => proptest::collection::vec(any::<bool>(), USERS).prop_map(|eligible| Op::ReplaceRoster { eligible }),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<bool>, Vec<Op>)> {
    (
        proptest::collection::vec(any::<bool>(), USERS),
        proptest::collection::vec(op(), 1..40),
    )
}

/// Core alone: sessions, a roster as a map, the cursor, the events.
#[derive(Default)]
struct Model {
    sessions: BTreeMap<SessionId, Session>,
    roster: BTreeMap<UserId, (bool, u32)>,
    cursor: Option<UserId>,
}

impl Model {
    fn answer(&self, question: Option<RosterQuestion>) -> Option<UserId> {
        let eligible = self.roster.iter().filter(|(_, (e, _))| *e);
        match question {
            Some(RosterQuestion::NextAfterCursor { excluding }) => {
                let mut users = eligible
                    .map(|(u, _)| u.clone())
                    .filter(|u| !excluding.contains(u));
                let all: Vec<UserId> = users.by_ref().collect();
                self.cursor
                    .as_ref()
                    .and_then(|c| all.iter().find(|u| *u > c).cloned())
                    .or_else(|| all.first().cloned())
            }
            Some(RosterQuestion::LeastLoaded {
                capacity,
                excluding,
            }) => eligible
                .filter(|(u, (_, load))| *load < capacity && !excluding.contains(u))
                .min_by_key(|(u, (_, load))| (*load, (*u).clone()))
                .map(|(u, _)| u.clone()),
            _ => None,
        }
    }

    fn transition(
        &mut self,
        id: SessionId,
        change: &Transition,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Result<Session, String>, Vec<Event>) {
        let current = &self.sessions[&id];
        let answer = self.answer(machine::roster_question(current, change));
        match machine::decide(
            current,
            change,
            now,
            answer.as_ref(),
            &chatlines_core::TimerSettings::default(),
        ) {
            Err(e) => (Err(refusal(&e)), Vec::new()),
            Ok(c) => {
                for load in &c.loads {
                    let slot = self.roster.entry(load.user.clone()).or_insert((false, 0));
                    slot.1 = if load.delta > 0 {
                        slot.1.saturating_add(1)
                    } else {
                        slot.1.saturating_sub(1)
                    };
                }
                if let Some(u) = c.cursor {
                    self.cursor = Some(u);
                }
                self.sessions.insert(id, c.session.clone());
                (Ok(c.session), c.events)
            }
        }
    }

    /// Eligible creates the entry; ineligible only changes an existing one.
    fn set_eligible(&mut self, user: UserId, eligible: bool) {
        if eligible {
            self.roster.entry(user).or_insert((false, 0)).0 = true;
        } else if let Some(slot) = self.roster.get_mut(&user) {
            slot.0 = false;
        }
    }

    fn replace(&mut self, eligible: &[UserId]) {
        for slot in self.roster.values_mut() {
            slot.0 = false;
        }
        for u in eligible {
            self.set_eligible(u.clone(), true);
        }
    }

    fn roster(&self) -> Vec<(UserId, bool, u32)> {
        self.roster
            .iter()
            .map(|(u, (e, l))| (u.clone(), *e, *l))
            .collect()
    }
}

/// A refusal as compared: its variant and fields.
fn refusal(e: &StoreError) -> String {
    format!("{e:?}")
}

fn plan(code: u8, user: UserId, capacity: u32) -> RoutePlan {
    match code {
        0 => RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        },
        1 => RoutePlan::Queue {
            reason: RouteReason::NoOperatorAvailable,
        },
        2 => RoutePlan::Assign {
            operator: user,
            reason: RouteReason::Responsible {
                field: chatlines_core::FieldId::new("manager"),
            },
        },
        3 => RoutePlan::RoundRobin,
        _ => RoutePlan::LeastLoaded { capacity },
    }
}

async fn store_events(store: &dyn Store, after: &mut EventPosition) -> Vec<Event> {
    let page = store
        .events_after(*after, 10_000)
        .await
        .expect("events_after");
    if let Some(last) = page.last() {
        *after = last.position;
    }
    page.into_iter()
        .map(|e| e.into_event().expect("a readable event"))
        .collect()
}

async fn store_roster(store: &dyn Store, line: LineId) -> Vec<(UserId, bool, u32)> {
    store
        .roster(line)
        .await
        .expect("roster")
        .into_iter()
        .map(|r| (r.user, r.eligible, r.load))
        .collect()
}

/// Runs one scenario against `store` and the model, comparing every step.
async fn check(store: Arc<dyn Store>, initial: Vec<bool>, ops: Vec<Op>) {
    let store = &*store;
    let line = new_line(store, 1).await;
    let mut model = Model::default();
    let eligible: Vec<UserId> = (0..USERS).filter(|i| initial[*i]).map(user).collect();
    store
        .replace_roster(line.id, &eligible)
        .await
        .expect("replace_roster");
    model.replace(&eligible);
    let mut ids = Vec::new();
    for secs in 0..SESSIONS {
        let s = new_session(store, line.id, 2 + secs as i64).await;
        model.sessions.insert(s.id, s.clone());
        ids.push(s.id);
    }
    let mut position = EventPosition::START;
    store_events(store, &mut position).await;

    for (step, op) in ops.into_iter().enumerate() {
        let now = at(100 + step as i64);
        let what = format!("step {step}: {op:?}");
        let change = match &op {
            Op::SetEligible { user: u, eligible } => {
                store
                    .set_eligible(line.id, &user(*u), *eligible)
                    .await
                    .expect("set_eligible");
                model.set_eligible(user(*u), *eligible);
                None
            }
            Op::ReplaceRoster { eligible } => {
                let users: Vec<UserId> = (0..USERS).filter(|i| eligible[*i]).map(user).collect();
                store
                    .replace_roster(line.id, &users)
                    .await
                    .expect("replace_roster");
                model.replace(&users);
                None
            }
            Op::Route {
                session,
                plan: code,
                user: u,
                capacity,
                stale,
            } => {
                let version = model.sessions[&ids[*session]].version;
                let expected_version = if *stale {
                    version.saturating_sub(1)
                } else {
                    version
                };
                Some((
                    *session,
                    Transition::Route {
                        expected_version,
                        plan: plan(*code, user(*u), *capacity),
                    },
                ))
            }
            Op::Take { session, user: u } => {
                Some((*session, Transition::Take { operator: user(*u) }))
            }
            Op::Assign { session, user: u } => Some((
                *session,
                Transition::Assign {
                    operator: user(*u),
                    by: UserId::new("sup"),
                },
            )),
            Op::Transfer { session, from, to } => Some((
                *session,
                Transition::Transfer {
                    from: user(*from),
                    to: user(*to),
                },
            )),
            Op::Return { session, from } => {
                Some((*session, Transition::Return { from: user(*from) }))
            }
            Op::Close { session, by } => Some((
                *session,
                Transition::Close {
                    by_operator: by.map(user),
                },
            )),
        };
        let mut expected_events = Vec::new();
        if let Some((session, change)) = change {
            let id = ids[session];
            let (expected, events) = model.transition(id, &change, now);
            expected_events = events;
            let got = store
                .transition(id, change, now)
                .await
                .map_err(|e| refusal(&e));
            assert_eq!(got, expected, "{what}: the store and core disagree");
            let stored = store.session(id).await.expect("session").expect("stored");
            assert_eq!(stored, model.sessions[&id], "{what}: stored session");
        }
        assert_eq!(
            store_roster(store, line.id).await,
            model.roster(),
            "{what}: roster and loads"
        );
        assert_eq!(
            store_events(store, &mut position).await,
            expected_events,
            "{what}: logged events"
        );
    }
}

fn run<Fresh, Fut>(cases: u32, fresh: Fresh)
where
    Fresh: Fn() -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |((initial, ops) in scenario())| {
        runtime.block_on(async {
            if let Some(store) = fresh().await {
                check(store, initial, ops).await;
            }
        });
    });
}

#[test]
fn memory_store_agrees_with_core() {
    run(128, || async {
        Some(Arc::new(MemoryStore::new()) as Arc<dyn Store>)
    });
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_agrees_with_core() {
    run(48, || async {
        let store = chatlines_store::SqliteStore::open_in_memory()
            .await
            .expect("open SQLite");
        Some(Arc::new(store) as Arc<dyn Store>)
    });
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_store_agrees_with_core() {
    if postgres_support::url().is_none() {
        postgres_support::skipped("postgres_store_agrees_with_core");
        return;
    }
    let schemas = std::sync::Mutex::new(Vec::new());
    run(24, || async {
        let url = postgres_support::url()?;
        let schema = postgres_support::fresh_schema();
        let config = chatlines_store::postgres::PostgresConfig::new(&url)
            .schema(&schema)
            .pool_size(2);
        let store = postgres_support::store_configured(config).await;
        schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((url, schema));
        Some(Arc::new(store) as Arc<dyn Store>)
    });
    let schemas = schemas
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (url, schema) in &schemas {
            postgres_support::drop_schema(url, schema).await;
        }
    });
}
