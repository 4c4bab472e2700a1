//! Random sequences of what clients and operators do, with the clock
//! jumping, through a `Hub` over a `MemoryStore` with the `RuleRouter` on a
//! line with an offer timeout and an offline grace period. Time is a
//! `ManualClock`; a clock jump advances it one timer-worker period at a
//! time and calls `Hub::run_due` after each, as the worker does.
//!
//! After every step:
//!
//! * no timer is left due after a `run_due`;
//! * every offered session has its offer timeout armed, due no later than
//!   one timeout from now and no earlier than one period ago: nothing stays
//!   offered past its timeout plus one period unseen;
//! * nothing waits in the queue while an eligible operator exists (least
//!   loaded: a present member below capacity; round robin: any present
//!   member; first come: nothing is ever queued);
//! * no absent operator holds a session past the grace period plus one
//!   period, and a blocked one holds none;
//! * a client who wrote is never with an operator who is not present.

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Availability, Body, Clock, Error, Hub, LineConfig, LineId, ManualClock, RoutingRule,
    SessionId, SessionState, TimerKind, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::MemoryStore;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use std::sync::Arc;

const OPERATORS: usize = 3;
const CLIENTS: usize = 6;
/// The line's offer timeout.
const OFFER_TIMEOUT: i64 = 60;
/// The line's offline grace period.
const GRACE: i64 = 120;
/// The timer worker's period: `run_due` runs once per period.
const PERIOD: i64 = 5;

#[derive(Clone, Debug)]
enum Step {
    /// A client writes (opens a session or continues theirs).
    Write(usize),
    /// An operator takes a session.
    Take(usize, usize),
    /// A session's operator replies.
    Reply(usize),
    /// A session's operator closes it.
    Close(usize),
    /// An operator's availability changes (and the hub is told).
    Availability(usize, Availability),
    /// The clock jumps this many seconds, one period at a time.
    Advance(i64),
}

fn availability() -> impl Strategy<Value = Availability> {
    prop_oneof![
        2 => Just(Availability::Present),
        2 => Just(Availability::Absent),
        1 => Just(Availability::Blocked),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..CLIENTS).prop_map(Step::Write),
        2 => (any::<usize>(), 0..OPERATORS).prop_map(|(s, o)| Step::Take(s, o)),
        1 => any::<usize>().prop_map(Step::Reply),
        2 => any::<usize>().prop_map(Step::Close),
        3 => (0..OPERATORS, availability()).prop_map(|(o, a)| Step::Availability(o, a)),
        4 => (1i64..400).prop_map(Step::Advance),
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
        Ok(_)
        | Err(
            Error::Forbidden { .. }
            | Error::NotFound { .. }
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
    clock: Arc<ManualClock>,
    line: LineId,
    rule: RoutingRule,
    availability: Vec<Availability>,
    /// Since when each operator has been absent (not blocked).
    absent_since: Vec<Option<DateTime<Utc>>>,
    sessions: Vec<SessionId>,
    /// When `run_due` last ran.
    last_run: DateTime<Utc>,
}

impl Model {
    async fn new(rule: RoutingRule, initial: Vec<Availability>) -> Result<Self, TestCaseError> {
        let clock = Arc::new(ManualClock::default());
        let dir = Arc::new(MemoryDirectory::new());
        dir.add_admin("root");
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
        .clock(clock.clone())
        .build();
        let line = hub
            .create_line(
                &UserId::new("root"),
                LineConfig::new("Line")
                    .operators("ops")
                    .client(Audience::Group("clients".into()))
                    .rule(rule.clone())
                    .offer_timeout(secs(OFFER_TIMEOUT))
                    .offline_grace(secs(GRACE)),
            )
            .await
            .map_err(fail)?;
        let now = clock.now();
        // Absent from the start counts as absent since the start.
        let absent_since = initial
            .iter()
            .map(|a| (*a == Availability::Absent).then_some(now))
            .collect();
        Ok(Self {
            hub,
            store,
            dir,
            last_run: now,
            clock,
            line: line.id,
            rule,
            availability: initial,
            absent_since,
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

    fn presence(&self, who: &UserId) -> Availability {
        (0..OPERATORS)
            .find(|i| op(*i) == *who)
            .map_or(Availability::Absent, |i| self.availability[i])
    }

    async fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
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
                if let Some(who) = posted.session.operator() {
                    prop_assert_eq!(
                        self.presence(who),
                        Availability::Present,
                        "the client of {} was left with {}",
                        posted.session.id,
                        who
                    );
                }
            }
            Step::Take(i, who) => {
                if let Some(s) = self.pick(*i) {
                    refused(self.hub.take(&op(*who), s).await)?;
                }
            }
            Step::Reply(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        refused(self.hub.reply(&who, s, Body::text("answer")).await)?;
                    }
                }
            }
            Step::Close(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        refused(self.hub.close(&who, s).await)?;
                    }
                }
            }
            Step::Availability(who, a) => {
                let was = self.availability[*who];
                self.availability[*who] = *a;
                if *a != Availability::Absent {
                    self.absent_since[*who] = None;
                } else if was != Availability::Absent {
                    self.absent_since[*who] = Some(self.clock.now());
                }
                self.dir.set_availability(op(*who), *a);
                self.hub
                    .availability_changed(&op(*who))
                    .await
                    .map_err(fail)?;
            }
            Step::Advance(by) => {
                let mut left = *by;
                while left > 0 {
                    let jump = left.min(PERIOD);
                    left -= jump;
                    self.clock.advance(Duration::seconds(jump));
                    let now = self.clock.now();
                    loop {
                        let report = self.hub.run_due(now, 1000).await.map_err(fail)?;
                        if report.claimed < 1000 {
                            break;
                        }
                    }
                    self.last_run = now;
                    let due = self.store.due_timers(now).await.map_err(fail)?;
                    prop_assert_eq!(due, 0, "timers left due at {} after run_due", now);
                }
            }
        }
        Ok(())
    }

    async fn check(&self, step: &Step) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        let period = Duration::seconds(PERIOD);

        // Offered sessions have their timeout armed and not overdue.
        let offered = self
            .store
            .line_sessions(self.line, Some(SessionState::Offered), None, 1000)
            .await
            .map_err(fail)?;
        for s in &offered {
            let timers = self
                .store
                .session_timers(s.session.id)
                .await
                .map_err(fail)?;
            let offer = timers
                .iter()
                .find(|t| t.kind == TimerKind::OfferTimeout)
                .ok_or_else(|| fail(format!("{} offered without a timeout", s.session.id)))?;
            prop_assert!(
                offer.due_at > self.last_run - period
                    && offer.due_at <= now + Duration::seconds(OFFER_TIMEOUT),
                "{} offered, its timeout due at {} at {}, after {:?}",
                s.session.id,
                offer.due_at,
                now,
                step
            );
        }

        // Absent operators hold nothing past the grace period; blocked
        // ones hold nothing.
        for i in 0..OPERATORS {
            let held = self
                .store
                .assigned_sessions(&op(i), None, usize::MAX)
                .await
                .map_err(fail)?;
            match self.availability[i] {
                Availability::Blocked => {
                    prop_assert!(held.is_empty(), "blocked {} holds {:?}", op(i), held)
                }
                Availability::Absent => {
                    let since = self.absent_since[i].ok_or_else(|| fail("absent since when?"))?;
                    if self.last_run >= since + Duration::seconds(GRACE) {
                        prop_assert!(
                            held.is_empty(),
                            "{} absent since {} holds {} session(s) at {}, after {:?}",
                            op(i),
                            since,
                            held.len(),
                            self.last_run,
                            step
                        );
                    }
                }
                Availability::Present => {}
            }
        }

        // Nothing queued while an eligible operator exists.
        let queued = self
            .store
            .queued_sessions(self.line, 1000)
            .await
            .map_err(fail)?;
        if queued.is_empty() {
            return Ok(());
        }
        let present: Vec<usize> = (0..OPERATORS)
            .filter(|i| self.availability[*i] == Availability::Present)
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
                for p in present {
                    let held = self
                        .store
                        .assigned_sessions(&op(p), None, usize::MAX)
                        .await
                        .map_err(fail)?
                        .len();
                    prop_assert!(
                        held >= usize::try_from(*capacity).map_err(fail)?,
                        "{} queued while {} holds {} of {}, after {:?}",
                        queued.len(),
                        op(p),
                        held,
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

fn secs(n: i64) -> std::time::Duration {
    std::time::Duration::from_secs(n.unsigned_abs())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The time property of the line: offers, queues and absent operators
    /// never outlast their timeout, grace period or a free operator.
    #[test]
    fn nothing_outlasts_its_timeout_or_grace_period(
        rule in rule(),
        initial in prop::collection::vec(availability(), OPERATORS),
        steps in prop::collection::vec(step(), 1..60),
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
