//! Linked apps: account links and registered requests.

use super::events;
use super::rows::{self, ts, DbResult, LINK_COLS, REQUEST_COLS};
use chatlines_core::machine;
use chatlines_core::{AccountLink, ContactId, LineId, RequestRecord, SessionId, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn put_link(conn: &Connection, l: &AccountLink) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO account_links ({LINK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (line, contact) DO UPDATE SET app = excluded.app, item = excluded.item,
             linked_by = excluded.linked_by, linked_at = excluded.linked_at"
    ))
    .db()?
    .execute(params![
        l.line.0,
        l.contact.0,
        l.app.as_str(),
        l.item.as_str(),
        l.linked_by.as_ref().map(|u| u.as_str()),
        ts(l.linked_at)?
    ])
    .db()?;
    events::log(conn, &machine::account_linked(l), l.linked_at)
}

pub(crate) fn link(
    conn: &Connection,
    line: LineId,
    contact: ContactId,
) -> Result<Option<AccountLink>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {LINK_COLS} FROM account_links WHERE line = ?1 AND contact = ?2"
    ))
    .db()?
    .query_row(params![line.0, contact.0], rows::account_link)
    .optional()
    .db()
}

pub(crate) fn insert_request(conn: &Connection, r: &RequestRecord) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM requests WHERE id = ?1")
        .db()?
        .exists([r.id.0])
        .db()?;
    if exists {
        return Err(StoreError::AlreadyExists {
            what: "request",
            id: r.id.to_string(),
        });
    }
    conn.prepare_cached(&format!(
        "INSERT INTO requests ({REQUEST_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))
    .db()?
    .execute(params![
        r.id.0,
        r.session.0,
        r.app.as_str(),
        r.item.as_str(),
        r.created_by.as_str(),
        ts(r.created_at)?
    ])
    .db()?;
    events::log(conn, &machine::request_registered(r), r.created_at)
}

pub(crate) fn requests(
    conn: &Connection,
    session: SessionId,
) -> Result<Vec<RequestRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLS} FROM requests WHERE session = ?1 ORDER BY created_at, rowid"
    ))
    .db()?
    .query_map([session.0], rows::request)
    .db()?
    .collect::<Result<_, _>>()
    .db()
}
