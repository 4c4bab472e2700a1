//! Service levels: moving a session's clocks as messages come and go, and
//! the breach report (see [`sla`](crate::sla)).

use super::Hub;
use crate::error::{Error, StoreError};
use crate::hours::Schedule;
use crate::ids::{LineId, UserId};
use crate::line::Line;
use crate::session::Session;
use crate::sla::{SlaBreach, SlaChange};
use crate::store::Transition;
use chrono::{DateTime, Utc};

/// The most breaches one [`Hub::sla_breaches`] call returns.
pub const MAX_SLA_BREACHES: usize = 10_000;

impl Hub {
    /// The line of a session, the one given or read.
    async fn sla_line(
        &self,
        session: &Session,
        line: Option<&Line>,
    ) -> Result<Option<Line>, Error> {
        match line {
            Some(l) => Ok(Some(l.clone())),
            None => Ok(self.inner.store.line(session.line).await?),
        }
    }

    /// The client wrote into `session` at `at`: on a line with SLA
    /// targets, starts the clocks that start with it. A failure is logged
    /// and leaves the clocks as they were (the message is stored).
    pub(crate) async fn sla_client_wrote(
        &self,
        session: Session,
        line: Option<&Line>,
        at: DateTime<Utc>,
    ) -> Result<Session, Error> {
        let Some(line) = self.sla_line(&session, line).await? else {
            return Ok(session);
        };
        let Some(settings) = line.sla().filter(|s| s.any()) else {
            return Ok(session);
        };
        let dues = match &line.config.hours {
            Some(hours) => {
                let schedule = Schedule::new(hours, &*self.inner.zones);
                settings.dues(at, Some(&schedule))
            }
            None => settings.dues(at, None),
        };
        let change = Transition::Sla {
            change: SlaChange::ClientWrote { at, dues },
        };
        self.sla_transition(session, change).await
    }

    /// An operator replied in `session`: on a line with SLA targets, stops
    /// the running response clocks.
    pub(crate) async fn sla_operator_replied(&self, session: Session, line: &Line) -> Session {
        if !line.sla().is_some_and(|s| s.any()) {
            return session;
        }
        let change = Transition::Sla {
            change: SlaChange::OperatorReplied,
        };
        self.sla_transition(session.clone(), change)
            .await
            .unwrap_or(session)
    }

    async fn sla_transition(&self, session: Session, change: Transition) -> Result<Session, Error> {
        let now = self.inner.clock.now();
        match self.inner.store.transition(session.id, change, now).await {
            Ok(moved) => Ok(moved),
            // Closed meanwhile: its clocks stopped with the close.
            Err(StoreError::InvalidState { .. }) => Ok(session),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "moving SLA clocks failed");
                Ok(session)
            }
        }
    }

    /// The service-level breaches of a line whose due time lies in
    /// `[from, until)`, earliest due first (ties by session, then target),
    /// `limit` at most (kept within 1..=[`MAX_SLA_BREACHES`]; to read on,
    /// ask again from the last due time and skip what was seen). For
    /// reports: supervisors of the line and administrators only
    /// ([`Error::Forbidden`] for others who see the line,
    /// [`Error::NotFound`] for those who do not).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `until` is before `from`.
    pub async fn sla_breaches(
        &self,
        actor: &UserId,
        line: LineId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SlaBreach>, Error> {
        let line = self.visible_line(actor, line).await?;
        if !self.is_supervisor(&line, actor).await? && !self.is_admin(actor).await? {
            return Err(Hub::forbidden(
                actor,
                "see the line's SLA breaches",
                "only supervisors of the line and administrators see its reports",
            ));
        }
        if until < from {
            return Err(Error::invalid(
                "until",
                "the end of the period is before its start",
            ));
        }
        let limit = limit.clamp(1, MAX_SLA_BREACHES);
        Ok(self
            .inner
            .store
            .sla_breaches(line.id, from, until, limit)
            .await?)
    }
}
