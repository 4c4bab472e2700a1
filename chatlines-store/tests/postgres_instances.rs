//! Several hub instances over one database: four `PostgresStore`s (four
//! pools) on the same schema, racing each other.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod postgres_support;

use chatlines_core::store::prelude::*;
use chatlines_core::{StoreError, Transition, UserId};
use chatlines_store::testkit::fixtures::{at, external, inbound_ext, must, new_line, new_session};
use chatlines_store::PostgresStore;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

const INSTANCES: usize = 4;

/// A taker and what its take returned (the assigned operator).
type TakeResult = (UserId, Result<UserId, StoreError>);

/// `INSTANCES` stores over one new schema, and the schema's name.
async fn instances(url: &str, pool: usize) -> (Vec<Arc<PostgresStore>>, String) {
    let schema = postgres_support::fresh_schema();
    let mut stores = Vec::new();
    for _ in 0..INSTANCES {
        stores.push(Arc::new(
            postgres_support::store_in(url, &schema, pool).await,
        ));
    }
    (stores, schema)
}

/// 1,000 sessions; on every one, 8 takers per instance (32 in all) race.
/// Each session ends with exactly one operator, every loser is told
/// `AlreadyTaken` by the winner, and the roster loads add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn takes_across_instances_have_one_winner_per_session() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("takes_across_instances_have_one_winner_per_session");
    };
    const SESSIONS: usize = 1_000;
    const TAKERS_PER_INSTANCE: usize = 8;
    let (stores, schema) = instances(&url, 8).await;
    let line = new_line(stores[0].as_ref(), 0).await;
    let sessions: Vec<_> = stream::iter(0..SESSIONS)
        .map(|i| {
            let store = Arc::clone(&stores[i % INSTANCES]);
            async move { new_session(store.as_ref(), line.id, 1).await.id }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(sessions.iter().collect::<HashSet<_>>().len(), SESSIONS);

    // Sessions in batches; all takers of a session start together.
    let outcomes: Vec<(usize, Vec<TakeResult>)> =
        stream::iter(sessions.iter().copied().enumerate())
            .map(|(i, session)| {
                let stores = stores.clone();
                async move {
                    let mut takers = Vec::new();
                    for (n, store) in stores.iter().enumerate() {
                        for k in 0..TAKERS_PER_INSTANCE {
                            let store = Arc::clone(store);
                            let op = UserId::new(format!("op-{n}-{k}"));
                            takers.push(tokio::spawn(async move {
                                let change = Transition::Take {
                                    operator: op.clone(),
                                };
                                let result =
                                    store.transition(session, change, at(2)).await.map(|s| {
                                        s.operator().cloned().unwrap_or_else(|| UserId::new(""))
                                    });
                                (op, result)
                            }));
                        }
                    }
                    let mut results = Vec::new();
                    for t in takers {
                        results.push(t.await.expect("taker task"));
                    }
                    (i, results)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;

    let mut wins: BTreeMap<UserId, u32> = BTreeMap::new();
    for (i, results) in outcomes {
        let session = sessions[i];
        let winners: Vec<&UserId> = results
            .iter()
            .filter_map(|(op, r)| r.as_ref().ok().map(|_| op))
            .collect();
        assert_eq!(winners.len(), 1, "session {session}: winners {winners:?}");
        let winner = winners[0].clone();
        for (op, r) in &results {
            match r {
                Ok(assigned) => assert_eq!(assigned, &winner),
                Err(StoreError::AlreadyTaken { session: s, by }) => {
                    assert_eq!(*s, session);
                    assert_eq!(by.as_ref(), Some(&winner), "{op} was told another winner");
                }
                Err(other) => panic!("session {session}: {op} got {other:?}"),
            }
        }
        // Every instance reads the same final state.
        for store in &stores {
            let stored = must(store.session(session).await, "session").expect("stored");
            assert_eq!(stored.operator(), Some(&winner));
            assert_eq!(stored.version, 2, "exactly one transition happened");
        }
        *wins.entry(winner).or_default() += 1;
    }
    let roster = must(stores[1].roster(line.id).await, "roster");
    let loads: BTreeMap<UserId, u32> = roster
        .into_iter()
        .filter(|e| e.load > 0)
        .map(|e| (e.user, e.load))
        .collect();
    assert_eq!(loads, wins, "each operator's load is the sessions they won");
    assert_eq!(wins.values().sum::<u32>() as usize, SESSIONS);
    drop(stores);
    postgres_support::drop_schema(&url, &schema).await;
}

/// The same 1,000 messenger messages (100 clients x 10), each delivered
/// three times through each of two instances, all at once: 1,000 stored
/// messages, one session per client with seqs 1..=10, and exactly one
/// delivery of each message reported as new.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_deliveries_across_instances_store_each_message_once() {
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped(
            "duplicate_deliveries_across_instances_store_each_message_once",
        );
    };
    const CLIENTS: usize = 100;
    const PER_CLIENT: usize = 10;
    let (stores, schema) = instances(&url, 8).await;
    let stores = &stores[..2];
    let line = new_line(stores[0].as_ref(), 0).await;
    let source =
        chatlines_store::testkit::fixtures::new_source(stores[0].as_ref(), line.id, 0).await;

    let mut deliveries = Vec::new();
    for c in 0..CLIENTS {
        for m in 0..PER_CLIENT {
            for round in 0..3 {
                for store in stores {
                    // Fresh ids on every delivery, as a webhook retry would have.
                    let new = inbound_ext(
                        line.id,
                        source.id,
                        &format!("user-{c}"),
                        &format!("msg-{c}-{m}"),
                        1,
                    );
                    deliveries.push((round, Arc::clone(store), new));
                }
            }
        }
    }
    // Interleave so copies of one message are in flight together.
    deliveries.sort_by_key(|(round, _, new)| {
        (*round, new.external.as_ref().map(|e| e.message_id.clone()))
    });
    let results: Vec<_> =
        stream::iter(deliveries)
            .map(|(_, store, new)| async move {
                must(store.append_inbound(new).await, "append_inbound")
            })
            .buffer_unordered(64)
            .collect()
            .await;
    assert_eq!(results.len(), CLIENTS * PER_CLIENT * 6);

    let mut by_external: HashMap<String, Vec<_>> = HashMap::new();
    for r in &results {
        let key = r
            .message
            .external
            .as_ref()
            .expect("external ref")
            .message_id
            .clone();
        by_external.entry(key).or_default().push(r);
    }
    assert_eq!(by_external.len(), CLIENTS * PER_CLIENT);
    for (key, copies) in &by_external {
        assert_eq!(copies.len(), 6);
        assert_eq!(
            copies.iter().filter(|r| !r.duplicate).count(),
            1,
            "{key}: one new delivery"
        );
        let first = copies[0].message.id;
        assert!(
            copies.iter().all(|r| r.message.id == first),
            "{key}: every copy returns the stored one"
        );
    }

    let client = postgres_support::raw(&url).await;
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.messages"), &[])
        .await
        .expect("count messages")
        .get(0);
    assert_eq!(count as usize, CLIENTS * PER_CLIENT);
    for c in 0..CLIENTS {
        let contact = must(
            stores[1]
                .contact_by_key(&external(source.id, &format!("user-{c}")))
                .await,
            "contact_by_key",
        )
        .expect("contact stored");
        let sessions = must(
            stores[0].contact_sessions(line.id, contact.id).await,
            "contact_sessions",
        );
        assert_eq!(sessions.len(), 1, "user-{c}: one session");
        assert_eq!(sessions[0].last_seq as usize, PER_CLIENT);
        let page = must(
            stores[1]
                .messages(sessions[0].id, chatlines_core::Cursor::Start, 100)
                .await,
            "messages",
        );
        let seqs: Vec<u64> = page.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=PER_CLIENT as u64).collect::<Vec<_>>(),
            "user-{c}: no gaps"
        );
    }
    postgres_support::drop_schema(&url, &schema).await;
}

/// Dispatchers on two instances claim the same outbox at once: no entry
/// is handed out twice. A dispatcher that dies keeps its entries until the
/// lease expires; then the other instance claims them, and the dead
/// holder's late answer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_leases_hold_across_instances() {
    use chatlines_core::{DeliveryOutcome, OutboxStatus};
    use chatlines_store::testkit::fixtures::{outbox_for, reply, take};
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("outbox_leases_hold_across_instances");
    };
    const ENTRIES: usize = 200;
    let (stores, schema) = instances(&url, 4).await;
    let line = new_line(stores[0].as_ref(), 0).await;
    let source =
        chatlines_store::testkit::fixtures::new_source(stores[0].as_ref(), line.id, 0).await;
    let session = new_session(stores[0].as_ref(), line.id, 1).await;
    must(
        stores[0].transition(session.id, take("ann"), at(1)).await,
        "take",
    );
    for i in 0..ENTRIES {
        let mut new = reply(session.id, "ann", &format!("reply {i}"), 2);
        // One chat each: a claim takes only a chat's head.
        let mut entry = outbox_for(&new, source.id, 2);
        entry.address = format!("chat-{i}");
        new.outbox = Some(entry);
        must(
            stores[i % INSTANCES].append_outbound(new).await,
            "append_outbound",
        );
    }

    // Every instance claims in small batches until nothing is left.
    let claimers: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = must(store.claim_outbox(at(3), at(60), 7).await, "claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch);
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.push(c.await.expect("claimer"));
    }
    let all: Vec<_> = claimed.iter().flatten().collect();
    let distinct: HashSet<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(all.len(), ENTRIES, "each entry claimed exactly once");
    assert_eq!(distinct.len(), ENTRIES);

    // Instance 0 "dies" holding its entries; before expiry nobody else may
    // have them, after expiry instance 1 does.
    let dead: Vec<_> = claimed[0].clone();
    assert!(must(stores[1].claim_outbox(at(59), at(120), 1000).await, "claim").is_empty());
    let taken_over = must(stores[1].claim_outbox(at(60), at(120), 1000).await, "claim");
    assert_eq!(
        taken_over.len(),
        ENTRIES,
        "every expired lease is claimable"
    );
    if let Some(entry) = dead.first() {
        let late = stores[0]
            .finish_outbox(
                entry.id,
                entry.lease.expect("leased").token,
                DeliveryOutcome::Sent {
                    external_id: "late".into(),
                    substitute: None,
                },
                at(61),
            )
            .await;
        assert!(matches!(late, Err(StoreError::Conflict { .. })), "{late:?}");
    }
    for entry in &taken_over {
        let done = must(
            stores[2]
                .finish_outbox(
                    entry.id,
                    entry.lease.expect("leased").token,
                    DeliveryOutcome::Sent {
                        external_id: format!("x-{}", entry.id),
                        substitute: None,
                    },
                    at(62),
                )
                .await,
            "finish",
        );
        assert!(matches!(done.status, OutboxStatus::Sent { .. }));
        assert_eq!(done.attempts, 2, "the expired claim and the send");
    }
    postgres_support::drop_schema(&url, &schema).await;
}

/// Messages keep arriving through three instances while a fourth deletes
/// the line: afterwards no session of the line is open, and every append
/// either landed before the delete (its session is now closed) or was
/// refused with `NotFound`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_line_during_ingest_leaves_no_open_session() {
    use chatlines_store::testkit::fixtures::{inbound, internal};
    let Some(url) = postgres_support::url() else {
        return postgres_support::skipped("deleting_a_line_during_ingest_leaves_no_open_session");
    };
    let (stores, schema) = instances(&url, 4).await;
    let line = new_line(stores[0].as_ref(), 0).await;
    let writers: Vec<_> = (0..24)
        .map(|w| {
            let store = Arc::clone(&stores[1 + w % 3]);
            tokio::spawn(async move {
                let (mut stored, mut refused) = (Vec::new(), 0);
                for m in 0..40 {
                    let key = internal(&format!("client-{w}-{}", m % 5));
                    match store.append_inbound(inbound(line.id, &key, "hi", 1)).await {
                        Ok(a) => stored.push(a.session.id),
                        Err(StoreError::NotFound { what: "line", .. }) => refused += 1,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                (stored, refused)
            })
        })
        .collect();
    tokio::task::yield_now().await;
    must(
        stores[0].delete_line(line.id, 1, at(5)).await,
        "delete_line",
    );
    let mut sessions = HashSet::new();
    for w in writers {
        let (stored, _) = w.await.expect("writer");
        sessions.extend(stored);
    }
    for id in sessions {
        let s = must(stores[0].session(id).await, "session").expect("stored");
        assert!(
            !s.is_open(),
            "session {id} of the deleted line is still open"
        );
    }
    assert_eq!(must(stores[2].line(line.id).await, "line"), None);
    postgres_support::drop_schema(&url, &schema).await;
}
