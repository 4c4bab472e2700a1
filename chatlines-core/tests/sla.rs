//! SLA (issue 9, behaviour 6): per-line targets for the first response,
//! the next response (each client message after an operator reply starts
//! it again) and the resolution, optionally counted in working hours only.
//! The session carries its due times and states; the warning (at a
//! percentage of the target) and the breach are timers that log
//! `SlaWarning` and `SlaBreached`; breaches are kept for reports per line
//! and period. Off by default. Time is a `ManualClock`; `Hub::run_due`
//! fires what is due.

mod common;

use chatlines_core::{
    Clock, Error, Event, LineConfig, LineField, ManualClock, OpenInterval, Priority, PriorityCause,
    SlaSettings, SlaState, SlaTarget, TimerKind, WorkingHours,
};
use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
use common::*;
use std::sync::Arc;
use std::time::Duration;

fn world() -> (World, Arc<ManualClock>) {
    world_at(DateTime::<Utc>::UNIX_EPOCH)
}

fn world_at(start: DateTime<Utc>) -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start));
    let w = World::with_clock(clock.clone());
    (w, clock)
}

fn line_with(sla: SlaSettings) -> LineConfig {
    staff_line("Desk").sla(sla)
}

fn first_response(secs: u64) -> SlaSettings {
    SlaSettings::default()
        .first_response(Duration::from_secs(secs))
        .warning_percent(80)
}

/// The SLA events among `events`: (name, target, due time).
fn sla_events(events: &[Event]) -> Vec<(&'static str, SlaTarget, DateTime<Utc>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SlaWarning { target, due_at, .. } => Some(("sla_warning", *target, *due_at)),
            Event::SlaBreached { target, due_at, .. } => Some(("sla_breached", *target, *due_at)),
            _ => None,
        })
        .collect()
}

fn far() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .single()
        .expect("a time")
}

#[tokio::test]
async fn the_first_response_warns_then_breaches() -> TestResult {
    let (w, clock) = world();
    let line = w.line(line_with(first_response(100))).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    let written = posted.message.created_at;
    let sla = posted.session.sla.expect("the session carries its clocks");
    let clock_of = sla.first_response.expect("a first-response clock");
    assert_eq!(clock_of.due_at, written + secs(100));
    assert_eq!(clock_of.warn_at, Some(written + secs(80)));
    assert_eq!(clock_of.state, SlaState::Ok);
    assert!(
        sla.resolution.is_none(),
        "no resolution target on this line"
    );
    let kinds: Vec<TimerKind> = w
        .store
        .session_timers(posted.session.id)
        .await?
        .iter()
        .map(|t| t.kind)
        .collect();
    assert!(kinds.contains(&TimerKind::SlaFirstResponse), "{kinds:?}");
    w.events.drain();

    clock.advance(secs(79));
    w.hub.run_due(clock.now(), 100).await?;
    assert!(sla_events(&w.events.drain()).is_empty(), "not yet");

    clock.advance(secs(2));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let events = w.events.drain();
    assert_eq!(
        sla_events(&events),
        vec![("sla_warning", SlaTarget::FirstResponse, written + secs(100))]
    );
    let stored = w.stored_session(posted.session.id).await?;
    let state = stored.sla.and_then(|s| s.first_response).map(|c| c.state);
    assert_eq!(state, Some(SlaState::Warning));
    assert_eq!(stored.version, posted.session.version, "the version stays");

    clock.advance(secs(20));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    assert_eq!(
        sla_events(&w.events.drain()),
        vec![(
            "sla_breached",
            SlaTarget::FirstResponse,
            written + secs(100)
        )]
    );
    let stored = w.stored_session(posted.session.id).await?;
    let state = stored.sla.and_then(|s| s.first_response).map(|c| c.state);
    assert_eq!(state, Some(SlaState::Breached));
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());

    // The breach is kept for the line's reports.
    let report = w
        .hub
        .sla_breaches(&user("sue"), line.id, written, far(), 100)
        .await?;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].session, posted.session.id);
    assert_eq!(report[0].target, SlaTarget::FirstResponse);
    assert_eq!(report[0].due_at, written + secs(100));
    // Outside the period: nothing.
    let before = w
        .hub
        .sla_breaches(&user("sue"), line.id, written, written + secs(100), 100)
        .await?;
    assert!(before.is_empty(), "the period ends before the due time");
    // Administrators read it too; operators do not.
    let by_admin = w
        .hub
        .sla_breaches(&user(ADMIN), line.id, written, far(), 100)
        .await?;
    assert_eq!(by_admin, report);
    let refused = w
        .hub
        .sla_breaches(&user("ann"), line.id, written, far(), 100)
        .await;
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    let backwards = w
        .hub
        .sla_breaches(&user("sue"), line.id, far(), written, 100)
        .await;
    assert!(matches!(backwards, Err(Error::InvalidInput { .. })));

    // A late reply does not undo the breach, and nothing more is due.
    w.hub.take(&user("ann"), posted.session.id).await?;
    w.hub
        .reply(&user("ann"), posted.session.id, text("sorry"))
        .await?;
    let stored = w.stored_session(posted.session.id).await?;
    let first = stored.sla.and_then(|s| s.first_response).expect("kept");
    assert_eq!(first.state, SlaState::Breached);
    assert!(first.stopped_at.is_some());
    Ok(())
}

#[tokio::test]
async fn a_breach_raises_the_priority_when_the_line_says_so() -> TestResult {
    let (w, clock) = world();
    let config = line_with(SlaSettings::default().first_response(Duration::from_secs(100)))
        .offer_timeout(Duration::from_secs(120))
        .raise_priority_on_sla_breach(Priority::Urgent);
    let line = w.line(config).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    assert_eq!(posted.session.priority, Priority::Normal);
    w.events.drain();

    clock.advance(secs(100));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let events = w.events.drain();
    let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
    assert_eq!(names, vec!["sla_breached", "session_priority_changed"]);
    assert!(
        matches!(
            &events[1],
            Event::SessionPriorityChanged {
                from: Priority::Normal,
                to: Priority::Urgent,
                cause: PriorityCause::SlaBreach,
                ..
            }
        ),
        "{events:?}"
    );
    let stored = w.stored_session(posted.session.id).await?;
    assert_eq!(stored.priority, Priority::Urgent);
    assert_eq!(stored.version, posted.session.version + 1);
    let offered = w
        .hub
        .offered_sessions(&user("ann"), Default::default())
        .await?;
    assert_eq!(offered.items[0].priority, Priority::Urgent);

    // The offer timeout armed before the raise is still current.
    clock.advance(secs(20));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.fired, 1);
    let names: Vec<&str> = w.events.drain().iter().map(|e| e.name()).collect();
    assert_eq!(names, vec!["session_unanswered"]);

    // A line without the setting keeps the priority.
    let plain = w
        .line(
            staff_line("Other")
                .sla(SlaSettings::default().first_response(Duration::from_secs(100))),
        )
        .await?;
    let other = w.hub.write(&user("carl"), plain.id, text("hello")).await?;
    clock.advance(secs(100));
    w.hub.run_due(clock.now(), 100).await?;
    let stored = w.stored_session(other.session.id).await?;
    assert_eq!(stored.priority, Priority::Normal);
    assert_eq!(
        stored.sla.and_then(|s| s.first_response).map(|c| c.state),
        Some(SlaState::Breached)
    );
    Ok(())
}

#[tokio::test]
async fn a_reply_in_time_gives_no_breach() -> TestResult {
    let (w, clock) = world();
    let line = w.line(line_with(first_response(100))).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    w.hub.take(&user("ann"), posted.session.id).await?;
    clock.advance(secs(50));
    w.hub
        .reply(&user("ann"), posted.session.id, text("hi"))
        .await?;
    let stored = w.stored_session(posted.session.id).await?;
    let first = stored.sla.and_then(|s| s.first_response).expect("kept");
    assert!(first.stopped_at.is_some(), "answered");
    assert_eq!(first.state, SlaState::Ok);
    let kinds: Vec<TimerKind> = w
        .store
        .session_timers(posted.session.id)
        .await?
        .iter()
        .map(|t| t.kind)
        .collect();
    assert!(!kinds.contains(&TimerKind::SlaFirstResponse), "{kinds:?}");
    w.events.drain();
    clock.advance(secs(1000));
    w.hub.run_due(clock.now(), 100).await?;
    assert!(sla_events(&w.events.drain()).is_empty());
    let report = w
        .hub
        .sla_breaches(
            &user("sue"),
            line.id,
            DateTime::<Utc>::UNIX_EPOCH,
            far(),
            100,
        )
        .await?;
    assert!(report.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_next_response_restarts_on_each_client_message_after_a_reply() -> TestResult {
    let (w, clock) = world();
    let sla = SlaSettings::default().next_response(Duration::from_secs(60));
    let line = w.line(line_with(sla)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    let id = posted.session.id;
    let none = posted.session.sla.expect("clocks").next_response;
    assert!(none.is_none(), "no next response before a reply");
    w.hub.take(&user("ann"), id).await?;
    w.hub.reply(&user("ann"), id, text("hi")).await?;

    clock.advance(secs(10));
    let second = w.hub.write(&user("carl"), line.id, text("and?")).await?;
    let started = second.message.created_at;
    let next = second.session.sla.and_then(|s| s.next_response);
    assert_eq!(next.map(|c| c.due_at), Some(started + secs(60)));

    // More client messages before the reply do not restart it.
    clock.advance(secs(30));
    let third = w.hub.write(&user("carl"), line.id, text("hello?")).await?;
    let next = third.session.sla.and_then(|s| s.next_response);
    assert_eq!(next.map(|c| c.due_at), Some(started + secs(60)));

    clock.advance(secs(10));
    w.hub.reply(&user("ann"), id, text("here")).await?;
    let stored = w.stored_session(id).await?;
    let next = stored.sla.and_then(|s| s.next_response).expect("kept");
    assert!(next.stopped_at.is_some() && next.state == SlaState::Ok);

    // The next client message after that reply starts it again.
    clock.advance(secs(10));
    let fourth = w
        .hub
        .write(&user("carl"), line.id, text("one more"))
        .await?;
    let restarted = fourth.message.created_at;
    let next = fourth
        .session
        .sla
        .and_then(|s| s.next_response)
        .expect("running");
    assert_eq!(next.due_at, restarted + secs(60));
    assert!(next.is_running());
    w.events.drain();

    // The old clock's due time passes without effect; the new one breaches.
    clock.advance(secs(59));
    w.hub.run_due(clock.now(), 100).await?;
    assert!(sla_events(&w.events.drain()).is_empty());
    clock.advance(secs(2));
    w.hub.run_due(clock.now(), 100).await?;
    assert_eq!(
        sla_events(&w.events.drain()),
        vec![(
            "sla_breached",
            SlaTarget::NextResponse,
            restarted + secs(60)
        )]
    );
    Ok(())
}

#[tokio::test]
async fn the_resolution_breaches_unless_closed_in_time() -> TestResult {
    let (w, clock) = world();
    let sla = SlaSettings::default().resolution(Duration::from_secs(300));
    let line = w.line(line_with(sla)).await?;
    let quick = w.hub.write(&user("carl"), line.id, text("quick")).await?;
    let slow = w.hub.write(&user("dora"), line.id, text("slow")).await?;
    for posted in [&quick, &slow] {
        w.hub.take(&user("ann"), posted.session.id).await?;
        w.hub
            .reply(&user("ann"), posted.session.id, text("on it"))
            .await?;
    }
    clock.advance(secs(100));
    let closed = w.hub.close(&user("ann"), quick.session.id).await?;
    let resolution = closed.sla.and_then(|s| s.resolution).expect("kept");
    assert_eq!(resolution.stopped_at, closed.closed_at);
    assert_eq!(resolution.state, SlaState::Ok);
    w.events.drain();

    clock.advance(secs(201));
    w.hub.run_due(clock.now(), 100).await?;
    let events = w.events.drain();
    let breached: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::SlaBreached {
                session,
                target,
                operator,
                ..
            } => Some((*session, *target, operator.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        breached,
        vec![(slow.session.id, SlaTarget::Resolution, Some(user("ann")))],
        "the breach names the operator"
    );
    let report = w
        .hub
        .sla_breaches(
            &user("sue"),
            line.id,
            DateTime::<Utc>::UNIX_EPOCH,
            far(),
            100,
        )
        .await?;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].session, slow.session.id);
    Ok(())
}

#[tokio::test]
async fn working_hours_counting_skips_the_closed_night() -> TestResult {
    // Monday 2026-12-07, 16:55 UTC; the line is open 09:00–17:00 on
    // weekdays.
    let monday = Utc
        .with_ymd_and_hms(2026, 12, 7, 16, 55, 0)
        .single()
        .ok_or("a time")?;
    let (w, clock) = world_at(monday);
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("a time");
    use Weekday::*;
    let hours = WorkingHours::new("UTC").weekly(
        &[Mon, Tue, Wed, Thu, Fri],
        OpenInterval::new(t(9, 0), t(17, 0)),
    );
    let sla = SlaSettings::default()
        .first_response(Duration::from_secs(600))
        .working_hours_only(true);
    let line = w.line(line_with(sla).hours(hours)).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("late")).await?;
    let written = posted.message.created_at;
    let due = posted
        .session
        .sla
        .and_then(|s| s.first_response)
        .map(|c| c.due_at)
        .expect("a due time");
    // Five minutes on Monday, five on Tuesday from 09:00.
    let tuesday_nine = Utc
        .with_ymd_and_hms(2026, 12, 8, 9, 0, 0)
        .single()
        .ok_or("a time")?;
    assert_eq!(
        due,
        tuesday_nine + (secs(600) - (monday + secs(300) - written))
    );
    assert!(due >= tuesday_nine + secs(300) && due < tuesday_nine + secs(301));
    w.events.drain();

    // The night passes: nothing breached at 09:04 on Tuesday.
    clock.advance(tuesday_nine + secs(240) - clock.now());
    w.hub.run_due(clock.now(), 100).await?;
    assert!(sla_events(&w.events.drain()).is_empty());
    clock.advance(secs(120));
    w.hub.run_due(clock.now(), 100).await?;
    assert_eq!(
        sla_events(&w.events.drain()),
        vec![("sla_breached", SlaTarget::FirstResponse, due)]
    );
    Ok(())
}

#[tokio::test]
async fn lines_without_targets_behave_as_before() -> TestResult {
    let (w, clock) = world();
    let line = w.line(staff_line("Plain")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    assert!(posted.session.sla.is_none());
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    clock.advance(secs(24 * 3600));
    assert_eq!(w.hub.run_due(clock.now(), 100).await?.claimed, 0);
    Ok(())
}

#[tokio::test]
async fn bad_targets_are_refused_at_their_fields() -> TestResult {
    let (w, _) = world();
    let cases = [
        (
            SlaSettings::default().first_response(Duration::from_secs(0)),
            LineField::SlaFirstResponse,
        ),
        (
            first_response(60).warning_percent(100),
            LineField::SlaWarning,
        ),
        (
            first_response(60).working_hours_only(true),
            LineField::SlaWorkingHours,
        ),
        (SlaSettings::default(), LineField::SlaFirstResponse),
        (
            SlaSettings::default().resolution(Duration::from_secs(31 * 24 * 3600)),
            LineField::SlaResolution,
        ),
    ];
    for (sla, field) in cases {
        let err = w.line(line_with(sla.clone())).await.expect_err("refused");
        let err = err.downcast::<Error>().map_err(|_| "not a hub error")?;
        match *err {
            Error::InvalidLine(problems) => assert!(
                problems.0.iter().any(|p| p.field() == field),
                "{sla:?}: {problems:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(w.hub.lines(&user(ADMIN)).await?.is_empty(), "nothing saved");
    Ok(())
}
