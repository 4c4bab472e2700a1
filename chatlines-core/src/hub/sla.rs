//! Service levels: the clocks a client's message starts (written with the
//! message by the store), and the breach report (see [`sla`](crate::sla)).

use super::Hub;
use crate::error::Error;
use crate::hours::Schedule;
use crate::ids::{LineId, UserId};
use crate::line::Line;
use crate::sla::{SlaBreach, SlaDues};
use chrono::{DateTime, Utc};

/// The most breaches one [`Hub::sla_breaches`] call returns.
pub const MAX_SLA_BREACHES: usize = 10_000;

impl Hub {
    /// The service-level clocks a client's message on `line` starts,
    /// counted from `at` (in the line's working hours when its targets say
    /// so); `None` on a line without targets. Written with the message
    /// ([`InboundFollowUp::sla`](crate::InboundFollowUp::sla)).
    pub(crate) fn sla_dues(&self, line: &Line, at: DateTime<Utc>) -> Option<SlaDues> {
        let settings = line.sla().filter(|s| s.any())?;
        Some(match &line.config.hours {
            Some(hours) => {
                let schedule = Schedule::new(hours, &*self.inner.zones);
                settings.dues(at, Some(&schedule))
            }
            None => settings.dues(at, None),
        })
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
