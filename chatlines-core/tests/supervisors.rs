//! "Supervisors — employees who moderate the line. They … can assign
//! incoming requests to specific operators." Operators hand sessions on or
//! back, and close them.

mod common;

use chatlines_core::{Availability, Error, LineConfig, PageRequest, RouteReason, SessionStatus};
use common::*;

fn assigned(to: &str) -> SessionStatus {
    SessionStatus::Assigned { operator: user(to) }
}

#[tokio::test]
async fn a_supervisor_assigns_an_offered_session_and_reassigns_it() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    assert_eq!(s.status, SessionStatus::Offered);

    let a = w.hub.assign(&user("sue"), s.id, &user("ann")).await?;
    assert_eq!(a.status, assigned("ann"));
    assert_eq!(
        a.reason,
        RouteReason::AssignedBySupervisor { by: user("sue") }
    );
    assert!(w
        .hub
        .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());

    // Override the previous assignee.
    let b = w.hub.assign(&user("sue"), s.id, &user("bob")).await?;
    assert_eq!(b.status, assigned("bob"));
    assert!(b.version > a.version);
    assert!(w
        .hub
        .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert_eq!(
        w.hub
            .assigned_sessions(&user("bob"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );
    // Ann is no longer the operator: she cannot answer.
    let r = w.hub.reply(&user("ann"), s.id, text("?")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    w.hub.reply(&user("bob"), s.id, text("here")).await?;
    Ok(())
}

#[tokio::test]
async fn only_the_lines_supervisors_assign() -> TestResult {
    let w = World::new();
    w.dir.add_to_group("other-sups", "otto");
    let line = w.line(staff_line("Desk")).await?;
    w.line(
        LineConfig::new("Other")
            .operators(OPS)
            .supervisors("other-sups"),
    )
    .await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    // An operator, even the admin: they see the session but may not assign.
    for who in ["ann", ADMIN] {
        let r = w.hub.assign(&user(who), s.id, &user("ann")).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    // The client, a supervisor of another line: they do not see it at all.
    for who in ["carl", "otto"] {
        let r = w.hub.assign(&user(who), s.id, &user("ann")).await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
    }
    let stored = w.stored_session(s.id).await?;
    assert_eq!(stored.status, SessionStatus::Offered);
    assert_eq!(stored.version, s.version);
    Ok(())
}

#[tokio::test]
async fn the_target_must_be_a_present_operator_of_the_line() -> TestResult {
    let w = World::new();
    w.dir.set_availability("cat", Availability::Absent);
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    for target in ["cat", "carl", "sue", "stranger"] {
        let r = w.hub.assign(&user("sue"), s.id, &user(target)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{target}: {r:?}"
        );
    }
    assert_eq!(w.stored_session(s.id).await?.status, SessionStatus::Offered);
    Ok(())
}

#[tokio::test]
async fn operators_transfer_to_a_colleague_or_back_to_the_queue() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    w.hub.take(&user("ann"), s.id).await?;

    // Only the assigned operator transfers.
    let r = w.hub.transfer_to(&user("bob"), s.id, &user("cat")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    let r = w.hub.return_to_queue(&user("sue"), s.id).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    // Not to somebody outside the operators group.
    let r = w.hub.transfer_to(&user("ann"), s.id, &user("carl")).await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    assert_eq!(w.stored_session(s.id).await?.status, assigned("ann"));

    let t = w.hub.transfer_to(&user("ann"), s.id, &user("cat")).await?;
    assert_eq!(t.status, assigned("cat"));
    assert_eq!(t.reason, RouteReason::Transferred { by: user("ann") });
    assert!(w
        .hub
        .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert_eq!(
        w.hub
            .assigned_sessions(&user("cat"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );

    // Back to the queue: on a first come line it is offered again.
    let back = w.hub.return_to_queue(&user("cat"), s.id).await?;
    assert_eq!(back.status, SessionStatus::Offered);
    assert!(w
        .hub
        .assigned_sessions(&user("cat"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert_eq!(
        w.hub
            .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );
    let taken = w.hub.take(&user("bob"), s.id).await?;
    assert_eq!(taken.status, assigned("bob"));
    Ok(())
}

#[tokio::test]
async fn the_operator_or_a_supervisor_closes() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s1 = w
        .hub
        .write(&user("carl"), line.id, text("one"))
        .await?
        .session;
    w.hub.take(&user("ann"), s1.id).await?;
    // Another operator cannot close it; the client does not see it.
    let r = w.hub.close(&user("bob"), s1.id).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "bob: {r:?}");
    let r = w.hub.close(&user("carl"), s1.id).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "carl: {r:?}");
    assert_eq!(w.stored_session(s1.id).await?.status, assigned("ann"));
    let closed = w.hub.close(&user("ann"), s1.id).await?;
    assert_eq!(closed.status, SessionStatus::Closed);
    assert!(closed.closed_at.is_some());
    assert!(w
        .hub
        .assigned_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());

    // A supervisor closes an offered session nobody took.
    let s2 = w
        .hub
        .write(&user("dora"), line.id, text("two"))
        .await?
        .session;
    w.hub.close(&user("sue"), s2.id).await?;
    assert_eq!(w.stored_session(s2.id).await?.status, SessionStatus::Closed);
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());

    // A closed session stays closed: no reply, no assignment, no take.
    let r = w.hub.reply(&user("ann"), s1.id, text("late")).await;
    assert!(r.is_err(), "{r:?}");
    let r = w.hub.assign(&user("sue"), s1.id, &user("bob")).await;
    assert!(
        matches!(
            r,
            Err(Error::SessionClosed { .. } | Error::InvalidState { .. })
        ),
        "{r:?}"
    );
    let r = w.hub.take(&user("bob"), s2.id).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(w.stored_session(s1.id).await?.status, SessionStatus::Closed);
    assert_eq!(w.stored_session(s2.id).await?.status, SessionStatus::Closed);
    assert_eq!(w.stored_session(s1.id).await?.last_seq, 1);
    Ok(())
}

#[tokio::test]
async fn the_lines_operators_and_supervisors_read_a_session_nobody_else() -> TestResult {
    let w = World::new();
    w.dir.add_to_group("other-ops", "olly");
    let line = w.line(staff_line("Desk")).await?;
    w.line(LineConfig::new("Other").operators("other-ops"))
        .await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    w.hub.take(&user("ann"), s.id).await?;
    w.hub.reply(&user("ann"), s.id, text("hi")).await?;
    for who in ["ann", "bob", "sue"] {
        let page = w
            .hub
            .messages(&user(who), s.id, chatlines_core::PageRequest::first(10))
            .await?;
        assert_eq!(page.items.len(), 2, "{who}");
        assert_eq!(w.hub.session(&user(who), s.id).await?.id, s.id);
    }
    // The client reads through `conversation`, not the operator view; an
    // operator of another line sees nothing: the same answer as for a
    // session that does not exist.
    let missing = chatlines_core::SessionId(uuid::Uuid::now_v7());
    for who in ["carl", "olly", "stranger"] {
        let r = w
            .hub
            .messages(&user(who), s.id, chatlines_core::PageRequest::first(10))
            .await;
        assert!(
            matches!(
                r,
                Err(Error::NotFound {
                    what: "session",
                    ..
                })
            ),
            "{who}: {r:?}"
        );
        let r = w.hub.session(&user(who), s.id).await;
        assert!(
            matches!(
                r,
                Err(Error::NotFound {
                    what: "session",
                    ..
                })
            ),
            "{who}: {r:?}"
        );
        let r = w.hub.session(&user(who), missing).await;
        assert!(
            matches!(
                r,
                Err(Error::NotFound {
                    what: "session",
                    ..
                })
            ),
            "{who}: {r:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_lines_operators_and_supervisors_list_whom_a_session_can_go_to() -> TestResult {
    let w = World::new();
    w.dir.set_availability("cat", Availability::Absent);
    w.dir.set_name("bob", "Bob Builder");
    w.dir.add_to_group("other-sups", "otto");
    let line = w.line(staff_line("Desk")).await?;
    w.line(
        LineConfig::new("Other")
            .operators(OPS)
            .supervisors("other-sups"),
    )
    .await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    w.hub.take(&user("ann"), s.id).await?;

    for who in ["ann", "bob", "sue"] {
        let page = w
            .hub
            .session_operators(&user(who), s.id, PageRequest::default())
            .await?;
        let seen: Vec<(&str, &str, Availability, bool)> = page
            .items
            .iter()
            .map(|o| (o.user.as_str(), o.name.as_str(), o.availability, o.assigned))
            .collect();
        assert_eq!(
            seen,
            [
                ("ann", "ann", Availability::Present, true),
                ("bob", "Bob Builder", Availability::Present, false),
                ("cat", "cat", Availability::Absent, false),
            ],
            "{who}"
        );
        assert!(page.next.is_none());
    }
    // Pages follow user-id order.
    let first = w
        .hub
        .session_operators(&user("sue"), s.id, PageRequest::first(2))
        .await?;
    assert_eq!(first.items.len(), 2);
    let rest = w
        .hub
        .session_operators(&user("sue"), s.id, PageRequest::from_parts(first.next, 2))
        .await?;
    assert_eq!(rest.items[0].user, user("cat"));
    assert!(rest.next.is_none());

    // The client, a supervisor of another line, the administrator: the
    // same answer as for a session that does not exist.
    let missing = chatlines_core::SessionId::from_uuid(uuid::Uuid::now_v7());
    for who in ["carl", "otto", ADMIN] {
        let r = w
            .hub
            .session_operators(&user(who), s.id, PageRequest::default())
            .await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
        let hidden = r.expect_err("hidden").to_string();
        let r = w
            .hub
            .session_operators(&user(who), missing, PageRequest::default())
            .await;
        let absent = r.expect_err("missing").to_string();
        assert_eq!(
            hidden.replace(&s.id.to_string(), "ID"),
            absent.replace(&missing.to_string(), "ID")
        );
    }
    Ok(())
}
