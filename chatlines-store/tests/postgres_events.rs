//! The PostgreSQL event log under concurrency: readers polling while many
//! writers commit, and listeners whose connection is killed, see every
//! event exactly once, in a valid order.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Author, Body, ContactKey, Error, Event, EventId, EventPosition, Hub, Line, LineConfig, LineId,
    LoggedEvent, NewInbound, NewOutbound, RoutePlan, RouteReason, Router, RoutingContext,
    SessionId, Source, SourceId, Transition, UserId,
};
use chatlines_store::postgres::{PgEventListener, PostgresConfig, PostgresStore};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// Every event after `after`, read in pages of `page`.
async fn read_all(store: &PostgresStore, after: EventPosition, page: usize) -> Vec<LoggedEvent> {
    let mut out: Vec<LoggedEvent> = Vec::new();
    let mut position = after;
    loop {
        let got = store
            .events_after(position, page)
            .await
            .expect("events_after");
        let Some(last) = got.last() else {
            return out;
        };
        position = last.position;
        out.extend(got);
    }
}

/// The ids of every row of the events table, read raw.
async fn ids_in_table(url: &str, schema: &str) -> Vec<EventId> {
    postgres_support::raw(url)
        .await
        .query(
            &format!("SELECT id FROM {schema}.events ORDER BY tx, seq"),
            &[],
        )
        .await
        .expect("read the events table")
        .iter()
        .map(|row| EventId(row.get(0)))
        .collect()
}

/// Checks a read of the whole log: positions strictly increase, no event
/// comes twice, and per session the versions and message numbers grow.
fn assert_valid_order(events: &[LoggedEvent]) {
    let mut seen = HashSet::new();
    let mut versions: HashMap<SessionId, u64> = HashMap::new();
    let mut seqs: HashMap<SessionId, u64> = HashMap::new();
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions grow: {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
    for e in events {
        assert!(seen.insert(e.id), "event {} read twice", e.id);
        let event = e.event().expect("a readable event");
        let Some(session) = event.session() else {
            continue;
        };
        if let Some(v) = event.session_version() {
            let last = versions.insert(session, v);
            assert!(
                last.is_none_or(|last| last < v),
                "session {session}: version {v} after {last:?} ({})",
                event.name()
            );
        }
        let seq = match event {
            Event::MessageIn { seq, .. } | Event::MessageOut { seq, .. } => Some(*seq),
            _ => None,
        };
        if let Some(seq) = seq {
            let last = seqs.insert(session, seq);
            assert!(
                last.is_none_or(|last| last < seq),
                "session {session}: message {seq} after {last:?}"
            );
        }
    }
}

fn line_record(name: &str) -> Line {
    let now = chrono::Utc::now();
    Line::new(
        LineId::from(uuid::Uuid::now_v7()),
        1,
        LineConfig::new(name).operators("ops"),
        now,
        now,
    )
}

/// One writer's work: `conversations` clients each write twice, an
/// operator takes the session, replies and closes it.
async fn converse(store: Arc<PostgresStore>, line: LineId, source: SourceId, writer: usize) {
    for c in 0..4 {
        let key = ContactKey::External {
            source,
            external_user: format!("w{writer}c{c}"),
        };
        let mut session = None;
        for m in 0..2 {
            let new = NewInbound::new(
                line,
                key.clone(),
                "client",
                Body::text(format!("message {m}")),
                chrono::Utc::now(),
            );
            let appended = store.append_inbound(new).await.expect("append_inbound");
            session = Some(appended.session.id);
        }
        let session = session.expect("a session");
        let operator = UserId::new(format!("op{writer}"));
        store
            .transition(
                session,
                Transition::Take {
                    operator: operator.clone(),
                },
                chrono::Utc::now(),
            )
            .await
            .expect("take");
        store
            .append_outbound(NewOutbound::new(
                session,
                Author::Operator {
                    user: operator.clone(),
                },
                Body::text("hello"),
                chrono::Utc::now(),
            ))
            .await
            .expect("reply");
        store
            .transition(
                session,
                Transition::Close {
                    by_operator: Some(operator),
                },
                chrono::Utc::now(),
            )
            .await
            .expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_polling_while_writers_commit_sees_every_event_once_in_order() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "a_reader_polling_while_writers_commit_sees_every_event_once_in_order",
        );
    };
    let schema = postgres_support::fresh_schema();
    // Two instances, each batching its ingest.
    let a = Arc::new(postgres_support::store_in(&url, &schema, 8).await);
    let b = Arc::new(postgres_support::store_in(&url, &schema, 8).await);
    let line = line_record("Support");
    a.insert_line(&line).await.expect("insert_line");
    let source = Source::new(
        SourceId::from(uuid::Uuid::now_v7()),
        line.id,
        "webhook",
        "test",
        "test",
        chrono::Utc::now(),
    );
    a.insert_source(&source).await.expect("insert_source");

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&a), Arc::clone(&done));
        tokio::spawn(async move {
            let mut read: Vec<LoggedEvent> = Vec::new();
            let mut position = EventPosition::START;
            loop {
                // Whether writing had finished before this read began: then
                // an empty read means the whole log was read.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.events_after(position, 7).await.expect("poll");
                match page.last() {
                    Some(last) => position = last.position,
                    None if finished => return read,
                    None => tokio::task::yield_now().await,
                }
                read.extend(page);
            }
        })
    };
    let writers: Vec<_> = (0..12)
        .map(|w| {
            let store = if w % 2 == 0 { &a } else { &b };
            tokio::spawn(converse(Arc::clone(store), line.id, source.id, w))
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let read = reader.await.expect("reader");

    let table = ids_in_table(&url, &schema).await;
    // line + source + 12 writers x 4 conversations x (opened, 2 in, take,
    // reply, close)
    assert_eq!(
        table.len(),
        2 + 12 * 4 * 6,
        "every change logged its events"
    );
    assert_eq!(
        read.iter().map(|e| e.id).collect::<Vec<_>>(),
        table,
        "the reader saw every event of the table, once, in log order"
    );
    assert_valid_order(&read);
    postgres_support::drop_schema(&url, &schema).await;
}

/// Offers every session to the line's operators (first come).
struct Offer;

#[async_trait::async_trait]
impl Router for Offer {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}

/// Collects what a listener hands on until `until` says it has all.
async fn collect(mut rx: Receiver<LoggedEvent>, until: EventPosition) -> Vec<LoggedEvent> {
    let mut got = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let position = e.position;
                    got.push(e);
                    if position >= until {
                        return;
                    }
                }
                Err(e) => panic!("listener subscription ended: {e}"),
            }
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "the listener delivered everything up to {until} within 60 s (got {})",
        got.len()
    );
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_whose_connection_is_killed_during_load_misses_nothing() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "a_listener_whose_connection_is_killed_during_load_misses_nothing",
        );
    };
    let schema = postgres_support::fresh_schema();
    let store_a = postgres_support::store_in(&url, &schema, 4).await;
    let store_b = postgres_support::store_in(&url, &schema, 4).await;
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    for c in 0..8 {
        directory.add_to_group("clients", format!("client{c}"));
    }
    directory.add_to_group("ops", "ann");
    directory.add_to_group("ops", "bob");
    let hub = |store: &PostgresStore| {
        Hub::builder(
            Arc::new(store.clone()),
            directory.clone(),
            Arc::new(MemoryApps::new()),
            Arc::new(Offer),
        )
        .build()
    };
    let (hub_a, hub_b) = (Arc::new(hub(&store_a)), Arc::new(hub(&store_b)));

    // The listener runs on a third instance, under a name of its own so
    // its connection can be found and killed.
    let name = format!("l{}", &schema[schema.len() - 12..]);
    let separator = if url.contains('?') { '&' } else { '?' };
    let config =
        PostgresConfig::new(format!("{url}{separator}application_name={name}")).schema(&schema);
    let listener = PgEventListener::connect(&config, EventPosition::START)
        .await
        .expect("listener");
    let rx = listener.subscribe();

    let line = hub_a
        .create_line(
            &UserId::new("root"),
            LineConfig::new("Support")
                .client(chatlines_core::Audience::Group("clients".into()))
                .operators("ops"),
        )
        .await
        .expect("create line");

    // Kill the listener's connection each time it has read something new,
    // while the load runs.
    let killer = {
        let (url, name) = (url.clone(), name.clone());
        let mut read = listener.positions();
        tokio::spawn(async move {
            let admin = postgres_support::raw(&url).await;
            let mut kills = 0u32;
            while kills < 12 && read.changed().await.is_ok() {
                let killed: i64 = admin
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE application_name = $1",
                        &[&name],
                    )
                    .await
                    .expect("terminate the listener's backend")
                    .get(0);
                kills += u32::try_from(killed).unwrap_or(0);
            }
            kills
        })
    };
    let load: Vec<_> = (0..8)
        .map(|c| {
            let (writer, operator) = if c % 2 == 0 {
                (Arc::clone(&hub_a), Arc::clone(&hub_b))
            } else {
                (Arc::clone(&hub_b), Arc::clone(&hub_a))
            };
            let line = line.id;
            tokio::spawn(async move {
                let client = UserId::new(format!("client{c}"));
                let ops = [UserId::new("ann"), UserId::new("bob")];
                for round in 0..3 {
                    let posted = writer
                        .write(&client, line, Body::text(format!("round {round}")))
                        .await
                        .expect("client writes");
                    let session = posted.session.id;
                    let op = &ops[(c + round) % 2];
                    match operator.take(op, session).await {
                        Ok(_) => {}
                        // Routed before: someone else has it, or the
                        // session is still open from a taken round.
                        Err(Error::AlreadyTaken { .. }) => continue,
                        Err(e) => panic!("take: {e}"),
                    }
                    operator
                        .reply(op, session, Body::text("hello"))
                        .await
                        .expect("reply");
                    operator.close(op, session).await.expect("close");
                }
            })
        })
        .collect();
    for task in load {
        task.await.expect("load task");
    }

    let everything = read_all(&store_a, EventPosition::START, 50).await;
    let last = everything.last().expect("events were logged").position;
    let got = collect(rx, last).await;
    let kills = {
        killer.abort();
        // Whatever the killer managed before the load ended.
        listener.reconnects()
    };
    assert!(
        kills >= 1,
        "the listener's connection was killed at least once"
    );
    assert_eq!(
        got.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids_in_table(&url, &schema).await,
        "the listener delivered every event of the table once, in log order"
    );
    assert_eq!(got, everything, "as the log reads them");
    assert_valid_order(&got);
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_of_every_instance_read_the_events_of_every_instance() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "listeners_of_every_instance_read_the_events_of_every_instance",
        );
    };
    let schema = postgres_support::fresh_schema();
    let other_schema = postgres_support::fresh_schema();
    let a = postgres_support::store_in(&url, &schema, 2).await;
    let b = postgres_support::store_in(&url, &schema, 2).await;
    let other = postgres_support::store_in(&url, &other_schema, 2).await;
    let listen_a = a
        .event_listener(EventPosition::START)
        .await
        .expect("listener on A");
    let listen_b = b
        .event_listener(EventPosition::START)
        .await
        .expect("listener on B");
    let listen_other = other
        .event_listener(EventPosition::START)
        .await
        .expect("listener on another schema");
    let (rx_a, rx_b, mut rx_other) = (
        listen_a.subscribe(),
        listen_b.subscribe(),
        listen_other.subscribe(),
    );

    let line = line_record("Support");
    a.insert_line(&line).await.expect("line through A");
    let source = Source::new(
        SourceId::from(uuid::Uuid::now_v7()),
        line.id,
        "webhook",
        "test",
        "test",
        chrono::Utc::now(),
    );
    b.insert_source(&source).await.expect("source through B");

    let logged = read_all(&a, EventPosition::START, 10).await;
    assert_eq!(
        logged
            .iter()
            .map(|e| e.event().expect("readable").name())
            .collect::<Vec<_>>(),
        ["line_created", "source_bound"]
    );
    let last = logged[1].position;
    assert_eq!(collect(rx_a, last).await, logged);
    assert_eq!(collect(rx_b, last).await, logged);
    // Another tenant's log and listeners see none of it.
    assert!(read_all(&other, EventPosition::START, 10).await.is_empty());
    assert!(rx_other.try_recv().is_err(), "other tenants stay quiet");
    assert_eq!(listen_other.position(), EventPosition::START);
    assert_eq!((listen_a.reconnects(), listen_b.reconnects()), (0, 0));
    postgres_support::drop_schema(&url, &schema).await;
    postgres_support::drop_schema(&url, &other_schema).await;
}
