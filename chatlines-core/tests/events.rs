//! The host's UIs follow the line through events: every state change is
//! logged with it, and a relay delivers the log in order.

mod common;

use chatlines_core::{Author, Event, RouteReason};
use common::*;

#[tokio::test]
async fn a_full_conversation_publishes_its_events_in_order() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    assert_eq!(w.events.drain(), vec![Event::LineCreated { line: line.id }]);

    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    let reply = w.hub.reply(&user("ann"), s, text("on it")).await?;
    w.hub.transfer_to(&user("ann"), s, &user("bob")).await?;
    w.hub.close(&user("bob"), s).await?;
    let contact = posted.contact.id;

    assert_eq!(
        w.events.drain(),
        vec![
            Event::SessionOpened {
                session: s,
                line: line.id,
                contact: posted.contact.id,
            },
            Event::MessageIn {
                session: s,
                line: line.id,
                contact,
                message: posted.message.id,
                seq: 1,
            },
            Event::SessionOffered {
                session: s,
                line: line.id,
                contact,
                version: 2,
                reason: RouteReason::FirstCome,
            },
            Event::SessionAssigned {
                session: s,
                line: line.id,
                contact,
                operator: user("ann"),
                version: 3,
                reason: RouteReason::Taken,
            },
            Event::MessageOut {
                session: s,
                line: line.id,
                contact,
                message: reply.id,
                seq: 2,
                author: Author::Operator { user: user("ann") },
            },
            Event::SessionTransferred {
                session: s,
                line: line.id,
                contact,
                from: user("ann"),
                to: Some(user("bob")),
                version: 4,
            },
            Event::SessionClosed {
                session: s,
                line: line.id,
                contact,
                operator: Some(user("bob")),
                version: 5,
            },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn refused_calls_publish_nothing() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session
        .id;
    w.events.drain();

    assert!(w
        .hub
        .write(&user("stranger"), line.id, text("x"))
        .await
        .is_err());
    assert!(w.hub.take(&user("carl"), s).await.is_err());
    assert!(w.hub.assign(&user("ann"), s, &user("bob")).await.is_err());
    assert!(w.hub.reply(&user("ann"), s, text("x")).await.is_err());
    assert!(w.hub.close(&user("bob"), s).await.is_err());
    assert!(w
        .hub
        .update_line(&user("ann"), line.id, 1, staff_line("x"))
        .await
        .is_err());
    assert!(w.events.events().is_empty(), "{:?}", w.events.events());
    Ok(())
}

#[tokio::test]
async fn a_follow_up_message_publishes_only_message_in() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    w.events.drain();
    let second = w.hub.write(&user("carl"), line.id, text("two")).await?;
    assert_eq!(
        w.events.drain(),
        vec![Event::MessageIn {
            session: first.session.id,
            line: line.id,
            contact: first.contact.id,
            message: second.message.id,
            seq: 2,
        }]
    );
    Ok(())
}

#[tokio::test]
async fn a_session_returned_to_the_queue_is_announced_and_offered_again() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("help")).await?;
    let (s, contact) = (posted.session.id, posted.contact.id);
    let assigned = w.hub.assign(&user("sue"), s, &user("ann")).await?;
    w.events.drain();
    w.hub.return_to_queue(&user("ann"), s).await?;
    assert_eq!(
        w.events.drain(),
        vec![
            Event::SessionTransferred {
                session: s,
                line: line.id,
                contact,
                from: user("ann"),
                to: None,
                version: assigned.version + 1,
            },
            Event::SessionOffered {
                session: s,
                line: line.id,
                contact,
                version: assigned.version + 2,
                reason: RouteReason::Returned { by: user("ann") },
            },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn each_user_follows_only_the_lines_they_work_on() -> TestResult {
    let w = World::new();
    let desk = w.line(staff_line("Desk")).await?;
    // A second line worked by another group, which ann is not in.
    w.dir.add_to_group("night", "nina");
    let night = w
        .line(staff_line("Night").operators("night").supervisors("night"))
        .await?;
    let on_desk = w.hub.write(&user("carl"), desk.id, text("help")).await?;
    let on_night = w.hub.write(&user("dora"), night.id, text("late")).await?;
    w.hub.take(&user("ann"), on_desk.session.id).await?;
    w.hub.take(&user("nina"), on_night.session.id).await?;

    let start = chatlines_core::EventPosition::START;
    let all = w.hub.events_for(&user(ADMIN), start, 1000).await?;
    let ann = w.hub.events_for(&user("ann"), start, 1000).await?;
    let sue = w.hub.events_for(&user("sue"), start, 1000).await?;
    let nina = w.hub.events_for(&user("nina"), start, 1000).await?;
    let carl = w.hub.events_for(&user("carl"), start, 1000).await?;

    let lines_of = |feed: &chatlines_core::EventFeed| {
        let mut lines: Vec<_> = feed
            .events
            .iter()
            .filter_map(|e| e.event().expect("a readable event").line())
            .collect();
        lines.dedup();
        lines
    };
    assert!(all.events.len() > ann.events.len());
    assert_eq!(lines_of(&ann), vec![desk.id]);
    assert_eq!(lines_of(&sue), vec![desk.id], "sue supervises Desk only");
    assert_eq!(lines_of(&nina), vec![night.id]);
    assert!(carl.events.is_empty(), "a client follows no line");
    // Everyone continues from the same place: the last event read.
    assert_eq!(ann.next, all.next);
    assert_eq!(carl.next, all.next);
    let later = w.hub.events_for(&user("ann"), ann.next, 1000).await?;
    assert!(later.events.is_empty());
    assert_eq!(later.next, ann.next);
    Ok(())
}
