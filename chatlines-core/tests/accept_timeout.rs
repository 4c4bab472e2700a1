//! Accept timeout and no-answer (issue 9, behaviour 2): a session a rule
//! assigned (responsible, round robin, least loaded) whose operator
//! neither accepted it (`Hub::accept`) nor replied within T goes to the
//! next operator by the same rule, excluding those who let it lapse; the
//! reason is `RouteReason::NotAccepted` and `SessionNotAccepted` is logged.
//! After `max_no_answer` consecutive lapses the operator is set away on the
//! line until their availability changes or a supervisor resets them. Off
//! by default. Time is a `ManualClock`; `Hub::run_due` fires what is due.

mod common;

use chatlines_core::{
    Availability, Clock, Error, Event, FieldValue, ItemId, LineConfig, LineField, LineId,
    ManualClock, PageRequest, RouteReason, RoutingRule, Session, SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

const T: i64 = 60;

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let w = World::with_clock(clock.clone());
    // A two-operator group for the no-answer scenarios.
    w.dir.add_to_group("duo", "ann");
    w.dir.add_to_group("duo", "bob");
    (w, clock)
}

fn timed(rule: RoutingRule) -> LineConfig {
    staff_line("Desk")
        .rule(rule)
        .accept_timeout(Duration::from_secs(T as u64))
}

fn not_accepted(lapsed: &[&str]) -> RouteReason {
    RouteReason::NotAccepted {
        lapsed: lapsed.iter().map(|u| user(u)).collect(),
    }
}

/// `(operator, lapses)` of every `SessionNotAccepted` since the last drain,
/// and the operators set away.
fn lapses(w: &World) -> (Vec<(String, u32)>, Vec<String>) {
    let mut lapsed = Vec::new();
    let mut away = Vec::new();
    for e in w.events.drain() {
        match e {
            Event::SessionNotAccepted {
                operator, lapses, ..
            } => lapsed.push((operator.as_str().to_owned(), lapses)),
            Event::OperatorAway { user, .. } => away.push(user.as_str().to_owned()),
            _ => {}
        }
    }
    (lapsed, away)
}

async fn lapse(w: &World, clock: &ManualClock) -> TestResult<usize> {
    clock.advance(secs(T));
    let report = w.hub.run_due(clock.now(), 100).await?;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    Ok(report.fired)
}

async fn roster_of(w: &World, line: LineId, who: &str) -> TestResult<(bool, u32, bool)> {
    let roster = w.store.roster(line).await?;
    let e = roster
        .iter()
        .find(|e| e.user == user(who))
        .ok_or("no roster entry")?;
    Ok((e.eligible, e.no_answer, e.away))
}

#[tokio::test]
async fn an_unaccepted_session_goes_round_robin_to_the_next_operator() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let id = posted.session.id;
    assert_eq!(posted.session.status, assigned_to("ann"));
    let timers = w.store.session_timers(id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::AcceptTimeout);
    w.events.drain();

    clock.advance(secs(T - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0, "not yet");
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let s = w.stored_session(id).await?;
    assert_eq!(s.status, assigned_to("bob"));
    assert_eq!(s.reason, not_accepted(&["ann"]));
    let events = w.events.drain();
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(names, vec!["session_not_accepted", "session_assigned"]);
    match &events[1] {
        Event::SessionAssigned {
            operator, reason, ..
        } => {
            assert_eq!(operator, &user("bob"));
            assert_eq!(reason, &not_accepted(&["ann"]));
        }
        other => panic!("{other:?}"),
    }

    // Bob lets it lapse too: cat, never ann again.
    assert_eq!(lapse(&w, &clock).await?, 1);
    let s = w.stored_session(id).await?;
    assert_eq!(s.status, assigned_to("cat"));
    assert_eq!(s.reason, not_accepted(&["ann", "bob"]));
    // Cat as well: nobody is left, it waits in the queue with its reason.
    assert_eq!(lapse(&w, &clock).await?, 1);
    let s = w.stored_session(id).await?;
    assert_eq!(s.status, SessionStatus::Queued);
    assert_eq!(s.reason, not_accepted(&["ann", "bob", "cat"]));
    assert!(w.store.session_timers(id).await?.is_empty());
    // Loads followed each move.
    for who in ["ann", "bob", "cat"] {
        let entry = w.store.roster(line.id).await?;
        let e = entry.iter().find(|e| e.user == user(who)).ok_or("entry")?;
        assert_eq!(e.load, 0, "{who}");
    }
    let (lapsed, away) = lapses(&w);
    assert_eq!(
        lapsed,
        vec![("bob".to_owned(), 1), ("cat".to_owned(), 1)],
        "each operator's first lapse"
    );
    assert!(away.is_empty(), "no max_no_answer on this line");
    // A queued session moved on is still routed past those who lapsed.
    w.hub.drain().await?;
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Queued);
    Ok(())
}

#[tokio::test]
async fn least_loaded_moves_on_past_the_lapsed_operator() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(timed(RoutingRule::LeastLoaded { capacity: 3 }))
        .await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, assigned_to("ann"));
    assert_eq!(lapse(&w, &clock).await?, 1);
    // Ann now has the lowest load (0) but let it lapse: bob gets it.
    let s = w.stored_session(posted.session.id).await?;
    assert_eq!(s.status, assigned_to("bob"));
    assert_eq!(s.reason, not_accepted(&["ann"]));
    Ok(())
}

#[tokio::test]
async fn accepting_stops_the_timeout_and_resets_the_lapses() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed(RoutingRule::RoundRobin)).await?;
    let first = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(lapse(&w, &clock).await?, 1); // ann lapses, bob gets it
    assert_eq!(roster_of(&w, line.id, "ann").await?, (true, 1, false));

    // Only the assigned operator accepts.
    let err = w
        .hub
        .accept(&user("ann"), first.session.id)
        .await
        .expect_err("not ann's");
    assert!(is_forbidden(&err), "{err:?}");
    let accepted = w.hub.accept(&user("bob"), first.session.id).await?;
    assert_eq!(accepted.status, assigned_to("bob"));
    assert!(w.store.session_timers(first.session.id).await?.is_empty());
    assert!(w
        .events
        .drain()
        .iter()
        .any(|e| matches!(e, Event::SessionAccepted { operator, .. } if operator == &user("bob"))));

    // Ann accepts her next session: her lapses go back to zero.
    let second = w.hub.write(&user("dora"), line.id, text("hi")).await?;
    assert_eq!(second.session.status, assigned_to("cat"));
    let third = w.hub.write(&user("carl"), line.id, text("again?")).await;
    // carl's session is open (with bob): that was a message in it.
    assert_eq!(third?.session.id, first.session.id);
    w.hub.close(&user("bob"), first.session.id).await?;
    let fourth = w.hub.write(&user("carl"), line.id, text("new")).await?;
    assert_eq!(fourth.session.status, assigned_to("ann"));
    w.hub.accept(&user("ann"), fourth.session.id).await?;
    assert_eq!(roster_of(&w, line.id, "ann").await?, (true, 0, false));

    clock.advance(secs(10 * T));
    let report = w.hub.run_due(clock.now(), 100).await?;
    assert_eq!(report.fired, 1, "only cat's unaccepted session moves");
    assert_eq!(
        w.stored_session(fourth.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn the_first_reply_accepts() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    w.events.drain();
    w.hub
        .reply(&user("ann"), posted.session.id, text("on it"))
        .await?;
    let names: Vec<&str> = w.events.drain().iter().map(Event::name).collect();
    assert_eq!(names, vec!["session_accepted", "message_out"]);
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    // A later reply does not accept again.
    w.hub
        .reply(&user("ann"), posted.session.id, text("done"))
        .await?;
    let names: Vec<&str> = w.events.drain().iter().map(Event::name).collect();
    assert_eq!(names, vec!["message_out"]);
    assert_eq!(lapse(&w, &clock).await?, 0);
    assert_eq!(
        w.stored_session(posted.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn a_reply_after_the_session_moved_on_is_refused() -> TestResult {
    let (w, clock) = world();
    let line = w.line(timed(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(lapse(&w, &clock).await?, 1);
    let err = w
        .hub
        .reply(&user("ann"), posted.session.id, text("late"))
        .await
        .expect_err("moved on");
    assert!(is_forbidden(&err), "{err:?}");
    let messages = w
        .hub
        .messages(&user("bob"), posted.session.id, PageRequest::default())
        .await?;
    assert_eq!(messages.items.len(), 1, "only the client's message");
    Ok(())
}

/// Two sessions on a line operated by ann and bob, each first assigned to
/// ann (round robin) and let lapse.
#[tokio::test]
async fn max_no_answer_sets_the_operator_away_until_reset() -> TestResult {
    let (w, clock) = world();
    let config = LineConfig::new("Duo")
        .operators("duo")
        .supervisors(SUPS)
        .client(chatlines_core::Audience::Group(STAFF.into()))
        .rule(RoutingRule::RoundRobin)
        .accept_timeout(Duration::from_secs(T as u64))
        .max_no_answer(2);
    let line = w.line(config).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    assert_eq!(first.session.status, assigned_to("ann"));
    assert_eq!(lapse(&w, &clock).await?, 1);
    w.hub.accept(&user("bob"), first.session.id).await?;
    let second = w.hub.write(&user("dora"), line.id, text("two")).await?;
    assert_eq!(second.session.status, assigned_to("ann"));
    w.events.drain();
    assert_eq!(lapse(&w, &clock).await?, 1);
    let (lapsed, away) = lapses(&w);
    assert_eq!(lapsed, vec![("ann".to_owned(), 2)]);
    assert_eq!(away, vec!["ann".to_owned()]);
    assert_eq!(roster_of(&w, line.id, "ann").await?, (false, 2, true));
    let board = w
        .hub
        .line_roster(&user("sue"), line.id, PageRequest::default())
        .await?;
    let ann = board
        .items
        .iter()
        .find(|o| o.user == user("ann"))
        .ok_or("ann")?;
    assert!(ann.away && !ann.eligible && ann.no_answer == 2);

    // Away survives a roster rebuild (the line is edited).
    w.hub.sync_roster(line.id).await?;
    assert_eq!(roster_of(&w, line.id, "ann").await?, (false, 2, true));
    w.hub.close(&user("sue"), first.session.id).await?;
    let third = w.hub.write(&user("carl"), line.id, text("three")).await?;
    assert_eq!(third.session.status, assigned_to("bob"), "ann is away");

    // Only a supervisor of the line resets her.
    let err = w
        .hub
        .reset_no_answer(&user("bob"), line.id, &user("ann"))
        .await
        .expect_err("not a supervisor");
    assert!(!matches!(err, Error::Store(_)), "{err:?}");
    assert_eq!(roster_of(&w, line.id, "ann").await?, (false, 2, true));
    w.hub
        .reset_no_answer(&user("sue"), line.id, &user("ann"))
        .await?;
    assert_eq!(roster_of(&w, line.id, "ann").await?, (true, 0, false));
    Ok(())
}

#[tokio::test]
async fn an_availability_change_ends_away() -> TestResult {
    let (w, clock) = world();
    let config = timed(RoutingRule::RoundRobin).max_no_answer(1);
    let line = w.line(config).await?;
    w.hub.write(&user("carl"), line.id, text("one")).await?;
    assert_eq!(lapse(&w, &clock).await?, 1);
    assert_eq!(roster_of(&w, line.id, "ann").await?, (false, 1, true));
    w.set_availability("ann", Availability::Absent).await?;
    assert!(!roster_of(&w, line.id, "ann").await?.0);
    w.set_availability("ann", Availability::Present).await?;
    assert_eq!(roster_of(&w, line.id, "ann").await?, (true, 0, false));
    Ok(())
}

async fn responsible_session(w: &World, line: LineId) -> TestResult<Session> {
    let first = w
        .hub
        .write(&user("carl"), line, text("hello"))
        .await?
        .session;
    let item = ItemId::new("crm-carl");
    w.apps.set_field(
        &CLIENTS_APP.into(),
        &item,
        "manager",
        FieldValue::User(user("mia")),
    );
    w.hub
        .link_existing_account(&user("sue"), first.id, item)
        .await?;
    w.hub.close(&user("sue"), first.id).await?;
    Ok(w.hub
        .write(&user("carl"), line, text("again"))
        .await?
        .session)
}

#[tokio::test]
async fn a_lapsed_responsible_assignment_is_offered_to_the_line() -> TestResult {
    let (w, clock) = world();
    let config = timed(RoutingRule::Responsible {
        field: "manager".into(),
    })
    .account_app(CLIENTS_APP);
    let line = w.line(config).await?;
    let s = responsible_session(&w, line.id).await?;
    assert_eq!(s.status, assigned_to("mia"));
    assert_eq!(lapse(&w, &clock).await?, 1);
    let s = w.stored_session(s.id).await?;
    assert_eq!(s.status, SessionStatus::Offered);
    assert_eq!(s.reason, not_accepted(&["mia"]));
    let taken = w.hub.take(&user("ann"), s.id).await?;
    assert_eq!(taken.status, assigned_to("ann"));
    assert!(
        w.store.session_timers(s.id).await?.is_empty(),
        "a taken session waits for nobody's acceptance"
    );
    Ok(())
}

#[tokio::test]
async fn sessions_not_assigned_by_a_rule_need_no_acceptance() -> TestResult {
    let (w, clock) = world();
    // First come: taken, never timed.
    let fc = w
        .line(staff_line("First").accept_timeout(Duration::from_secs(T as u64)))
        .await?;
    let posted = w.hub.write(&user("carl"), fc.id, text("help")).await?;
    w.hub.take(&user("ann"), posted.session.id).await?;
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    // A supervisor's assignment replaces the rule's: no timeout either.
    let rr = w.line(timed(RoutingRule::RoundRobin)).await?;
    let posted = w.hub.write(&user("dora"), rr.id, text("help")).await?;
    w.hub
        .assign(&user("sue"), posted.session.id, &user("cat"))
        .await?;
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    assert_eq!(lapse(&w, &clock).await?, 0);
    Ok(())
}

#[tokio::test]
async fn lines_without_the_setting_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(staff_line("Desk").rule(RoutingRule::RoundRobin))
        .await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.reason, RouteReason::RoundRobin);
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    clock.advance(secs(24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(
        w.stored_session(posted.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn bad_accept_settings_are_refused() -> TestResult {
    let (w, _) = world();
    let zero = staff_line("Zero").accept_timeout(Duration::ZERO);
    let lone = staff_line("Lone").max_no_answer(3);
    let none = timed(RoutingRule::RoundRobin).max_no_answer(0);
    for (config, field) in [
        (zero, LineField::AcceptTimeout),
        (lone, LineField::MaxNoAnswer),
        (none, LineField::MaxNoAnswer),
    ] {
        let err = w.line(config).await.expect_err("refused");
        let err = err.downcast::<Error>().map_err(|_| "not a hub error")?;
        match *err {
            Error::InvalidLine(problems) => {
                assert!(
                    problems.0.iter().any(|p| p.field() == field),
                    "{problems:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_operator_away_and_back_within_the_grace_period_still_lapses() -> TestResult {
    let (w, clock) = world();
    let config = timed(RoutingRule::RoundRobin).offline_grace(Duration::from_secs(5 * T as u64));
    let line = w.line(config).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, assigned_to("ann"));
    // Away and back: the grace period starts and ends, the wait for her
    // acceptance goes on.
    w.set_availability("ann", Availability::Absent).await?;
    w.set_availability("ann", Availability::Present).await?;
    assert_eq!(lapse(&w, &clock).await?, 1);
    let s = w.stored_session(posted.session.id).await?;
    assert_eq!(s.status, assigned_to("bob"));
    assert_eq!(s.reason, not_accepted(&["ann"]));
    Ok(())
}

#[tokio::test]
async fn a_lapse_frees_the_operators_slot_for_the_queue() -> TestResult {
    let (w, clock) = world();
    let config = LineConfig::new("Duo")
        .operators("duo")
        .supervisors(SUPS)
        .client(chatlines_core::Audience::Group(STAFF.into()))
        .rule(RoutingRule::LeastLoaded { capacity: 1 })
        .accept_timeout(Duration::from_secs(T as u64));
    let line = w.line(config).await?;
    w.set_availability("bob", Availability::Absent).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    assert_eq!(first.session.status, assigned_to("ann"));
    let second = w.hub.write(&user("dora"), line.id, text("two")).await?;
    assert_eq!(second.session.status, SessionStatus::Queued);
    assert_eq!(lapse(&w, &clock).await?, 1);
    // The first waits for someone but ann; her slot takes the second.
    let s = w.stored_session(first.session.id).await?;
    assert_eq!(s.status, SessionStatus::Queued);
    assert_eq!(s.reason, not_accepted(&["ann"]));
    assert_eq!(
        w.stored_session(second.session.id).await?.status,
        assigned_to("ann")
    );
    Ok(())
}

#[tokio::test]
async fn accepting_while_absent_leaves_the_grace_period_running() -> TestResult {
    let (w, clock) = world();
    let config = timed(RoutingRule::RoundRobin).offline_grace(Duration::from_secs(2 * T as u64));
    let line = w.line(config).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, assigned_to("ann"));
    w.set_availability("ann", Availability::Absent).await?;
    w.hub.accept(&user("ann"), posted.session.id).await?;
    clock.advance(secs(2 * T));
    w.hub.run_due(clock.now(), 100).await?;
    let s = w.stored_session(posted.session.id).await?;
    assert!(s.is_open());
    assert_ne!(s.operator(), Some(&user("ann")), "back to routing");
    Ok(())
}
