//! "Only users in the Administrators group can configure lines."
//! Supervisors "have access to the line's settings".

mod common;

use chatlines_core::{Error, LineConfig, RoutingRule};
use common::*;

#[tokio::test]
async fn administrators_create_update_and_delete_lines() -> TestResult {
    let w = World::new();
    let admin = user(ADMIN);
    let line = w.hub.create_line(&admin, staff_line("IT support")).await?;
    assert_eq!(line.version, 1);
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&line));

    let updated = w
        .hub
        .update_line(
            &admin,
            line.id,
            1,
            staff_line("IT help").rule(RoutingRule::RoundRobin),
        )
        .await?;
    assert_eq!(updated.version, 2);
    let stored = w.store.line(line.id).await?.ok_or("line vanished")?;
    assert_eq!(stored.name(), "IT help");
    assert_eq!(stored.rule(), &RoutingRule::RoundRobin);
    assert_eq!(stored.created_at, line.created_at);

    w.hub.delete_line(&admin, line.id, 2).await?;
    assert_eq!(w.store.line(line.id).await?, None);
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn nobody_else_creates_a_line_and_nothing_is_saved() -> TestResult {
    let w = World::new();
    // An operator, a supervisor and an internal client are all refused.
    for who in ["ann", "sue", "carl", "stranger"] {
        let r = w.hub.create_line(&user(who), staff_line("Rogue")).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_supervisor_edits_their_own_line_only() -> TestResult {
    let w = World::new();
    w.dir.add_to_group("other-sups", "otto");
    let mine = w.line(staff_line("Mine")).await?;
    let theirs = w
        .line(
            LineConfig::new("Theirs")
                .operators(OPS)
                .supervisors("other-sups"),
        )
        .await?;

    // Sue supervises "Mine": she may edit its settings.
    let sue = user("sue");
    let edited = w
        .hub
        .update_line(
            &sue,
            mine.id,
            1,
            staff_line("Mine, renamed").show_operator_name(true),
        )
        .await?;
    assert_eq!(edited.version, 2);
    let stored = w.store.line(mine.id).await?.ok_or("line vanished")?;
    assert_eq!(stored.name(), "Mine, renamed");
    assert!(stored.config.clients.show_operator_name);
    // She can read its settings too.
    assert_eq!(w.hub.line(&sue, mine.id).await?.version, 2);

    // But not delete it.
    let r = w.hub.delete_line(&sue, mine.id, 2).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    assert_eq!(w.store.line(mine.id).await?.map(|l| l.version), Some(2));

    // Nor edit somebody else's line (which she does not even see).
    let r = w
        .hub
        .update_line(
            &sue,
            theirs.id,
            1,
            LineConfig::new("Hijacked").operators(OPS),
        )
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert_eq!(w.store.line(theirs.id).await?.as_ref(), Some(&theirs));

    // Nor create lines.
    let r = w.hub.create_line(&sue, staff_line("Another")).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    assert_eq!(w.store.lines().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn operators_and_clients_cannot_edit_or_delete() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    for who in ["ann", "carl", "stranger"] {
        let r = w
            .hub
            .update_line(&user(who), line.id, 1, staff_line("Changed"))
            .await;
        // The operator sees the line; the others get what a missing line gets.
        if who == "ann" {
            assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
        } else {
            assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
        }
        let r = w.hub.delete_line(&user(who), line.id, 1).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    // The client cannot even read the settings, nor learn they exist.
    let r = w.hub.line(&user("carl"), line.id).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&line));
    Ok(())
}

#[tokio::test]
async fn a_stale_update_or_delete_conflicts_and_changes_nothing() -> TestResult {
    let w = World::new();
    let admin = user(ADMIN);
    let line = w.line(staff_line("Desk")).await?;
    let v2 = w
        .hub
        .update_line(&admin, line.id, 1, staff_line("Desk v2"))
        .await?;

    // Someone still holding version 1 tries to save.
    let r = w
        .hub
        .update_line(&admin, line.id, 1, staff_line("Desk from stale form"))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Conflict {
                expected: 1,
                actual: 2,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&v2));

    let r = w.hub.delete_line(&admin, line.id, 1).await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&v2));
    Ok(())
}

#[tokio::test]
async fn updating_or_deleting_a_missing_line_is_not_found() -> TestResult {
    let w = World::new();
    let admin = user(ADMIN);
    let line = w.line(staff_line("Desk")).await?;
    w.hub.delete_line(&admin, line.id, 1).await?;
    let r = w
        .hub
        .update_line(&admin, line.id, 1, staff_line("Back"))
        .await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}
