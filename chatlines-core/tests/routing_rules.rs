//! Routing rules beyond the seed's two: round robin and least loaded,
//! through the Hub, with queueing, freed slots, arriving operators and
//! drains.

mod common;

use chatlines_core::{
    Audience, Availability, LineConfig, RouteReason, RoutingRule, Session, SessionStatus,
    Transition, UserId,
};
use common::*;

/// A line for the `clients` group (c00, c01, …) operated by `ops`.
async fn line_with(w: &World, rule: RoutingRule) -> TestResult<chatlines_core::Line> {
    for i in 0..20 {
        w.dir.add_to_group("clients", format!("c{i:02}").as_str());
    }
    w.line(
        LineConfig::new("Routed")
            .operators(OPS)
            .supervisors(SUPS)
            .client(Audience::Group("clients".into()))
            .rule(rule),
    )
    .await
}

/// Client `i` writes its first message; returns the routed session.
async fn open(w: &World, line: &chatlines_core::Line, i: usize) -> TestResult<Session> {
    Ok(w.hub
        .write(&user(&format!("c{i:02}")), line.id, text("hello"))
        .await?
        .session)
}

fn op(s: &Session) -> Option<&str> {
    s.operator().map(UserId::as_str)
}

#[tokio::test]
async fn round_robin_rotates_over_present_operators() -> TestResult {
    let w = World::new();
    w.dir.set_availability("cat", Availability::Absent);
    let line = line_with(&w, RoutingRule::RoundRobin).await?;
    let mut got = Vec::new();
    for i in 0..6 {
        let s = open(&w, &line, i).await?;
        assert_eq!(s.reason, RouteReason::RoundRobin);
        got.push(op(&s).ok_or("not assigned")?.to_owned());
    }
    // ann and bob alternate; cat is absent.
    for pair in got.chunks(2) {
        let mut p = pair.to_vec();
        p.sort();
        assert_eq!(p, ["ann", "bob"], "{got:?}");
    }
    for w2 in got.windows(2) {
        assert_ne!(w2[0], w2[1], "{got:?}");
    }

    // cat arrives and joins the rotation.
    w.set_availability("cat", Availability::Present).await?;
    let mut next = Vec::new();
    for i in 6..12 {
        next.push(
            op(&open(&w, &line, i).await?)
                .ok_or("not assigned")?
                .to_owned(),
        );
    }
    for triple in next.chunks(3) {
        let mut t = triple.to_vec();
        t.sort();
        assert_eq!(t, ["ann", "bob", "cat"], "{next:?}");
    }
    Ok(())
}

#[tokio::test]
async fn round_robin_queues_when_nobody_is_present_and_hands_out_on_arrival() -> TestResult {
    let w = World::new();
    for o in ["ann", "bob", "cat"] {
        w.dir.set_availability(o, Availability::Absent);
    }
    let line = line_with(&w, RoutingRule::RoundRobin).await?;
    let s1 = open(&w, &line, 0).await?;
    let s2 = open(&w, &line, 1).await?;
    for s in [&s1, &s2] {
        assert_eq!(s.status, SessionStatus::Queued);
        assert_eq!(s.reason, RouteReason::NoOperatorAvailable);
    }
    w.set_availability("bob", Availability::Present).await?;
    for s in [&s1, &s2] {
        assert_eq!(w.stored_session(s.id).await?.operator(), Some(&user("bob")));
    }
    assert!(w.store.queued_sessions(line.id, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn least_loaded_fills_the_emptiest_and_queues_at_capacity() -> TestResult {
    let w = World::new();
    w.dir.set_availability("cat", Availability::Absent);
    let line = line_with(&w, RoutingRule::LeastLoaded { capacity: 2 }).await?;
    let mut sessions = Vec::new();
    for i in 0..6 {
        sessions.push(open(&w, &line, i).await?);
    }
    let ops: Vec<_> = sessions.iter().map(|s| op(s).map(str::to_owned)).collect();
    // Ties go by user id; the load evens out: ann, bob, ann, bob, then full.
    assert_eq!(
        ops,
        vec![
            Some("ann".to_owned()),
            Some("bob".to_owned()),
            Some("ann".to_owned()),
            Some("bob".to_owned()),
            None,
            None
        ]
    );
    assert_eq!(sessions[0].reason, RouteReason::LeastLoaded);
    for s in &sessions[4..] {
        assert_eq!(s.status, SessionStatus::Queued);
        assert_eq!(s.reason, RouteReason::NoOperatorAvailable);
    }
    let roster = w.store.roster(line.id).await?;
    for e in &roster {
        assert!(e.load <= 2, "{roster:?}");
    }

    // Closing one of ann's sessions frees a slot: the oldest queued goes to her.
    w.hub.close(&user("ann"), sessions[0].id).await?;
    assert_eq!(
        w.stored_session(sessions[4].id).await?.operator(),
        Some(&user("ann"))
    );
    assert_eq!(
        w.stored_session(sessions[5].id).await?.status,
        SessionStatus::Queued
    );

    // bob hands a session back: it is offered to the operators (not routed
    // straight back to him), and the slot it freed goes to the oldest queued
    // session.
    let back = w.hub.return_to_queue(&user("bob"), sessions[1].id).await?;
    assert_eq!(back.status, SessionStatus::Offered);
    assert_eq!(back.reason, RouteReason::Returned { by: user("bob") });
    assert_eq!(
        w.stored_session(sessions[5].id).await?.operator(),
        Some(&user("bob"))
    );
    assert!(w.store.queued_sessions(line.id, 10).await?.is_empty());
    for e in w.store.roster(line.id).await? {
        assert!(e.load <= 2, "{e:?}");
    }

    // Everyone is full again: the next session waits until cat arrives.
    let s6 = open(&w, &line, 6).await?;
    assert_eq!(s6.status, SessionStatus::Queued);
    w.set_availability("cat", Availability::Present).await?;
    assert_eq!(
        w.stored_session(s6.id).await?.operator(),
        Some(&user("cat"))
    );
    assert!(w.store.queued_sessions(line.id, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_operator_who_becomes_present_gets_up_to_capacity() -> TestResult {
    let w = World::new();
    for o in ["ann", "bob", "cat"] {
        w.dir.set_availability(o, Availability::Absent);
    }
    let line = line_with(&w, RoutingRule::LeastLoaded { capacity: 2 }).await?;
    let mut sessions = Vec::new();
    for i in 0..3 {
        sessions.push(open(&w, &line, i).await?);
    }
    assert!(sessions.iter().all(|s| s.status == SessionStatus::Queued));
    w.set_availability("bob", Availability::Present).await?;
    // The two oldest go to bob; the third waits.
    assert_eq!(
        w.stored_session(sessions[0].id).await?.operator(),
        Some(&user("bob"))
    );
    assert_eq!(
        w.stored_session(sessions[1].id).await?.operator(),
        Some(&user("bob"))
    );
    assert_eq!(
        w.stored_session(sessions[2].id).await?.status,
        SessionStatus::Queued
    );

    // bob goes away: nothing more for him, even when a slot frees.
    w.set_availability("bob", Availability::Absent).await?;
    w.hub.close(&user("sue"), sessions[0].id).await?;
    assert_eq!(
        w.stored_session(sessions[2].id).await?.status,
        SessionStatus::Queued
    );
    w.set_availability("ann", Availability::Present).await?;
    assert_eq!(
        w.stored_session(sessions[2].id).await?.operator(),
        Some(&user("ann"))
    );
    Ok(())
}

#[tokio::test]
async fn drain_routes_sessions_left_queued() -> TestResult {
    let w = World::new();
    w.dir.set_availability("bob", Availability::Absent);
    w.dir.set_availability("cat", Availability::Absent);
    let line = line_with(&w, RoutingRule::LeastLoaded { capacity: 1 }).await?;
    let s1 = open(&w, &line, 0).await?;
    let s2 = open(&w, &line, 1).await?;
    let s3 = open(&w, &line, 2).await?;
    assert_eq!(op(&s1), Some("ann"));
    assert_eq!(s2.status, SessionStatus::Queued);
    assert_eq!(s3.status, SessionStatus::Queued);

    // Another instance closes ann's session straight in the store and dies
    // before draining: s2 stays queued although ann has room.
    w.store
        .transition(
            s1.id,
            Transition::Close { by_operator: None },
            chrono::Utc::now(),
        )
        .await?;
    assert_eq!(w.stored_session(s2.id).await?.status, SessionStatus::Queued);

    // After the restart a drain hands it out; s3 still waits (capacity 1).
    let restarted = w.another_hub();
    assert_eq!(restarted.drain().await?, 1);
    assert_eq!(
        w.stored_session(s2.id).await?.operator(),
        Some(&user("ann"))
    );
    assert_eq!(w.stored_session(s3.id).await?.status, SessionStatus::Queued);
    // Nothing more to move.
    assert_eq!(restarted.drain().await?, 0);

    // Raising the capacity (a line update) hands out the rest.
    w.hub
        .update_line(
            &user(ADMIN),
            line.id,
            1,
            LineConfig::new("Routed")
                .operators(OPS)
                .supervisors(SUPS)
                .client(Audience::Group("clients".into()))
                .rule(RoutingRule::LeastLoaded { capacity: 2 }),
        )
        .await?;
    assert_eq!(
        w.stored_session(s3.id).await?.operator(),
        Some(&user("ann"))
    );
    Ok(())
}

#[tokio::test]
async fn refresh_picks_up_directory_changes_nobody_reported() -> TestResult {
    let w = World::new();
    for o in ["ann", "bob", "cat"] {
        w.dir.set_availability(o, Availability::Absent);
    }
    let line = line_with(&w, RoutingRule::RoundRobin).await?;
    let s = open(&w, &line, 0).await?;
    assert_eq!(s.status, SessionStatus::Queued);
    // The host changes the directory without telling the hub.
    w.dir.set_availability("cat", Availability::Present);
    assert_eq!(w.hub.drain().await?, 0);
    assert_eq!(w.hub.refresh().await?, 1);
    assert_eq!(w.stored_session(s.id).await?.operator(), Some(&user("cat")));
    Ok(())
}

#[tokio::test]
async fn changing_the_operators_group_changes_who_gets_sessions() -> TestResult {
    let w = World::new();
    w.dir.add_to_group("night", "nina");
    w.dir.add_to_group("night", "ned");
    let line = line_with(&w, RoutingRule::RoundRobin).await?;
    let day = open(&w, &line, 0).await?;
    assert!(matches!(op(&day), Some("ann" | "bob" | "cat")), "{day:?}");

    w.hub
        .update_line(
            &user(ADMIN),
            line.id,
            1,
            LineConfig::new("Routed")
                .operators("night")
                .supervisors(SUPS)
                .client(Audience::Group("clients".into()))
                .rule(RoutingRule::RoundRobin),
        )
        .await?;
    let mut got = Vec::new();
    for i in 1..7 {
        got.push(
            op(&open(&w, &line, i).await?)
                .ok_or("not assigned")?
                .to_owned(),
        );
    }
    assert!(got.iter().all(|o| o == "nina" || o == "ned"), "{got:?}");
    assert_eq!(got.iter().filter(|o| *o == "ned").count(), 3, "{got:?}");
    // The day shift is no longer offered anything on this line.
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn sessions_handed_out_by_a_drain_are_announced() -> TestResult {
    let w = World::new();
    for o in ["ann", "bob", "cat"] {
        w.dir.set_availability(o, Availability::Absent);
    }
    let line = line_with(&w, RoutingRule::RoundRobin).await?;
    let s = open(&w, &line, 0).await?;
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        chatlines_core::Event::SessionQueued { session, .. } if *session == s.id
    )));
    w.set_availability("cat", Availability::Present).await?;
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        chatlines_core::Event::SessionAssigned { session, operator, .. }
            if *session == s.id && operator == &user("cat")
    )));
    Ok(())
}

#[tokio::test]
async fn a_slot_freed_by_a_supervisors_reassignment_is_used() -> TestResult {
    let w = World::new();
    w.dir.set_availability("cat", Availability::Absent);
    let line = line_with(&w, RoutingRule::LeastLoaded { capacity: 1 }).await?;
    let s1 = open(&w, &line, 0).await?;
    let s2 = open(&w, &line, 1).await?;
    let s3 = open(&w, &line, 2).await?;
    assert_eq!((op(&s1), op(&s2)), (Some("ann"), Some("bob")));
    assert_eq!(s3.status, SessionStatus::Queued);

    // The supervisor gives ann's session to bob (supervisors may exceed the
    // capacity); ann now has room, so the waiting session goes to her.
    w.hub.assign(&user("sue"), s1.id, &user("bob")).await?;
    assert_eq!(
        w.stored_session(s3.id).await?.operator(),
        Some(&user("ann"))
    );
    assert!(w.store.queued_sessions(line.id, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_session_returned_to_the_queue_does_not_come_straight_back() -> TestResult {
    for rule in [
        RoutingRule::RoundRobin,
        RoutingRule::LeastLoaded { capacity: 3 },
    ] {
        let w = World::new();
        w.dir.set_availability("cat", Availability::Absent);
        let line = line_with(&w, rule.clone()).await?;
        let a = open(&w, &line, 0).await?;
        let b = open(&w, &line, 1).await?;
        assert_eq!((op(&a), op(&b)), (Some("ann"), Some("bob")), "{rule:?}");

        // ann gives the session back: re-running the rule would pick her
        // again (least loaded: her load just dropped; round robin: she is
        // next after bob). It is offered to the operators instead.
        let back = w.hub.return_to_queue(&user("ann"), a.id).await?;
        assert_eq!(back.status, SessionStatus::Offered, "{rule:?}");
        assert_eq!(
            back.reason,
            RouteReason::Returned { by: user("ann") },
            "{rule:?}"
        );
        assert!(w
            .hub
            .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .is_empty());
        let offered = w
            .hub
            .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
            .await?
            .items;
        assert_eq!(offered.iter().map(|s| s.id).collect::<Vec<_>>(), vec![a.id]);
        let taken = w.hub.take(&user("bob"), a.id).await?;
        assert_eq!(op(&taken), Some("bob"), "{rule:?}");
        // New sessions are still routed by the rule.
        let c = open(&w, &line, 2).await?;
        assert!(c.operator().is_some(), "{rule:?}: {c:?}");
    }
    Ok(())
}
