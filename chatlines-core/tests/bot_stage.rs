//! Bot stage (issue 9, behaviour 9): a line may put its new sessions
//! first with a bot. While with the bot a session is in its own state
//! (not offered); the bot's messages are stored with the bot author and
//! delivered like replies; it is handed over on the bot's decision, a
//! client keyword, a bot error or a timeout, and then the line's rule
//! routes it. The operator sees the whole transcript. Off by default.
//! Time is a `ManualClock`; `Hub::run_due` fires what is due.

mod common;

use chatlines_core::{
    Author, Bot, BotDecision, BotSettings, BotTurn, BoxError, Clock, Cursor, Error, Event,
    HandOverReason, Hub, InboundMessage, LineConfig, LineField, ManualClock, NewSource,
    OutboxStatus, PageRequest, RouteReason, SessionState, SessionStatus, SourceId, TimerKind,
};
use chatlines_routing::RuleRouter;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A scripted FAQ bot: answers by the client's words and counts its turns.
#[derive(Default)]
struct Faq {
    turns: AtomicUsize,
}

#[async_trait::async_trait]
impl Bot for Faq {
    async fn answer(&self, turn: BotTurn) -> Result<BotDecision, BoxError> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        let text = turn.message.body.text.to_lowercase();
        Ok(match text.as_str() {
            "hours" => BotDecision::reply("We are open 9 to 18."),
            "fail" => return Err("the FAQ service is down".into()),
            "bye" => BotDecision::Close,
            "hmm" => BotDecision::Wait,
            "person" => BotDecision::hand_over("asked for a person"),
            "blank" => BotDecision::reply("   "),
            "count" => BotDecision::reply(format!("{} messages", turn.transcript.len())),
            _ => BotDecision::reply("Sorry, I do not know. Write \"operator\"."),
        })
    }
}

struct Setup {
    w: World,
    clock: Arc<ManualClock>,
    bot: Arc<Faq>,
}

fn setup() -> Setup {
    let clock = Arc::new(ManualClock::default());
    let mut w = World::with_clock(clock.clone());
    let bot = Arc::new(Faq::default());
    w.hub = Hub::builder(
        w.store.clone(),
        w.dir.clone(),
        w.apps.clone(),
        Arc::new(RuleRouter::new()),
    )
    .clock(clock.clone())
    .bot(bot.clone())
    .build();
    Setup { w, clock, bot }
}

fn bot_line(timeout: Option<u64>) -> LineConfig {
    let config = staff_line("Shop").bot(BotSettings::new().keywords(["operator", "human"]));
    match timeout {
        Some(t) => config.bot_timeout(Duration::from_secs(t)),
        None => config,
    }
}

async fn telegram(w: &World, line: chatlines_core::LineId) -> TestResult<SourceId> {
    let source = NewSource::new("telegram", "@shop_bot", "vault://tg");
    Ok(w.hub.bind_source(&user(ADMIN), line, source).await?.id)
}

fn from_pavel(id: &str, text: &str) -> InboundMessage {
    let mut m = InboundMessage::text(id, "tg-100", "Pavel", text);
    m.reply_address = Some("chat-555".into());
    m
}

fn handed_over(events: &[Event]) -> Vec<HandOverReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionHandedOver { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_bot_answers_with_its_own_author_through_the_outbox() -> TestResult {
    let Setup { w, bot, .. } = setup();
    let line = w.line(bot_line(None)).await?;
    let tg = telegram(&w, line.id).await?;
    let posted = w.hub.ingest(tg, from_pavel("m1", "hours")).await?;
    assert_eq!(posted.session.status, SessionStatus::Bot);
    assert_eq!(posted.session.reason, RouteReason::BotStage);
    assert_eq!(bot.turns.load(Ordering::SeqCst), 1);

    let messages = w
        .store
        .messages(posted.session.id, Cursor::Start, 10)
        .await?;
    let authors: Vec<&Author> = messages.iter().map(|m| &m.author).collect();
    assert_eq!(authors, vec![&Author::Client, &Author::Bot]);
    assert_eq!(messages[1].body.text, "We are open 9 to 18.");
    let entry = w
        .store
        .outbox_for_message(messages[1].id)
        .await?
        .ok_or("no outbox entry for the bot's answer")?;
    assert_eq!(entry.address, "chat-555");
    assert_eq!(entry.status, OutboxStatus::Pending);

    // Not offered, not queued: no operator sees it among their offers.
    let names: Vec<&str> = w.events.events().iter().map(Event::name).collect();
    assert!(names.contains(&"session_with_bot"), "{names:?}");
    assert!(!names.contains(&"session_offered"), "{names:?}");
    for op in ["ann", "bob"] {
        let offered = w
            .hub
            .offered_sessions(&user(op), PageRequest::default())
            .await?;
        assert!(offered.items.is_empty(), "{op}");
    }
    assert!(w.store.queued_sessions(line.id, 10).await?.is_empty());
    // Nobody takes it from the bot.
    let r = w.hub.take(&user("ann"), posted.session.id).await;
    assert!(matches!(r, Err(Error::InvalidState { .. })), "{r:?}");
    // The supervisor's board lists it under its own state.
    let board = w
        .hub
        .line_sessions(
            &user("sue"),
            line.id,
            Some(SessionState::Bot),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(board.items.len(), 1);
    assert_eq!(board.items[0].session.id, posted.session.id);
    let offered = w
        .hub
        .line_sessions(
            &user("sue"),
            line.id,
            Some(SessionState::Offered),
            PageRequest::default(),
        )
        .await?;
    assert!(offered.items.is_empty());

    // The client sees the bot's answer under the line's name.
    let seen = w
        .hub
        .external_conversation(tg, "tg-100", PageRequest::default())
        .await?;
    assert_eq!(seen.items[1].author_name, "Shop");

    // The next message goes to the bot too, with the transcript.
    let next = w.hub.ingest(tg, from_pavel("m2", "count")).await?;
    assert_eq!(next.session.id, posted.session.id);
    assert_eq!(next.session.status, SessionStatus::Bot);
    let messages = w
        .store
        .messages(posted.session.id, Cursor::Start, 10)
        .await?;
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3].body.text, "3 messages");
    Ok(())
}

#[tokio::test]
async fn a_keyword_hands_over_and_the_operator_reads_the_whole_transcript() -> TestResult {
    let Setup { w, bot, .. } = setup();
    let line = w.line(bot_line(Some(600))).await?;
    let tg = telegram(&w, line.id).await?;
    let first = w.hub.ingest(tg, from_pavel("m1", "hours")).await?;
    let id = first.session.id;
    assert_eq!(w.store.session_timers(id).await?.len(), 1);
    w.events.drain();

    let posted = w
        .hub
        .ingest(tg, from_pavel("m2", "An Operator, please!"))
        .await?;
    assert_eq!(bot.turns.load(Ordering::SeqCst), 1, "the bot is not asked");
    assert_eq!(posted.session.status, SessionStatus::Offered, "first come");
    let events = w.events.drain();
    assert_eq!(
        handed_over(&events),
        vec![HandOverReason::Keyword {
            keyword: "operator".into()
        }]
    );
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(
        names,
        vec!["message_in", "session_handed_over", "session_offered"]
    );
    assert!(
        w.store.session_timers(id).await?.is_empty(),
        "the bot timeout is cancelled"
    );
    let offered = w
        .hub
        .offered_sessions(&user("ann"), PageRequest::default())
        .await?;
    assert_eq!(offered.items.len(), 1);

    w.hub.take(&user("ann"), id).await?;
    let history = w
        .hub
        .messages(&user("ann"), id, PageRequest::default())
        .await?;
    let seen: Vec<(&Author, &str)> = history
        .items
        .iter()
        .map(|m| (&m.author, m.body.text.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (&Author::Client, "hours"),
            (&Author::Bot, "We are open 9 to 18."),
            (&Author::Client, "An Operator, please!"),
        ]
    );
    // Later client messages are the operator's; the bot is not asked.
    w.hub.ingest(tg, from_pavel("m3", "hours")).await?;
    assert_eq!(bot.turns.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn the_bots_decision_hands_over_to_the_rule() -> TestResult {
    let Setup { w, .. } = setup();
    w.dir.add_to_group("solo", "ann");
    let config = LineConfig::new("Solo")
        .operators("solo")
        .client(chatlines_core::Audience::Group(STAFF.into()))
        .rule(chatlines_core::RoutingRule::RoundRobin)
        .bot(BotSettings::new());
    let line = w.line(config).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("person")).await?;
    assert_eq!(posted.session.status, assigned_to("ann"), "round robin");
    assert_eq!(
        handed_over(&w.events.events()),
        vec![HandOverReason::Bot {
            note: "asked for a person".into()
        }]
    );
    Ok(())
}

#[tokio::test]
async fn a_bot_error_hands_over_and_keeps_the_message() -> TestResult {
    let Setup { w, .. } = setup();
    let line = w.line(bot_line(None)).await?;
    let tg = telegram(&w, line.id).await?;
    let posted = w.hub.ingest(tg, from_pavel("m1", "fail")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    assert_eq!(
        handed_over(&w.events.events()),
        vec![HandOverReason::BotError {
            error: "the FAQ service is down".into()
        }]
    );
    let messages = w
        .store
        .messages(posted.session.id, Cursor::Start, 10)
        .await?;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body.text, "fail");

    // An answer the hub cannot store is a bot error too.
    let other = w.line(bot_line(None).operators(OPS)).await?;
    let posted = w.hub.write(&user("carl"), other.id, text("blank")).await?;
    // staff_line's clients include carl.
    assert_eq!(posted.session.status, SessionStatus::Offered);
    assert!(matches!(
        handed_over(&w.events.events()).last(),
        Some(HandOverReason::BotError { error }) if error.starts_with("unusable reply")
    ));
    Ok(())
}

#[tokio::test]
async fn the_bot_timeout_hands_over_through_run_due() -> TestResult {
    let Setup { w, clock, .. } = setup();
    let line = w.line(bot_line(Some(60))).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hmm")).await?;
    let id = posted.session.id;
    assert_eq!(posted.session.status, SessionStatus::Bot, "the bot waits");
    let timers = w.store.session_timers(id).await?;
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::BotTimeout);
    assert_eq!(timers[0].due_at, posted.session.updated_at + secs(60));

    clock.advance(secs(30));
    // Client messages do not restart it.
    w.hub.write(&user("carl"), line.id, text("hmm")).await?;
    clock.advance(secs(29));
    assert_eq!(w.hub.run_due(clock.now(), 10).await?.fired, 0);
    w.events.drain();
    clock.advance(secs(1));
    let report = w.hub.run_due(clock.now(), 10).await?;
    assert_eq!(report.fired, 1);
    let events = w.events.drain();
    assert_eq!(handed_over(&events), vec![HandOverReason::Timeout]);
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(names, vec!["session_handed_over", "session_offered"]);
    assert_eq!(w.stored_session(id).await?.status, SessionStatus::Offered);
    // Once.
    clock.advance(secs(600));
    assert_eq!(w.hub.run_due(clock.now(), 10).await?.claimed, 0);
    Ok(())
}

#[tokio::test]
async fn a_stale_bot_timeout_changes_nothing() -> TestResult {
    let Setup { w, clock, .. } = setup();
    let line = w.line(bot_line(Some(60))).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hmm")).await?;
    let id = posted.session.id;
    // A supervisor assigns it meanwhile: the timer is cancelled.
    w.hub.assign(&user("sue"), id, &user("bob")).await?;
    assert!(w.store.session_timers(id).await?.is_empty());
    clock.advance(secs(61));
    assert_eq!(w.hub.run_due(clock.now(), 10).await?.claimed, 0);
    assert_eq!(w.stored_session(id).await?.status, assigned_to("bob"));
    Ok(())
}

#[tokio::test]
async fn the_bot_closes_and_the_next_message_opens_a_new_session() -> TestResult {
    let Setup { w, bot, .. } = setup();
    let line = w.line(bot_line(Some(60))).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("bye")).await?;
    assert_eq!(posted.session.status, SessionStatus::Closed);
    assert!(w.store.session_timers(posted.session.id).await?.is_empty());
    let again = w.hub.write(&user("carl"), line.id, text("hours")).await?;
    assert_ne!(again.session.id, posted.session.id);
    assert_eq!(again.session.status, SessionStatus::Bot);
    assert_eq!(bot.turns.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn off_by_default_and_without_a_bot() -> TestResult {
    let Setup { w, bot, .. } = setup();
    // A line without the bot stage, on a hub with a bot: routed as before.
    let plain = w.line(staff_line("Desk")).await?;
    let posted = w.hub.write(&user("carl"), plain.id, text("hours")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    assert_eq!(bot.turns.load(Ordering::SeqCst), 0);
    assert_eq!(plain.config.bot, None);

    // A line with the bot stage on a hub without a bot: routed too.
    let w2 = World::new();
    let line = w2.line(bot_line(None)).await?;
    let posted = w2.hub.write(&user("carl"), line.id, text("hours")).await?;
    assert_eq!(posted.session.status, SessionStatus::Offered);
    Ok(())
}

#[tokio::test]
async fn bad_bot_settings_are_refused() -> TestResult {
    let Setup { w, .. } = setup();
    let admin = user(ADMIN);
    let fields = |r: Result<chatlines_core::Line, Error>| -> Vec<LineField> {
        match r {
            Err(Error::InvalidLine(p)) => p.0.iter().map(|p| p.field()).collect(),
            other => panic!("expected refusal, got {other:?}"),
        }
    };
    let timeout_alone = staff_line("A").bot_timeout(Duration::from_secs(60));
    assert_eq!(
        fields(w.hub.create_line(&admin, timeout_alone).await),
        vec![LineField::BotTimeout]
    );
    let zero = bot_line(Some(0));
    assert_eq!(
        fields(w.hub.create_line(&admin, zero).await),
        vec![LineField::BotTimeout]
    );
    let blank = staff_line("B").bot(BotSettings::new().keywords(["help", " "]));
    assert_eq!(
        fields(w.hub.create_line(&admin, blank).await),
        vec![LineField::Bot]
    );
    let twice = staff_line("C").bot(BotSettings::new().keywords(["Help", "help"]));
    assert_eq!(
        fields(w.hub.create_line(&admin, twice).await),
        vec![LineField::Bot]
    );
    assert!(
        w.hub.lines_for(&user("carl")).await?.is_empty(),
        "nothing stored"
    );
    Ok(())
}
