//! Small builders the cases share: times, lines, clients, messages.
//!
//! Every fixture uses fresh random ids, so cases never collide even on a
//! shared database.

use chatlines_core::{
    Author, Body, ContactKey, ExternalRef, Line, LineConfig, LineId, NewInbound, NewOutbound,
    OutboxEntry, Session, SessionId, Source, SourceId, Store, StoreError, Transition, UserId,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::fmt::Debug;
use uuid::Uuid;

/// A fixed instant plus `secs` seconds: deterministic, whole-second times
/// that every database stores exactly.
pub fn at(secs: i64) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    base + Duration::seconds(secs)
}

/// A fresh random id of any id type.
pub fn id<T: From<Uuid>>() -> T {
    T::from(Uuid::new_v4())
}

/// The value of `result`, or a panic naming `what` and the error.
#[track_caller]
pub fn must<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error {e:?}"),
    }
}

/// The content of a logged event (decoded), or a panic naming it.
#[track_caller]
pub fn content(logged: &chatlines_core::LoggedEvent) -> &chatlines_core::Event {
    must(logged.event(), "decoding a logged event")
}

/// A logged event's content, taken out of its envelope.
#[track_caller]
pub fn into_content(logged: chatlines_core::LoggedEvent) -> chatlines_core::Event {
    must(logged.into_event(), "decoding a logged event")
}

/// Every event of the store's log, decoded, in log order (read in pages).
pub async fn logged_events(store: &dyn Store) -> Vec<chatlines_core::Event> {
    let mut out = Vec::new();
    let mut after = chatlines_core::EventPosition::START;
    loop {
        let page = must(store.events_after(after, 500).await, "events_after");
        let Some(last) = page.last() else {
            return out;
        };
        after = last.position;
        out.extend(page.into_iter().map(into_content));
    }
}

/// The names of the logged events about `session`, in log order.
pub async fn session_event_names(
    store: &dyn Store,
    session: chatlines_core::SessionId,
) -> Vec<&'static str> {
    logged_events(store)
        .await
        .into_iter()
        .filter(|e| e.session() == Some(session))
        .map(|e| e.name())
        .collect()
}

/// The value in `option`, or a panic naming `what`.
#[track_caller]
pub fn some<T>(option: Option<T>, what: &str) -> T {
    match option {
        Some(v) => v,
        None => panic!("{what}: expected a value, found none"),
    }
}

/// The error of `result`, or a panic naming `what` and the value.
#[track_caller]
pub fn fails<T: Debug>(result: Result<T, StoreError>, what: &str) -> StoreError {
    match result {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// A line record (version 1, first come, operators group `ops`) created at
/// `at(secs)`; not stored.
pub fn line_at(name: &str, secs: i64) -> Line {
    Line::new(
        id(),
        1,
        LineConfig::new(name).operators("ops"),
        at(secs),
        at(secs),
    )
}

/// Stores a new line created at `at(secs)`.
pub async fn new_line(store: &dyn Store, secs: i64) -> Line {
    let line = line_at("Support", secs);
    must(store.insert_line(&line).await, "insert_line");
    line
}

/// A messenger source record on `line`; not stored.
pub fn source_on(line: LineId, secs: i64) -> Source {
    Source::new(
        id(),
        line,
        "telegram",
        "@acme_bot",
        "cfg/telegram",
        at(secs),
    )
}

/// Stores a new source bound to `line`.
pub async fn new_source(store: &dyn Store, line: LineId, secs: i64) -> Source {
    let source = source_on(line, secs);
    must(store.insert_source(&source).await, "insert_source");
    source
}

/// An internal client's identity.
pub fn internal(user: &str) -> ContactKey {
    ContactKey::Internal {
        user: UserId::new(user),
    }
}

/// A messenger client's identity.
pub fn external(source: SourceId, user: &str) -> ContactKey {
    ContactKey::External {
        source,
        external_user: user.to_owned(),
    }
}

/// A client's text message to `line` from `key` at `at(secs)`, with fresh
/// ids and no external reference.
pub fn inbound(line: LineId, key: &ContactKey, text: &str, secs: i64) -> NewInbound {
    NewInbound::new(line, key.clone(), "Client", Body::text(text), at(secs))
}

/// A messenger client's message with the messenger's message id.
pub fn inbound_ext(
    line: LineId,
    source: SourceId,
    user: &str,
    message_id: &str,
    secs: i64,
) -> NewInbound {
    inbound(line, &external(source, user), message_id, secs).with_external(ExternalRef {
        source,
        message_id: message_id.to_owned(),
    })
}

/// Opens a queued session for a fresh internal client on `line`.
pub async fn new_session(store: &dyn Store, line: LineId, secs: i64) -> Session {
    let key = internal(&format!("client-{}", Uuid::new_v4()));
    let appended = must(
        store
            .append_inbound(inbound(line, &key, "hello", secs))
            .await,
        "append_inbound",
    );
    appended.session
}

/// An operator's reply, written only when `operator` is assigned.
pub fn reply(session: SessionId, operator: &str, text: &str, secs: i64) -> NewOutbound {
    let mut new = NewOutbound::new(
        session,
        Author::Operator {
            user: UserId::new(operator),
        },
        Body::text(text),
        at(secs),
    );
    new.require_operator = Some(UserId::new(operator));
    new
}

/// A pending outbox entry for a reply that is about to be appended.
pub fn outbox_for(new: &NewOutbound, source: SourceId, secs: i64) -> OutboxEntry {
    OutboxEntry::pending(
        id(),
        new.message_id,
        new.session,
        source,
        "chat-1",
        at(secs),
    )
}

/// A user id.
pub fn user(name: &str) -> UserId {
    UserId::new(name)
}

/// A first-come take by `operator`.
pub fn take(operator: &str) -> Transition {
    Transition::Take {
        operator: user(operator),
    }
}

/// Opens a session and has `operator` take it.
pub async fn assigned_session(
    store: &dyn Store,
    line: LineId,
    operator: &str,
    secs: i64,
) -> Session {
    let session = new_session(store, line, secs).await;
    must(
        store.transition(session.id, take(operator), at(secs)).await,
        "take",
    )
}

/// The open session of a client on a line, read through
/// [`contact_sessions`](chatlines_core::SessionStore::contact_sessions).
pub async fn open_session(
    store: &dyn Store,
    line: LineId,
    contact: chatlines_core::ContactId,
) -> Result<Option<Session>, StoreError> {
    Ok(store
        .contact_sessions(line, contact)
        .await?
        .into_iter()
        .find(Session::is_open))
}

/// Every open session assigned to an operator, oldest first.
pub async fn all_assigned(
    store: &dyn Store,
    operator: &UserId,
) -> Result<Vec<Session>, StoreError> {
    store.assigned_sessions(operator, None, usize::MAX).await
}
