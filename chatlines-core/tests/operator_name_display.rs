//! "Operator name — Display: when enabled, the user on the line sees the
//! name of the operator who talks to them; otherwise they see the line's
//! name."

mod common;

use chatlines_core::Direction;
use common::*;

/// Carl writes, Ann takes and answers; returns the authors carl sees.
async fn authors_seen(w: &World, show: bool) -> TestResult<Vec<(Direction, String)>> {
    w.dir.set_name("ann", "Ann Smith");
    w.dir.set_name("carl", "Carl Jones");
    let line = w
        .line(staff_line("IT support").show_operator_name(show))
        .await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("printer?"))
        .await?
        .session;
    w.hub.take(&user("ann"), s.id).await?;
    w.hub.reply(&user("ann"), s.id, text("on my way")).await?;
    let page = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::first(10),
        )
        .await?;
    Ok(page
        .items
        .into_iter()
        .map(|m| (m.direction, m.author_name))
        .collect())
}

#[tokio::test]
async fn with_display_on_the_client_sees_the_operators_name() -> TestResult {
    let w = World::new();
    assert_eq!(
        authors_seen(&w, true).await?,
        vec![
            (Direction::Inbound, "Carl Jones".to_owned()),
            (Direction::Outbound, "Ann Smith".to_owned()),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn with_display_off_the_client_sees_the_lines_name() -> TestResult {
    let w = World::new();
    assert_eq!(
        authors_seen(&w, false).await?,
        vec![
            (Direction::Inbound, "Carl Jones".to_owned()),
            (Direction::Outbound, "IT support".to_owned()),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn turning_the_option_on_later_applies_to_what_the_client_reads() -> TestResult {
    let w = World::new();
    w.dir.set_name("bob", "Bob Brown");
    let line = w.line(staff_line("Help")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("hi"))
        .await?
        .session;
    w.hub.take(&user("bob"), s.id).await?;
    w.hub.reply(&user("bob"), s.id, text("hello")).await?;
    let before = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::first(10),
        )
        .await?;
    assert_eq!(before.items[1].author_name, "Help");
    // The operator's identity is not leaked in any other field either.
    assert!(!format!("{:?}", before.items[1]).contains("bob"));

    w.hub
        .update_line(
            &user(ADMIN),
            line.id,
            1,
            staff_line("Help").show_operator_name(true),
        )
        .await?;
    let after = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::first(10),
        )
        .await?;
    assert_eq!(after.items[1].author_name, "Bob Brown");
    Ok(())
}
