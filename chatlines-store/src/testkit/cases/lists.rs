//! Cases: the operator and supervisor lists (offered over an operator's
//! lines, assigned, a line's board) and their paging.

use crate::testkit::fixtures::*;
use chatlines_core::{
    Author, Body, NewOutbound, RoutePlan, RouteReason, Session, SessionId, SessionState, Store,
    Transition,
};
use std::sync::Arc;

fn ids(v: Vec<Session>) -> Vec<SessionId> {
    v.into_iter().map(|s| s.id).collect()
}

async fn offered_session(store: &dyn Store, line: chatlines_core::LineId, secs: i64) -> Session {
    let s = new_session(store, line, secs).await;
    must(
        store
            .transition(
                s.id,
                Transition::Route {
                    expected_version: s.version,
                    plan: RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                },
                at(secs),
            )
            .await,
        "offer",
    )
}

/// `offered_to` lists the offered sessions of every line where the operator
/// is eligible, oldest first across lines, pages after a session, and
/// follows eligibility.
pub async fn offered_to_spans_eligible_lines(store: Arc<dyn Store>) {
    let store = &*store;
    let a = new_line(store, 1).await;
    let b = new_line(store, 2).await;
    let hidden = new_line(store, 3).await;
    must(store.replace_roster(a.id, &[user("ann")]).await, "roster a");
    must(
        store
            .replace_roster(b.id, &[user("ann"), user("bob")])
            .await,
        "roster b",
    );
    must(
        store.replace_roster(hidden.id, &[user("bob")]).await,
        "roster hidden",
    );
    let a1 = offered_session(store, a.id, 10).await;
    let b1 = offered_session(store, b.id, 11).await;
    let _h = offered_session(store, hidden.id, 12).await;
    let a2 = offered_session(store, a.id, 13).await;
    let _queued = new_session(store, a.id, 14).await;
    let _taken = assigned_session(store, b.id, "bob", 15).await;

    let ann = user("ann");
    assert_eq!(
        ids(must(store.offered_to(&ann, None, 10).await, "offered")),
        vec![a1.id, b1.id, a2.id],
        "offered on ann's lines only, oldest first across lines"
    );
    assert_eq!(
        ids(must(store.offered_to(&ann, None, 2).await, "first page")),
        vec![a1.id, b1.id]
    );
    assert_eq!(
        ids(must(
            store.offered_to(&ann, Some(b1.id), 2).await,
            "next page"
        )),
        vec![a2.id]
    );
    assert!(
        must(
            store.offered_to(&ann, Some(id()), 10).await,
            "unknown after"
        )
        .is_empty(),
        "after an unknown session the list is empty"
    );
    assert!(must(store.offered_to(&user("zed"), None, 10).await, "zed").is_empty());

    must(
        store.set_eligible(b.id, &ann, false).await,
        "ineligible on b",
    );
    assert_eq!(
        ids(must(
            store.offered_to(&ann, None, 10).await,
            "after set_eligible"
        )),
        vec![a1.id, a2.id],
        "a line where the operator became ineligible is left out"
    );
    must(store.transition(a1.id, take("ann"), at(20)).await, "take");
    assert_eq!(
        ids(must(store.offered_to(&ann, None, 10).await, "after take")),
        vec![a2.id]
    );
    must(store.delete_line(a.id, a.version, at(30)).await, "delete a");
    assert!(
        must(store.offered_to(&ann, None, 10).await, "after delete").is_empty(),
        "a deleted line offers nothing"
    );
}

/// `assigned_sessions` pages after a session, oldest first.
pub async fn assigned_sessions_page(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 1).await;
    let other = new_line(store, 2).await;
    let s1 = assigned_session(store, line.id, "ann", 10).await;
    let s2 = assigned_session(store, other.id, "ann", 11).await;
    let s3 = assigned_session(store, line.id, "ann", 12).await;
    let ann = user("ann");
    assert_eq!(
        ids(must(store.assigned_sessions(&ann, None, 2).await, "first")),
        vec![s1.id, s2.id]
    );
    assert_eq!(
        ids(must(
            store.assigned_sessions(&ann, Some(s2.id), 2).await,
            "next"
        )),
        vec![s3.id]
    );
    assert!(must(store.assigned_sessions(&ann, Some(s3.id), 2).await, "end").is_empty());
    assert!(must(
        store.assigned_sessions(&ann, Some(id()), 2).await,
        "unknown"
    )
    .is_empty());
}

/// `line_sessions`: a line's open sessions with status, operator and the
/// client's waiting and last message times, filterable by state, paged.
pub async fn line_sessions_board(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 1).await;
    let other = new_line(store, 2).await;
    // Queued: one client message at 10, another at 12.
    let queued = new_session(store, line.id, 10).await;
    let contact = must(store.contact(queued.contact).await, "contact");
    let contact = some(contact, "contact");
    must(
        store
            .append_inbound(inbound(line.id, &contact.key, "again", 12))
            .await,
        "second message",
    );
    // Assigned and answered at 22 and 23 (the client's last message lies
    // before two operator messages).
    let answered = assigned_session(store, line.id, "ann", 20).await;
    for (text, t) in [("hi", 22), ("how can I help?", 23)] {
        must(
            store
                .append_outbound(reply(answered.id, "ann", text, t))
                .await,
            "reply",
        );
    }
    // Assigned, answered at 32, then the client wrote again at 33.
    let waiting = assigned_session(store, line.id, "bob", 30).await;
    must(
        store
            .append_outbound(NewOutbound::new(
                waiting.id,
                Author::System,
                Body::text("welcome"),
                at(32),
            ))
            .await,
        "system message",
    );
    let waiting_contact = some(must(store.contact(waiting.contact).await, "c"), "c");
    must(
        store
            .append_inbound(inbound(line.id, &waiting_contact.key, "hello?", 33))
            .await,
        "client again",
    );
    let offered = offered_session(store, line.id, 40).await;
    let closed = new_session(store, line.id, 50).await;
    must(
        store
            .transition(closed.id, Transition::Close { by_operator: None }, at(51))
            .await,
        "close",
    );
    let _elsewhere = new_session(store, other.id, 60).await;

    let board = must(store.line_sessions(line.id, None, None, 10).await, "board");
    let got: Vec<SessionId> = board.iter().map(|o| o.session.id).collect();
    assert_eq!(
        got,
        vec![queued.id, answered.id, waiting.id, offered.id],
        "open sessions of the line, oldest first"
    );
    let q = &board[0];
    assert_eq!(q.session.status.state(), SessionState::Queued);
    assert_eq!(
        q.waiting_since,
        Some(at(10)),
        "waiting since the first unanswered"
    );
    assert_eq!(q.last_client_message_at, Some(at(12)));
    assert_eq!(q.last_operator_message_at, None);
    let a = &board[1];
    assert_eq!(a.session.operator(), Some(&user("ann")));
    assert_eq!(a.waiting_since, None, "answered: nobody waits");
    assert_eq!(a.last_client_message_at, Some(at(20)));
    assert_eq!(a.last_operator_message_at, Some(at(23)));
    let w = &board[2];
    assert_eq!(w.waiting_since, Some(at(33)));
    assert_eq!(w.last_client_message_at, Some(at(33)));
    assert_eq!(w.last_operator_message_at, Some(at(32)));

    let assigned = must(
        store
            .line_sessions(line.id, Some(SessionState::Assigned), None, 10)
            .await,
        "assigned",
    );
    assert_eq!(
        assigned.iter().map(|o| o.session.id).collect::<Vec<_>>(),
        vec![answered.id, waiting.id]
    );
    let offered_only = must(
        store
            .line_sessions(line.id, Some(SessionState::Offered), None, 10)
            .await,
        "offered",
    );
    assert_eq!(
        offered_only
            .iter()
            .map(|o| o.session.id)
            .collect::<Vec<_>>(),
        vec![offered.id]
    );
    assert!(must(
        store
            .line_sessions(line.id, Some(SessionState::Closed), None, 10)
            .await,
        "closed"
    )
    .is_empty());

    let first = must(store.line_sessions(line.id, None, None, 2).await, "page 1");
    assert_eq!(first.len(), 2);
    let next = must(
        store
            .line_sessions(line.id, None, Some(first[1].session.id), 2)
            .await,
        "page 2",
    );
    assert_eq!(
        next.iter().map(|o| o.session.id).collect::<Vec<_>>(),
        vec![waiting.id, offered.id]
    );
    assert!(must(
        store.line_sessions(id(), None, None, 10).await,
        "unknown line"
    )
    .is_empty());
}

/// Making a user without a roster entry ineligible writes nothing.
pub async fn ineligible_without_entry_writes_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 1).await;
    must(
        store.set_eligible(line.id, &user("zed"), false).await,
        "set",
    );
    assert!(must(store.roster(line.id).await, "roster").is_empty());
    must(
        store.set_eligible(line.id, &user("ann"), true).await,
        "eligible",
    );
    must(
        store.set_eligible(line.id, &user("ann"), false).await,
        "ineligible",
    );
    let roster = must(store.roster(line.id).await, "roster");
    assert_eq!(roster.len(), 1);
    assert!(!roster[0].eligible);
}

/// `queued_lines` lists the lines with at least one queued session, by
/// id, paged after a line; a line whose sessions are all offered, or whose
/// queue emptied, is not listed.
pub async fn queued_lines_are_the_lines_with_a_queue(store: Arc<dyn Store>) {
    let store = &*store;
    let a = new_line(store, 1).await;
    let b = new_line(store, 2).await;
    let c = new_line(store, 3).await;
    let d = new_line(store, 4).await;
    let _empty = new_line(store, 5).await;
    new_session(store, a.id, 10).await;
    new_session(store, a.id, 11).await;
    offered_session(store, b.id, 12).await;
    let left = new_session(store, c.id, 13).await;
    new_session(store, d.id, 14).await;
    must(
        store
            .transition(
                left.id,
                Transition::Route {
                    expected_version: left.version,
                    plan: RoutePlan::Offer {
                        reason: RouteReason::FirstCome,
                    },
                },
                at(15),
            )
            .await,
        "offer c's session",
    );

    let mut expected = vec![a.id, d.id];
    expected.sort();
    assert_eq!(
        must(store.queued_lines(None, 10).await, "queued lines"),
        expected,
        "a and d have a queue; b's session is offered, c's left the queue"
    );
    assert_eq!(
        must(store.queued_lines(None, 1).await, "first page"),
        vec![expected[0]]
    );
    assert_eq!(
        must(store.queued_lines(Some(expected[0]), 10).await, "next page"),
        vec![expected[1]]
    );
    assert!(must(
        store.queued_lines(Some(expected[1]), 10).await,
        "past the end"
    )
    .is_empty());
}
