//! Inactivity (issue 9, behaviour 4): a client silent for the line's
//! inactivity time after an operator's last message gets an optional
//! warning (a message from the line) and then the session closes as
//! inactive; a session no operator answered escalates or closes, as
//! configured, with an event either way; a client writing within the
//! reopen window after a close reopens the session (back to the same
//! operator if present, else routed by the line's rule). Off by default.
//! Time is a `ManualClock`; `Hub::run_due` fires what is due.

mod common;

use chatlines_core::{
    Author, Availability, Clock, CloseReason, Cursor, Error, Event, LineConfig, LineField,
    ManualClock, MessageStore, NeverAnswered, RouteReason, RoutingRule, SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

const T: i64 = 600;
const W: i64 = 60;
const R: i64 = 300;
const WARNING: &str = "Are you still there? We close this chat soon.";

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (World::with_clock(clock.clone()), clock)
}

fn idle_line() -> LineConfig {
    staff_line("Desk")
        .rule(RoutingRule::RoundRobin)
        .inactivity(Duration::from_secs(T as u64))
        .inactivity_warning(Duration::from_secs(W as u64), WARNING)
}

fn reopening_line() -> LineConfig {
    staff_line("Desk")
        .rule(RoutingRule::RoundRobin)
        .reopen(Duration::from_secs(R as u64))
}

/// The names of the events since the last drain, without messages.
fn names(w: &World) -> Vec<&'static str> {
    w.events
        .drain()
        .iter()
        .map(Event::name)
        .filter(|n| !n.starts_with("message"))
        .collect()
}

#[tokio::test]
async fn a_silent_client_is_warned_then_the_session_closes_as_inactive() -> TestResult {
    let (w, clock) = world();
    let line = w.line(idle_line()).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let id = posted.session.id;
    assert_eq!(posted.session.status, assigned_to("ann"));
    let reply = w
        .hub
        .reply(&user("ann"), id, text("What happened?"))
        .await?;
    let kinds: Vec<TimerKind> = w
        .store
        .session_timers(id)
        .await?
        .iter()
        .map(|t| t.kind)
        .collect();
    assert!(kinds.contains(&TimerKind::Inactivity), "{kinds:?}");
    assert!(kinds.contains(&TimerKind::InactivityWarning), "{kinds:?}");
    assert!(
        !kinds.contains(&TimerKind::NeverAnswered),
        "answered: {kinds:?}"
    );
    w.events.drain();

    clock.advance(secs(T - W - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let events = w.events.drain();
    let warning = events
        .iter()
        .find_map(|e| match e {
            Event::SessionInactivityWarning { closes_at, .. } => Some(*closes_at),
            _ => None,
        })
        .ok_or("no warning event")?;
    assert_eq!(
        warning,
        reply.created_at + secs(T),
        "one inactivity time after the reply"
    );
    let page = w.store.messages(id, Cursor::End, 1).await?;
    let last = page.last().ok_or("no message")?;
    assert_eq!(last.author, Author::System, "from the line");
    assert_eq!(last.body, text(WARNING));
    assert_eq!(w.stored_session(id).await?.status, assigned_to("ann"));

    clock.advance(secs(W - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(names(&w), vec!["session_inactive", "session_closed"]);
    let closed = w.stored_session(id).await?;
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        closed.reason,
        RouteReason::Closed {
            cause: CloseReason::Inactive,
            operator: Some(user("ann")),
        }
    );
    let roster = w.store.roster(line.id).await?;
    let ann = roster.iter().find(|e| e.user == user("ann")).ok_or("ann")?;
    assert_eq!(ann.load, 0, "the slot is released");
    assert!(w.store.session_timers(id).await?.is_empty());
    clock.advance(secs(10 * T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    Ok(())
}

#[tokio::test]
async fn a_client_message_in_between_keeps_the_session_open() -> TestResult {
    let (w, clock) = world();
    let line = w.line(idle_line()).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.hub
        .reply(&user("ann"), id, text("What happened?"))
        .await?;
    clock.advance(secs(T - W - 10));
    w.hub
        .write(&user("carl"), line.id, text("one moment"))
        .await?;
    assert!(
        w.store.session_timers(id).await?.is_empty(),
        "the client's message cancels the warning and the close"
    );
    clock.advance(secs(2 * T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(w.stored_session(id).await?.status, assigned_to("ann"));
    let page = w.store.messages(id, Cursor::End, 1).await?;
    assert_eq!(page.last().map(|m| &m.author), Some(&Author::Client));

    // The operator's next message starts the clock again.
    w.hub.reply(&user("ann"), id, text("Found it?")).await?;
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 2);
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Closed);
    Ok(())
}

#[tokio::test]
async fn a_session_nobody_answered_escalates_once_and_stays_open() -> TestResult {
    let (w, clock) = world();
    let config = staff_line("Desk").inactivity(Duration::from_secs(T as u64));
    let line = w.line(config).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("anyone?"))
        .await?
        .session
        .id;
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Offered);
    w.events.drain();
    clock.advance(secs(T - 1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 0);
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let events = w.events.drain();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::SessionInactive {
                reason: CloseReason::NeverAnswered,
                closed: false,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Offered);
    clock.advance(secs(10 * T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0, "once");
    Ok(())
}

#[tokio::test]
async fn a_session_nobody_answered_closes_when_configured() -> TestResult {
    let (w, clock) = world();
    let config = staff_line("Desk")
        .inactivity(Duration::from_secs(T as u64))
        .never_answered(NeverAnswered::Close);
    let line = w.line(config).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("anyone?"))
        .await?
        .session
        .id;
    w.events.drain();
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(names(&w), vec!["session_inactive", "session_closed"]);
    let closed = w.stored_session(id).await?;
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        closed.reason,
        RouteReason::Closed {
            cause: CloseReason::NeverAnswered,
            operator: None,
        }
    );
    Ok(())
}

#[tokio::test]
async fn an_answer_in_time_stops_the_never_answered_clock() -> TestResult {
    let (w, clock) = world();
    let config = staff_line("Desk")
        .inactivity(Duration::from_secs(T as u64))
        .never_answered(NeverAnswered::Close);
    let line = w.line(config).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("anyone?"))
        .await?
        .session
        .id;
    clock.advance(secs(T - 1));
    w.hub.take(&user("bob"), id).await?;
    w.hub.reply(&user("bob"), id, text("here")).await?;
    clock.advance(secs(1));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    assert_eq!(w.stored_session(id).await?.status, assigned_to("bob"));
    Ok(())
}

#[tokio::test]
async fn a_client_writing_within_the_window_reopens_to_the_same_operator() -> TestResult {
    let (w, clock) = world();
    let line = w.line(reopening_line()).await?;
    let first = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let id = first.session.id;
    assert_eq!(first.session.status, assigned_to("ann"));
    w.hub.close(&user("ann"), id).await?;
    w.events.drain();

    clock.advance(secs(R - 1));
    let again = w
        .hub
        .write(&user("carl"), line.id, text("one more thing"))
        .await?;
    assert_eq!(again.session.id, id, "the same session");
    assert!(again.reopened && !again.opened);
    assert_eq!(
        again.session.status,
        assigned_to("ann"),
        "back to ann, not the rule's next (bob)"
    );
    assert_eq!(names(&w), vec!["session_reopened", "session_assigned"]);
    let sessions = w.store.contact_sessions(line.id, again.contact.id).await?;
    assert_eq!(sessions.len(), 1);
    assert_eq!(w.store.messages(id, Cursor::Start, 10).await?.len(), 2);
    let roster = w.store.roster(line.id).await?;
    let ann = roster.iter().find(|e| e.user == user("ann")).ok_or("ann")?;
    assert_eq!(ann.load, 1);
    Ok(())
}

#[tokio::test]
async fn after_the_window_a_new_session_opens() -> TestResult {
    let (w, clock) = world();
    let line = w.line(reopening_line()).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.hub.close(&user("ann"), id).await?;
    clock.advance(secs(R + 1));
    let again = w.hub.write(&user("carl"), line.id, text("hello?")).await?;
    assert!(again.opened && !again.reopened);
    assert_ne!(again.session.id, id);
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Closed);
    Ok(())
}

#[tokio::test]
async fn a_reopened_session_whose_operator_is_absent_is_routed_by_the_rule() -> TestResult {
    let (w, clock) = world();
    let line = w.line(reopening_line()).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.hub.close(&user("ann"), id).await?;
    w.set_availability("ann", Availability::Absent).await?;
    clock.advance(secs(10));
    let again = w
        .hub
        .write(&user("carl"), line.id, text("one more thing"))
        .await?;
    assert_eq!(again.session.id, id);
    assert!(again.reopened);
    assert_eq!(again.session.status, assigned_to("bob"), "by round robin");
    Ok(())
}

#[tokio::test]
async fn an_inactive_close_can_be_reopened() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(idle_line().reopen(Duration::from_secs(R as u64)))
        .await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.hub
        .reply(&user("ann"), id, text("What happened?"))
        .await?;
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 2);
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Closed);
    clock.advance(secs(R / 2));
    let again = w
        .hub
        .write(&user("carl"), line.id, text("sorry, back"))
        .await?;
    assert_eq!(again.session.id, id);
    assert_eq!(again.session.status, assigned_to("ann"));
    Ok(())
}

#[tokio::test]
async fn lines_without_the_settings_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(staff_line("Desk").rule(RoutingRule::RoundRobin))
        .await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.hub.reply(&user("ann"), id, text("hi")).await?;
    assert!(w.store.session_timers(id).await?.is_empty());
    clock.advance(secs(7 * 24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    let closed = w.hub.close(&user("ann"), id).await?;
    assert_eq!(
        closed.reason,
        RouteReason::RoundRobin,
        "no close reason kept"
    );
    let again = w.hub.write(&user("carl"), line.id, text("again")).await?;
    assert!(again.opened);
    assert_ne!(again.session.id, id);
    Ok(())
}

#[tokio::test]
async fn bad_inactivity_settings_are_refused_at_their_field() -> TestResult {
    let (w, _) = world();
    let cases = [
        (
            staff_line("A").inactivity_warning(Duration::from_secs(W as u64), WARNING),
            LineField::InactivityWarning,
        ),
        (
            staff_line("B")
                .inactivity(Duration::from_secs(T as u64))
                .inactivity_warning(Duration::from_secs(T as u64), WARNING),
            LineField::InactivityWarning,
        ),
        (
            staff_line("C")
                .inactivity(Duration::from_secs(T as u64))
                .inactivity_warning(Duration::from_secs(W as u64), " "),
            LineField::InactivityWarning,
        ),
        (
            staff_line("D").inactivity(Duration::from_secs(0)),
            LineField::Inactivity,
        ),
        (
            staff_line("E").reopen(Duration::from_secs(8 * 24 * 3600)),
            LineField::Reopen,
        ),
    ];
    for (config, field) in cases {
        let err = w.line(config).await.expect_err("refused");
        let err = err.downcast::<Error>().map_err(|_| "not a hub error")?;
        match *err {
            Error::InvalidLine(problems) => assert!(
                problems.0.iter().any(|p| p.field() == field),
                "{field}: {problems:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        w.hub.lines_for(&user("carl")).await?.is_empty(),
        "none saved"
    );
    Ok(())
}

#[tokio::test]
async fn an_escalation_keeps_the_offer_timeout_running() -> TestResult {
    let (w, clock) = world();
    let offer = 70;
    let config = staff_line("Desk")
        .offer_timeout(Duration::from_secs(offer))
        .inactivity(Duration::from_secs(T as u64));
    let line = w.line(config).await?;
    let id = w
        .hub
        .write(&user("carl"), line.id, text("anyone?"))
        .await?
        .session
        .id;
    // The offer lapses (and is armed again), then the session escalates.
    clock.advance(secs(T));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 2);
    w.events.drain();
    let kinds: Vec<TimerKind> = w
        .store
        .session_timers(id)
        .await?
        .iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, vec![TimerKind::OfferTimeout]);
    // The offer still lapses one period later.
    clock.advance(secs(offer as i64));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(names(&w), vec!["session_unanswered"]);
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Offered);
    Ok(())
}
