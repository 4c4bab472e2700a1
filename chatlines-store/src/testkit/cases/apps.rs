//! Account links and registered requests.

use crate::testkit::fixtures::*;
use chatlines_core::{AccountLink, AppId, ItemId, RequestRecord, Store, StoreError};
use std::sync::Arc;

/// A client's account link is per line, and re-linking replaces it.
pub async fn account_link_put_and_relink(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let other = new_line(store, 0).await;
    let s = new_session(store, line.id, 1).await;
    assert_eq!(
        must(store.account_link(line.id, s.contact).await, "none yet"),
        None
    );
    let link = AccountLink::new(
        line.id,
        s.contact,
        AppId::new("crm.clients"),
        ItemId::new("item-1"),
        Some(user("ann")),
        at(2),
    );
    must(store.put_account_link(&link).await, "link");
    assert_eq!(
        must(store.account_link(line.id, s.contact).await, "link"),
        Some(link.clone())
    );
    assert_eq!(
        must(store.account_link(other.id, s.contact).await, "other line"),
        None,
        "links are per line"
    );
    let relink = AccountLink::new(
        line.id,
        s.contact,
        AppId::new("crm.clients"),
        ItemId::new("item-2"),
        None,
        at(3),
    );
    must(store.put_account_link(&relink).await, "relink");
    assert_eq!(
        must(store.account_link(line.id, s.contact).await, "relinked"),
        Some(relink)
    );
}

/// Requests are listed per session, oldest first; an id is stored once.
pub async fn requests_insert_and_list(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let s = assigned_session(store, line.id, "ann", 1).await;
    let other = assigned_session(store, line.id, "ann", 2).await;
    let record = |session, item: &str, secs| {
        RequestRecord::new(
            id(),
            session,
            AppId::new("helpdesk.tickets"),
            ItemId::new(item),
            user("ann"),
            at(secs),
        )
    };
    let second = record(s.id, "t-2", 20);
    let first = record(s.id, "t-1", 10);
    let elsewhere = record(other.id, "t-3", 5);
    for r in [&second, &first, &elsewhere] {
        must(store.insert_request(r).await, "insert_request");
    }
    assert_eq!(
        must(store.requests(s.id).await, "requests"),
        vec![first.clone(), second]
    );
    assert_eq!(
        must(store.requests(other.id).await, "requests"),
        vec![elsewhere]
    );
    assert!(must(store.requests(id()).await, "none").is_empty());
    let err = fails(store.insert_request(&first).await, "insert twice");
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
}
