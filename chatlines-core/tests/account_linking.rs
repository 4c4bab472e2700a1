//! "For account linking": "+ Link" opens the creation form of the account
//! application; the item is tied to the client who wrote.

mod common;

use chatlines_core::{
    AccountValue, ContactKey, Error, FieldValue, FieldValues, ItemId, LineConfig,
};
use common::*;

fn linking_line() -> LineConfig {
    staff_line("Sales").account_app(CLIENTS_APP)
}

fn values(name: &str) -> FieldValues {
    let mut v = FieldValues::new();
    v.insert("name".into(), FieldValue::Text(name.into()));
    v
}

#[tokio::test]
async fn link_new_account_creates_an_item_with_the_account_field_filled() -> TestResult {
    let w = World::new();
    w.dir.set_name("carl", "Carl Jones");
    let line = w.line(linking_line()).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hi")).await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    assert_eq!(w.hub.account(&user("ann"), s).await?, None);

    let link = w
        .hub
        .link_new_account(&user("ann"), s, values("Carl J."))
        .await?;
    assert_eq!(link.app, CLIENTS_APP.into());
    assert_eq!(link.line, line.id);
    assert_eq!(link.contact, posted.contact.id);
    assert_eq!(link.linked_by, Some(user("ann")));
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), 1);

    let item = w
        .apps
        .item(&CLIENTS_APP.into(), &link.item)
        .ok_or("the item was not created")?;
    assert_eq!(
        item.get(&"name".into()),
        Some(&FieldValue::Text("Carl J.".into()))
    );
    assert_eq!(
        item.get(&"account".into()),
        Some(&FieldValue::Account(AccountValue {
            contact: posted.contact.id,
            key: ContactKey::Internal { user: user("carl") },
            display_name: "Carl Jones".into(),
        }))
    );
    assert_eq!(w.hub.account(&user("ann"), s).await?, Some(link.clone()));
    // The line's supervisor and other operators see it on the session page.
    assert_eq!(w.hub.account(&user("sue"), s).await?, Some(link.clone()));
    assert_eq!(w.hub.account(&user("bob"), s).await?, Some(link));
    Ok(())
}

#[tokio::test]
async fn the_link_belongs_to_the_client_and_shows_in_their_next_session() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let s1 = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s1).await?;
    let link = w
        .hub
        .link_new_account(&user("ann"), s1, values("Carl"))
        .await?;
    w.hub.close(&user("ann"), s1).await?;

    let s2 = w
        .hub
        .write(&user("carl"), line.id, text("again"))
        .await?
        .session
        .id;
    assert_ne!(s1, s2);
    // Another operator handles the next session and sees the same item.
    w.hub.take(&user("bob"), s2).await?;
    assert_eq!(w.hub.account(&user("bob"), s2).await?, Some(link));

    // Another client's session has no account.
    let s3 = w
        .hub
        .write(&user("dora"), line.id, text("me"))
        .await?
        .session
        .id;
    assert_eq!(w.hub.account(&user("bob"), s3).await?, None);
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), 1);
    Ok(())
}

#[tokio::test]
async fn the_link_is_per_line() -> TestResult {
    let w = World::new();
    let sales = w.line(linking_line()).await?;
    let other = w.line(staff_line("Other").account_app(CLIENTS_APP)).await?;
    let s1 = w
        .hub
        .write(&user("carl"), sales.id, text("hi"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s1).await?;
    w.hub
        .link_new_account(&user("ann"), s1, values("Carl"))
        .await?;
    let s2 = w
        .hub
        .write(&user("carl"), other.id, text("hi"))
        .await?
        .session
        .id;
    assert_eq!(w.hub.account(&user("ann"), s2).await?, None);
    Ok(())
}

#[tokio::test]
async fn link_existing_account_links_an_item_without_creating_one() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let existing = ItemId::new("crm-42");
    w.apps.set_field(
        &CLIENTS_APP.into(),
        &existing,
        "name",
        FieldValue::Text("Dora (CRM)".into()),
    );
    let before = w.apps.item_count(&CLIENTS_APP.into());
    let posted = w.hub.write(&user("dora"), line.id, text("hi")).await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    let link = w
        .hub
        .link_existing_account(&user("ann"), s, existing.clone())
        .await?;
    assert_eq!(link.item, existing);
    assert_eq!(link.contact, posted.contact.id);
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), before);
    assert_eq!(w.hub.account(&user("ann"), s).await?, Some(link.clone()));
    assert_eq!(
        w.store.account_link(line.id, posted.contact.id).await?,
        Some(link)
    );

    // Re-linking replaces the link.
    let other = ItemId::new("crm-43");
    w.apps.set_field(
        &CLIENTS_APP.into(),
        &other,
        "name",
        FieldValue::Text("Dora (new CRM)".into()),
    );
    let relinked = w
        .hub
        .link_existing_account(&user("sue"), s, other.clone())
        .await?;
    assert_eq!(
        w.hub.account(&user("ann"), s).await?.map(|l| l.item),
        Some(other)
    );
    assert_eq!(relinked.linked_by, Some(user("sue")));
    Ok(())
}

#[tokio::test]
async fn only_the_sessions_operator_or_a_supervisor_links() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s).await?;
    let item = w.apps.add_item(&CLIENTS_APP.into(), values("in the CRM"));
    // An operator of the line sees the session but may not link.
    let r = w.hub.link_new_account(&user("bob"), s, values("x")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    let r = w
        .hub
        .link_existing_account(&user("bob"), s, item.clone())
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    // Those who do not see the session learn nothing about it.
    for who in ["carl", "stranger"] {
        let r = w.hub.link_new_account(&user(who), s, values("x")).await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
        let r = w
            .hub
            .link_existing_account(&user(who), s, item.clone())
            .await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
    }
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), 1);
    assert_eq!(w.hub.account(&user("ann"), s).await?, None);
    // Clients cannot read the account block either.
    let r = w.hub.account(&user("carl"), s).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");

    // The supervisor may.
    let link = w
        .hub
        .link_new_account(&user("sue"), s, values("by sue"))
        .await?;
    assert_eq!(link.linked_by, Some(user("sue")));
    Ok(())
}

#[tokio::test]
async fn a_line_without_an_account_app_has_nothing_to_link() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Plain")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s).await?;
    let r = w.hub.link_new_account(&user("ann"), s, values("x")).await;
    assert!(matches!(r, Err(Error::NoAccountApp)), "{r:?}");
    let r = w
        .hub
        .link_existing_account(&user("ann"), s, ItemId::new("crm-1"))
        .await;
    assert!(matches!(r, Err(Error::NoAccountApp)), "{r:?}");
    assert_eq!(w.hub.account(&user("ann"), s).await?, None);
    Ok(())
}

#[tokio::test]
async fn values_the_form_rejects_create_nothing() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session
        .id;
    w.hub.take(&user("ann"), s).await?;
    let mut bad = values("x");
    bad.insert("no-such-field".into(), FieldValue::Bool(true));
    let r = w.hub.link_new_account(&user("ann"), s, bad).await;
    assert!(matches!(r, Err(Error::Port { .. })), "{r:?}");
    assert_eq!(w.apps.item_count(&CLIENTS_APP.into()), 0);
    assert_eq!(w.hub.account(&user("ann"), s).await?, None);
    Ok(())
}

#[tokio::test]
async fn an_administrator_links_a_first_item_but_never_replaces_a_link() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hi")).await?;
    let s = posted.session.id;
    let first = w.apps.add_item(&CLIENTS_APP.into(), values("first"));
    let second = w.apps.add_item(&CLIENTS_APP.into(), values("second"));
    let link = w
        .hub
        .link_existing_account(&user(ADMIN), s, first.clone())
        .await?;
    assert_eq!(link.item, first);
    let events_before = w
        .hub
        .events_after(chatlines_core::EventPosition::START, 1000)
        .await?
        .len();

    // Neither the session's operator nor a supervisor: may not replace it,
    // as link_new_account refuses.
    let r = w
        .hub
        .link_existing_account(&user(ADMIN), s, second.clone())
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    let r = w.hub.link_new_account(&user(ADMIN), s, values("x")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    assert_eq!(
        w.store.account_link(line.id, posted.contact.id).await?,
        Some(link),
        "the link is unchanged"
    );
    assert_eq!(
        w.hub
            .events_after(chatlines_core::EventPosition::START, 1000)
            .await?
            .len(),
        events_before,
        "nothing was logged"
    );
    Ok(())
}

#[tokio::test]
async fn linking_an_item_the_catalog_does_not_have_is_not_found() -> TestResult {
    let w = World::new();
    let line = w.line(linking_line()).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hi")).await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    let r = w
        .hub
        .link_existing_account(&user("ann"), s, ItemId::new("crm-404"))
        .await;
    assert!(
        matches!(r, Err(Error::NotFound { what: "item", .. })),
        "{r:?}"
    );
    assert_eq!(
        w.store.account_link(line.id, posted.contact.id).await?,
        None
    );
    // Policy comes first: an operator who may not link is refused before
    // the item is looked up.
    let r = w
        .hub
        .link_existing_account(&user("bob"), s, ItemId::new("crm-404"))
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    Ok(())
}
