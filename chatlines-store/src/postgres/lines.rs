//! Lines, sources, contacts, account links and requests.

use super::error::Fail;
use super::locks::{lock_line, lock_writer};
use super::log::EventRows;
use super::rows::{self, big, ns};
use super::PostgresStore;
use chatlines_core::machine;
use chatlines_core::{
    AccountLink, Contact, ContactId, ContactKey, Line, LineId, RequestRecord, SessionId, Source,
    SourceId, StoreError,
};
use chrono::{DateTime, Utc};
use tokio_postgres::types::Json;

fn line_conflict(id: LineId, expected: u64, actual: i64) -> Fail {
    Fail::Store(StoreError::Conflict {
        what: "line",
        id: id.to_string(),
        expected,
        actual: rows::unsigned(actual),
    })
}

fn line_not_found(id: LineId) -> Fail {
    Fail::Store(StoreError::NotFound {
        what: "line",
        id: id.to_string(),
    })
}

impl PostgresStore {
    pub(super) async fn insert_line_once(&self, line: &Line) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let inserted = tx
            .execute(
                "INSERT INTO lines (id, version, config, created_ns, updated_ns)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                &[
                    &line.id.as_uuid(),
                    &big(line.version)?,
                    &Json(&line.config),
                    &ns(line.created_at)?,
                    &ns(line.updated_at)?,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(Fail::Store(StoreError::AlreadyExists {
                what: "line",
                id: line.id.to_string(),
            }));
        }
        tx.execute(
            "INSERT INTO routing_cursors (line, last_user) VALUES ($1, NULL)
             ON CONFLICT (line) DO NOTHING",
            &[&line.id.as_uuid()],
        )
        .await?;
        EventRows::of(machine::line_created(line), line.created_at)?
            .append(&tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub(super) async fn update_line_once(&self, line: &Line, expected: u64) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let mut stored = line.clone();
        stored.version = expected.saturating_add(1);
        let updated = tx
            .execute(
                "UPDATE lines SET version = $3, config = $4, updated_ns = $5
                 WHERE id = $1 AND version = $2",
                &[
                    &line.id.as_uuid(),
                    &big(expected)?,
                    &big(stored.version)?,
                    &Json(&line.config),
                    &ns(line.updated_at)?,
                ],
            )
            .await?;
        if updated == 1 {
            EventRows::of(machine::line_updated(&stored), line.updated_at)?
                .append(&tx)
                .await?;
            self.commit(tx).await?;
            return Ok(());
        }
        match tx
            .query_opt(
                "SELECT version FROM lines WHERE id = $1",
                &[&line.id.as_uuid()],
            )
            .await?
        {
            None => Err(line_not_found(line.id)),
            Some(row) => Err(line_conflict(line.id, expected, row.try_get(0)?)),
        }
    }

    pub(super) async fn delete_line_once(
        &self,
        id: LineId,
        expected: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let uuid = id.as_uuid();
        // First, before any write: waits for the session writers in flight
        // on the line (they hold the lock shared) and keeps new ones out
        // until the line is gone.
        lock_line(&tx, self.writer, uuid).await?;
        let row = tx
            .query_opt(
                "SELECT version FROM lines WHERE id = $1 FOR UPDATE",
                &[&uuid],
            )
            .await?
            .ok_or_else(|| line_not_found(id))?;
        let actual: i64 = row.try_get(0)?;
        if rows::unsigned(actual) != expected {
            return Err(line_conflict(id, expected, actual));
        }
        let sql = format!(
            "SELECT {} FROM sessions WHERE line = $1 AND status <> 'closed' ORDER BY opened_ns, ord",
            rows::SESSION_COLUMNS
        );
        let open = tx
            .query(&sql, &[&uuid])
            .await?
            .iter()
            .map(rows::session)
            .collect::<Result<Vec<_>, _>>()?;
        let (closes, events) = machine::line_deleted(id, &open, now);
        // Each close as core decided it, guarded by the version it was
        // decided on. The roster goes with the line, so loads are not kept.
        let mut ids = Vec::with_capacity(closes.len());
        let mut versions = Vec::with_capacity(closes.len());
        let mut statuses = Vec::with_capacity(closes.len());
        let mut operators = Vec::with_capacity(closes.len());
        let mut reasons = Vec::with_capacity(closes.len());
        let mut next_versions = Vec::with_capacity(closes.len());
        let mut updated = Vec::with_capacity(closes.len());
        let mut closed = Vec::with_capacity(closes.len());
        let before: std::collections::HashMap<_, _> =
            open.iter().map(|s| (s.id, s.version)).collect();
        for c in &closes {
            let s = &c.session;
            let (status, operator) = rows::status_columns(&s.status);
            ids.push(s.id.as_uuid());
            versions.push(big(before.get(&s.id).copied().unwrap_or(s.version))?);
            statuses.push(status);
            operators.push(operator);
            reasons.push(Json(&s.reason));
            next_versions.push(big(s.version)?);
            updated.push(ns(s.updated_at)?);
            closed.push(s.closed_at.map(ns).transpose()?);
        }
        let written = tx
            .execute(
                "UPDATE sessions s SET status = u.status, operator = u.operator,
                     reason = u.reason, version = u.next_version, updated_ns = u.updated_ns,
                     closed_ns = u.closed_ns
                 FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[],
                             $6::bigint[], $7::bigint[], $8::bigint[])
                     AS u(id, version, status, operator, reason, next_version, updated_ns,
                          closed_ns)
                 WHERE s.id = u.id AND s.version = u.version",
                &[
                    &ids,
                    &versions,
                    &statuses,
                    &operators,
                    &reasons,
                    &next_versions,
                    &updated,
                    &closed,
                ],
            )
            .await?;
        if written != ids.len() as u64 {
            return Err(Fail::Retry(format!(
                "sessions of line {id} changed while it was being deleted"
            )));
        }
        // Closing cancels every timer of the session (see `machine::timers`).
        tx.execute("DELETE FROM timers WHERE session = ANY($1)", &[&ids])
            .await?;
        for sql in [
            "DELETE FROM sources WHERE line = $1",
            "DELETE FROM roster WHERE line = $1",
            "DELETE FROM routing_cursors WHERE line = $1",
            "DELETE FROM lines WHERE id = $1",
        ] {
            tx.execute(sql, &[&uuid]).await?;
        }
        EventRows::of(events, now)?.append(&tx).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub(super) async fn line_once(&self, id: LineId) -> Result<Option<Line>, Fail> {
        let client = self.client().await?;
        let sql = format!("SELECT {} FROM lines WHERE id = $1", rows::LINE_COLUMNS);
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&id.as_uuid()])
            .await?
            .as_ref()
            .map(rows::line)
            .transpose()
    }

    pub(super) async fn lines_once(&self) -> Result<Vec<Line>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM lines ORDER BY created_ns, ord",
            rows::LINE_COLUMNS
        );
        client
            .query(&sql, &[])
            .await?
            .iter()
            .map(rows::line)
            .collect()
    }

    // ----- sources -----

    pub(super) async fn insert_source_once(&self, source: &Source) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        // Inserted only if the line exists; the key-share lock keeps the
        // line from being deleted before this commits.
        let inserted = tx
            .execute(
                "INSERT INTO sources (id, line, kind, display_name, config_ref, created_ns)
                 SELECT $1, l.id, $3, $4, $5, $6 FROM lines l WHERE l.id = $2 FOR KEY SHARE
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &source.id.as_uuid(),
                    &source.line.as_uuid(),
                    &source.kind,
                    &source.display_name,
                    &source.config_ref,
                    &ns(source.created_at)?,
                ],
            )
            .await?;
        if inserted == 1 {
            EventRows::of(machine::source_bound(source), source.created_at)?
                .append(&tx)
                .await?;
            self.commit(tx).await?;
            return Ok(());
        }
        let line_exists = tx
            .query_opt(
                "SELECT 1 FROM lines WHERE id = $1",
                &[&source.line.as_uuid()],
            )
            .await?
            .is_some();
        if !line_exists {
            return Err(line_not_found(source.line));
        }
        Err(Fail::Store(StoreError::AlreadyExists {
            what: "source",
            id: source.id.to_string(),
        }))
    }

    pub(super) async fn delete_source_once(
        &self,
        id: SourceId,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let sql = format!(
            "DELETE FROM sources WHERE id = $1 RETURNING {}",
            rows::SOURCE_COLUMNS
        );
        let Some(row) = tx.query_opt(&sql, &[&id.as_uuid()]).await? else {
            return Err(Fail::Store(StoreError::NotFound {
                what: "source",
                id: id.to_string(),
            }));
        };
        let source = rows::source(&row)?;
        EventRows::of(machine::source_unbound(&source), now)?
            .append(&tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub(super) async fn source_once(&self, id: SourceId) -> Result<Option<Source>, Fail> {
        let client = self.client().await?;
        let sql = format!("SELECT {} FROM sources WHERE id = $1", rows::SOURCE_COLUMNS);
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&id.as_uuid()])
            .await?
            .as_ref()
            .map(rows::source)
            .transpose()
    }

    pub(super) async fn sources_once(&self) -> Result<Vec<Source>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM sources ORDER BY created_ns, ord",
            rows::SOURCE_COLUMNS
        );
        client
            .query(&sql, &[])
            .await?
            .iter()
            .map(rows::source)
            .collect()
    }

    // ----- contacts -----

    pub(super) async fn contact_once(&self, id: ContactId) -> Result<Option<Contact>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM contacts WHERE id = $1",
            rows::CONTACT_COLUMNS
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&id.as_uuid()])
            .await?
            .as_ref()
            .map(rows::contact)
            .transpose()
    }

    pub(super) async fn contact_by_key_once(
        &self,
        key: &ContactKey,
    ) -> Result<Option<Contact>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM contacts WHERE key = $1",
            rows::CONTACT_COLUMNS
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&rows::contact_key(key)?])
            .await?
            .as_ref()
            .map(rows::contact)
            .transpose()
    }

    // ----- linked apps -----

    pub(super) async fn put_account_link_once(&self, link: &AccountLink) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        tx.execute(
            "INSERT INTO account_links (line, contact, app, item, linked_by, linked_ns)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (line, contact) DO UPDATE SET app = EXCLUDED.app,
                 item = EXCLUDED.item, linked_by = EXCLUDED.linked_by,
                 linked_ns = EXCLUDED.linked_ns",
            &[
                &link.line.as_uuid(),
                &link.contact.as_uuid(),
                &link.app.as_str(),
                &link.item.as_str(),
                &link.linked_by.as_ref().map(|u| u.as_str()),
                &ns(link.linked_at)?,
            ],
        )
        .await?;
        EventRows::of(machine::account_linked(link), link.linked_at)?
            .append(&tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub(super) async fn account_link_once(
        &self,
        line: LineId,
        contact: ContactId,
    ) -> Result<Option<AccountLink>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM account_links WHERE line = $1 AND contact = $2",
            rows::LINK_COLUMNS
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&line.as_uuid(), &contact.as_uuid()])
            .await?
            .as_ref()
            .map(rows::account_link)
            .transpose()
    }

    pub(super) async fn insert_request_once(&self, request: &RequestRecord) -> Result<(), Fail> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_writer(&tx, self.writer).await?;
        let inserted = tx
            .execute(
                "INSERT INTO requests (id, session, app, item, created_by, created_ns)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &request.id.as_uuid(),
                    &request.session.as_uuid(),
                    &request.app.as_str(),
                    &request.item.as_str(),
                    &request.created_by.as_str(),
                    &ns(request.created_at)?,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(Fail::Store(StoreError::AlreadyExists {
                what: "request",
                id: request.id.to_string(),
            }));
        }
        EventRows::of(machine::request_registered(request), request.created_at)?
            .append(&tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub(super) async fn requests_once(
        &self,
        session: SessionId,
    ) -> Result<Vec<RequestRecord>, Fail> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM requests WHERE session = $1 ORDER BY created_ns, ord",
            rows::REQUEST_COLUMNS
        );
        client
            .query(&sql, &[&session.as_uuid()])
            .await?
            .iter()
            .map(rows::request)
            .collect()
    }
}
