//! Random sequences of what clients, operators and supervisors do, through
//! a `Hub` over a `MemoryStore` with the `RuleRouter`. After every step:
//!
//! * the roster's load of each operator equals their open assigned
//!   sessions on the line;
//! * nothing waits in the queue while someone could take it (least loaded:
//!   a present member of the operators group below capacity; round robin:
//!   any present member;
//!   first come: nothing is ever queued).

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Availability, Body, Error, Hub, LineConfig, LineId, RoutingRule, SessionId, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

const OPERATORS: usize = 4;
const CLIENTS: usize = 8;

#[derive(Clone, Debug)]
enum Step {
    /// A client writes (opens a session or continues theirs).
    Write(usize),
    /// The supervisor closes a session.
    Close(usize),
    /// A session's operator returns it to the queue.
    Return(usize),
    /// A session's operator hands it to another operator.
    Transfer(usize, usize),
    /// The supervisor assigns a session to an operator.
    Assign(usize, usize),
    /// An operator takes a session.
    Take(usize, usize),
    /// An operator's availability changes (and the hub is told).
    Availability(usize, Availability),
    /// The administrator changes the line's routing rule.
    Reconfigure(RoutingRule),
    /// An operator joins or leaves the operators group (and the hub is told).
    Membership(usize, bool),
}

fn availability() -> impl Strategy<Value = Availability> {
    prop_oneof![
        2 => Just(Availability::Present),
        1 => Just(Availability::Absent),
        1 => Just(Availability::Blocked),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..CLIENTS).prop_map(Step::Write),
        2 => any::<usize>().prop_map(Step::Close),
        1 => any::<usize>().prop_map(Step::Return),
        1 => (any::<usize>(), 0..OPERATORS).prop_map(|(s, o)| Step::Transfer(s, o)),
        1 => (any::<usize>(), 0..OPERATORS).prop_map(|(s, o)| Step::Assign(s, o)),
        1 => (any::<usize>(), 0..OPERATORS).prop_map(|(s, o)| Step::Take(s, o)),
        2 => (0..OPERATORS, availability()).prop_map(|(o, a)| Step::Availability(o, a)),
        1 => rule().prop_map(Step::Reconfigure),
        1 => (0..OPERATORS, any::<bool>()).prop_map(|(o, m)| Step::Membership(o, m)),
    ]
}

fn rule() -> impl Strategy<Value = RoutingRule> {
    prop_oneof![
        Just(RoutingRule::FirstCome),
        Just(RoutingRule::RoundRobin),
        (1u32..3).prop_map(|capacity| RoutingRule::LeastLoaded { capacity }),
    ]
}

fn op(i: usize) -> UserId {
    UserId::new(format!("op{i}"))
}

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

/// Refusals a random step may meet; anything else fails the case.
fn refused(r: Result<impl std::fmt::Debug, Error>) -> Result<(), TestCaseError> {
    match r {
        // `NotFound`: the caller no longer sees the session (an operator
        // who left the group), which answers as a missing one.
        Ok(_)
        | Err(
            Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::InvalidInput { .. }
            | Error::SessionClosed { .. }
            | Error::InvalidState { .. }
            | Error::AlreadyTaken { .. },
        ) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

struct Model {
    hub: Hub,
    store: Arc<MemoryStore>,
    dir: Arc<MemoryDirectory>,
    line: LineId,
    rule: RoutingRule,
    availability: Vec<Availability>,
    member: Vec<bool>,
    sessions: Vec<SessionId>,
}

impl Model {
    async fn new(rule: RoutingRule, initial: Vec<Availability>) -> Result<Self, TestCaseError> {
        let dir = Arc::new(MemoryDirectory::new());
        dir.add_admin("root");
        dir.add_to_group("sups", "sue");
        for (i, a) in initial.iter().enumerate() {
            dir.add_to_group("ops", op(i));
            dir.set_availability(op(i), *a);
        }
        for c in 0..CLIENTS {
            dir.add_to_group("clients", format!("c{c}").as_str());
        }
        let store = Arc::new(MemoryStore::new());
        let hub = Hub::builder(
            store.clone(),
            dir.clone(),
            Arc::new(MemoryApps::new()),
            Arc::new(RuleRouter::new()),
        )
        .build();
        let line = hub
            .create_line(
                &UserId::new("root"),
                LineConfig::new("Line")
                    .operators("ops")
                    .supervisors("sups")
                    .client(Audience::Group("clients".into()))
                    .rule(rule.clone()),
            )
            .await
            .map_err(fail)?;
        Ok(Self {
            hub,
            store,
            dir,
            line: line.id,
            rule,
            member: vec![true; initial.len()],
            availability: initial,
            sessions: Vec::new(),
        })
    }

    fn pick(&self, i: usize) -> Option<SessionId> {
        (!self.sessions.is_empty()).then(|| self.sessions[i % self.sessions.len()])
    }

    async fn operator_of(&self, s: SessionId) -> Result<Option<UserId>, TestCaseError> {
        Ok(self
            .store
            .session(s)
            .await
            .map_err(fail)?
            .and_then(|s| s.operator().cloned()))
    }

    async fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let sue = UserId::new("sue");
        match step {
            Step::Write(c) => {
                let posted = self
                    .hub
                    .write(&UserId::new(format!("c{c}")), self.line, Body::text("hi"))
                    .await
                    .map_err(fail)?;
                if posted.opened {
                    self.sessions.push(posted.session.id);
                }
            }
            Step::Close(i) => {
                if let Some(s) = self.pick(*i) {
                    refused(self.hub.close(&sue, s).await)?;
                }
            }
            Step::Return(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        let r = self.hub.return_to_queue(&who, s).await;
                        if let Ok(back) = &r {
                            // Not routed straight back to who returned it.
                            prop_assert_ne!(back.operator(), Some(&who));
                        }
                        refused(r)?;
                    }
                }
            }
            Step::Transfer(i, to) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        refused(self.hub.transfer_to(&who, s, &op(*to)).await)?;
                    }
                }
            }
            Step::Assign(i, to) => {
                if let Some(s) = self.pick(*i) {
                    refused(self.hub.assign(&sue, s, &op(*to)).await)?;
                }
            }
            Step::Take(i, who) => {
                if let Some(s) = self.pick(*i) {
                    refused(self.hub.take(&op(*who), s).await)?;
                }
            }
            Step::Reconfigure(rule) => {
                let line = self
                    .store
                    .line(self.line)
                    .await
                    .map_err(fail)?
                    .ok_or_else(|| fail("the line vanished"))?;
                self.hub
                    .update_line(
                        &UserId::new("root"),
                        self.line,
                        line.version,
                        line.config.clone().rule(rule.clone()),
                    )
                    .await
                    .map_err(fail)?;
                self.rule = rule.clone();
            }
            Step::Membership(who, member) => {
                self.member[*who] = *member;
                if *member {
                    self.dir.add_to_group("ops", op(*who));
                } else {
                    self.dir.remove_from_group(&"ops".into(), &op(*who));
                }
                self.hub
                    .availability_changed(&op(*who))
                    .await
                    .map_err(fail)?;
            }
            Step::Availability(who, a) => {
                self.availability[*who] = *a;
                self.dir.set_availability(op(*who), *a);
                self.hub
                    .availability_changed(&op(*who))
                    .await
                    .map_err(fail)?;
            }
        }
        Ok(())
    }

    async fn check(&self, step: &Step) -> Result<(), TestCaseError> {
        let roster = self.store.roster(self.line).await.map_err(fail)?;
        let mut load: HashMap<UserId, u32> = HashMap::new();
        for i in 0..self.availability.len() {
            let mine = self
                .store
                .assigned_sessions(&op(i), None, usize::MAX)
                .await
                .map_err(fail)?;
            let on_line = mine.iter().filter(|s| s.line == self.line).count();
            load.insert(op(i), u32::try_from(on_line).map_err(fail)?);
        }
        for e in &roster {
            let actual = load.get(&e.user).copied().unwrap_or(0);
            prop_assert_eq!(e.load, actual, "roster {:?} after {:?}", roster, step);
        }
        let queued = self
            .store
            .queued_sessions(self.line, 1000)
            .await
            .map_err(fail)?;
        if queued.is_empty() {
            return Ok(());
        }
        let present: Vec<UserId> = (0..self.availability.len())
            .filter(|i| self.member[*i] && self.availability[*i] == Availability::Present)
            .map(op)
            .collect();
        match &self.rule {
            RoutingRule::FirstCome => {
                return Err(fail(format!("first come queued {queued:?} after {step:?}")));
            }
            RoutingRule::RoundRobin => prop_assert!(
                present.is_empty(),
                "{} queued while {:?} are present, after {:?}",
                queued.len(),
                present,
                step
            ),
            RoutingRule::LeastLoaded { capacity } => {
                for p in &present {
                    let l = load.get(p).copied().unwrap_or(0);
                    prop_assert!(
                        l >= *capacity,
                        "{} queued while {} has {} of {}, after {:?}",
                        queued.len(),
                        p,
                        l,
                        capacity,
                        step
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn nothing_waits_while_someone_could_take_it(
        rule in rule(),
        initial in prop::collection::vec(availability(), OPERATORS),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(fail)?;
        rt.block_on(async {
            let mut m = Model::new(rule, initial).await?;
            for step in &steps {
                m.apply(step).await?;
                m.check(step).await?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Slots freed by closes racing with new sessions are never lost: once
    /// everything settles, nothing is queued while a present operator is
    /// below capacity, and nobody is above it.
    #[test]
    fn concurrent_closes_and_writes_lose_no_slot(
        operators in 1usize..4,
        capacity in 1u32..3,
        waiting in 0usize..4,
        closes in 0usize..6,
        writes in 0usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(fail)?;
        rt.block_on(async {
            let initial = vec![Availability::Present; operators];
            let rule = RoutingRule::LeastLoaded { capacity };
            let mut m = Model::new(rule, initial).await?;
            let cap = usize::try_from(capacity).map_err(fail)?;
            let full = operators * cap;
            // Fill every slot, then some wait.
            let mut client = 0;
            for _ in 0..(full + waiting).min(CLIENTS) {
                m.apply(&Step::Write(client)).await?;
                client += 1;
            }
            let assigned: Vec<SessionId> = {
                let mut v = Vec::new();
                for i in 0..operators {
                    v.extend(
                        m.store
                            .assigned_sessions(&op(i), None, usize::MAX)
                            .await
                            .map_err(fail)?
                            .into_iter()
                            .map(|s| s.id),
                    );
                }
                v
            };
            let mut tasks = Vec::new();
            for s in assigned.into_iter().take(closes) {
                let hub = m.hub.clone();
                tasks.push(tokio::spawn(async move {
                    hub.close(&UserId::new("sue"), s).await.map(|_| ())
                }));
            }
            for _ in 0..writes {
                if client >= CLIENTS {
                    break;
                }
                let hub = m.hub.clone();
                let line = m.line;
                let who = UserId::new(format!("c{client}"));
                client += 1;
                tasks.push(tokio::spawn(async move {
                    hub.write(&who, line, Body::text("hi")).await.map(|_| ())
                }));
            }
            for t in tasks {
                t.await.map_err(fail)?.map_err(fail)?;
            }
            for i in 0..operators {
                let n = m.store.assigned_sessions(&op(i), None, usize::MAX).await.map_err(fail)?.len();
                prop_assert!(n <= cap, "{} has {} > {}", op(i), n, cap);
            }
            m.check(&Step::Write(0)).await
        })?;
    }
}
