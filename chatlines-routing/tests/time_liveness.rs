//! Random sequences of what clients and operators do, with the clock
//! jumping, through a `Hub` over a `MemoryStore` with the `RuleRouter` on a
//! line with an offer timeout and an offline grace period, and, drawn at
//! random, an accept timeout (with or without `max_no_answer`), SLA targets
//! (first response, next response, resolution; with or without a warning)
//! and inactivity (with or without a warning; never-answered sessions
//! escalate or close). Time is a `ManualClock`; a clock jump advances it
//! one timer-worker period at a time and calls `Hub::run_due` after each,
//! as the worker does.
//!
//! The model keeps its own account of every session from the steps and
//! the clock (when an assignment started, when the client and the
//! operator last wrote, where each SLA clock started and stopped, each
//! operator's consecutive lapses) and reads the event log for what the
//! hub did. After every step, and after every `run_due` of a jump:
//!
//! * no timer is left due after a `run_due`;
//! * every offered session has its offer timeout armed, due no later than
//!   one timeout from now and no earlier than one period ago: nothing stays
//!   offered past its timeout plus one period unseen;
//! * nothing waits in the queue while an eligible operator exists (least
//!   loaded: a present member below capacity; round robin: any present
//!   member; first come: nothing is ever queued) — not counting operators
//!   set away, nor, for a session, those who let it lapse;
//! * no absent operator holds a session past the grace period plus one
//!   period, and a blocked one holds none;
//! * a client who wrote is never with an operator who is not present;
//! * accept timeout: no session a rule assigned stays with its operator
//!   unaccepted (no `Hub::accept`, no reply) past the timeout plus one
//!   period; a lapse (`SessionNotAccepted`) comes no earlier than the
//!   timeout, names the operator it was waiting for with their consecutive
//!   lapses, and the session leaves them (to another operator or the
//!   queue); a session leaves an operator it waits for without a lapse only
//!   when they are not present; an operator set away (`max_no_answer`
//!   lapses in a row, counted by the model) is never assigned by a rule
//!   until their availability changes;
//! * SLA: no open session has a clock running (by the model: started by a
//!   client message, not yet stopped by a reply or the close) whose due time
//!   lies at or before the last `run_due` without a recorded breach — the
//!   `SlaBreached` event, the clock's state `Breached` on the session, and
//!   the record in `Store::sla_breaches`; a breach is logged only by a
//!   `run_due`, for a clock still running, once, at its due time, and the
//!   store keeps exactly the breaches logged;
//! * inactivity: no session whose client has been silent since an
//!   operator's last message for the inactivity time, with an operator
//!   throughout, stays open after a `run_due`; a session no operator
//!   answered has escalated (once) or been closed, as the line says, by the
//!   first `run_due` one inactivity time after it opened; and the line
//!   never closes or escalates a session before its time.

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Availability, Body, Clock, CloseReason, Error, Event, EventPosition, Hub, LineConfig,
    LineId, ManualClock, NeverAnswered, RouteReason, RoutingRule, Session, SessionId, SessionState,
    SlaSettings, SlaState, SlaTarget, TimerKind, UserId,
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
/// The line's accept timeout, when on.
const ACCEPT_TIMEOUT: i64 = 45;
/// The line's SLA targets, when on.
const FIRST_RESPONSE: i64 = 90;
const NEXT_RESPONSE: i64 = 70;
const RESOLUTION: i64 = 500;
/// The line's inactivity time and its warning, when on.
const INACTIVITY: i64 = 150;
const INACTIVITY_WARNING: i64 = 30;
/// The timer worker's period: `run_due` runs once per period.
const PERIOD: i64 = 5;

#[derive(Clone, Debug)]
enum Step {
    /// A client writes (opens a session or continues theirs).
    Write(usize),
    /// An operator takes a session.
    Take(usize, usize),
    /// A session's operator accepts it.
    Accept(usize),
    /// A session's operator replies.
    Reply(usize),
    /// A session's operator closes it.
    Close(usize),
    /// An operator's availability changes (and the hub is told).
    Availability(usize, Availability),
    /// The clock jumps this many seconds, one period at a time.
    Advance(i64),
}

/// The optional timers of the line.
#[derive(Clone, Debug)]
struct Features {
    /// The accept timeout (on lines whose rule assigns), with
    /// `max_no_answer` when given.
    accept: Option<Option<u32>>,
    /// SLA targets, warning at 80 % when true.
    sla: Option<bool>,
    /// Inactivity, with a warning when true, and what happens to sessions
    /// never answered.
    inactivity: Option<(bool, NeverAnswered)>,
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
        1 => any::<usize>().prop_map(Step::Accept),
        2 => any::<usize>().prop_map(Step::Reply),
        2 => any::<usize>().prop_map(Step::Close),
        3 => (0..OPERATORS, availability()).prop_map(|(o, a)| Step::Availability(o, a)),
        4 => (1i64..300).prop_map(Step::Advance),
    ]
}

fn rule() -> impl Strategy<Value = RoutingRule> {
    prop_oneof![
        Just(RoutingRule::FirstCome),
        Just(RoutingRule::RoundRobin),
        (1u32..3).prop_map(|capacity| RoutingRule::LeastLoaded { capacity }),
    ]
}

fn features() -> impl Strategy<Value = Features> {
    let never = prop_oneof![Just(NeverAnswered::Escalate), Just(NeverAnswered::Close)];
    (
        prop::option::of(prop::option::of(1u32..4)),
        prop::option::of(any::<bool>()),
        prop::option::of((any::<bool>(), never)),
    )
        .prop_map(|(accept, sla, inactivity)| Features {
            accept,
            sla,
            inactivity,
        })
}

fn op(i: usize) -> UserId {
    UserId::new(format!("op{i}"))
}

fn op_index(who: &UserId) -> Option<usize> {
    (0..OPERATORS).find(|i| op(*i) == *who)
}

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

fn secs(n: i64) -> std::time::Duration {
    std::time::Duration::from_secs(n.unsigned_abs())
}

/// Refusals a random step may meet; anything else fails the case.
fn refused<T>(r: Result<T, Error>) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(
            Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::SessionClosed { .. }
            | Error::InvalidState { .. }
            | Error::AlreadyTaken { .. },
        ) => Ok(None),
        Err(e) => Err(fail(e)),
    }
}

/// The model's SLA clock of one target of one session.
#[derive(Clone, Copy, Debug)]
struct SlaModel {
    due: DateTime<Utc>,
    stopped: Option<DateTime<Utc>>,
    breached: bool,
}

impl SlaModel {
    fn start(at: DateTime<Utc>, target: i64) -> Self {
        Self {
            due: at + Duration::seconds(target),
            stopped: None,
            breached: false,
        }
    }

    fn stop(&mut self, at: DateTime<Utc>) {
        if self.stopped.is_none() {
            self.stopped = Some(at);
        }
    }
}

fn slot(target: SlaTarget) -> usize {
    match target {
        SlaTarget::FirstResponse => 0,
        SlaTarget::NextResponse => 1,
        SlaTarget::Resolution => 2,
    }
}

/// What the model knows of one session.
#[derive(Debug)]
struct Tracked {
    id: SessionId,
    /// Its first message (where its first routing starts), and the time
    /// after the write that opened it (when that routing was done).
    opened: (DateTime<Utc>, DateTime<Utc>),
    open: bool,
    /// Its operator, as last seen.
    operator: Option<UserId>,
    /// A rule assigned it to this operator at this time, and they have
    /// neither accepted nor replied since.
    pending: Option<(UserId, DateTime<Utc>)>,
    /// Operators who let it lapse.
    lapsed: Vec<UserId>,
    /// SLA clocks by target (see `slot`).
    clocks: [Option<SlaModel>; 3],
    /// An operator replied since the last start of a next-response clock.
    answered: bool,
    /// An operator replied at least once.
    replied: bool,
    /// The operator's last message, when the client has been silent since.
    idle_since: Option<DateTime<Utc>>,
    /// Seen without an operator since `idle_since`: the inactivity close
    /// needs one, so it may not come.
    idle_exempt: bool,
    /// Escalated as never answered.
    escalated: bool,
}

impl Tracked {
    fn stop_clocks(&mut self, at: DateTime<Utc>, targets: &[SlaTarget]) {
        for t in targets {
            if let Some(c) = self.clocks[slot(*t)].as_mut() {
                c.stop(at);
            }
        }
    }
}

struct Model {
    hub: Hub,
    store: Arc<MemoryStore>,
    dir: Arc<MemoryDirectory>,
    clock: Arc<ManualClock>,
    line: LineId,
    rule: RoutingRule,
    features: Features,
    /// The accept timeout applies: on, and the rule assigns.
    accept_on: bool,
    availability: Vec<Availability>,
    /// Since when each operator has been absent (not blocked).
    absent_since: Vec<Option<DateTime<Utc>>>,
    /// Each operator's consecutive lapses, and whether they are away.
    lapses: Vec<u32>,
    away: Vec<bool>,
    sessions: Vec<Tracked>,
    /// When `run_due` last ran.
    last_run: DateTime<Utc>,
    /// The event log read so far.
    read: EventPosition,
    /// Breaches logged.
    breaches: usize,
    start: DateTime<Utc>,
}

impl Model {
    async fn new(
        rule: RoutingRule,
        features: Features,
        initial: Vec<Availability>,
    ) -> Result<Self, TestCaseError> {
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
        let mut config = LineConfig::new("Line")
            .operators("ops")
            .client(Audience::Group("clients".into()))
            .rule(rule.clone())
            .offer_timeout(secs(OFFER_TIMEOUT))
            .offline_grace(secs(GRACE));
        if let Some(max) = features.accept {
            config = config.accept_timeout(secs(ACCEPT_TIMEOUT));
            if let Some(max) = max {
                config = config.max_no_answer(max);
            }
        }
        if let Some(warn) = features.sla {
            let mut sla = SlaSettings::default()
                .first_response(secs(FIRST_RESPONSE))
                .next_response(secs(NEXT_RESPONSE))
                .resolution(secs(RESOLUTION));
            if warn {
                sla = sla.warning_percent(80);
            }
            config = config.sla(sla);
        }
        if let Some((warn, never)) = features.inactivity {
            config = config.inactivity(secs(INACTIVITY)).never_answered(never);
            if warn {
                config = config.inactivity_warning(secs(INACTIVITY_WARNING), "Still there?");
            }
        }
        let line = hub
            .create_line(&UserId::new("root"), config)
            .await
            .map_err(fail)?;
        let now = clock.now();
        // Absent from the start counts as absent since the start.
        let absent_since = initial
            .iter()
            .map(|a| (*a == Availability::Absent).then_some(now))
            .collect();
        let accept_on = features.accept.is_some()
            && matches!(
                rule,
                RoutingRule::RoundRobin | RoutingRule::LeastLoaded { .. }
            );
        let read = store
            .events_after(EventPosition::START, 100_000)
            .await
            .map_err(fail)?
            .last()
            .map_or(EventPosition::START, |e| e.position);
        Ok(Self {
            hub,
            store,
            dir,
            last_run: now,
            start: now,
            clock,
            line: line.id,
            rule,
            features,
            accept_on,
            availability: initial,
            absent_since,
            lapses: vec![0; OPERATORS],
            away: vec![false; OPERATORS],
            sessions: Vec::new(),
            read,
            breaches: 0,
        })
    }

    fn pick(&self, i: usize) -> Option<SessionId> {
        (!self.sessions.is_empty()).then(|| self.sessions[i % self.sessions.len()].id)
    }

    fn tracked(&mut self, id: SessionId) -> Result<&mut Tracked, TestCaseError> {
        self.sessions
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| fail(format!("{id} is not known to the model")))
    }

    async fn stored(&self, id: SessionId) -> Result<Session, TestCaseError> {
        self.store
            .session(id)
            .await
            .map_err(fail)?
            .ok_or_else(|| fail(format!("{id} is gone")))
    }

    async fn operator_of(&self, s: SessionId) -> Result<Option<UserId>, TestCaseError> {
        Ok(self.stored(s).await?.operator().cloned())
    }

    fn presence(&self, who: &UserId) -> Availability {
        op_index(who).map_or(Availability::Absent, |i| self.availability[i])
    }

    fn inactivity(&self) -> Option<Duration> {
        self.features
            .inactivity
            .map(|_| Duration::seconds(INACTIVITY))
    }

    /// An operator accepted (or replied, which accepts a session waiting
    /// for it): their lapses start over.
    fn accepted(&mut self, s: SessionId, who: &UserId) -> Result<(), TestCaseError> {
        let t = self.tracked(s)?;
        let waiting = t.pending.as_ref().is_some_and(|(w, _)| w == who);
        if waiting {
            t.pending = None;
        }
        Ok(())
    }

    async fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        let sla = self.features.sla.is_some();
        match step {
            Step::Write(c) => {
                let posted = self
                    .hub
                    .write(&UserId::new(format!("c{c}")), self.line, Body::text("hi"))
                    .await
                    .map_err(fail)?;
                // Clocks count from the message's time.
                let at = posted.message.created_at;
                prop_assert!(at >= now, "a message from the past");
                if posted.opened {
                    let mut clocks = [None; 3];
                    if sla {
                        clocks[slot(SlaTarget::FirstResponse)] =
                            Some(SlaModel::start(at, FIRST_RESPONSE));
                        clocks[slot(SlaTarget::Resolution)] = Some(SlaModel::start(at, RESOLUTION));
                    }
                    self.sessions.push(Tracked {
                        id: posted.session.id,
                        opened: (at, self.clock.now()),
                        open: true,
                        operator: None,
                        pending: None,
                        lapsed: Vec::new(),
                        clocks,
                        answered: false,
                        replied: false,
                        idle_since: None,
                        idle_exempt: false,
                        escalated: false,
                    });
                } else {
                    let t = self.tracked(posted.session.id)?;
                    t.idle_since = None;
                    t.idle_exempt = false;
                    if sla && t.answered {
                        t.answered = false;
                        t.clocks[slot(SlaTarget::NextResponse)] =
                            Some(SlaModel::start(at, NEXT_RESPONSE));
                    }
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
                    if refused(self.hub.take(&op(*who), s).await)?.is_some() {
                        let t = self.tracked(s)?;
                        t.operator = Some(op(*who));
                        t.pending = None;
                    }
                }
            }
            Step::Accept(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        if refused(self.hub.accept(&who, s).await)?.is_some() {
                            self.accepted(s, &who)?;
                            let i = op_index(&who).ok_or_else(|| fail("who?"))?;
                            self.lapses[i] = 0;
                        }
                    }
                }
            }
            Step::Reply(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        let replied = refused(self.hub.reply(&who, s, Body::text("answer")).await)?;
                        if let Some(message) = replied {
                            let t = self.tracked(s)?;
                            if t.pending.as_ref().is_some_and(|(w, _)| *w == who) {
                                // The first reply accepted it.
                                let i = op_index(&who).ok_or_else(|| fail("who?"))?;
                                self.lapses[i] = 0;
                            }
                            self.accepted(s, &who)?;
                            let t = self.tracked(s)?;
                            t.replied = true;
                            t.idle_since = Some(message.created_at);
                            t.idle_exempt = false;
                            if sla {
                                t.answered = true;
                                t.stop_clocks(
                                    now,
                                    &[SlaTarget::FirstResponse, SlaTarget::NextResponse],
                                );
                            }
                        }
                    }
                }
            }
            Step::Close(i) => {
                if let Some(s) = self.pick(*i) {
                    if let Some(who) = self.operator_of(s).await? {
                        if refused(self.hub.close(&who, s).await)?.is_some() {
                            let t = self.tracked(s)?;
                            t.open = false;
                            t.pending = None;
                            t.operator = None;
                            t.stop_clocks(now, &SlaTarget::ALL);
                        }
                    }
                }
            }
            Step::Availability(who, a) => {
                let was = self.availability[*who];
                self.availability[*who] = *a;
                if *a == Availability::Present {
                    // Eligible again: lapses and away start over.
                    self.lapses[*who] = 0;
                    self.away[*who] = false;
                }
                self.dir.set_availability(op(*who), *a);
                self.hub
                    .availability_changed(&op(*who))
                    .await
                    .map_err(fail)?;
                // The clock moves a millisecond a reading: after the call
                // is no earlier than the grace period's start.
                if *a != Availability::Absent {
                    self.absent_since[*who] = None;
                } else if was != Availability::Absent {
                    self.absent_since[*who] = Some(self.clock.now());
                }
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
                        prop_assert!(report.failures.is_empty(), "{:?}", report.failures);
                        if report.claimed < 1000 {
                            break;
                        }
                    }
                    self.last_run = now;
                    let due = self.store.due_timers(now).await.map_err(fail)?;
                    prop_assert_eq!(due, 0, "timers left due at {} after run_due", now);
                    self.observe(true).await?;
                    self.check(step).await?;
                }
                return Ok(());
            }
        }
        self.observe(false).await?;
        self.check(step).await
    }

    /// Reads what the hub logged since the last look and the sessions as
    /// stored, checking each change against the model and updating it.
    async fn observe(&mut self, by_run_due: bool) -> Result<(), TestCaseError> {
        // What a run_due did, it did at its own time.
        let now = if by_run_due {
            self.last_run
        } else {
            self.clock.now()
        };
        let events = self
            .store
            .events_after(self.read, 100_000)
            .await
            .map_err(fail)?;
        if let Some(last) = events.last() {
            self.read = last.position;
        }
        let mut breached = false;
        let mut lapsed = Vec::new();
        for logged in &events {
            let event = logged.event().map_err(fail)?;
            match event {
                Event::SessionNotAccepted {
                    session,
                    operator,
                    lapses,
                    ..
                } => {
                    prop_assert!(by_run_due && self.accept_on, "lapse {:?} now", event);
                    let i = op_index(operator).ok_or_else(|| fail("who?"))?;
                    let t = self.tracked(*session)?;
                    let (who, since) = t
                        .pending
                        .take()
                        .ok_or_else(|| fail(format!("{session} lapsed, waiting for nobody")))?;
                    prop_assert!(
                        who == *operator && since + Duration::seconds(ACCEPT_TIMEOUT) <= now,
                        "{} lapsed for {} at {}, waiting for {} since {}",
                        session,
                        operator,
                        now,
                        who,
                        since
                    );
                    t.lapsed.push(operator.clone());
                    lapsed.push((*session, operator.clone()));
                    self.lapses[i] += 1;
                    prop_assert_eq!(*lapses, self.lapses[i], "the lapses of {}", operator);
                    if let Some(Some(max)) = self.features.accept {
                        if self.lapses[i] >= max {
                            self.away[i] = true;
                        }
                    }
                }
                Event::OperatorAway { user, .. } => {
                    let i = op_index(user).ok_or_else(|| fail("who?"))?;
                    prop_assert!(
                        self.away[i],
                        "{} set away after {} lapses",
                        user,
                        self.lapses[i]
                    );
                }
                Event::SessionAssigned {
                    session,
                    operator,
                    reason,
                    ..
                } if *reason != RouteReason::Taken => {
                    // A rule's assignment.
                    let i = op_index(operator).ok_or_else(|| fail("who?"))?;
                    prop_assert!(!self.away[i], "{} assigned to {}, away", session, operator);
                    let accept_on = self.accept_on;
                    if let Some((left, _)) = self.tracked(*session)?.pending.clone() {
                        prop_assert!(
                            self.presence(&left) != Availability::Present,
                            "{} moved from {} to {} without a lapse",
                            session,
                            left,
                            operator
                        );
                    }
                    let t = self.tracked(*session)?;
                    t.pending = accept_on.then(|| (operator.clone(), logged.at));
                }
                Event::SlaBreached {
                    session,
                    target,
                    due_at,
                    ..
                } => {
                    prop_assert!(by_run_due, "{:?} outside run_due", event);
                    let t = self.tracked(*session)?;
                    let clock = t.clocks[slot(*target)]
                        .as_mut()
                        .ok_or_else(|| fail(format!("{event:?}: no such clock")))?;
                    prop_assert!(
                        clock.stopped.is_none()
                            && !clock.breached
                            && clock.due == *due_at
                            && *due_at <= now,
                        "{:?} at {}: the clock is {:?}",
                        event,
                        now,
                        clock
                    );
                    clock.breached = true;
                    self.breaches += 1;
                    breached = true;
                }
                Event::SessionInactive {
                    session,
                    reason,
                    closed,
                    ..
                } => {
                    prop_assert!(by_run_due, "{:?} outside run_due", event);
                    let inactivity = self.inactivity().ok_or_else(|| fail("no inactivity"))?;
                    let never = self.features.inactivity.map(|(_, n)| n);
                    let t = self.tracked(*session)?;
                    match reason {
                        CloseReason::Inactive => prop_assert!(
                            *closed && t.idle_since.is_some_and(|s| s + inactivity <= now),
                            "{:?} at {}, the operator last wrote at {:?}",
                            event,
                            now,
                            t.idle_since
                        ),
                        CloseReason::NeverAnswered => {
                            prop_assert!(
                                !t.replied && t.opened.0 + inactivity <= now,
                                "{:?} at {}, opened at {:?}, replied: {}",
                                event,
                                now,
                                t.opened,
                                t.replied
                            );
                            prop_assert_eq!(*closed, never == Some(NeverAnswered::Close));
                            prop_assert!(!t.escalated, "escalated twice");
                            t.escalated = true;
                        }
                        other => return Err(fail(format!("closed as {other:?}"))),
                    }
                }
                _ => {}
            }
        }
        if breached {
            let kept = self
                .store
                .sla_breaches(self.line, self.start, now + Duration::days(365), 10_000)
                .await
                .map_err(fail)?;
            prop_assert_eq!(kept.len(), self.breaches, "breaches kept: {:?}", kept);
            for t in &self.sessions {
                for target in SlaTarget::ALL {
                    if let Some(c) = t.clocks[slot(target)].filter(|c| c.breached) {
                        prop_assert!(
                            kept.iter().any(|b| b.session == t.id
                                && b.target == target
                                && b.due_at == c.due),
                            "the breach of {} {} is not kept",
                            t.id,
                            target
                        );
                    }
                }
            }
        }
        for i in 0..self.sessions.len() {
            if !self.sessions[i].open {
                continue;
            }
            let s = self.stored(self.sessions[i].id).await?;
            for (_, who) in lapsed.iter().filter(|(id, _)| *id == s.id) {
                prop_assert!(
                    s.operator() != Some(who),
                    "{} lapsed and stays with {}",
                    s.id,
                    who
                );
            }
            let t = &mut self.sessions[i];
            if !s.is_open() {
                // Closed by the line (the model's closes are marked).
                t.open = false;
                t.pending = None;
                t.operator = None;
                t.stop_clocks(s.closed_at.unwrap_or(now), &SlaTarget::ALL);
                continue;
            }
            let operator = s.operator().cloned();
            if operator != t.operator {
                if let Some((who, _)) = &t.pending {
                    if operator.as_ref() != Some(who) {
                        // Moved on without a lapse (a lapse took it).
                        let gone = op_index(who).map(|i| self.availability[i]);
                        prop_assert!(
                            gone != Some(Availability::Present),
                            "{} left {} without a lapse",
                            t.id,
                            who
                        );
                        t.pending = None;
                    }
                }
                t.operator = operator;
            }
            if t.operator.is_none() {
                // The inactivity close needs an operator: seen without
                // one, it may have found none.
                if t.idle_since.is_some() {
                    t.idle_exempt = true;
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

        self.check_accept(step)?;
        self.check_sla(step).await?;
        self.check_inactivity(step)?;
        self.check_queue(step).await
    }

    /// No rule assignment waits for its operator past the accept timeout
    /// plus one period.
    fn check_accept(&self, step: &Step) -> Result<(), TestCaseError> {
        for t in self.sessions.iter().filter(|t| t.open) {
            if let Some((who, since)) = &t.pending {
                prop_assert!(
                    self.last_run < *since + Duration::seconds(ACCEPT_TIMEOUT),
                    "{} waits for {} to accept since {}, at {} after {:?}",
                    t.id,
                    who,
                    since,
                    self.last_run,
                    step
                );
            }
        }
        Ok(())
    }

    /// Every running clock due by the last `run_due` of an open session
    /// has breached, on the session too.
    async fn check_sla(&self, step: &Step) -> Result<(), TestCaseError> {
        for t in self.sessions.iter().filter(|t| t.open) {
            for target in SlaTarget::ALL {
                let Some(c) = t.clocks[slot(target)] else {
                    continue;
                };
                if c.stopped.is_some() || c.due > self.last_run {
                    continue;
                }
                prop_assert!(
                    c.breached,
                    "{} {} due at {} runs without a breach at {}, after {:?}",
                    t.id,
                    target,
                    c.due,
                    self.last_run,
                    step
                );
                let s = self.stored(t.id).await?;
                let state = s
                    .sla
                    .as_deref()
                    .and_then(|s| s.clock(target))
                    .map(|c| c.state);
                prop_assert_eq!(state, Some(SlaState::Breached), "{} {}", t.id, target);
            }
        }
        Ok(())
    }

    /// No silent client's session outlives the inactivity time plus one
    /// period; no never-answered session goes unnoticed.
    fn check_inactivity(&self, step: &Step) -> Result<(), TestCaseError> {
        let (Some(inactivity), Some((_, never))) = (self.inactivity(), self.features.inactivity)
        else {
            return Ok(());
        };
        for t in self.sessions.iter().filter(|t| t.open) {
            if let (Some(since), false) = (t.idle_since, t.idle_exempt) {
                prop_assert!(
                    self.last_run < since + inactivity,
                    "{} open at {}, its client silent since {}, after {:?}",
                    t.id,
                    self.last_run,
                    since,
                    step
                );
            }
            if !t.replied && self.last_run >= t.opened.1 + inactivity {
                prop_assert!(
                    never == NeverAnswered::Escalate && t.escalated,
                    "{} opened at {:?} never answered, {:?}, escalated: {}, at {}",
                    t.id,
                    t.opened,
                    never,
                    t.escalated,
                    self.last_run
                );
            }
        }
        Ok(())
    }

    /// Nothing queued while an eligible operator exists.
    async fn check_queue(&self, step: &Step) -> Result<(), TestCaseError> {
        let queued = self
            .store
            .queued_sessions(self.line, 1000)
            .await
            .map_err(fail)?;
        for q in &queued {
            let lapsed: &[UserId] = self
                .sessions
                .iter()
                .find(|t| t.id == q.id)
                .map_or(&[], |t| &t.lapsed);
            let eligible: Vec<usize> = (0..OPERATORS)
                .filter(|i| {
                    self.availability[*i] == Availability::Present
                        && !self.away[*i]
                        && !lapsed.contains(&op(*i))
                })
                .collect();
            match &self.rule {
                RoutingRule::FirstCome => {
                    return Err(fail(format!("first come queued {queued:?} after {step:?}")));
                }
                RoutingRule::RoundRobin => prop_assert!(
                    eligible.is_empty(),
                    "{} queued while {:?} are eligible, after {:?}",
                    q.id,
                    eligible,
                    step
                ),
                RoutingRule::LeastLoaded { capacity } => {
                    for p in eligible {
                        let held = self
                            .store
                            .assigned_sessions(&op(p), None, usize::MAX)
                            .await
                            .map_err(fail)?
                            .len();
                        prop_assert!(
                            held >= usize::try_from(*capacity).map_err(fail)?,
                            "{} queued while {} holds {} of {}, after {:?}",
                            q.id,
                            op(p),
                            held,
                            capacity,
                            step
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The time property of the line: offers, assignments waiting for
    /// acceptance, queues, absent operators, SLA clocks and silent clients
    /// never outlast their timeout, grace period, target or a free
    /// operator.
    #[test]
    fn nothing_outlasts_its_timeout_or_grace_period(
        rule in rule(),
        features in features(),
        initial in prop::collection::vec(availability(), OPERATORS),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(fail)?;
        rt.block_on(async {
            let mut m = Model::new(rule, features, initial).await?;
            for step in &steps {
                m.apply(step).await?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
