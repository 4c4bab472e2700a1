//! Durability: what a store acknowledged survives a restart.
//!
//! The shared suite cannot restart a backend, so persistent stores call
//! these two functions around their own close-and-reopen (or kill-and-
//! reopen) step:
//!
//! ```ignore
//! let ack = write_acknowledged(&SqliteStore::open(&path).await?).await;
//! // the store is dropped here: the process "crashes"
//! check_acknowledged(&SqliteStore::open(&path).await?, &ack).await;
//! ```

use super::fixtures::*;
use chatlines_core::{
    AccountLink, AppId, Contact, Cursor, DeliveryOutcome, ItemId, Line, LineConfig, LineId,
    Message, NewInbound, OutboxEntry, RequestRecord, RosterEntry, Session, Source, Store,
};

/// What [`write_acknowledged`] wrote, for [`check_acknowledged`].
#[derive(Clone, Debug)]
pub struct Acknowledged {
    line: Line,
    deleted_line: LineId,
    source: Source,
    contact: Contact,
    session: Session,
    messages: Vec<Message>,
    redelivery: NewInbound,
    outbox: OutboxEntry,
    roster: Vec<RosterEntry>,
    link: AccountLink,
    request: RequestRecord,
}

/// Makes one of every kind of write on an empty store (an updated line, a
/// deleted line, a source, a client's message, a take, a reply with its
/// outbox entry retried once, a roster, an account link, a request) and
/// returns what a reopened store must show.
///
/// # Panics
///
/// When a write fails.
pub async fn write_acknowledged(store: &dyn Store) -> Acknowledged {
    let mut line = new_line(store, 0).await;
    let mut edit = line.clone();
    edit.version = 2;
    edit.config = LineConfig::new("Renamed").operators("ops");
    edit.updated_at = at(1);
    must(store.update_line(&edit, 1).await, "update_line");
    line = edit;
    let deleted = new_line(store, 2).await;
    must(store.delete_line(deleted.id, 1, at(3)).await, "delete_line");

    let source = new_source(store, line.id, 4).await;
    let first = inbound_ext(line.id, source.id, "tg-1", "upd-1", 5);
    let appended = must(store.append_inbound(first.clone()).await, "inbound");
    must(
        store
            .replace_roster(line.id, &[user("ann"), user("bob")])
            .await,
        "replace_roster",
    );
    let session = must(
        store
            .transition(appended.session.id, take("ann"), at(6))
            .await,
        "take",
    );
    let mut new = reply(session.id, "ann", "hello", 7);
    new.outbox = Some(outbox_for(&new, source.id, 7));
    let answer = must(store.append_outbound(new.clone()).await, "reply");
    let claimed = must(store.claim_outbox(at(8), at(38), 10).await, "claim");
    let token = some(claimed.first().and_then(|e| e.lease), "lease").token;
    let outbox = must(
        store
            .finish_outbox(
                some(claimed.first().map(|e| e.id), "claimed"),
                token,
                DeliveryOutcome::Retry {
                    at: at(60),
                    error: "503".to_owned(),
                },
                at(9),
            )
            .await,
        "finish_outbox",
    );
    let link = AccountLink::new(
        line.id,
        appended.contact.id,
        AppId::new("crm"),
        ItemId::new("c-1"),
        Some(user("ann")),
        at(10),
    );
    must(store.put_account_link(&link).await, "put_account_link");
    let request = chatlines_core::RequestRecord::new(
        id(),
        session.id,
        AppId::new("tickets"),
        ItemId::new("t-1"),
        user("ann"),
        at(11),
    );
    must(store.insert_request(&request).await, "insert_request");
    let session = some(must(store.session(session.id).await, "session"), "session");
    let roster = must(store.roster(line.id).await, "roster");

    let mut redelivery = first;
    redelivery.message_id = id();
    Acknowledged {
        line,
        deleted_line: deleted.id,
        source,
        contact: appended.contact,
        session,
        messages: vec![appended.message, answer],
        redelivery,
        outbox,
        roster,
        link,
        request,
    }
}

/// Checks that a reopened store shows everything [`write_acknowledged`]
/// wrote, and that ingest is still idempotent for the stored message.
///
/// # Panics
///
/// When anything acknowledged is missing or different.
pub async fn check_acknowledged(store: &dyn Store, ack: &Acknowledged) {
    assert_eq!(
        must(store.lines().await, "lines"),
        vec![ack.line.clone()],
        "the updated line survives; the deleted one stays deleted"
    );
    assert_eq!(must(store.line(ack.deleted_line).await, "deleted"), None);
    assert_eq!(
        must(store.sources().await, "sources"),
        vec![ack.source.clone()]
    );
    assert_eq!(
        must(store.contact_by_key(&ack.contact.key).await, "contact"),
        Some(ack.contact.clone())
    );
    assert_eq!(
        must(store.session(ack.session.id).await, "session"),
        Some(ack.session.clone())
    );
    assert_eq!(
        must(
            open_session(store, ack.line.id, ack.contact.id).await,
            "open session"
        ),
        Some(ack.session.clone())
    );
    assert_eq!(
        must(
            store.messages(ack.session.id, Cursor::Start, 100).await,
            "messages"
        ),
        ack.messages
    );
    assert_eq!(
        must(store.outbox_entry(ack.outbox.id).await, "outbox"),
        Some(ack.outbox.clone())
    );
    assert_eq!(must(store.roster(ack.line.id).await, "roster"), ack.roster);
    assert_eq!(
        must(
            store.account_link(ack.line.id, ack.contact.id).await,
            "link"
        ),
        Some(ack.link.clone())
    );
    assert_eq!(
        must(store.requests(ack.session.id).await, "requests"),
        vec![ack.request.clone()]
    );
    let again = must(
        store.append_inbound(ack.redelivery.clone()).await,
        "redelivery after restart",
    );
    assert!(again.duplicate, "idempotency survives a restart");
    assert_eq!(again.message, ack.messages[0]);
}
