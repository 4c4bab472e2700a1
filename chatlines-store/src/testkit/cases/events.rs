//! The event log: every change logs what core computes for it, in order;
//! refusals and duplicates log nothing; consumers' cursors and pruning.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{DeliveryOutcome, Event, EventPosition, LoggedEvent, SessionId, Transition};
use std::sync::Arc;

/// Every event after `after`, read in pages of 2 (so paging is exercised).
async fn all_after(store: &dyn Store, after: EventPosition) -> Vec<LoggedEvent> {
    let mut out: Vec<LoggedEvent> = Vec::new();
    let mut position = after;
    loop {
        let page = must(store.events_after(position, 2).await, "events_after");
        assert!(page.len() <= 2, "a page holds at most `limit` events");
        let Some(last) = page.last() else {
            return out;
        };
        position = last.position;
        out.extend(page);
    }
}

fn names(events: &[LoggedEvent]) -> Vec<&'static str> {
    events.iter().map(|e| content(e).name()).collect()
}

async fn last_position(store: &dyn Store) -> EventPosition {
    all_after(store, EventPosition::START)
        .await
        .last()
        .map_or(EventPosition::START, |e| e.position)
}

/// Each call logs the events core computes for it, in order, with
/// distinct ids and growing positions; redeliveries and refusals log
/// nothing.
pub async fn every_change_logs_its_events(store: Arc<dyn Store>) {
    let line = new_line(&*store, 1).await;
    let source = new_source(&*store, line.id, 2).await;
    let first = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 3))
            .await,
        "append_inbound",
    );
    // A redelivery logs nothing.
    must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "u1", "m1", 4))
            .await,
        "redelivery",
    );
    let session = first.session.id;
    let taken = must(store.transition(session, take("ann"), at(5)).await, "take");
    // A refused change logs nothing.
    fails(
        store.transition(session, take("bob"), at(6)).await,
        "second take",
    );
    let mut out = reply(session, "ann", "hi", 7);
    out.outbox = Some(outbox_for(&out, source.id, 7));
    let message = must(store.append_outbound(out).await, "append_outbound");
    let claimed = must(store.claim_outbox(at(8), at(60), 10).await, "claim");
    let entry = some(claimed.first().cloned(), "claimed entry");
    let token = some(entry.lease, "lease").token;
    must(
        store
            .finish_outbox(
                entry.id,
                token,
                DeliveryOutcome::Sent {
                    external_id: "x1".into(),
                    substitute: None,
                },
                at(9),
            )
            .await,
        "finish",
    );
    must(
        store
            .transition(
                session,
                Transition::Close {
                    by_operator: Some(user("ann")),
                },
                at(10),
            )
            .await,
        "close",
    );
    let events = all_after(&*store, EventPosition::START).await;
    assert_eq!(
        names(&events),
        vec![
            "line_created",
            "source_bound",
            "session_opened",
            "message_in",
            "session_assigned",
            "message_out",
            "delivery_succeeded",
            "session_closed",
        ],
        "the log holds each change's events, in order"
    );
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions only grow: {:?}",
            names(&events)
        );
        assert_ne!(pair[0].id, pair[1].id, "every event has its own id");
    }
    match content(&events[3]) {
        Event::MessageIn {
            session: s,
            line: l,
            contact,
            message: m,
            seq,
        } => {
            assert_eq!((*s, *l, *contact), (session, line.id, first.contact.id));
            assert_eq!((*m, *seq), (first.message.id, 1));
        }
        other => panic!("expected MessageIn, got {other:?}"),
    }
    match content(&events[4]) {
        Event::SessionAssigned {
            operator, version, ..
        } => {
            assert_eq!(operator, &user("ann"));
            assert_eq!(*version, taken.version);
        }
        other => panic!("expected SessionAssigned, got {other:?}"),
    }
    match content(&events[5]) {
        Event::MessageOut {
            message: m, seq, ..
        } => assert_eq!((*m, *seq), (message.id, 2)),
        other => panic!("expected MessageOut, got {other:?}"),
    }
    assert_eq!(
        events[7].at,
        at(10),
        "an event is stamped with its change's time"
    );
}

/// Deleting a line closes its open sessions through core, logging each
/// close before the deletion.
pub async fn line_delete_logs_closes(store: Arc<dyn Store>) {
    let line = new_line(&*store, 1).await;
    let s1 = assigned_session(&*store, line.id, "ann", 2).await;
    let s2 = new_session(&*store, line.id, 3).await;
    let before = last_position(&*store).await;
    let stored = some(must(store.line(line.id).await, "line"), "line");
    must(
        store.delete_line(line.id, stored.version, at(4)).await,
        "delete_line",
    );
    let events = all_after(&*store, before).await;
    let mut closed: Vec<SessionId> = events
        .iter()
        .filter_map(|e| match content(e) {
            Event::SessionClosed { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    closed.sort();
    let mut expected = vec![s1.id, s2.id];
    expected.sort();
    assert_eq!(closed, expected, "each open session's close is logged");
    assert_eq!(
        events.last().map(|e| content(e).name()),
        Some("line_deleted"),
        "then the line's deletion"
    );
    let s1_after = some(must(store.session(s1.id).await, "session"), "s1");
    assert_eq!(
        s1_after.version,
        s1.version + 1,
        "the close went through core"
    );
    let roster = must(store.roster(line.id).await, "roster");
    assert!(
        roster.iter().all(|r| r.load == 0),
        "no load is left: {roster:?}"
    );
}

/// A consumer's saved position never moves back and reading resumes after
/// it; a removed consumer has none.
pub async fn event_consumers_keep_their_positions(store: Arc<dyn Store>) {
    let line = new_line(&*store, 1).await;
    new_session(&*store, line.id, 2).await;
    let events = all_after(&*store, EventPosition::START).await;
    assert!(events.len() >= 3, "line, session and message events");
    assert_eq!(must(store.consumer_position("ui").await, "position"), None);
    let second = events[1].position;
    must(
        store.save_consumer_position("ui", second, at(3)).await,
        "save",
    );
    must(
        store
            .save_consumer_position("ui", events[0].position, at(4))
            .await,
        "save back",
    );
    assert_eq!(
        must(store.consumer_position("ui").await, "position"),
        Some(second),
        "a cursor never moves back"
    );
    let rest = must(store.events_after(second, 100).await, "after");
    assert_eq!(
        rest.len(),
        events.len() - 2,
        "reading resumes after the cursor"
    );
    assert_eq!(rest.first().map(|e| e.id), Some(events[2].id));
    must(store.remove_consumer("ui").await, "remove");
    assert_eq!(must(store.consumer_position("ui").await, "position"), None);
}

/// Pruning deletes old events every consumer passed, within its limit, and
/// never lets a position be reused.
pub async fn prune_keeps_what_a_consumer_has_not_passed(store: Arc<dyn Store>) {
    let line = new_line(&*store, 1).await;
    for secs in 2..6 {
        new_session(&*store, line.id, secs).await;
    }
    let events = all_after(&*store, EventPosition::START).await;
    assert_eq!(
        events.len(),
        9,
        "one line and four sessions with a message each"
    );
    // "slow" has read two events, "fast" everything.
    must(
        store
            .save_consumer_position("slow", events[1].position, at(10))
            .await,
        "save slow",
    );
    let last = some(events.last(), "last").position;
    must(
        store.save_consumer_position("fast", last, at(10)).await,
        "save fast",
    );
    // Nothing is older than at(1).
    assert_eq!(must(store.prune_events(at(1), 100).await, "prune"), 0);
    // Everything is old, but "slow" holds back all after its position.
    assert_eq!(must(store.prune_events(at(100), 100).await, "prune"), 2);
    let left = all_after(&*store, EventPosition::START).await;
    assert_eq!(left.len(), 7, "only what every consumer passed is gone");
    assert_eq!(left.first().map(|e| e.id), Some(events[2].id));
    must(store.remove_consumer("slow").await, "remove slow");
    // Older than at(4): the events of the sessions opened at 2 and 3.
    assert_eq!(must(store.prune_events(at(4), 100).await, "prune"), 3);
    // Bounded by the limit.
    assert_eq!(must(store.prune_events(at(100), 1).await, "prune"), 1);
    let left = all_after(&*store, EventPosition::START).await;
    assert_eq!(left.len(), 3);
    // New events still get positions after every pruned one.
    must(store.prune_events(at(100), 100).await, "prune all");
    new_session(&*store, line.id, 20).await;
    let fresh = all_after(&*store, last).await;
    assert_eq!(
        fresh.len(),
        2,
        "events after a full prune are still after old positions"
    );
}
