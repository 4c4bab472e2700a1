//! Carrying out routing: new and returned sessions, drains, availability.

use super::Hub;
use crate::directory::Availability;
use crate::error::{Error, StoreError};
use crate::hours::{Schedule, WorkingHours};
use crate::ids::{LineId, UserId};
use crate::line::Line;
use crate::message::Body;
use crate::routing::RoutePlan;
use crate::routing::RoutingContext;
use crate::session::{RouteReason, Session, SessionStatus};
use crate::store::Transition;
use crate::timer::TimerKind;

impl Hub {
    /// Routes a queued session once: asks the router for a plan and lets the
    /// store carry it out atomically. If another instance routed it first,
    /// returns the session as it is now.
    pub(crate) async fn route_session(
        &self,
        session: Session,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        if session.status != SessionStatus::Queued {
            return Ok(session);
        }
        // The line was deleted meanwhile; nothing to route to.
        let Some(line) = self.line_for(line, session.line).await? else {
            return Ok(session);
        };
        let line: &Line = &line;
        if let Some(hours) = &line.config.hours {
            let now = self.inner.clock.now();
            let schedule = Schedule::new(hours, &*self.inner.zones);
            match schedule.is_open(now) {
                Ok(true) => {}
                Ok(false) => return self.wait_for_opening(session, hours, &schedule, now).await,
                // Validated when saved; a zone the hub no longer knows
                // must not leave sessions unrouted.
                Err(e) => {
                    tracing::warn!(line = %line.id, error = %e, "working hours unreadable; routing as open")
                }
            }
        }
        let store = &self.inner.store;
        let account = store.account_link(line.id, session.contact).await?;
        let ctx = RoutingContext::new(
            line,
            &session,
            account.as_ref(),
            &*self.inner.directory,
            &*self.inner.apps,
        );
        let plan = self.inner.router.plan(ctx).await?;
        let change = Transition::Route {
            expected_version: session.version,
            plan,
        };
        match store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(routed) => Ok(routed),
            Err(StoreError::Conflict { .. }) => {
                tracing::debug!(session = %session.id, "session routed concurrently");
                Ok(store.session(session.id).await?.unwrap_or(session))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A reopened session (the line's reopen window): back to the operator
    /// it had if they are present, eligible on the line (not away) and,
    /// on a line with capacity, below it; otherwise routed by the line's
    /// rule.
    pub(crate) async fn route_reopened(
        &self,
        session: Session,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        let RouteReason::Reopened {
            operator: Some(operator),
        } = &session.reason
        else {
            return self.route_session(session, line).await;
        };
        if session.status != SessionStatus::Queued {
            return Ok(session);
        }
        let store = &self.inner.store;
        let Some(line) = self.line_for(line, session.line).await? else {
            return Ok(session);
        };
        let line: &Line = &line;
        let present = self.availability(operator).await? == Availability::Present;
        let entry = store
            .roster(line.id)
            .await?
            .into_iter()
            .find(|e| &e.user == operator);
        let room = match (&line.config.employees.rule, &entry) {
            (crate::line::RoutingRule::LeastLoaded { capacity }, Some(e)) => e.load < *capacity,
            _ => true,
        };
        if !present || !entry.is_some_and(|e| e.eligible) || !room {
            return self.route_session(session, Some(line)).await;
        }
        let change = Transition::Route {
            expected_version: session.version,
            plan: RoutePlan::Assign {
                operator: operator.clone(),
                reason: session.reason.clone(),
            },
        };
        match store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(routed) => Ok(routed),
            Err(StoreError::Conflict { .. }) => {
                Ok(store.session(session.id).await?.unwrap_or(session))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A queued session outside the line's working hours: waits for the
    /// opening (a [`TimerKind::HoursOpen`](crate::TimerKind::HoursOpen)
    /// timer, armed with the change), or is offered to the off-hours group;
    /// the client gets the off-hours reply once per session and off-hours
    /// period (the transition that starts the wait is written once, by
    /// whichever hub wins it).
    async fn wait_for_opening(
        &self,
        session: Session,
        hours: &WorkingHours,
        schedule: &Schedule<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Session, Error> {
        let opens_at = schedule.next_change(now).unwrap_or_else(|e| {
            tracing::warn!(session = %session.id, error = %e, "no opening time");
            None
        });
        if let RouteReason::OffHours {
            opens_at: waiting, ..
        } = &session.reason
        {
            if *waiting == opens_at {
                return Ok(session);
            }
        }
        let reason = RouteReason::OffHours {
            opens_at,
            group: hours.off_hours_group.clone(),
        };
        let plan = if hours.off_hours_group.is_some() {
            RoutePlan::Offer { reason }
        } else {
            RoutePlan::Queue { reason }
        };
        let route = Transition::Route {
            expected_version: session.version,
            plan,
        };
        // The automatic reply goes out with the change that starts the
        // wait, in one store call: once per session and off-hours period.
        let change = match &hours.off_hours_reply {
            Some(text) => Transition::WithNotice {
                change: Box::new(route),
                notice: Body::text(text.as_str()),
            },
            None => route,
        };
        let store = &self.inner.store;
        let waiting = match store.transition(session.id, change, now).await {
            Ok(waiting) => waiting,
            Err(StoreError::Conflict { .. }) => {
                tracing::debug!(session = %session.id, "session routed concurrently");
                return Ok(store.session(session.id).await?.unwrap_or(session));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(waiting)
    }

    /// Routes the queued sessions of every line that has any (after a
    /// restart, and periodically as a safety net: every change that can
    /// make a queued session routable drains its line itself). Walks only
    /// the lines with a queue ([`SessionStore::queued_lines`](crate::SessionStore::queued_lines)),
    /// never every line. Returns how many sessions left the queue.
    pub async fn drain(&self) -> Result<usize, Error> {
        const PAGE: usize = 100;
        let store = &self.inner.store;
        let mut moved = 0;
        let mut after = None;
        loop {
            let lines = store.queued_lines(after, PAGE).await?;
            for id in &lines {
                // A line deleted meanwhile has nothing to route to.
                if let Some(line) = store.line(*id).await? {
                    moved += self.drain_line(&line).await?;
                }
            }
            match lines.last() {
                Some(last) if lines.len() == PAGE => after = Some(*last),
                _ => return Ok(moved),
            }
        }
    }

    /// Routes one line's queued sessions, oldest first, until the router
    /// leaves one queued (nobody free) or the batch is done.
    pub(crate) async fn drain_line(&self, line: &Line) -> Result<usize, Error> {
        let queued = self
            .inner
            .store
            .queued_sessions(line.id, self.inner.config.drain_batch)
            .await?;
        let mut moved = 0;
        for session in queued {
            let routed = self.route_session(session, Some(line)).await?;
            if routed.status == SessionStatus::Queued {
                if routed.reason == RouteReason::NoOperatorAvailable {
                    break;
                }
            } else {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Tells the hub that a user's availability (or group membership)
    /// changed in the host's directory. Updates the routing roster of every
    /// line the user operates (or operated: they become ineligible), and
    /// hands queued sessions to them when they became available. For a user
    /// who operates no line and has no roster entry nothing is written.
    ///
    /// On lines with an offline grace period
    /// ([`LineConfig::offline_grace`](crate::LineConfig::offline_grace)),
    /// the sessions assigned to a user who became absent return to routing
    /// when the period ends (a timer armed now, fired by
    /// [`run_due`](Hub::run_due)) unless this is called again with the
    /// user present before then; a blocked user's return to routing at
    /// once.
    pub async fn availability_changed(&self, user: &UserId) -> Result<(), Error> {
        let availability = self.availability(user).await?;
        let present = availability == Availability::Present;
        let mut working = Vec::new();
        for line in self.inner.store.lines().await? {
            let member = self.is_operator(&line, user).await?;
            // Ineligible on a line without an entry writes nothing (see
            // `SessionStore::set_eligible`).
            self.inner
                .store
                .set_eligible(line.id, user, member && present)
                .await?;
            if member && present {
                working.push(line);
            }
        }
        // After the roster: a session returned to routing never goes back
        // to the user who left.
        self.sessions_follow_availability(user, availability)
            .await?;
        for line in &working {
            self.drain_line(line).await?;
        }
        Ok(())
    }

    /// Arms, cancels or carries out the return to routing of the sessions
    /// assigned to `user`, on lines with an offline grace period. One page
    /// of the operator's assigned sessions at a time (an index on the
    /// operator); a session changed meanwhile is left as it is now.
    async fn sessions_follow_availability(
        &self,
        user: &UserId,
        availability: Availability,
    ) -> Result<(), Error> {
        const PAGE: usize = 200;
        let store = &self.inner.store;
        let mut lines: std::collections::HashMap<LineId, Option<Line>> = Default::default();
        let mut after = None;
        loop {
            let page = store.assigned_sessions(user, after, PAGE).await?;
            for session in &page {
                let line = match lines.get(&session.line) {
                    Some(l) => l.clone(),
                    None => {
                        let l = store.line(session.line).await?;
                        lines.insert(session.line, l.clone());
                        l
                    }
                };
                let Some(line) = line.filter(|l| l.timers().offline_grace().is_some()) else {
                    continue;
                };
                let waiting = store
                    .session_timers(session.id)
                    .await?
                    .iter()
                    .any(|t| t.kind == TimerKind::OfflineGrace);
                let change = match availability {
                    Availability::Present if waiting => Transition::OperatorBack {
                        operator: user.clone(),
                    },
                    Availability::Present => continue,
                    Availability::Absent if waiting => continue,
                    other => Transition::OperatorAway {
                        operator: user.clone(),
                        availability: other,
                        at_once: false,
                    },
                };
                match store
                    .transition(session.id, change, self.inner.clock.now())
                    .await
                {
                    Ok(moved) if moved.status == SessionStatus::Queued => {
                        self.route_session(moved, Some(&line)).await?;
                    }
                    Ok(_) => {}
                    Err(StoreError::InvalidState { .. } | StoreError::Conflict { .. }) => {
                        tracing::debug!(session = %session.id, "session changed meanwhile");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if page.len() < PAGE {
                return Ok(());
            }
            after = page.last().map(|s| s.id);
        }
    }

    /// A client wrote into an open session whose operator is not present,
    /// on a line with an offline grace period: it returns to routing at
    /// once, so the client is never left with an absent operator.
    pub(crate) async fn client_returned(
        &self,
        session: Session,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        // Most client messages end here; the rest is boxed so that every
        // message's future stays small.
        if session.operator().is_none()
            || line.is_some_and(|line| line.timers().offline_grace().is_none())
        {
            return Ok(session);
        }
        Box::pin(self.return_from_absent(session, line)).await
    }

    /// [`Hub::client_returned`] past its cheap checks: routes the session
    /// again unless its operator is present.
    async fn return_from_absent(
        &self,
        session: Session,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        let Some(operator) = session.operator().cloned() else {
            return Ok(session);
        };
        let Some(line) = self.line_for(line, session.line).await? else {
            return Ok(session);
        };
        let line: &Line = &line;
        if line.timers().offline_grace().is_none() {
            return Ok(session);
        }
        let availability = self.availability(&operator).await?;
        if availability == Availability::Present {
            return Ok(session);
        }
        let change = Transition::OperatorAway {
            operator,
            availability,
            at_once: true,
        };
        match self
            .inner
            .store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(moved) => self.route_session(moved, Some(line)).await,
            Err(StoreError::InvalidState { .. } | StoreError::Conflict { .. }) => Ok(self
                .inner
                .store
                .session(session.id)
                .await?
                .unwrap_or(session)),
            Err(e) => Err(e.into()),
        }
    }

    /// Rebuilds a line's routing roster from the directory (members of the
    /// operators group who are present). Done on create and update; call it
    /// when group membership changed without `availability_changed`.
    /// [`Error::NotFound`] for a missing line.
    pub async fn sync_roster(&self, line: LineId) -> Result<(), Error> {
        let line = self.line_or_not_found(line).await?;
        self.sync_line_roster(&line).await
    }

    pub(crate) async fn sync_line_roster(&self, line: &Line) -> Result<(), Error> {
        let mut eligible = Vec::new();
        if let Some(group) = line.operators() {
            for user in self
                .inner
                .directory
                .members(group)
                .await
                .map_err(Error::directory)?
            {
                if self.availability(&user).await? == Availability::Present {
                    eligible.push(user);
                }
            }
        }
        self.inner.store.replace_roster(line.id, &eligible).await?;
        Ok(())
    }

    /// Rebuilds the roster of every line, then drains.
    pub async fn refresh(&self) -> Result<usize, Error> {
        for line in self.inner.store.lines().await? {
            self.sync_line_roster(&line).await?;
        }
        self.drain().await
    }
}
