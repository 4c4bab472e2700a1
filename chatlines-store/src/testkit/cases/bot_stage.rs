//! Bot stage: the `bot` session state round-trips, is neither queued nor
//! offered, lists under its own state, takes the bot's messages only while
//! it lasts, and its timeout hands the session over once.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Author, Body, BotSettings, EventPosition, FireOutcome, HandOverReason, NewOutbound,
    RouteReason, SessionState, SessionStatus, StoreError, TimerKind, Transition,
};
use std::sync::Arc;

async fn bot_line(store: &dyn Store) -> chatlines_core::Line {
    let mut line = line_at("Bot", 0);
    line.config = line
        .config
        .bot(BotSettings::new().keywords(["operator"]))
        .bot_timeout(std::time::Duration::from_secs(60));
    must(store.insert_line(&line).await, "insert_line");
    must(
        store.replace_roster(line.id, &[user("ann")]).await,
        "roster",
    );
    line
}

fn to_bot(version: u64) -> Transition {
    Transition::ToBot {
        expected_version: version,
    }
}

fn bot_says(session: chatlines_core::SessionId, text: &str, secs: i64) -> NewOutbound {
    NewOutbound::new(session, Author::Bot, Body::text(text), at(secs))
}

/// The bot state round-trips; the session is not queued or offered, lists
/// under `bot`, takes bot messages, refuses a take; a hand-over queues it
/// with its reason, cancels the timer and refuses later bot messages.
pub async fn bot_state_round_trips_and_is_not_offered(store: Arc<dyn Store>) {
    let store = &*store;
    let line = bot_line(store).await;
    let s = new_session(store, line.id, 10).await;
    let with_bot = must(
        store.transition(s.id, to_bot(s.version), at(10)).await,
        "to bot",
    );
    assert_eq!(with_bot.status, SessionStatus::Bot);
    assert_eq!(with_bot.reason, RouteReason::BotStage);
    let stored = some(must(store.session(s.id).await, "session"), "session");
    assert_eq!(stored, with_bot);
    let timers = must(store.session_timers(s.id).await, "timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].kind, TimerKind::BotTimeout);
    assert_eq!(timers[0].due_at, at(70));
    // A second move to the bot is a conflict.
    let e = fails(
        store.transition(s.id, to_bot(s.version), at(11)).await,
        "again",
    );
    assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");

    assert!(must(store.queued_sessions(line.id, 10).await, "queued").is_empty());
    assert!(must(store.offered_to(&user("ann"), None, 10).await, "offered").is_empty());
    let listed = |state| async move {
        must(store.line_sessions(line.id, state, None, 10).await, "board")
            .into_iter()
            .map(|o| o.session.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(Some(SessionState::Bot)).await, vec![s.id]);
    assert_eq!(listed(None).await, vec![s.id]);
    assert!(listed(Some(SessionState::Queued)).await.is_empty());
    assert!(listed(Some(SessionState::Offered)).await.is_empty());

    let answer = must(
        store.append_outbound(bot_says(s.id, "hi", 12)).await,
        "bot says",
    );
    assert_eq!(answer.author, Author::Bot);
    let read = must(
        store
            .messages(s.id, chatlines_core::Cursor::Start, 10)
            .await,
        "messages",
    );
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].author, Author::Bot);
    let e = fails(store.transition(s.id, take("ann"), at(13)).await, "take");
    assert!(
        matches!(
            e,
            StoreError::InvalidState {
                state: SessionState::Bot,
                ..
            }
        ),
        "{e:?}"
    );

    let reason = HandOverReason::Keyword {
        keyword: "operator".into(),
    };
    let handed = must(
        store
            .transition(
                s.id,
                Transition::HandOver {
                    reason: reason.clone(),
                },
                at(14),
            )
            .await,
        "hand over",
    );
    assert_eq!(handed.status, SessionStatus::Queued);
    let expected = RouteReason::HandedOver { handover: reason };
    assert_eq!(handed.reason, expected);
    let stored = some(must(store.session(s.id).await, "session"), "session");
    assert_eq!(stored.reason, expected);
    assert!(must(store.session_timers(s.id).await, "timers").is_empty());
    let queued = must(store.queued_sessions(line.id, 10).await, "queued");
    assert_eq!(queued.len(), 1);
    let e = fails(
        store.append_outbound(bot_says(s.id, "late", 15)).await,
        "late",
    );
    assert!(matches!(e, StoreError::InvalidState { .. }), "{e:?}");
    let e = fails(
        store
            .transition(
                s.id,
                Transition::HandOver {
                    reason: HandOverReason::Timeout,
                },
                at(16),
            )
            .await,
        "hand over twice",
    );
    assert!(matches!(e, StoreError::InvalidState { .. }), "{e:?}");

    let names: Vec<String> = must(store.events_after(EventPosition::START, 100).await, "log")
        .iter()
        .map(|e| content(e).name().to_owned())
        .filter(|n| n.starts_with("session_"))
        .collect();
    assert_eq!(
        names,
        vec!["session_opened", "session_with_bot", "session_handed_over"]
    );
}

/// The bot timeout hands a session still with the bot over once; closing
/// a session with the bot cancels its timeout.
pub async fn bot_timeout_hands_over_once(store: Arc<dyn Store>) {
    let store = &*store;
    let line = bot_line(store).await;
    let s = new_session(store, line.id, 10).await;
    must(
        store.transition(s.id, to_bot(s.version), at(10)).await,
        "to bot",
    );
    let closed = new_session(store, line.id, 11).await;
    must(
        store
            .transition(closed.id, to_bot(closed.version), at(11))
            .await,
        "to bot",
    );
    let close = Transition::Close { by_operator: None };
    must(store.transition(closed.id, close, at(12)).await, "close");
    assert!(must(store.session_timers(closed.id).await, "timers").is_empty());

    assert!(must(store.claim_timers(at(69), at(99), 10).await, "early").is_empty());
    let claimed = must(store.claim_timers(at(75), at(105), 10).await, "claim");
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let fired = must(store.fire_timer(&claimed[0], at(75)).await, "fire");
    let FireOutcome::Fired(after) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(after.status, SessionStatus::Queued);
    assert_eq!(
        after.reason,
        RouteReason::HandedOver {
            handover: HandOverReason::Timeout
        }
    );
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(76)).await, "twice"),
        FireOutcome::Gone
    );
    let stored = some(must(store.session(s.id).await, "session"), "session");
    assert_eq!(stored, after);
}
