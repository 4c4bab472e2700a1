//! SLA: the session's clocks are written with `Transition::Sla` (keeping
//! the version), their timers warn and then breach once, a stopped clock
//! cancels its timer, the breach is kept and read per line and period,
//! and a close stops every clock.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Event, FireOutcome, Priority, PriorityCause, SlaChange, SlaDue, SlaDues, SlaSettings, SlaState,
    SlaTarget, TimerKind, Transition,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Every SLA event in the log: (name, target, due time).
async fn sla_events(store: &dyn Store) -> Vec<(&'static str, SlaTarget, DateTime<Utc>)> {
    logged_events(store)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::SlaWarning { target, due_at, .. } => Some(("sla_warning", target, due_at)),
            Event::SlaBreached { target, due_at, .. } => Some(("sla_breached", target, due_at)),
            _ => None,
        })
        .collect()
}

fn client_wrote(secs: i64) -> Transition {
    let mut dues = SlaDues::default();
    dues.first_response = Some(SlaDue::new(Some(at(secs + 80)), at(secs + 100)));
    dues.next_response = Some(SlaDue::new(None, at(secs + 60)));
    dues.resolution = Some(SlaDue::new(None, at(secs + 300)));
    Transition::Sla {
        change: SlaChange::ClientWrote { at: at(secs), dues },
    }
}

/// Clocks start with the client's message and are stored as written; the
/// first-response timer warns, is re-armed at the due time and breaches
/// once; the breach is read per line and period; a reply stops the
/// response clocks and cancels their timers; a close stops the rest.
pub async fn sla_clocks_warn_breach_and_stop(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Sla", 0);
    line.config = line.config.sla(
        SlaSettings::default()
            .first_response(std::time::Duration::from_secs(100))
            .next_response(std::time::Duration::from_secs(60))
            .resolution(std::time::Duration::from_secs(300))
            .warning_percent(80),
    );
    must(store.insert_line(&line).await, "insert_line");
    let s = assigned_session(store, line.id, "ann", 0).await;
    assert!(s.sla.is_none());

    let started = must(store.transition(s.id, client_wrote(0), at(0)).await, "sla");
    assert_eq!(
        started.version, s.version,
        "SLA bookkeeping keeps the version"
    );
    assert_eq!(started.updated_at, s.updated_at);
    let sla = some(started.sla.clone(), "clocks");
    let first = some(sla.first_response, "first response");
    assert_eq!((first.warn_at, first.due_at), (Some(at(80)), at(100)));
    assert!(sla.next_response.is_none(), "only after a reply");
    assert_eq!(some(sla.resolution, "resolution").due_at, at(300));
    let read = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(read.sla, started.sla, "the clocks are stored as written");
    let mut timers = must(store.session_timers(s.id).await, "timers");
    timers.sort_by_key(|t| t.kind);
    let armed: Vec<_> = timers.iter().map(|t| (t.kind, t.due_at)).collect();
    assert_eq!(
        armed,
        vec![
            (TimerKind::SlaFirstResponse, at(80)),
            (TimerKind::SlaResolution, at(300))
        ]
    );

    // A second client message before any reply changes nothing.
    let again = must(
        store.transition(s.id, client_wrote(10), at(10)).await,
        "again",
    );
    assert_eq!(again.sla, started.sla);

    // The warning, then the breach, each once.
    let claimed = must(store.claim_timers(at(80), at(90), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    let fired = must(store.fire_timer(&claimed[0], at(80)).await, "warn");
    let FireOutcome::Fired(warned) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    let first = some(some(warned.sla, "clocks").first_response, "first");
    assert_eq!(first.state, SlaState::Warning);
    assert_eq!(warned.version, s.version);
    assert_eq!(
        must(store.fire_timer(&claimed[0], at(81)).await, "twice"),
        FireOutcome::Gone,
        "re-armed: the old claim is gone"
    );
    let claimed = must(store.claim_timers(at(100), at(110), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.kind, TimerKind::SlaFirstResponse);
    let fired = must(store.fire_timer(&claimed[0], at(101)).await, "breach");
    let FireOutcome::Fired(breached) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    let first = some(some(breached.sla, "clocks").first_response, "first");
    assert_eq!(first.state, SlaState::Breached);
    assert_eq!(
        sla_events(store).await,
        vec![
            ("sla_warning", SlaTarget::FirstResponse, at(100)),
            ("sla_breached", SlaTarget::FirstResponse, at(100))
        ]
    );
    let report = must(
        store.sla_breaches(line.id, at(0), at(1000), 10).await,
        "breaches",
    );
    assert_eq!(report.len(), 1);
    let b = &report[0];
    assert_eq!(
        (b.session, b.target, b.due_at, b.breached_at),
        (s.id, SlaTarget::FirstResponse, at(100), at(101))
    );
    assert_eq!(b.operator, Some(user("ann")));
    assert!(
        must(
            store.sla_breaches(line.id, at(101), at(1000), 10).await,
            "later"
        )
        .is_empty(),
        "the period starts after the due time"
    );
    assert!(must(
        store.sla_breaches(id(), at(0), at(1000), 10).await,
        "other line"
    )
    .is_empty());
    // A period reaching beyond the times a store keeps holds what is in it.
    let wide = must(
        store
            .sla_breaches(
                line.id,
                chrono::DateTime::<chrono::Utc>::MIN_UTC,
                chrono::DateTime::<chrono::Utc>::MAX_UTC,
                10,
            )
            .await,
        "the widest period",
    );
    assert_eq!(wide.len(), 1, "{wide:?}");

    // A reply stops the response clocks; the next client message starts
    // a next-response clock, and a reply in time cancels its timer.
    let reply = Transition::Sla {
        change: SlaChange::OperatorReplied,
    };
    let replied = must(
        store.transition(s.id, reply.clone(), at(120)).await,
        "reply",
    );
    let first = some(some(replied.sla, "clocks").first_response, "first");
    assert_eq!(first.stopped_at, Some(at(120)));
    assert_eq!(
        first.state,
        SlaState::Breached,
        "a late reply keeps the breach"
    );
    let next = must(
        store.transition(s.id, client_wrote(130), at(130)).await,
        "next",
    );
    let clock = some(some(next.sla, "clocks").next_response, "next response");
    assert_eq!(clock.due_at, at(190));
    must(store.transition(s.id, reply, at(150)).await, "reply again");
    let kinds: Vec<_> = must(store.session_timers(s.id).await, "timers")
        .iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, vec![TimerKind::SlaResolution], "answered in time");

    // A close stops the resolution clock and cancels its timer.
    let close = Transition::Close {
        by_operator: Some(user("ann")),
    };
    let closed = must(store.transition(s.id, close, at(200)).await, "close");
    let resolution = some(some(closed.sla, "clocks").resolution, "resolution");
    assert_eq!(resolution.stopped_at, Some(at(200)));
    assert_eq!(resolution.state, SlaState::Ok);
    assert!(must(store.session_timers(s.id).await, "timers").is_empty());
    assert!(must(store.claim_timers(at(1000), at(1010), 10).await, "none").is_empty());
    assert_eq!(
        must(
            store.sla_breaches(line.id, at(0), at(1000), 10).await,
            "once"
        )
        .len(),
        1
    );
    let refused = store
        .transition(s.id, client_wrote(210), at(210))
        .await
        .expect_err("a closed session has no clocks to move");
    assert!(
        matches!(refused, chatlines_core::StoreError::InvalidState { .. }),
        "{refused:?}"
    );
}

/// First-response and resolution dues 100 s and 300 s after `at(secs)`.
fn dues_from(secs: i64) -> SlaDues {
    let mut dues = SlaDues::default();
    dues.first_response = Some(SlaDue::new(None, at(secs + 100)));
    dues.resolution = Some(SlaDue::new(None, at(secs + 300)));
    dues
}

/// A client's message writes its follow-ups in the same call: the
/// priority of the session it opens and the start of the SLA clocks
/// (`machine::inbound_follow_up`); a message continuing the session
/// leaves its priority and running clocks alone; a duplicate writes
/// nothing. An operator's message stops the response clocks in its own
/// call (`machine::outbound_follow_up`).
pub async fn messages_write_their_follow_ups(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let first = inbound_ext(line.id, source.id, "carl", "m1", 10)
        .with_sla(dues_from(10))
        .with_opening_priority(Priority::Urgent, PriorityCause::Host);
    let opened = must(store.append_inbound(first.clone()).await, "append");
    assert!(opened.opened);
    let s = &opened.session;
    assert_eq!(s.priority, Priority::Urgent);
    let sla = some(s.sla.clone(), "clocks started with the message");
    assert_eq!(some(sla.first_response, "first").due_at, at(110));
    assert_eq!(some(sla.resolution, "resolution").due_at, at(310));
    let stored = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(stored.priority, Priority::Urgent);
    assert_eq!(stored.sla, s.sla, "written as returned");
    assert_eq!(stored.version, s.version);
    assert_eq!(stored.last_seq, 1);
    let mut kinds: Vec<_> = must(store.session_timers(s.id).await, "timers")
        .iter()
        .map(|t| (t.kind, t.due_at))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            (TimerKind::SlaFirstResponse, at(110)),
            (TimerKind::SlaResolution, at(310))
        ]
    );
    assert_eq!(
        session_event_names(store, s.id).await,
        vec!["session_opened", "message_in", "session_priority_changed"]
    );

    // Redelivered: the stored copy, nothing written.
    let again = must(store.append_inbound(first).await, "redelivery");
    assert!(again.duplicate);
    assert_eq!(
        some(must(store.session(s.id).await, "session"), "stored"),
        stored
    );
    // Continuing: the priority stays, the running clocks keep their dues.
    let next = inbound_ext(line.id, source.id, "carl", "m2", 20)
        .with_sla(dues_from(20))
        .with_opening_priority(Priority::Low, PriorityCause::Host);
    let continued = must(store.append_inbound(next).await, "append");
    assert!(!continued.opened);
    assert_eq!(continued.session.priority, Priority::Urgent);
    assert_eq!(continued.session.sla, stored.sla);
    assert_eq!(continued.session.last_seq, 2);

    // The operator's reply stops the first-response clock with it.
    let taken = must(store.transition(s.id, take("ann"), at(30)).await, "take");
    must(
        store.append_outbound(reply(s.id, "ann", "hello", 40)).await,
        "reply",
    );
    let replied = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(replied.version, taken.version, "clocks keep the version");
    let clocks = some(replied.sla, "clocks");
    assert_eq!(
        some(clocks.first_response, "first").stopped_at,
        Some(at(40))
    );
    assert!(clocks.answered);
    assert!(some(clocks.resolution, "resolution").is_running());
    let kinds: Vec<_> = must(store.session_timers(s.id).await, "timers")
        .iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, vec![TimerKind::SlaResolution]);

    // Without follow-ups a message changes neither.
    let plain = must(
        store
            .append_inbound(inbound_ext(line.id, source.id, "dora", "m3", 50))
            .await,
        "plain",
    );
    assert_eq!(plain.session.priority, Priority::Normal);
    assert!(plain.session.sla.is_none());
    assert!(must(store.session_timers(plain.session.id).await, "timers").is_empty());
}

/// On a line that raises priorities on SLA breaches, a breach raises the
/// session's priority in the same change that records it, and the
/// session's other timers stay current at its new version.
pub async fn a_breach_raises_the_priority(store: Arc<dyn Store>) {
    let store = &*store;
    let mut line = line_at("Raise", 0);
    line.config = line
        .config
        .sla(SlaSettings::default().first_response(std::time::Duration::from_secs(100)))
        .offer_timeout(std::time::Duration::from_secs(500))
        .raise_priority_on_sla_breach(Priority::High);
    must(store.insert_line(&line).await, "insert_line");
    let key = internal("carl");
    let mut dues = SlaDues::default();
    dues.first_response = Some(SlaDue::new(None, at(100)));
    let new = inbound(line.id, &key, "hi", 0).with_sla(dues);
    let s = must(store.append_inbound(new).await, "append").session;
    let offer = Transition::Route {
        expected_version: s.version,
        plan: chatlines_core::RoutePlan::Offer {
            reason: chatlines_core::RouteReason::FirstCome,
        },
    };
    let offered = must(store.transition(s.id, offer, at(0)).await, "offer");

    let claimed = must(store.claim_timers(at(100), at(110), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.kind, TimerKind::SlaFirstResponse);
    let fired = must(store.fire_timer(&claimed[0], at(100)).await, "breach");
    let FireOutcome::Fired(raised) = fired else {
        panic!("expected Fired, got {fired:?}");
    };
    assert_eq!(raised.priority, Priority::High);
    assert_eq!(raised.version, offered.version + 1);
    let stored = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(
        (stored.priority, stored.version),
        (Priority::High, raised.version)
    );
    let tail: Vec<_> = session_event_names(store, s.id)
        .await
        .into_iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(tail, vec!["session_priority_changed", "sla_breached"]);
    assert_eq!(
        must(
            store.sla_breaches(line.id, at(0), at(1000), 10).await,
            "report"
        )
        .len(),
        1
    );

    // The offer timeout armed before the raise still fires.
    let claimed = must(store.claim_timers(at(500), at(510), 10).await, "claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].timer.kind, TimerKind::OfferTimeout);
    let fired = must(
        store.fire_timer(&claimed[0], at(500)).await,
        "offer timeout",
    );
    assert!(matches!(fired, FireOutcome::Fired(_)), "{fired:?}");
}

/// A transition with a notice writes the message from the line with the
/// change, and its outbox entry for a messenger client; a refused change
/// writes neither; a change that closes the session writes no notice.
pub async fn a_notice_goes_out_with_its_change(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let mut first = inbound_ext(line.id, source.id, "carl", "n1", 10);
    first.reply_address = Some("chat-7".to_owned());
    let s = must(store.append_inbound(first).await, "append").session;
    let with_notice = |expected_version: u64, text: &str| Transition::WithNotice {
        change: Box::new(Transition::Route {
            expected_version,
            plan: chatlines_core::RoutePlan::Queue {
                reason: chatlines_core::RouteReason::FirstCome,
            },
        }),
        notice: chatlines_core::Body::text(text),
    };

    let refused = store
        .transition(s.id, with_notice(s.version + 5, "stale"), at(20))
        .await
        .expect_err("a stale route is refused");
    assert!(
        matches!(refused, chatlines_core::StoreError::Conflict { .. }),
        "{refused:?}"
    );
    let stored = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(stored.last_seq, 1, "nothing written");

    let queued = must(
        store
            .transition(s.id, with_notice(s.version, "We open at nine"), at(30))
            .await,
        "queue with a notice",
    );
    let last = must(
        store.messages(s.id, chatlines_core::Cursor::End, 1).await,
        "messages",
    );
    let last = some(last.into_iter().next(), "the notice");
    assert_eq!(last.author, chatlines_core::Author::System);
    assert_eq!(last.body, chatlines_core::Body::text("We open at nine"));
    assert_eq!((last.seq, last.created_at), (2, at(30)));
    let entry = some(
        must(store.outbox_for_message(last.id).await, "outbox"),
        "the notice is delivered like a reply",
    );
    assert_eq!(
        (entry.source, entry.address.as_str()),
        (source.id, "chat-7")
    );
    let tail: Vec<_> = session_event_names(store, s.id)
        .await
        .into_iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(tail[0], "message_out");

    let close = Transition::WithNotice {
        change: Box::new(Transition::Close { by_operator: None }),
        notice: chatlines_core::Body::text("bye"),
    };
    let closed = must(store.transition(s.id, close, at(40)).await, "close");
    assert!(!closed.is_open());
    let stored = some(must(store.session(s.id).await, "session"), "stored");
    assert_eq!(
        stored.last_seq,
        queued.last_seq.max(2),
        "no notice after a close"
    );
}
