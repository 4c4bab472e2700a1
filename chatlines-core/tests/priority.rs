//! Priority (issue 9, behaviour 7): a session has a priority — set by the
//! host at ingest, by a rule of the line on the source or the linked
//! account, or by a supervisor — and queues, offers and drains serve the
//! highest priority first, then the longest waiting. With priority aging
//! a low session leaves the queue in bounded time. Off by default: every
//! session is normal and the order is the opening order. Time is a
//! `ManualClock`.

mod common;

use chatlines_core::priority::SourceMatch;
use chatlines_core::{
    Audience, Clock, Error, Event, InboundMessage, IngestOptions, LineConfig, LineField,
    ManualClock, NewSource, Priority, PriorityCause, RoutingRule, SessionStatus, TimerKind,
};
use common::*;
use std::sync::Arc;
use std::time::Duration;

fn world() -> (World, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let w = World::with_clock(clock.clone());
    w.dir.add_to_group("solo", "ann");
    (w, clock)
}

/// One operator (`ann`) who holds one session at a time: everything else
/// waits in the queue.
fn solo() -> LineConfig {
    LineConfig::new("Solo")
        .operators("solo")
        .supervisors(SUPS)
        .client(Audience::Group(STAFF.into()))
        .rule(RoutingRule::LeastLoaded { capacity: 1 })
}

fn telegram() -> NewSource {
    NewSource::new("telegram", "@bot", "tg-config")
}

fn whatsapp() -> NewSource {
    NewSource::new("whatsapp", "+1 555", "wa-config")
}

fn msg(id: &str, from: &str) -> InboundMessage {
    InboundMessage::text(id, from, from, "hello")
}

fn priority_events(events: &[Event]) -> Vec<(Priority, Priority, PriorityCause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionPriorityChanged {
                from, to, cause, ..
            } => Some((*from, *to, cause.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_later_urgent_session_is_assigned_before_an_older_normal_one() -> TestResult {
    let (w, clock) = world();
    let line = w.line(solo()).await?;
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let busy = w.hub.write(&user("carl"), line.id, text("first")).await?;
    assert_eq!(busy.session.status, assigned_to("ann"));

    clock.advance(secs(10));
    let older = w.hub.ingest(tg.id, msg("m1", "olga")).await?;
    assert_eq!(older.session.priority, Priority::Normal);
    assert_eq!(older.session.status, SessionStatus::Queued);
    clock.advance(secs(10));
    let urgent = w
        .hub
        .ingest_with(
            tg.id,
            msg("m2", "pavel"),
            IngestOptions::default().priority(Priority::Urgent),
        )
        .await?;
    assert_eq!(urgent.session.priority, Priority::Urgent);
    assert_eq!(urgent.session.status, SessionStatus::Queued);
    assert_eq!(
        priority_events(&w.events.events()),
        vec![(Priority::Normal, Priority::Urgent, PriorityCause::Host)]
    );
    // A later message of the same client leaves the priority alone.
    let again = w
        .hub
        .ingest_with(
            tg.id,
            msg("m3", "pavel"),
            IngestOptions::default().priority(Priority::Low),
        )
        .await?;
    assert!(!again.opened);
    assert_eq!(again.session.priority, Priority::Urgent);

    let queue: Vec<_> = w.store.queued_sessions(line.id, 10).await?;
    let ids: Vec<_> = queue.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![urgent.session.id, older.session.id]);

    // Ann's slot frees: the drain serves the urgent session first.
    w.hub.close(&user("ann"), busy.session.id).await?;
    assert_eq!(
        w.stored_session(urgent.session.id).await?.status,
        assigned_to("ann")
    );
    assert_eq!(
        w.stored_session(older.session.id).await?.status,
        SessionStatus::Queued
    );
    Ok(())
}

#[tokio::test]
async fn offered_sessions_are_listed_by_priority_then_waiting_time() -> TestResult {
    let (w, clock) = world();
    // First come, nobody present: every session stays offered.
    for op in ["ann", "bob", "cat"] {
        w.dir
            .set_availability(op, chatlines_core::Availability::Absent);
    }
    let line = w.line(staff_line("Help")).await?;
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let a = w.hub.ingest(tg.id, msg("m1", "a")).await?;
    clock.advance(secs(1));
    let b = w
        .hub
        .ingest_with(
            tg.id,
            msg("m2", "b"),
            IngestOptions::default().priority(Priority::Low),
        )
        .await?;
    clock.advance(secs(1));
    let c = w.hub.ingest(tg.id, msg("m3", "c")).await?;
    clock.advance(secs(1));
    let d = w
        .hub
        .ingest_with(
            tg.id,
            msg("m4", "d"),
            IngestOptions::default().priority(Priority::High),
        )
        .await?;
    for s in [&a, &b, &c, &d] {
        assert_eq!(s.session.status, SessionStatus::Offered);
    }
    let offered: Vec<_> = w
        .store
        .offered_sessions(line.id, 10)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        offered,
        vec![d.session.id, a.session.id, c.session.id, b.session.id]
    );
    // A limit takes the first in that order.
    let first: Vec<_> = w
        .store
        .offered_sessions(line.id, 2)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(first, vec![d.session.id, a.session.id]);
    // Ann comes back: her list of offers is in the same order.
    w.dir
        .set_availability("ann", chatlines_core::Availability::Present);
    w.hub.availability_changed(&user("ann")).await?;
    let hers: Vec<_> = w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(hers, offered);
    Ok(())
}

#[tokio::test]
async fn a_supervisor_change_reorders_the_queue() -> TestResult {
    let (w, clock) = world();
    let line = w.line(solo()).await?;
    let busy = w.hub.write(&user("carl"), line.id, text("first")).await?;
    assert_eq!(busy.session.status, assigned_to("ann"));
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let older = w.hub.ingest(tg.id, msg("m1", "olga")).await?;
    clock.advance(secs(5));
    let newer = w.hub.ingest(tg.id, msg("m2", "pavel")).await?;
    let order = |v: Vec<chatlines_core::Session>| v.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        order(w.store.queued_sessions(line.id, 10).await?),
        vec![older.session.id, newer.session.id]
    );

    // Only supervisors of the line (and administrators) set priorities.
    let refused = w
        .hub
        .set_priority(&user("ann"), newer.session.id, Priority::High)
        .await;
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    assert_eq!(
        w.stored_session(newer.session.id).await?.priority,
        Priority::Normal
    );

    w.events.drain();
    let raised = w
        .hub
        .set_priority(&user("sue"), newer.session.id, Priority::High)
        .await?;
    assert_eq!(raised.priority, Priority::High);
    assert_eq!(raised.status, SessionStatus::Queued, "status kept");
    assert_eq!(raised.version, newer.session.version + 1);
    assert_eq!(
        priority_events(&w.events.drain()),
        vec![(
            Priority::Normal,
            Priority::High,
            PriorityCause::Supervisor { user: user("sue") }
        )]
    );
    assert_eq!(
        order(w.store.queued_sessions(line.id, 10).await?),
        vec![newer.session.id, older.session.id]
    );
    // Setting it again changes nothing.
    let same = w
        .hub
        .set_priority(&user("sue"), newer.session.id, Priority::High)
        .await?;
    assert_eq!(same.version, raised.version);
    assert!(w.events.drain().is_empty());
    // An administrator may too.
    let lowered = w
        .hub
        .set_priority(&user(ADMIN), newer.session.id, Priority::Low)
        .await?;
    assert_eq!(lowered.priority, Priority::Low);
    assert_eq!(
        order(w.store.queued_sessions(line.id, 10).await?),
        vec![older.session.id, newer.session.id]
    );

    // A closed session's priority is not changed (typed, nothing written).
    w.hub.close(&user("sue"), older.session.id).await?;
    let closed = w
        .hub
        .set_priority(&user("sue"), older.session.id, Priority::Urgent)
        .await;
    assert!(
        matches!(closed, Err(Error::SessionClosed { .. })),
        "{closed:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_priority_change_does_not_make_the_offer_timeout_stale() -> TestResult {
    let (w, clock) = world();
    for op in ["ann", "bob", "cat"] {
        w.dir
            .set_availability(op, chatlines_core::Availability::Absent);
    }
    let line = w
        .line(staff_line("Help").offer_timeout(Duration::from_secs(60)))
        .await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hi")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    clock.advance(secs(30));
    let set = w
        .hub
        .set_priority(&user("sue"), posted.session.id, Priority::Urgent)
        .await?;
    let timers = w.store.session_timers(set.id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::OfferTimeout);
    assert_eq!(
        timers[0].armed_version, set.version,
        "moved to the new version"
    );
    clock.advance(secs(30));
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert_eq!((report.fired, report.stale), (1, 0));
    let unanswered = w
        .events
        .events()
        .iter()
        .filter(|e| e.name() == "session_unanswered")
        .count();
    assert_eq!(unanswered, 1);
    Ok(())
}

#[tokio::test]
async fn rules_on_the_source_and_the_linked_account_set_the_priority() -> TestResult {
    let (w, _clock) = world();
    let item = w.apps.add_item(&CLIENTS_APP.into(), Default::default());
    let config = solo()
        .account_app(CLIENTS_APP)
        .priority_by_source(SourceMatch::Kind("whatsapp".into()), Priority::High)
        .priority_by_source(SourceMatch::Internal, Priority::Low)
        .priority_by_account(item.clone(), Priority::Urgent);
    let line = w.line(config).await?;
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let wa = w.hub.bind_source(&user(ADMIN), line.id, whatsapp()).await?;

    let internal = w.hub.write(&user("carl"), line.id, text("hi")).await?;
    assert_eq!(internal.session.priority, Priority::Low);
    let by_tg = w.hub.ingest(tg.id, msg("t1", "olga")).await?;
    assert_eq!(by_tg.session.priority, Priority::Normal, "no rule matches");
    let by_wa = w.hub.ingest(wa.id, msg("w1", "pavel")).await?;
    assert_eq!(by_wa.session.priority, Priority::High);
    // The host's priority wins over the rules.
    let host = w
        .hub
        .ingest_with(
            wa.id,
            msg("w2", "rita"),
            IngestOptions::default().priority(Priority::Low),
        )
        .await?;
    assert_eq!(host.session.priority, Priority::Low);
    let causes: Vec<_> = priority_events(&w.events.events())
        .into_iter()
        .map(|(_, to, cause)| (to, cause))
        .collect();
    assert_eq!(
        causes,
        vec![
            (Priority::Low, PriorityCause::Rule),
            (Priority::High, PriorityCause::Rule),
            (Priority::Low, PriorityCause::Host),
        ]
    );

    // Carl's account is linked to the item: his next session is urgent
    // (the highest matching rule wins over "internal: low").
    w.hub
        .link_existing_account(&user("sue"), internal.session.id, item)
        .await?;
    w.hub.close(&user("sue"), internal.session.id).await?;
    let linked = w.hub.write(&user("carl"), line.id, text("again")).await?;
    assert!(linked.opened);
    assert_eq!(linked.session.priority, Priority::Urgent);
    Ok(())
}

#[tokio::test]
async fn bad_priority_settings_are_refused_with_the_field() -> TestResult {
    let (w, _clock) = world();
    let cases = [
        (
            solo().priority_aging(Duration::from_secs(0)),
            LineField::PriorityAging,
        ),
        (
            solo().priority_by_account("acme", Priority::High),
            LineField::PriorityRules,
        ),
        (
            solo()
                .priority_by_source(SourceMatch::Kind("sms".into()), Priority::High)
                .priority_by_source(SourceMatch::Kind("sms".into()), Priority::Low),
            LineField::PriorityRules,
        ),
        (
            solo().priority_by_source(SourceMatch::Kind(" ".into()), Priority::High),
            LineField::PriorityRules,
        ),
    ];
    for (config, field) in cases {
        let refused = w.hub.create_line(&user(ADMIN), config).await;
        let problems = match &refused {
            Err(e) => e.field_problems(),
            Ok(_) => panic!("accepted"),
        };
        assert!(
            problems.iter().any(|p| p.field == field.name()),
            "{field}: {problems:?}"
        );
    }
    assert!(w.store.lines().await?.is_empty(), "nothing was created");
    Ok(())
}

#[tokio::test]
async fn aging_lets_a_low_session_out_in_bounded_time() -> TestResult {
    const STEP: i64 = 60;
    let (w, clock) = world();
    let line = w
        .line(
            solo()
                .priority_by_source(SourceMatch::Internal, Priority::Low)
                .priority_aging(Duration::from_secs(STEP as u64)),
        )
        .await?;
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let busy = w.hub.ingest(tg.id, msg("m0", "zed")).await?;
    assert_eq!(busy.session.status, assigned_to("ann"));

    let t0 = clock.now();
    let low = w.hub.write(&user("carl"), line.id, text("low")).await?;
    assert_eq!(low.session.priority, Priority::Low);
    // Opened within 3 steps after it: an urgent session still goes first.
    clock.advance(secs(100));
    let urgent = |id: &str, from: &str| {
        w.hub.ingest_with(
            tg.id,
            msg(id, from),
            IngestOptions::default().priority(Priority::Urgent),
        )
    };
    let early = urgent("m1", "olga").await?;
    // Opened more than 3 steps after it: the low session goes first.
    clock.advance(secs(3 * STEP - 100 + 1));
    let late = urgent("m2", "pavel").await?;
    let late_normal = w.hub.ingest(tg.id, msg("m3", "rita")).await?;

    let queue: Vec<_> = w
        .store
        .queued_sessions(line.id, 10)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        queue,
        vec![
            early.session.id,
            low.session.id,
            late.session.id,
            late_normal.session.id
        ]
    );
    // The effective priority shown for it has risen to urgent by now.
    assert_eq!(
        Priority::Low.effective(t0, clock.now(), Some(secs(STEP))),
        Priority::Urgent
    );

    w.hub.close(&user("ann"), busy.session.id).await?;
    assert_eq!(
        w.stored_session(early.session.id).await?.status,
        assigned_to("ann")
    );
    w.hub.close(&user("ann"), early.session.id).await?;
    assert_eq!(
        w.stored_session(low.session.id).await?.status,
        assigned_to("ann"),
        "the low session left the queue before the later urgent one"
    );
    assert_eq!(
        w.stored_session(late.session.id).await?.status,
        SessionStatus::Queued
    );
    Ok(())
}

#[tokio::test]
async fn without_aging_an_urgent_session_always_goes_first() -> TestResult {
    let (w, clock) = world();
    let line = w
        .line(solo().priority_by_source(SourceMatch::Internal, Priority::Low))
        .await?;
    let tg = w.hub.bind_source(&user(ADMIN), line.id, telegram()).await?;
    let low = w.hub.write(&user("carl"), line.id, text("low")).await?;
    assert_eq!(low.session.status, assigned_to("ann"));
    let waiting_low = w.hub.write(&user("dora"), line.id, text("low")).await?;
    clock.advance(secs(7 * 24 * 3600));
    let urgent = w
        .hub
        .ingest_with(
            tg.id,
            msg("m1", "olga"),
            IngestOptions::default().priority(Priority::Urgent),
        )
        .await?;
    let queue: Vec<_> = w
        .store
        .queued_sessions(line.id, 10)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(queue, vec![urgent.session.id, waiting_low.session.id]);
    Ok(())
}

#[tokio::test]
async fn at_the_opening_the_urgent_waiting_session_is_routed_first() -> TestResult {
    use chatlines_core::{OpenInterval, WorkingHours};
    use chrono::{NaiveTime, TimeZone, Utc, Weekday::*};
    // Friday 2026-12-11 19:00 UTC, after hours; the opening is Monday 9:00.
    let friday = Utc
        .with_ymd_and_hms(2026, 12, 11, 19, 0, 0)
        .single()
        .ok_or("an instant")?;
    let monday = Utc
        .with_ymd_and_hms(2026, 12, 14, 9, 0, 1)
        .single()
        .ok_or("an instant")?;
    let clock = Arc::new(ManualClock::new(friday));
    let w = World::with_clock(clock.clone());
    w.dir.add_to_group("solo", "ann");
    let nine = NaiveTime::from_hms_opt(9, 0, 0).ok_or("a time")?;
    let six = NaiveTime::from_hms_opt(18, 0, 0).ok_or("a time")?;
    let hours =
        WorkingHours::new("UTC").weekly(&[Mon, Tue, Wed, Thu, Fri], OpenInterval::new(nine, six));
    let line = w.line(solo().hours(hours)).await?;
    let older = w.hub.write(&user("carl"), line.id, text("first")).await?;
    clock.advance(secs(300));
    let newer = w.hub.write(&user("dora"), line.id, text("second")).await?;
    assert_eq!(newer.session.status, SessionStatus::Queued, "off hours");
    // Raised while waiting: the opening timer stays current.
    let raised = w
        .hub
        .set_priority(&user("sue"), newer.session.id, Priority::Urgent)
        .await?;
    let timers = w.store.session_timers(raised.id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(
        (timers[0].kind, timers[0].armed_version),
        (TimerKind::HoursOpen, raised.version)
    );

    clock.advance(monday - clock.now());
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert!(report.failures.is_empty());
    assert_eq!(report.fired, 1, "one opening routes the line");
    assert_eq!(
        w.stored_session(newer.session.id).await?.status,
        assigned_to("ann"),
        "the urgent session first"
    );
    assert_eq!(
        w.stored_session(older.session.id).await?.status,
        SessionStatus::Queued
    );
    Ok(())
}
