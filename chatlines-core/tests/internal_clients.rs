//! The Clients block: specific users, groups or org-structure units (with
//! their sub-units) may write to a line; an empty block means the line is
//! for external clients only.

mod common;

use chatlines_core::{Audience, ContactKey, Error, LineConfig, LineId};
use common::*;

fn ids(lines: &[chatlines_core::Line]) -> Vec<LineId> {
    lines.iter().map(|l| l.id).collect()
}

#[tokio::test]
async fn lines_for_lists_lines_naming_the_user_directly_by_group_or_by_unit() -> TestResult {
    let w = World::new();
    // Org structure: hq > hq-it > hq-it-helpdesk; branch is unrelated.
    w.dir.set_parent_unit("hq-it", "hq");
    w.dir.set_parent_unit("hq-it-helpdesk", "hq-it");
    w.dir.set_unit("deep", "hq-it-helpdesk");
    w.dir.set_unit("mid", "hq-it");
    w.dir.set_unit("far", "branch");
    w.dir.add_to_group("finance", "fin");

    let direct = w
        .line(
            LineConfig::new("Direct")
                .operators(OPS)
                .client(Audience::User("uma".into())),
        )
        .await?;
    let by_group = w
        .line(
            LineConfig::new("By group")
                .operators(OPS)
                .client(Audience::Group("finance".into())),
        )
        .await?;
    let by_unit = w
        .line(
            LineConfig::new("By unit")
                .operators(OPS)
                .client(Audience::Unit("hq".into())),
        )
        .await?;
    let by_sub_unit = w
        .line(
            LineConfig::new("IT only")
                .operators(OPS)
                .client(Audience::Unit("hq-it-helpdesk".into())),
        )
        .await?;
    let external = w
        .line(LineConfig::new("WhatsApp only").operators(OPS))
        .await?;

    assert_eq!(ids(&w.hub.lines_for(&user("uma")).await?), vec![direct.id]);
    assert_eq!(
        ids(&w.hub.lines_for(&user("fin")).await?),
        vec![by_group.id]
    );
    // "deep" is two levels below hq: the unit line admits them, and the line
    // naming their own unit too.
    assert_eq!(
        ids(&w.hub.lines_for(&user("deep")).await?),
        vec![by_unit.id, by_sub_unit.id]
    );
    // "mid" is in hq-it: under hq, but above hq-it-helpdesk.
    assert_eq!(ids(&w.hub.lines_for(&user("mid")).await?), vec![by_unit.id]);
    assert!(w.hub.lines_for(&user("far")).await?.is_empty());
    assert!(w.hub.lines_for(&user("nobody")).await?.is_empty());

    // The empty Clients block is listed to nobody, not even the admin or
    // the line's own operators.
    for who in ["uma", "fin", "deep", "mid", "far", ADMIN, "ann", "sue"] {
        let lines = w.hub.lines_for(&user(who)).await?;
        assert!(!ids(&lines).contains(&external.id), "{who} sees {lines:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_user_can_be_admitted_by_several_entries_and_is_listed_once() -> TestResult {
    let w = World::new();
    w.dir.set_unit("carl", "hq");
    let line = w
        .line(
            LineConfig::new("Everyone")
                .operators(OPS)
                .client(Audience::User("carl".into()))
                .client(Audience::Group(STAFF.into()))
                .client(Audience::Unit("hq".into())),
        )
        .await?;
    assert_eq!(ids(&w.hub.lines_for(&user("carl")).await?), vec![line.id]);
    Ok(())
}

#[tokio::test]
async fn writing_to_a_line_that_does_not_admit_you_is_forbidden() -> TestResult {
    let w = World::new();
    let staff = w.line(staff_line("Staff desk")).await?;
    let external = w
        .line(LineConfig::new("WhatsApp only").operators(OPS))
        .await?;

    // Forbidden for who sees the line otherwise; for anyone else the same
    // answer as for a missing line.
    for (who, line, hidden) in [
        ("carl", external.id, true),
        ("outsider", staff.id, true),
        (ADMIN, external.id, false),
        ("ann", external.id, false),
    ] {
        let r = w.hub.write(&user(who), line, text("hello")).await;
        if hidden {
            assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
        } else {
            assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
        }
        // Nothing was stored: no contact was even created.
        let key = ContactKey::Internal { user: user(who) };
        assert_eq!(w.store.contact_by_key(&key).await?, None, "{who}");
    }
    // The operators see nothing to take.
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());

    // A member of the group can.
    let posted = w.hub.write(&user("carl"), staff.id, text("hello")).await?;
    assert!(posted.opened);
    Ok(())
}

#[tokio::test]
async fn removing_a_user_from_the_clients_block_stops_them_writing() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Staff desk")).await?;
    w.hub.write(&user("dora"), line.id, text("first")).await?;
    w.dir.remove_from_group(&STAFF.into(), &user("dora"));
    assert!(w.hub.lines_for(&user("dora")).await?.is_empty());
    // She no longer sees the line: the same answer as for a missing one.
    let r = w.hub.write(&user("dora"), line.id, text("second")).await;
    assert!(
        matches!(r, Err(Error::NotFound { what: "line", .. })),
        "{r:?}"
    );
    let key = ContactKey::Internal { user: user("dora") };
    let contact = w.store.contact_by_key(&key).await?.ok_or("no contact")?;
    let session = w
        .store
        .contact_sessions(line.id, contact.id)
        .await?
        .into_iter()
        .find(|s| s.is_open())
        .ok_or("no open session")?;
    assert_eq!(session.last_seq, 1);
    Ok(())
}

#[tokio::test]
async fn writing_to_a_missing_line_is_not_found() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Gone soon")).await?;
    w.hub.delete_line(&user(ADMIN), line.id, 1).await?;
    let r = w.hub.write(&user("carl"), line.id, text("hello?")).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    assert!(w.hub.lines_for(&user("carl")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_cycle_in_the_org_structure_does_not_hang_lines_for() -> TestResult {
    let w = World::new();
    w.dir.set_parent_unit("a", "b");
    w.dir.set_parent_unit("b", "a");
    w.dir.set_unit("loopy", "a");
    let line = w
        .line(
            LineConfig::new("B")
                .operators(OPS)
                .client(Audience::Unit("b".into())),
        )
        .await?;
    w.line(
        LineConfig::new("C")
            .operators(OPS)
            .client(Audience::Unit("c".into())),
    )
    .await?;
    assert_eq!(ids(&w.hub.lines_for(&user("loopy")).await?), vec![line.id]);
    Ok(())
}
