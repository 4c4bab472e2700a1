//! "Responsible — a new session of the line is assigned to the employee
//! held in [a User] field [of the linked account item]. … the session goes
//! to the operators when the responsible employee is absent or blocked, and
//! then the First come rule is used."

mod common;

use chatlines_core::{
    Availability, Event, FallbackCause, FieldValue, ItemId, LineConfig, LineId, RouteReason,
    RoutingRule, Session, SessionStatus,
};
use common::*;

fn responsible_line() -> LineConfig {
    staff_line("Key accounts")
        .account_app(CLIENTS_APP)
        .rule(RoutingRule::Responsible {
            field: "manager".into(),
        })
}

/// The client's first session (no account yet) is linked by the supervisor
/// to an item whose manager is `manager` and closed; returns the client's
/// next session as routed.
async fn next_session(
    w: &World,
    line: LineId,
    client: &str,
    manager: Option<&str>,
) -> TestResult<Session> {
    let first = w
        .hub
        .write(&user(client), line, text("hello"))
        .await?
        .session;
    let item = ItemId::new(format!("crm-{client}"));
    w.apps.set_field(
        &CLIENTS_APP.into(),
        &item,
        "name",
        FieldValue::Text(client.into()),
    );
    if let Some(m) = manager {
        w.apps.set_field(
            &CLIENTS_APP.into(),
            &item,
            "manager",
            FieldValue::User(user(m)),
        );
    }
    w.hub
        .link_existing_account(&user("sue"), first.id, item)
        .await?;
    w.hub.close(&user("sue"), first.id).await?;
    let next = w.hub.write(&user(client), line, text("me again")).await?;
    assert!(next.opened);
    Ok(next.session)
}

fn fallback(cause: FallbackCause) -> RouteReason {
    RouteReason::ResponsibleFallback { cause }
}

#[tokio::test]
async fn the_session_goes_straight_to_the_responsible_employee() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    // Mia is an account manager, not one of the line's operators.
    let s = next_session(&w, line.id, "carl", Some("mia")).await?;
    assert_eq!(
        s.status,
        SessionStatus::Assigned {
            operator: user("mia")
        }
    );
    assert_eq!(
        s.reason,
        RouteReason::Responsible {
            field: "manager".into()
        }
    );
    let stored = w.stored_session(s.id).await?;
    assert_eq!(stored.status, s.status);
    assert_eq!(stored.reason, s.reason);
    assert_eq!(
        w.hub
            .assigned_sessions(&user("mia"), chatlines_core::PageRequest::default())
            .await?
            .items
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        vec![s.id]
    );
    // Nobody else is offered it.
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    // The assignment event says why.
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::SessionAssigned { session, operator, reason: RouteReason::Responsible { .. }, .. }
            if *session == s.id && operator == &user("mia")
    )));
    // Mia can answer.
    w.hub.reply(&user("mia"), s.id, text("hi Carl")).await?;
    Ok(())
}

#[tokio::test]
async fn without_a_linked_item_it_falls_back_to_first_come() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("hello"))
        .await?
        .session;
    assert_eq!(s.status, SessionStatus::Offered);
    assert_eq!(s.reason, fallback(FallbackCause::NoLinkedAccount));
    assert_eq!(
        w.stored_session(s.id).await?.reason,
        fallback(FallbackCause::NoLinkedAccount)
    );
    // The operators work it first come.
    assert_eq!(
        w.hub
            .offered_sessions(&user("bob"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );
    let taken = w.hub.take(&user("bob"), s.id).await?;
    assert_eq!(taken.operator(), Some(&user("bob")));
    Ok(())
}

#[tokio::test]
async fn an_empty_field_falls_back_to_first_come() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    let s = next_session(&w, line.id, "carl", None).await?;
    assert_eq!(s.status, SessionStatus::Offered);
    assert_eq!(s.reason, fallback(FallbackCause::FieldEmpty));
    assert_eq!(
        w.stored_session(s.id).await?.reason,
        fallback(FallbackCause::FieldEmpty)
    );
    Ok(())
}

#[tokio::test]
async fn an_absent_or_blocked_employee_falls_back_to_first_come() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    w.dir.set_availability("mia", Availability::Absent);
    w.dir.set_availability("max", Availability::Blocked);

    let s = next_session(&w, line.id, "carl", Some("mia")).await?;
    assert_eq!(s.status, SessionStatus::Offered);
    assert_eq!(s.reason, fallback(FallbackCause::Absent));
    assert_eq!(
        w.stored_session(s.id).await?.reason,
        fallback(FallbackCause::Absent)
    );

    let s = next_session(&w, line.id, "dora", Some("max")).await?;
    assert_eq!(s.status, SessionStatus::Offered);
    assert_eq!(s.reason, fallback(FallbackCause::Blocked));
    assert_eq!(
        w.stored_session(s.id).await?.reason,
        fallback(FallbackCause::Blocked)
    );

    assert!(w
        .hub
        .assigned_sessions(&user("mia"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert!(w
        .hub
        .assigned_sessions(&user("max"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    assert_eq!(
        w.hub
            .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        2
    );
    Ok(())
}

#[tokio::test]
async fn when_the_employee_returns_their_clients_go_to_them_again() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    w.dir.set_availability("mia", Availability::Absent);
    let s = next_session(&w, line.id, "carl", Some("mia")).await?;
    assert_eq!(s.reason, fallback(FallbackCause::Absent));
    w.hub.take(&user("ann"), s.id).await?;
    w.hub.close(&user("ann"), s.id).await?;

    w.set_availability("mia", Availability::Present).await?;
    let again = w
        .hub
        .write(&user("carl"), line.id, text("back?"))
        .await?
        .session;
    assert_eq!(again.operator(), Some(&user("mia")));
    Ok(())
}

#[tokio::test]
async fn a_session_the_responsible_employee_returns_goes_to_the_operators() -> TestResult {
    let w = World::new();
    let line = w.line(responsible_line()).await?;
    let s = next_session(&w, line.id, "carl", Some("mia")).await?;
    assert_eq!(s.operator(), Some(&user("mia")));
    // Routing it again by the rule would hand it straight back to mia.
    let back = w.hub.return_to_queue(&user("mia"), s.id).await?;
    assert_eq!(back.status, SessionStatus::Offered);
    assert_eq!(back.reason, RouteReason::Returned { by: user("mia") });
    assert!(w
        .hub
        .assigned_sessions(&user("mia"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());
    w.hub.take(&user("ann"), s.id).await?;
    // The client's next session goes to mia again.
    w.hub.close(&user("ann"), s.id).await?;
    let next = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session;
    assert_eq!(next.operator(), Some(&user("mia")));
    Ok(())
}
