//! "For registering requests": the operator creates items of the line's
//! request apps from a session, but not until the client's account has
//! been linked; the item's Account field names the client.

mod common;

use chatlines_core::{AppId, Error, FieldValue, FieldValues, LineConfig, SessionId};
use common::*;

fn subject(s: &str) -> FieldValues {
    let mut v = FieldValues::new();
    v.insert("subject".into(), FieldValue::Text(s.into()));
    v
}

fn request_line() -> LineConfig {
    staff_line("Support")
        .account_app(CLIENTS_APP)
        .request_app(TICKETS_APP)
}

/// A line with an account app and the tickets app, and a session of carl
/// taken by ann.
async fn setup(w: &World) -> TestResult<SessionId> {
    let line = w.line(request_line()).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("broken"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s).await?;
    Ok(s)
}

#[tokio::test]
async fn before_the_account_is_linked_no_request_can_be_registered() -> TestResult {
    let w = World::new();
    let s = setup(&w).await?;
    let tickets = AppId::new(TICKETS_APP);
    let r = w
        .hub
        .register_request(&user("ann"), s, &tickets, subject("printer"))
        .await;
    assert!(
        matches!(r, Err(Error::AccountNotLinked { session }) if session == s),
        "{r:?}"
    );
    assert_eq!(w.apps.item_count(&tickets), 0);
    assert!(w.hub.requests(&user("ann"), s).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_app_that_is_not_on_the_line_is_refused() -> TestResult {
    let w = World::new();
    let s = setup(&w).await?;
    w.hub
        .link_new_account(&user("ann"), s, FieldValues::new())
        .await?;
    for app in [COMPLAINTS_APP, CLIENTS_APP, "no-such-app"] {
        let app = AppId::new(app);
        let r = w
            .hub
            .register_request(&user("ann"), s, &app, FieldValues::new())
            .await;
        assert!(
            matches!(&r, Err(Error::AppNotOnLine { app: a }) if a == &app),
            "{app}: {r:?}"
        );
    }
    assert_eq!(w.apps.item_count(&COMPLAINTS_APP.into()), 0);
    // Only the account item exists.
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), 1);
    assert!(w.hub.requests(&user("ann"), s).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_registered_request_names_the_client_and_is_listed() -> TestResult {
    let w = World::new();
    let s = setup(&w).await?;
    let link = w
        .hub
        .link_new_account(&user("ann"), s, FieldValues::new())
        .await?;
    let tickets = AppId::new(TICKETS_APP);
    let first = w
        .hub
        .register_request(&user("ann"), s, &tickets, subject("printer jammed"))
        .await?;
    let second = w
        .hub
        .register_request(&user("sue"), s, &tickets, subject("toner"))
        .await?;
    assert_eq!(first.session, s);
    assert_eq!(first.app, tickets);
    assert_eq!(first.created_by, user("ann"));
    assert_eq!(second.created_by, user("sue"));
    assert_ne!(first.item, second.item);
    assert_eq!(w.apps.item_count(&tickets), 2);

    let item = w.apps.item(&tickets, &first.item).ok_or("no ticket item")?;
    assert_eq!(
        item.get(&"subject".into()),
        Some(&FieldValue::Text("printer jammed".into()))
    );
    match item.get(&"client".into()) {
        Some(FieldValue::Account(a)) => assert_eq!(a.contact, link.contact),
        other => panic!("the Account field is not filled: {other:?}"),
    }
    assert_eq!(
        w.hub.requests(&user("ann"), s).await?,
        vec![first.clone(), second.clone()]
    );
    // The line's other operators and supervisors see them too.
    assert_eq!(w.hub.requests(&user("bob"), s).await?.len(), 2);
    assert_eq!(w.hub.requests(&user("sue"), s).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_linked_account_from_an_earlier_session_is_enough() -> TestResult {
    let w = World::new();
    let s1 = setup(&w).await?;
    w.hub
        .link_new_account(&user("ann"), s1, FieldValues::new())
        .await?;
    let line = w.stored_session(s1).await?.line;
    w.hub.close(&user("ann"), s1).await?;
    let s2 = w
        .hub
        .write(&user("carl"), line, text("again"))
        .await?
        .session
        .id;
    w.hub.take(&user("bob"), s2).await?;
    let r = w
        .hub
        .register_request(&user("bob"), s2, &TICKETS_APP.into(), subject("again"))
        .await?;
    assert_eq!(r.session, s2);
    // Requests are listed per session.
    assert!(w.hub.requests(&user("bob"), s1).await?.is_empty());
    assert_eq!(w.hub.requests(&user("bob"), s2).await?, vec![r]);
    Ok(())
}

#[tokio::test]
async fn only_the_sessions_operator_or_a_supervisor_registers() -> TestResult {
    let w = World::new();
    let s = setup(&w).await?;
    w.hub
        .link_new_account(&user("ann"), s, FieldValues::new())
        .await?;
    let r = w
        .hub
        .register_request(&user("bob"), s, &TICKETS_APP.into(), subject("x"))
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "bob: {r:?}");
    // The client does not see the operator's view of the session at all.
    let r = w
        .hub
        .register_request(&user("carl"), s, &TICKETS_APP.into(), subject("x"))
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "carl: {r:?}");
    assert_eq!(w.apps.item_count(&TICKETS_APP.into()), 0);
    let r = w.hub.requests(&user("carl"), s).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    Ok(())
}
