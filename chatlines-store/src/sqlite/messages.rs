//! Contacts and messages: ingest (idempotent), replies with their outbox
//! entry, and history reads.

use super::rows::{
    self, contact_key, db_err, direction_col, int, limit, to_json, ts, DbResult, CONTACT_COLS,
    MESSAGE_COLS, SESSION_COLS,
};
use super::{events, lines, sessions};
use super::{media, outbox};
use chatlines_core::machine;
use chatlines_core::{
    Appended, Author, Contact, ContactId, ContactKey, Cursor, Direction, ExternalRef,
    InboundFollowUp, Message, MessageId, NewInbound, NewOutbound, Session, SessionId, StoreError,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use std::sync::LazyLock;

pub(crate) fn contact(conn: &Connection, id: ContactId) -> Result<Option<Contact>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {CONTACT_COLS} FROM contacts WHERE id = ?1"
    ))
    .db()?
    .query_row([id.0], rows::contact)
    .optional()
    .db()
}

pub(crate) fn contact_by_key(
    conn: &Connection,
    key: &ContactKey,
) -> Result<Option<Contact>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {CONTACT_COLS} FROM contacts WHERE key = ?1"
    ))
    .db()?
    .query_row([contact_key(key)?], rows::contact)
    .optional()
    .db()
}

fn insert_contact(conn: &Connection, c: &Contact) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO contacts ({CONTACT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"
    ))
    .db()?
    .execute(params![
        c.id.0,
        contact_key(&c.key)?,
        c.display_name,
        c.reply_address,
        ts(c.created_at)?
    ])
    .db()?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: MessageId) -> Result<Option<Message>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1"
    ))
    .db()?
    .query_row([id.0], rows::message)
    .optional()
    .db()
}

fn by_external(conn: &Connection, ext: &ExternalRef) -> Result<Option<Message>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE source_id = ?1 AND external_message_id = ?2"
    ))
    .db()?
    .query_row(params![ext.source.0, ext.message_id], rows::message)
    .optional()
    .db()
}

/// Inserts an inbound message unless one with its external reference is
/// stored (then returns `false`, having written nothing).
fn insert_unless_duplicate(conn: &Connection, m: &Message) -> Result<bool, StoreError> {
    insert_with(
        conn,
        m,
        " ON CONFLICT (source_id, external_message_id) DO NOTHING",
    )
}

fn insert(conn: &Connection, m: &Message) -> Result<(), StoreError> {
    insert_with(conn, m, "").map(|_| ())
}

/// Inserts `m`, with `conflict` appended to the statement; returns whether
/// a row was written.
fn insert_with(conn: &Connection, m: &Message, conflict: &str) -> Result<bool, StoreError> {
    let (source, external) = match &m.external {
        Some(e) => (Some(e.source.0), Some(e.message_id.as_str())),
        None => (None, None),
    };
    let inserted = conn.prepare_cached(&format!(
        "INSERT INTO messages ({MESSAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12){conflict}"
    ))
    .db()?
    .execute(params![
        m.id.0,
        m.session.0,
        m.line.0,
        m.contact.0,
        int(m.seq),
        direction_col(m.direction),
        to_json(&m.author)?,
        to_json(&m.body)?,
        source,
        external,
        ts(m.created_at)?,
        m.sent_at.map(ts).transpose()?
    ]);
    match inserted {
        Ok(rows) => Ok(rows > 0),
        // The id is taken (the other unique keys are checked before, or
        // are the conflict target).
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            Err(StoreError::AlreadyExists {
                what: "message",
                id: m.id.to_string(),
            })
        }
        Err(e) => Err(db_err(e)),
    }
}

fn missing(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

pub(crate) fn append_inbound(conn: &Connection, new: &NewInbound) -> Result<Appended, StoreError> {
    match append_to_open_session(conn, new)? {
        Some(appended) => Ok(appended),
        None => append_inbound_in_full(conn, new),
    }
}

/// The hot path, three statements: a returning client writes into their
/// open session. `None` (having written nothing) when the client has no
/// open session on the line or the message is a duplicate; the full path
/// handles those.
fn append_to_open_session(
    conn: &Connection,
    new: &NewInbound,
) -> Result<Option<Appended>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {}, {} FROM contacts c
             JOIN sessions s ON s.line = ?1 AND s.contact = c.id AND s.status <> 'closed'
             WHERE c.key = ?2",
            rows::qualified(SESSION_COLS, "s"),
            rows::qualified(CONTACT_COLS, "c"),
        )
    });
    let found = conn
        .prepare_cached(&SQL)
        .db()?
        .query_row(params![new.line.0, contact_key(&new.contact_key)?], |row| {
            Ok((
                rows::session(row)?,
                rows::contact_at(row, rows::SESSION_COL_COUNT)?,
            ))
        })
        .optional()
        .db()?;
    let Some((mut session, contact)) = found else {
        return Ok(None);
    };
    let seq = session.last_seq + 1;
    let message = Message::new(
        new.message_id,
        session.id,
        new.line,
        contact.id,
        seq,
        Direction::Inbound,
        Author::Client,
        new.body.clone(),
        new.external.clone(),
        new.now,
    )
    .with_sent_at(new.sent_at);
    if !insert_unless_duplicate(conn, &message)? {
        // Stored before: the full path finds and returns it.
        return Ok(None);
    }
    sessions::set_last_seq(conn, session.id, seq)?;
    session.last_seq = seq;
    super::timers::write_plan(conn, session.id, machine::client_wrote_cancels(), &[])?;
    let mut appended = Appended::new(message, session, contact, false, false);
    events::log(conn, &machine::inbound_events(&appended), new.now)?;
    follow_up(conn, &mut appended, &new.follow_up, new.now)?;
    media::insert(conn, &machine::media_jobs(&appended))?;
    Ok(Some(appended))
}

/// The full path: dedupe, then find or create the contact and the session.
fn append_inbound_in_full(conn: &Connection, new: &NewInbound) -> Result<Appended, StoreError> {
    if let Some(ext) = &new.external {
        if let Some(message) = by_external(conn, ext)? {
            let session = sessions::get(conn, message.session)?
                .ok_or_else(|| missing("session", message.session))?;
            let contact = contact(conn, message.contact)?
                .ok_or_else(|| missing("contact", message.contact))?;
            return Ok(Appended::new(message, session, contact, false, true));
        }
    }
    // An open session implies a live line (deleting a line closes its open
    // sessions in the same transaction), so the line is only checked when a
    // contact or a session is about to be created.
    let existing = contact_by_key(conn, &new.contact_key)?;
    let existing_id = existing.as_ref().map(|c| c.id);
    let open = match &existing {
        Some(c) => sessions::open(conn, new.line, c.id)?,
        None => None,
    };
    if open.is_none() && lines::live_version(conn, new.line)?.is_none() {
        return Err(missing("line", new.line));
    }
    let contact = match existing {
        Some(c) => c,
        None => {
            let c = Contact::new(
                new.contact_id,
                new.contact_key.clone(),
                new.display_name.clone(),
                new.reply_address.clone(),
                new.now,
            );
            insert_contact(conn, &c)?;
            c
        }
    };
    let reopened = match (&open, existing_id) {
        (None, Some(contact)) => reopen(conn, new.line, contact, new.now)?,
        _ => None,
    };
    let was_reopened = reopened.is_some();
    let (mut session, opened) = match open.or(reopened) {
        Some(s) => (s, false),
        None => {
            let s = Session::opened(new.session_id, new.line, contact.id, new.now);
            sessions::insert(conn, &s)?;
            (s, true)
        }
    };
    let seq = session.last_seq + 1;
    let message = Message::new(
        new.message_id,
        session.id,
        new.line,
        contact.id,
        seq,
        Direction::Inbound,
        Author::Client,
        new.body.clone(),
        new.external.clone(),
        new.now,
    )
    .with_sent_at(new.sent_at);
    let now = message.created_at;
    insert(conn, &message)?;
    sessions::set_last_seq(conn, session.id, seq)?;
    session.last_seq = seq;
    super::timers::write_plan(conn, session.id, machine::client_wrote_cancels(), &[])?;
    let mut appended = Appended::new(message, session, contact, opened, false);
    appended.reopened = was_reopened;
    events::log(conn, &machine::inbound_events(&appended), now)?;
    follow_up(conn, &mut appended, &new.follow_up, now)?;
    media::insert(conn, &machine::media_jobs(&appended))?;
    Ok(appended)
}

/// Writes what the stored message does to its session besides being
/// stored (`machine::inbound_follow_up`), in the same transaction.
fn follow_up(
    conn: &Connection,
    appended: &mut Appended,
    follow_up: &InboundFollowUp,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    if let Some(change) =
        machine::inbound_follow_up(&appended.session, appended.opened, follow_up, now)
    {
        let expected = appended.session.version;
        appended.session = sessions::write_changeset(conn, change, expected, now)?;
    }
    Ok(())
}

/// Reopens the contact's latest session on the line when the line's
/// reopen window says so (`machine::reopen`): the session as written.
fn reopen(
    conn: &Connection,
    line: chatlines_core::LineId,
    contact: ContactId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Session>, StoreError> {
    let settings = super::timers::settings(conn, line)?;
    if settings.reopen().is_none() {
        return Ok(None);
    }
    let Some(latest) = sessions::latest(conn, line, contact)? else {
        return Ok(None);
    };
    let pending: Vec<_> = super::timers::of_session(conn, latest.id)?
        .into_iter()
        .map(|t| t.kind)
        .collect();
    match machine::reopen(&latest, &pending, now, &settings) {
        Some(change) => {
            let expected = latest.version;
            sessions::write_changeset(conn, change, expected, now).map(Some)
        }
        None => Ok(None),
    }
}

pub(crate) fn append_outbound(conn: &Connection, new: NewOutbound) -> Result<Message, StoreError> {
    let session =
        sessions::get(conn, new.session)?.ok_or_else(|| missing("session", new.session))?;
    machine::check_new_outbound(&session, &new)?;
    let seq = session.last_seq + 1;
    let message = Message::new(
        new.message_id,
        session.id,
        session.line,
        session.contact,
        seq,
        Direction::Outbound,
        new.author,
        new.body,
        None,
        new.now,
    );
    insert(conn, &message)?;
    sessions::set_last_seq(conn, session.id, seq)?;
    if matches!(message.author, Author::Operator { .. }) {
        let settings = super::timers::settings(conn, session.line)?;
        let plan = machine::reply_timers(&session, &message.author, new.now, &settings);
        super::timers::write_plan(conn, session.id, &plan.cancel, &plan.arm)?;
    }
    if let Some(mut entry) = new.outbox {
        entry.message = message.id;
        entry.session = message.session;
        outbox::insert(conn, &entry)?;
    }
    events::log(conn, &machine::outbound_events(&message), new.now)?;
    if let Some(change) = machine::outbound_follow_up(&session, &message.author, new.now) {
        sessions::write_changeset(conn, change, session.version, new.now)?;
    }
    Ok(message)
}

pub(crate) fn page(
    conn: &Connection,
    session: SessionId,
    cursor: Cursor,
    max: usize,
) -> Result<Vec<Message>, StoreError> {
    let (sql, bound, newest_first) = match cursor {
        Cursor::Start => ("seq >= ?2 ORDER BY seq", 0, false),
        Cursor::After(seq) => ("seq > ?2 ORDER BY seq", int(seq), false),
        Cursor::Before(seq) => ("seq < ?2 ORDER BY seq DESC", int(seq), true),
        Cursor::End => ("seq >= ?2 ORDER BY seq DESC", 0, true),
    };
    let mut page: Vec<Message> = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE session = ?1 AND {sql} LIMIT ?3"
        ))
        .db()?
        .query_map(params![session.0, bound, limit(max)], rows::message)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    if newest_first {
        page.reverse();
    }
    Ok(page)
}
