//! Lines and sources.

use crate::testkit::fixtures::*;
use chatlines_core::{LineConfig, SessionStatus, Store, StoreError};
use std::sync::Arc;

/// Lines are stored, read back exactly, listed by creation time, and an id
/// cannot be inserted twice.
pub async fn line_insert_get_list(store: Arc<dyn Store>) {
    let store = &*store;
    let later = line_at("Sales", 20);
    let earlier = line_at("IT support", 10);
    must(store.insert_line(&later).await, "insert later line");
    must(store.insert_line(&earlier).await, "insert earlier line");

    assert_eq!(
        must(store.line(earlier.id).await, "line"),
        Some(earlier.clone()),
        "a line reads back as stored"
    );
    assert_eq!(must(store.line(id()).await, "unknown line"), None);
    assert_eq!(
        must(store.shared_line(earlier.id).await, "shared_line").as_deref(),
        Some(&earlier),
        "shared_line reads the same"
    );
    assert_eq!(
        must(store.shared_line(id()).await, "unknown shared_line"),
        None
    );
    let ids: Vec<_> = must(store.lines().await, "lines")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, vec![earlier.id, later.id], "lines by creation time");

    let err = fails(
        store.insert_line(&earlier).await,
        "insert the same id again",
    );
    assert!(
        matches!(err, StoreError::AlreadyExists { what: "line", .. }),
        "{err:?}"
    );
    assert_eq!(must(store.lines().await, "lines").len(), 2);
}

/// An update succeeds only at the stored version, increments it, and a
/// stale or unknown update changes nothing.
pub async fn line_update_is_guarded_by_version(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;

    let mut edited = line.clone();
    edited.version = 2;
    edited.config = LineConfig::new("Renamed").operators("ops2");
    edited.updated_at = at(5);
    must(store.update_line(&edited, 1).await, "update at version 1");
    let stored = some(must(store.line(line.id).await, "line"), "updated line");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.config.name, "Renamed");
    assert_eq!(stored.updated_at, at(5));
    assert_eq!(stored.created_at, line.created_at);
    assert_eq!(
        must(store.shared_line(line.id).await, "shared_line").as_deref(),
        Some(&stored),
        "shared_line reads the update"
    );

    let mut stale = line.clone();
    stale.version = 2;
    stale.config = LineConfig::new("Lost update");
    let err = fails(store.update_line(&stale, 1).await, "stale update");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                what: "line",
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let stored = some(must(store.line(line.id).await, "line"), "line");
    assert_eq!(
        stored.config.name, "Renamed",
        "a stale update writes nothing"
    );

    let ghost = line_at("Ghost", 0);
    let err = fails(store.update_line(&ghost, 1).await, "update unknown line");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

/// Deleting a line unbinds its sources, closes its open sessions, drops its
/// roster, and keeps its messages readable.
pub async fn line_delete_cascades(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let other = new_line(store, 1).await;
    let source = new_source(store, line.id, 2).await;
    let kept_source = new_source(store, other.id, 3).await;
    let queued = new_session(store, line.id, 4).await;
    let assigned = assigned_session(store, line.id, "ann", 5).await;
    let elsewhere = new_session(store, other.id, 6).await;
    must(
        store
            .replace_roster(line.id, &[user("ann"), user("bob")])
            .await,
        "replace_roster",
    );

    let err = fails(store.delete_line(line.id, 7, at(9)).await, "stale delete");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(must(store.line(line.id).await, "line").is_some());

    must(store.delete_line(line.id, 1, at(10)).await, "delete_line");
    assert_eq!(must(store.line(line.id).await, "line"), None);
    assert_eq!(must(store.shared_line(line.id).await, "shared_line"), None);
    let lines: Vec<_> = must(store.lines().await, "lines")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(lines, vec![other.id]);
    assert_eq!(must(store.source(source.id).await, "source"), None);
    assert_eq!(
        must(store.sources().await, "sources"),
        vec![kept_source],
        "only the deleted line's sources are unbound"
    );
    for s in [&queued, &assigned] {
        let now = some(must(store.session(s.id).await, "session"), "session");
        assert_eq!(now.status, SessionStatus::Closed);
        assert_eq!(now.closed_at, Some(at(10)));
        assert!(now.version > s.version, "closing bumps the version");
        assert_eq!(
            must(open_session(store, line.id, s.contact).await, "open"),
            None
        );
    }
    assert!(
        must(
            store
                .assigned_sessions(&user("ann"), None, usize::MAX)
                .await,
            "assigned"
        )
        .is_empty(),
        "a closed session is no longer assigned"
    );
    let untouched = some(must(store.session(elsewhere.id).await, "s"), "s");
    assert_eq!(untouched.status, SessionStatus::Queued);
    assert!(must(store.roster(line.id).await, "roster").is_empty());
    let history = must(
        store
            .messages(queued.id, chatlines_core::Cursor::Start, 10)
            .await,
        "messages",
    );
    assert_eq!(history.len(), 1, "history stays readable");

    let err = fails(store.delete_line(line.id, 1, at(11)).await, "delete twice");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

/// Sources need an existing line, read back exactly, list by creation
/// time, and unbind once.
pub async fn source_bind_and_unbind(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let second = source_on(line.id, 20);
    let first = source_on(line.id, 10);
    must(store.insert_source(&second).await, "insert second");
    must(store.insert_source(&first).await, "insert first");
    assert_eq!(
        must(store.source(first.id).await, "source"),
        Some(first.clone())
    );
    assert_eq!(
        must(store.sources().await, "sources"),
        vec![first.clone(), second.clone()]
    );

    let err = fails(store.insert_source(&first).await, "insert twice");
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    let orphan = source_on(id(), 0);
    let err = fails(store.insert_source(&orphan).await, "source of no line");
    assert!(
        matches!(err, StoreError::NotFound { what: "line", .. }),
        "{err:?}"
    );
    assert_eq!(must(store.source(orphan.id).await, "source"), None);

    must(store.delete_source(first.id, at(9)).await, "delete_source");
    assert_eq!(must(store.source(first.id).await, "source"), None);
    assert_eq!(must(store.sources().await, "sources"), vec![second]);
    let err = fails(store.delete_source(first.id, at(9)).await, "delete twice");
    assert!(
        matches!(err, StoreError::NotFound { what: "source", .. }),
        "{err:?}"
    );
}
