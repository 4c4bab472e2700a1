//! Administration: lines and their bound sources.

use super::Hub;
use crate::error::Error;
use crate::ids::{LineId, SourceId, UserId};
use crate::line::{Line, LineConfig};
use crate::source::{NewSource, Source};
use crate::validation::{check_store_supports, validate_line};
use serde::{Deserialize, Serialize};

/// A bound messenger account with its line (Administration > Extensions >
/// Messengers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BoundSource {
    /// The source.
    pub source: Source,
    /// The line's name.
    pub line_name: String,
}

impl Hub {
    /// Creates a line. Administrators only; the configuration is validated
    /// and every problem reported at once.
    pub async fn create_line(&self, actor: &UserId, config: LineConfig) -> Result<Line, Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "create a line",
                "only administrators configure lines",
            ));
        }
        validate_line(
            &config,
            &*self.inner.directory,
            &*self.inner.apps,
            &*self.inner.zones,
        )
        .await?;
        check_store_supports(&config, self.inner.store.capabilities())?;
        let now = self.inner.clock.now();
        let line = Line::new(LineId(self.inner.clock.new_id()), 1, config, now, now);
        self.inner.store.insert_line(&line).await?;
        self.sync_line_roster(&line).await?;
        Ok(line)
    }

    /// Replaces a line's configuration. Administrators, and supervisors of
    /// that line; `expected_version` must be the version the caller read
    /// (else [`Error::Conflict`]). Policy is checked before the
    /// configuration: someone who may not see the line gets
    /// [`Error::NotFound`], an operator of it [`Error::Forbidden`].
    pub async fn update_line(
        &self,
        actor: &UserId,
        id: LineId,
        expected_version: u64,
        config: LineConfig,
    ) -> Result<Line, Error> {
        let current = self.visible_line(actor, id).await?;
        if !(self.is_admin(actor).await? || self.is_supervisor(&current, actor).await?) {
            return Err(Hub::forbidden(
                actor,
                "edit the line",
                "only administrators and the line's supervisors edit a line",
            ));
        }
        validate_line(
            &config,
            &*self.inner.directory,
            &*self.inner.apps,
            &*self.inner.zones,
        )
        .await?;
        check_store_supports(&config, self.inner.store.capabilities())?;
        let now = self.inner.clock.now();
        let line = Line::new(
            id,
            expected_version.saturating_add(1),
            config,
            current.created_at,
            now,
        );
        self.inner
            .store
            .update_line(&line, expected_version)
            .await?;
        self.sync_line_roster(&line).await?;
        self.drain_line(&line).await?;
        Ok(line)
    }

    /// Deletes a line (administrators only): its sources are unbound and its
    /// open sessions closed; history stays readable.
    pub async fn delete_line(
        &self,
        actor: &UserId,
        id: LineId,
        expected_version: u64,
    ) -> Result<(), Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "delete a line",
                "only administrators configure lines",
            ));
        }
        let now = self.inner.clock.now();
        self.inner
            .store
            .delete_line(id, expected_version, now)
            .await?;
        Ok(())
    }

    /// A line, for administrators and the line's supervisors and operators;
    /// anyone else gets [`Error::NotFound`], as for a missing line.
    pub async fn line(&self, actor: &UserId, id: LineId) -> Result<Line, Error> {
        self.visible_line(actor, id).await
    }

    /// Every line (administrators only).
    pub async fn lines(&self, actor: &UserId) -> Result<Vec<Line>, Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "list lines",
                "only administrators see every line",
            ));
        }
        Ok(self.inner.store.lines().await?)
    }

    /// Binds a messenger account to a line (administrators only).
    pub async fn bind_source(
        &self,
        actor: &UserId,
        line: LineId,
        new: NewSource,
    ) -> Result<Source, Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "bind a messenger account",
                "only administrators manage messenger extensions",
            ));
        }
        if new.kind.trim().is_empty() {
            return Err(Error::invalid(
                "kind",
                "name the messenger kind, e.g. \"telegram\"",
            ));
        }
        if new.display_name.trim().is_empty() {
            return Err(Error::invalid("display_name", "must not be empty"));
        }
        self.line_or_not_found(line).await?;
        let source = Source::new(
            SourceId(self.inner.clock.new_id()),
            line,
            new.kind,
            new.display_name,
            new.config_ref,
            self.inner.clock.now(),
        );
        self.inner.store.insert_source(&source).await?;
        Ok(source)
    }

    /// Unbinds a messenger account (administrators only).
    pub async fn unbind_source(&self, actor: &UserId, source: SourceId) -> Result<(), Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "unbind a messenger account",
                "only administrators manage messenger extensions",
            ));
        }
        self.inner
            .store
            .delete_source(source, self.inner.clock.now())
            .await?;
        Ok(())
    }

    /// Every bound messenger account with its line (administrators only).
    pub async fn bound_sources(&self, actor: &UserId) -> Result<Vec<BoundSource>, Error> {
        if !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "list messenger accounts",
                "only administrators manage messenger extensions",
            ));
        }
        let lines = self.inner.store.lines().await?;
        let sources = self.inner.store.sources().await?;
        Ok(sources
            .into_iter()
            .map(|source| {
                let line_name = lines
                    .iter()
                    .find(|l| l.id == source.line)
                    .map(|l| l.config.name.clone())
                    .unwrap_or_default();
                BoundSource { source, line_name }
            })
            .collect())
    }

    pub(crate) async fn line_or_not_found(&self, id: LineId) -> Result<Line, Error> {
        self.inner
            .store
            .line(id)
            .await?
            .ok_or_else(|| line_not_found(id))
    }

    /// The line if `actor` may see it (an administrator, a supervisor or an
    /// operator of it); otherwise the same [`Error::NotFound`] as for a
    /// missing line.
    pub(crate) async fn visible_line(&self, actor: &UserId, id: LineId) -> Result<Line, Error> {
        let line = self.line_or_not_found(id).await?;
        if self.sees_line(&line, actor).await? {
            Ok(line)
        } else {
            Err(line_not_found(id))
        }
    }

    /// Whether `actor` sees the line's settings and sessions.
    pub(crate) async fn sees_line(&self, line: &Line, actor: &UserId) -> Result<bool, Error> {
        Ok(self.is_admin(actor).await?
            || self.is_supervisor(line, actor).await?
            || self.is_operator(line, actor).await?)
    }
}

pub(crate) fn line_not_found(id: LineId) -> Error {
    Error::NotFound {
        what: "line",
        id: id.to_string(),
    }
}
