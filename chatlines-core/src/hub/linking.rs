//! Linked applications: "+ Link" an account item, register requests.

use super::Hub;
use crate::apps::{AccountLink, AccountValue, FieldKind, FieldValue, FieldValues, RequestRecord};
use crate::error::Error;
use crate::ids::{AppId, ItemId, SessionId, UserId};
use crate::line::Line;
use crate::session::Session;

impl Hub {
    /// "+ Link": creates an item of the line's account app from `values`,
    /// with its Account field set to the session's client, and links it to
    /// the client on this line (later sessions see it too). The session's
    /// operator or a supervisor of the line.
    pub async fn link_new_account(
        &self,
        actor: &UserId,
        session: SessionId,
        values: FieldValues,
    ) -> Result<AccountLink, Error> {
        let (session, line) = self.visible_session(actor, session).await?;
        self.require_session_worker(&line, &session, actor, "link the client's account")
            .await?;
        let app = line
            .config
            .apps
            .account_app
            .clone()
            .ok_or(Error::NoAccountApp)?;
        let item = self.create_with_account(&app, &session, values).await?;
        self.store_link(&line, &session, app, item, Some(actor.clone()))
            .await
    }

    /// Links an existing item of the line's account app to the session's
    /// client. The session's operator or a supervisor of the line; an
    /// administrator only while the client has no linked item (replacing a
    /// link is theirs alone, as for [`link_new_account`](Hub::link_new_account)).
    /// The item must exist in the host's catalog ([`Error::NotFound`]
    /// otherwise, checked after policy).
    pub async fn link_existing_account(
        &self,
        actor: &UserId,
        session: SessionId,
        item: ItemId,
    ) -> Result<AccountLink, Error> {
        let (session, line) = self.visible_session(actor, session).await?;
        let worker = session.operator() == Some(actor) || self.is_supervisor(&line, actor).await?;
        if !worker {
            let first_link = self.is_admin(actor).await?
                && self
                    .inner
                    .store
                    .account_link(line.id, session.contact)
                    .await?
                    .is_none();
            if !first_link {
                return Err(Hub::forbidden(
                    actor,
                    "link the client's account",
                    "only the session's operator or a supervisor of the line may do this",
                ));
            }
        }
        let app = line
            .config
            .apps
            .account_app
            .clone()
            .ok_or(Error::NoAccountApp)?;
        if !self
            .inner
            .apps
            .item_exists(&app, &item)
            .await
            .map_err(Error::apps)?
        {
            return Err(Error::NotFound {
                what: "item",
                id: item.to_string(),
            });
        }
        self.store_link(&line, &session, app, item, Some(actor.clone()))
            .await
    }

    /// The client's linked account item on the session's line.
    pub async fn account(
        &self,
        actor: &UserId,
        session: SessionId,
    ) -> Result<Option<AccountLink>, Error> {
        let session = self.session(actor, session).await?;
        Ok(self
            .inner
            .store
            .account_link(session.line, session.contact)
            .await?)
    }

    /// Registers a request: creates an item of one of the line's request
    /// apps, its Account field filled with the client. Fails with
    /// [`Error::AccountNotLinked`] until the client's account is linked.
    pub async fn register_request(
        &self,
        actor: &UserId,
        session: SessionId,
        app: &AppId,
        values: FieldValues,
    ) -> Result<RequestRecord, Error> {
        let (session, line) = self.visible_session(actor, session).await?;
        self.require_session_worker(&line, &session, actor, "register a request")
            .await?;
        if !line.config.apps.request_apps.contains(app) {
            return Err(Error::AppNotOnLine { app: app.clone() });
        }
        let store = &self.inner.store;
        if store
            .account_link(line.id, session.contact)
            .await?
            .is_none()
        {
            return Err(Error::AccountNotLinked {
                session: session.id,
            });
        }
        let item = self.create_with_account(app, &session, values).await?;
        let clock = &self.inner.clock;
        let record = RequestRecord::new(
            clock.new_id().into(),
            session.id,
            app.clone(),
            item,
            actor.clone(),
            clock.now(),
        );
        store.insert_request(&record).await?;
        Ok(record)
    }

    /// Requests registered from a session.
    pub async fn requests(
        &self,
        actor: &UserId,
        session: SessionId,
    ) -> Result<Vec<RequestRecord>, Error> {
        let session = self.session(actor, session).await?;
        Ok(self.inner.store.requests(session.id).await?)
    }

    async fn create_with_account(
        &self,
        app: &AppId,
        session: &Session,
        mut values: FieldValues,
    ) -> Result<ItemId, Error> {
        let apps = &self.inner.apps;
        let schema = apps
            .schema(app)
            .await
            .map_err(Error::apps)?
            .ok_or_else(|| Error::NotFound {
                what: "application",
                id: app.to_string(),
            })?;
        let field = schema.first_field_of(FieldKind::Account).ok_or_else(|| {
            Error::invalid("app", format!("application {app} has no Account field"))
        })?;
        let contact = self
            .inner
            .store
            .contact(session.contact)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "contact",
                id: session.contact.to_string(),
            })?;
        values.insert(
            field.id.clone(),
            FieldValue::Account(AccountValue {
                contact: contact.id,
                key: contact.key.clone(),
                display_name: contact.display_name.clone(),
            }),
        );
        apps.create_item(app, values).await.map_err(Error::apps)
    }

    async fn store_link(
        &self,
        line: &Line,
        session: &Session,
        app: AppId,
        item: ItemId,
        by: Option<UserId>,
    ) -> Result<AccountLink, Error> {
        let link = AccountLink::new(
            line.id,
            session.contact,
            app,
            item,
            by,
            self.inner.clock.now(),
        );
        self.inner.store.put_account_link(&link).await?;
        Ok(link)
    }
}
