//! Inactivity and reopening: an operator's message arms the warning and
//! the close and cancels the never-answered timer, a client's message
//! cancels the two, in the message's own unit; the timers fire into a
//! warning event and a close with its reason; a client writing within the
//! reopen window reopens their closed session (ending a wrap-up that
//! still holds the slot) instead of opening a new one.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    CloseReason, FireOutcome, RouteReason, RoutingRule, SessionId, SessionStatus, TimerKind,
    Transition,
};
use std::sync::Arc;

/// The kinds of the session's stored timers, sorted.
async fn kinds(store: &dyn Store, session: SessionId) -> Vec<TimerKind> {
    let mut kinds: Vec<TimerKind> = must(store.session_timers(session).await, "timers")
        .into_iter()
        .map(|t| t.kind)
        .collect();
    kinds.sort();
    kinds
}

async fn load_of(store: &dyn Store, line: chatlines_core::LineId, who: &str) -> u32 {
    must(store.roster(line).await, "roster")
        .into_iter()
        .find(|e| e.user.as_str() == who)
        .map_or(0, |e| e.load)
}

/// The warning and the close follow the operator's and the client's
/// messages; a claimed warning the client answered is gone; the close
/// records `Inactive` and releases the operator's load.
pub async fn inactivity_timers_follow_messages(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Idle", 0);
    line.config = line
        .config
        .inactivity(std::time::Duration::from_secs(600))
        .inactivity_warning(std::time::Duration::from_secs(60), "Still there?");
    must(store.insert_line(&line).await, "insert_line");
    let s = assigned_session(store, line.id, "ann", 10).await;
    assert_eq!(
        kinds(store, s.id).await,
        vec![TimerKind::NeverAnswered],
        "armed by the first routing"
    );
    let key = some(must(store.contact(s.contact).await, "contact"), "contact").key;

    must(
        store.append_outbound(reply(s.id, "ann", "hi", 20)).await,
        "reply",
    );
    let timers = must(store.session_timers(s.id).await, "timers");
    let due = |kind| timers.iter().find(|t| t.kind == kind).map(|t| t.due_at);
    assert_eq!(due(TimerKind::InactivityWarning), Some(at(560)));
    assert_eq!(due(TimerKind::Inactivity), Some(at(620)));
    assert_eq!(due(TimerKind::NeverAnswered), None, "answered");

    // The client answers a claimed warning: it is gone.
    let claimed = must(store.claim_timers(at(560), at(590), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    must(
        store
            .append_inbound(inbound(line.id, &key, "here", 565))
            .await,
        "client writes",
    );
    assert!(kinds(store, s.id).await.is_empty(), "cancelled");
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(566)).await, "fire"),
        FireOutcome::Gone
    );

    must(
        store.append_outbound(reply(s.id, "ann", "ok", 600)).await,
        "reply",
    );
    let claimed = must(store.claim_timers(at(1140), at(1170), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.kind, TimerKind::InactivityWarning);
    let FireOutcome::Fired(warned) = must(store.fire_timer(&claimed[0], at(1140)).await, "fire")
    else {
        panic!("the warning fires");
    };
    assert_eq!(warned.status, s.status, "still open");
    assert_eq!(kinds(store, s.id).await, vec![TimerKind::Inactivity]);
    // The warning text went to the client with the change, from the line.
    let last = must(
        store.messages(s.id, chatlines_core::Cursor::End, 1).await,
        "messages",
    );
    let last = some(last.into_iter().next(), "the warning message");
    assert_eq!(last.author, chatlines_core::Author::System);
    assert_eq!(last.direction, chatlines_core::Direction::Outbound);
    assert_eq!(last.body, chatlines_core::Body::text("Still there?"));
    assert_eq!(last.created_at, at(1140));
    assert_eq!(
        some(must(store.session(s.id).await, "session"), "stored").last_seq,
        last.seq
    );

    let claimed = must(store.claim_timers(at(1200), at(1230), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    let FireOutcome::Fired(closed) = must(store.fire_timer(&claimed[0], at(1200)).await, "fire")
    else {
        panic!("the close fires");
    };
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        closed.reason,
        RouteReason::Closed {
            cause: CloseReason::Inactive,
            operator: Some(user("ann")),
        }
    );
    assert_eq!(load_of(store, line.id, "ann").await, 0, "released");
    assert!(kinds(store, s.id).await.is_empty());
    let names = session_event_names(store, s.id).await;
    let tail = &names[names.len() - 4..];
    assert_eq!(
        tail,
        [
            "session_inactivity_warning",
            "message_out",
            "session_inactive",
            "session_closed"
        ]
    );
}

/// A client writing within the window reopens their session: the same
/// session, queued with the operator it had, the wrap-up holding the slot
/// ended; after the window a new session opens.
pub async fn reopen_within_the_window(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Again", 0);
    line.config = line
        .config
        .rule(RoutingRule::LeastLoaded { capacity: 2 })
        .wrap_up(std::time::Duration::from_secs(30))
        .reopen(std::time::Duration::from_secs(300));
    must(store.insert_line(&line).await, "insert_line");
    let s = assigned_session(store, line.id, "ann", 10).await;
    let key = some(must(store.contact(s.contact).await, "contact"), "contact").key;
    let close = Transition::Close {
        by_operator: Some(user("ann")),
    };
    must(store.transition(s.id, close.clone(), at(20)).await, "close");
    assert_eq!(load_of(store, line.id, "ann").await, 1, "wrap-up holds it");

    let again = must(
        store
            .append_inbound(inbound(line.id, &key, "one more thing", 30))
            .await,
        "append",
    );
    assert!(again.reopened && !again.opened && !again.duplicate);
    assert_eq!(again.session.id, s.id);
    assert_eq!(again.session.status, SessionStatus::Queued);
    assert_eq!(again.session.closed_at, None);
    assert_eq!(
        again.session.reason,
        RouteReason::Reopened {
            operator: Some(user("ann")),
        }
    );
    assert_eq!(again.message.session, s.id);
    assert_eq!(again.message.seq, 2);
    assert_eq!(load_of(store, line.id, "ann").await, 0, "wrap-up ended");
    assert!(!kinds(store, s.id).await.contains(&TimerKind::WrapUp));
    let names = session_event_names(store, s.id).await;
    let tail = &names[names.len() - 2..];
    assert_eq!(tail, ["session_reopened", "message_in"]);
    let open = some(
        must(open_session(store, line.id, s.contact).await, "open"),
        "open again",
    );
    assert_eq!(open.id, s.id);
    // Written once: the next message joins it.
    let next = must(
        store
            .append_inbound(inbound(line.id, &key, "and another", 31))
            .await,
        "append",
    );
    assert!(!next.reopened && !next.opened);
    assert_eq!(next.session.id, s.id);

    // Closed again; after the window a new session opens.
    let closed = must(
        store
            .transition(s.id, Transition::Close { by_operator: None }, at(40))
            .await,
        "close",
    );
    assert_eq!(closed.status, SessionStatus::Closed);
    let late = must(
        store
            .append_inbound(inbound(line.id, &key, "hello?", 341))
            .await,
        "append",
    );
    assert!(late.opened && !late.reopened);
    assert_ne!(late.session.id, s.id);
    assert_eq!(
        must(store.contact_sessions(line.id, s.contact).await, "sessions").len(),
        2
    );
}

/// A session nobody answered: the first routing arms the never-answered
/// timer; when due it escalates once (the session stays open) or, when
/// the line says so, closes with `NeverAnswered`; with the setting off
/// by then it is stale.
pub async fn never_answered_escalates_or_closes(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Unanswered", 0);
    line.config = line.config.inactivity(std::time::Duration::from_secs(600));
    must(store.insert_line(&line).await, "insert_line");
    let escalated = assigned_session(store, line.id, "ann", 10).await;
    let claimed = must(store.claim_timers(at(610), at(640), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.kind, TimerKind::NeverAnswered);
    let FireOutcome::Fired(after) = must(store.fire_timer(&claimed[0], at(610)).await, "fire")
    else {
        panic!("escalates");
    };
    assert_eq!(after.status, escalated.status, "still open");
    assert_eq!(after.version, escalated.version + 1);
    assert!(kinds(store, escalated.id).await.is_empty(), "once");
    assert_eq!(load_of(store, line.id, "ann").await, 1);
    let names = session_event_names(store, escalated.id).await;
    assert_eq!(names.last(), Some(&"session_inactive"));

    // The line now closes them.
    let mut closing = line.clone();
    closing.version = 2;
    closing.config = closing
        .config
        .never_answered(chatlines_core::NeverAnswered::Close);
    must(store.update_line(&closing, 1).await, "update_line");
    let s = assigned_session(store, line.id, "ann", 700).await;
    let claimed = must(store.claim_timers(at(1300), at(1330), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    let FireOutcome::Fired(closed) = must(store.fire_timer(&claimed[0], at(1300)).await, "fire")
    else {
        panic!("closes");
    };
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        closed.reason,
        RouteReason::Closed {
            cause: CloseReason::NeverAnswered,
            operator: Some(user("ann")),
        }
    );
    assert_eq!(load_of(store, line.id, "ann").await, 1, "only the first");

    // Turned off meanwhile: stale.
    let s3 = assigned_session(store, line.id, "bob", 1400).await;
    let mut off = closing.clone();
    off.version = 3;
    off.config.timers.inactivity_secs = None;
    must(store.update_line(&off, 2).await, "update_line");
    let claimed = must(store.claim_timers(at(2000), at(2030), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.session, s3.id);
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(2000)).await, "fire"),
        FireOutcome::Stale
    );
    assert!(must(store.session(s3.id).await, "session").is_some_and(|x| x.is_open()));
    assert_ne!(s.id, s3.id);
}
