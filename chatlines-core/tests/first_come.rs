//! "First come — the chat is assigned to the employee who first takes it
//! into work." Members of the operators group work the line's requests.

mod common;

use chatlines_core::{Availability, Error, RouteReason, SessionStatus};
use common::*;

#[tokio::test]
async fn a_new_session_is_offered_to_present_operators() -> TestResult {
    let w = World::new();
    w.dir.add_to_group(OPS, "away");
    w.dir.add_to_group(OPS, "gone");
    w.dir.set_availability("away", Availability::Absent);
    w.dir.set_availability("gone", Availability::Blocked);
    let line = w.line(staff_line("Desk")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    assert_eq!(posted.session.reason, RouteReason::FirstCome);
    assert_eq!(
        w.stored_session(posted.session.id).await?.status,
        SessionStatus::Offered
    );

    for op in ["ann", "bob", "cat"] {
        let offered = w
            .hub
            .offered_sessions(&user(op), chatlines_core::PageRequest::default())
            .await?
            .items;
        assert_eq!(
            offered.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![posted.session.id],
            "{op}"
        );
    }
    // Absent, blocked and non-members see nothing.
    for who in ["away", "gone", "carl", "sue", "stranger"] {
        assert!(
            w.hub
                .offered_sessions(&user(who), chatlines_core::PageRequest::default())
                .await?
                .items
                .is_empty(),
            "{who}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn absent_blocked_and_non_members_cannot_take() -> TestResult {
    let w = World::new();
    w.dir.add_to_group(OPS, "away");
    w.dir.add_to_group(OPS, "gone");
    w.dir.set_availability("away", Availability::Absent);
    w.dir.set_availability("gone", Availability::Blocked);
    let line = w.line(staff_line("Desk")).await?;
    let session = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;

    // The supervisor is no operator either.
    for who in ["away", "gone", "sue"] {
        let r = w.hub.take(&user(who), session.id).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    // Nor is the client or a stranger, who do not even see the session.
    for who in ["carl", "stranger"] {
        let r = w.hub.take(&user(who), session.id).await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
    }
    let stored = w.stored_session(session.id).await?;
    assert_eq!(stored.status, SessionStatus::Offered);
    assert_eq!(stored.version, session.version);
    assert!(
        w.hub
            .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len()
            == 1
    );
    Ok(())
}

#[tokio::test]
async fn a_taken_session_leaves_the_offer_and_cannot_be_taken_again() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let session = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    let taken = w.hub.take(&user("ann"), session.id).await?;
    assert_eq!(
        taken.status,
        SessionStatus::Assigned {
            operator: user("ann")
        }
    );
    assert_eq!(taken.reason, RouteReason::Taken);
    assert!(w
        .hub
        .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert_eq!(
        w.hub
            .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![session.id]
    );

    let r = w.hub.take(&user("bob"), session.id).await;
    assert!(
        matches!(&r, Err(Error::AlreadyTaken { by: Some(by), .. }) if by == &user("ann")),
        "{r:?}"
    );
    assert_eq!(
        w.stored_session(session.id).await?.operator(),
        Some(&user("ann"))
    );
    // Only the operator who took it may reply.
    let r = w.hub.reply(&user("bob"), session.id, text("me too")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    let reply = w.hub.reply(&user("ann"), session.id, text("on it")).await?;
    assert_eq!(reply.seq, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_takes_exactly_one_wins() -> TestResult {
    let w = World::new();
    let operators: Vec<String> = (0..20).map(|i| format!("op{i:02}")).collect();
    for op in &operators {
        w.dir.add_to_group("crowd", op.as_str());
    }
    let line = w
        .line(
            chatlines_core::LineConfig::new("Busy")
                .operators("crowd")
                .client(chatlines_core::Audience::Group(STAFF.into())),
        )
        .await?;

    for round in 0..5 {
        let session = w
            .hub
            .write(&user("carl"), line.id, text(&format!("round {round}")))
            .await?
            .session;
        assert_eq!(session.status, SessionStatus::Offered);
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(operators.len()));
        let mut tasks = Vec::new();
        // Half the operators are served by a second hub instance over the
        // same store.
        let other = w.another_hub();
        for (i, op) in operators.iter().enumerate() {
            let hub = if i % 2 == 0 {
                w.hub.clone()
            } else {
                other.clone()
            };
            let op = user(op);
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                (op.clone(), hub.take(&op, session.id).await)
            }));
        }
        let mut winners = Vec::new();
        let mut losers = 0;
        for t in tasks {
            let (op, r) = t.await?;
            match r {
                Ok(s) => {
                    assert_eq!(s.operator(), Some(&op));
                    winners.push(op);
                }
                Err(Error::AlreadyTaken { .. }) => losers += 1,
                Err(e) => panic!("{op}: unexpected error {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(losers, operators.len() - 1);
        let stored = w.stored_session(session.id).await?;
        assert_eq!(stored.operator(), Some(&winners[0]));
        w.hub.close(&winners[0], session.id).await?;
    }
    Ok(())
}
