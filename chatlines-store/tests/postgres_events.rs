//! Events published on one instance reach listeners of every instance.
#![cfg(feature = "postgres")]

mod postgres_support;

use chatlines_core::{Event, EventSink, LineId, SessionId, UserId};
use chatlines_store::postgres::PgEventListener;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// The next event, or a panic after a generous wait (this bounds a hang;
/// it asserts nothing about speed).
async fn next(rx: &mut Receiver<Event>) -> Event {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => panic!("listener stopped: {e}"),
        Err(_) => panic!("no event arrived within 30 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_on_one_instance_reach_the_others() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("events_published_on_one_instance_reach_the_others");
    };
    let schema = postgres_support::fresh_schema();
    let a = postgres_support::store_in(&url, &schema, 2).await;
    let b = postgres_support::store_in(&url, &schema, 2).await;
    let listen_a = a.event_listener().await.expect("listener on A");
    let listen_b = b.event_listener().await.expect("listener on B");
    let (mut rx_a, mut rx_b) = (listen_a.subscribe(), listen_b.subscribe());

    let from_a = Event::SessionAssigned {
        session: SessionId::from(uuid::Uuid::new_v4()),
        line: LineId::from(uuid::Uuid::new_v4()),
        operator: UserId::new("ann"),
        reason: chatlines_core::RouteReason::Taken,
    };
    let from_b = Event::LineDeleted {
        line: LineId::from(uuid::Uuid::new_v4()),
    };
    a.event_sink().publish(&from_a).await;
    b.event_sink().publish(&from_b).await;

    // Each listener gets both, in commit order.
    assert_eq!(next(&mut rx_b).await, from_a);
    assert_eq!(next(&mut rx_b).await, from_b);
    assert_eq!(next(&mut rx_a).await, from_a);
    assert_eq!(next(&mut rx_a).await, from_b);
    assert_eq!((listen_a.reconnects(), listen_b.reconnects()), (0, 0));

    // Another tenant's channel does not see them.
    let other = PgEventListener::connect(&url, "chatlines_events_someone_else")
        .await
        .expect("listener on another channel");
    let mut rx_other = other.subscribe();
    a.event_sink().publish(&from_b).await;
    assert_eq!(next(&mut rx_b).await, from_b);
    assert!(rx_other.try_recv().is_err(), "other channels stay quiet");
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn listener_refuses_channel_names_that_need_quoting() {
    let err = PgEventListener::connect("postgres://nobody@127.0.0.1:1/none", "bad; LISTEN x")
        .await
        .expect_err("refused before connecting");
    assert!(
        matches!(err, chatlines_core::StoreError::Unusable(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_is_killed_listens_again() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("a_listener_whose_connection_is_killed_listens_again");
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_in(&url, &schema, 2).await;
    let channel = format!("chatlines_events_{schema}");
    let listener = PgEventListener::connect(&url, &channel)
        .await
        .expect("listener");
    let mut rx = listener.subscribe();
    let mut gaps = listener.gaps();
    let admin = postgres_support::raw(&url).await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE query = $1",
            &[&format!("LISTEN {channel}")],
        )
        .await
        .expect("terminate the listener's backend")
        .get(0);
    assert_eq!(killed, 1, "found the listener's connection");

    // Publish until one arrives: the listener is back.
    let event = Event::LineDeleted {
        line: LineId::from(uuid::Uuid::new_v4()),
    };
    let sink = store.event_sink();
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            sink.publish(&event).await;
            match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                Ok(Ok(got)) => return got,
                Ok(Err(e)) => panic!("listener stopped: {e}"),
                Err(_) => {}
            }
        }
    })
    .await
    .expect("the listener reconnected within 30 s");
    assert_eq!(arrived, event);
    assert!(listener.reconnects() >= 1);
    // The gap was signalled, so a host knows to re-read what it caches.
    assert!(gaps.has_changed().expect("listener alive"));
    assert_eq!(*gaps.borrow_and_update(), listener.reconnects());
    postgres_support::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_failure_with_a_long_error_still_arrives() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("a_delivery_failure_with_a_long_error_still_arrives");
    };
    let schema = postgres_support::fresh_schema();
    let store = postgres_support::store_in(&url, &schema, 2).await;
    let listener = store.event_listener().await.expect("listener");
    let mut rx = listener.subscribe();
    // A messenger's error page quoted whole: far over NOTIFY's 8000 bytes.
    let long = "<html>502 Bad Gateway</html>".repeat(1_000);
    let entry_id = chatlines_core::OutboxId::from(uuid::Uuid::new_v4());
    let message_id = chatlines_core::MessageId::from(uuid::Uuid::new_v4());
    let failed = Event::DeliveryFailed {
        entry: entry_id,
        message: message_id,
        error: long.clone(),
    };
    store.event_sink().publish(&failed).await;
    match next(&mut rx).await {
        Event::DeliveryFailed {
            entry,
            message,
            error,
        } => {
            assert_eq!((entry, message), (entry_id, message_id));
            assert!(error.ends_with('…') && error.len() < long.len());
            assert!(long.starts_with(error.trim_end_matches('…')));
        }
        other => panic!("expected the delivery failure, got {other:?}"),
    }
    postgres_support::drop_schema(&url, &schema).await;
}
