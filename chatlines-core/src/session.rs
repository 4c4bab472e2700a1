//! Sessions: one conversation of one client on one line.

use crate::ids::{ContactId, FieldId, LineId, SessionId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a session is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for routing (new, returned to the queue, or no operator free).
    Queued,
    /// With the line's bot (see [`Bot`](crate::Bot)): not offered or
    /// queued until the bot hands it over.
    Bot,
    /// Offered to the line's operators; the first `take` wins.
    Offered,
    /// Worked by one operator.
    Assigned {
        /// The operator.
        operator: UserId,
    },
    /// Finished; a new message from the client opens a new session.
    Closed,
}

/// A session's state without its details (the operator): what a refused
/// change reports and what lists filter by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Waiting for routing.
    Queued,
    /// Offered to the line's operators.
    Offered,
    /// Worked by one operator.
    Assigned,
    /// Finished.
    Closed,
    /// With the line's bot.
    Bot,
}

impl SessionState {
    /// Every state, in life order.
    pub const ALL: [SessionState; 5] = [
        SessionState::Bot,
        SessionState::Queued,
        SessionState::Offered,
        SessionState::Assigned,
        SessionState::Closed,
    ];

    /// A short stable name: `bot`, `queued`, `offered`, `assigned`,
    /// `closed`.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Bot => "bot",
            SessionState::Queued => "queued",
            SessionState::Offered => "offered",
            SessionState::Assigned => "assigned",
            SessionState::Closed => "closed",
        }
    }

    /// The state named by [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl SessionStatus {
    /// A short stable name: `bot`, `queued`, `offered`, `assigned`,
    /// `closed`.
    pub fn name(&self) -> &'static str {
        self.state().name()
    }

    /// The state without its details.
    pub fn state(&self) -> SessionState {
        match self {
            SessionStatus::Queued => SessionState::Queued,
            SessionStatus::Bot => SessionState::Bot,
            SessionStatus::Offered => SessionState::Offered,
            SessionStatus::Assigned { .. } => SessionState::Assigned,
            SessionStatus::Closed => SessionState::Closed,
        }
    }

    /// Whether the session is still open (not closed).
    pub fn is_open(&self) -> bool {
        !matches!(self, SessionStatus::Closed)
    }

    /// The assigned operator, if any.
    pub fn operator(&self) -> Option<&UserId> {
        match self {
            SessionStatus::Assigned { operator } => Some(operator),
            _ => None,
        }
    }
}

/// Why the responsible employee could not get the session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FallbackCause {
    /// The client has no linked account item.
    NoLinkedAccount,
    /// The configured User field of the item is empty.
    FieldEmpty,
    /// The responsible user is absent.
    Absent,
    /// The responsible user is blocked.
    Blocked,
    /// The line or app is misconfigured (no account app, unknown field).
    Misconfigured,
}

/// Why a session left the line's bot for the routing rule (see
/// [`Bot`](crate::Bot)).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HandOverReason {
    /// The bot decided to hand over, with its explanation.
    Bot {
        /// The bot's words (may be empty).
        note: String,
    },
    /// The client wrote one of the line's hand-over keywords.
    Keyword {
        /// The keyword (as configured).
        keyword: String,
    },
    /// The bot failed (an error or an unusable answer); the error is
    /// logged.
    BotError {
        /// What went wrong, for people.
        error: String,
    },
    /// The line's bot timeout lapsed.
    Timeout,
    /// The hub that received the client's message has no bot.
    NoBot,
}

impl HandOverReason {
    /// A short stable name: `bot`, `keyword`, `bot_error`, `timeout`,
    /// `no_bot`.
    pub fn name(&self) -> &'static str {
        match self {
            HandOverReason::Bot { .. } => "bot",
            HandOverReason::Keyword { .. } => "keyword",
            HandOverReason::BotError { .. } => "bot_error",
            HandOverReason::Timeout => "timeout",
            HandOverReason::NoBot => "no_bot",
        }
    }
}

/// Why a session was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// Closed by an operator, a supervisor or the host.
    Closed,
    /// The client was silent for the line's inactivity time after an
    /// operator's last message.
    Inactive,
    /// No operator answered within the line's inactivity time.
    NeverAnswered,
}

impl CloseReason {
    /// A short stable name: `closed`, `inactive`, `never_answered`.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Closed => "closed",
            CloseReason::Inactive => "inactive",
            CloseReason::NeverAnswered => "never_answered",
        }
    }
}

/// Why a session is where it is: recorded on every routing transition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteReason {
    /// Just opened; not routed yet.
    New,
    /// Offered to operators under the first come rule.
    FirstCome,
    /// Assigned to the responsible employee from the account item's field.
    Responsible {
        /// The User field read.
        field: FieldId,
    },
    /// The responsible employee could not get it; first come was used.
    ResponsibleFallback {
        /// Why.
        cause: FallbackCause,
    },
    /// Assigned by round robin.
    RoundRobin,
    /// Assigned to the least loaded operator.
    LeastLoaded,
    /// Left in the queue: no operator available or all at capacity.
    NoOperatorAvailable,
    /// Taken by an operator.
    Taken,
    /// Assigned by a supervisor.
    AssignedBySupervisor {
        /// The supervisor.
        by: UserId,
    },
    /// Transferred by the previous operator.
    Transferred {
        /// The operator who transferred it.
        by: UserId,
    },
    /// Returned to the queue by an operator.
    Returned {
        /// The operator who returned it.
        by: UserId,
    },
    /// Still offered: nobody took it within the line's offer timeout.
    Unanswered {
        /// Since when it has been offered without an answer.
        since: DateTime<Utc>,
        /// How many offer periods have lapsed.
        lapses: u32,
        /// The operators group it overflowed to, if the line sets one.
        overflow: Option<crate::ids::GroupId>,
    },
    /// Outside the line's working hours: queued until the opening (no
    /// `group`), or offered to the line's off-hours operators group.
    OffHours {
        /// When the hours open next (`None`: not within the calendar's
        /// horizon).
        opens_at: Option<DateTime<Utc>>,
        /// The off-hours operators group it is offered to, if the line
        /// sets one.
        group: Option<crate::ids::GroupId>,
    },
    /// Moved on by the line's rule because the operators in `lapsed`, in
    /// order, let it lapse: assigned by a rule, they neither accepted it
    /// nor replied within the line's accept timeout. Those operators are
    /// excluded when round robin or least loaded routes it again;
    /// under the responsible rule it is offered (first come).
    NotAccepted {
        /// The operators who let it lapse, oldest first.
        lapsed: Vec<UserId>,
    },
    /// Returned to routing because its operator was not present: absent
    /// past the line's offline grace period (or when the client wrote),
    /// or blocked.
    OperatorAbsent {
        /// The operator it was assigned to.
        operator: UserId,
        /// Their availability then.
        availability: crate::directory::Availability,
    },
    /// Closed on a line with wrap-up: the operator's slot stays taken
    /// until `until`.
    WrapUp {
        /// The operator who worked it.
        operator: UserId,
        /// When their slot is released.
        until: DateTime<Utc>,
    },
    /// Closed by the line rather than by a person (see [`CloseReason`]).
    /// Also recorded for a close by a person on a line with a reopen
    /// window, to know whom a reopened session goes back to.
    Closed {
        /// Why.
        cause: CloseReason,
        /// The operator it was assigned to, if any.
        operator: Option<UserId>,
    },
    /// The client wrote within the line's reopen window after the session
    /// was closed: reopened, back to `operator` if they are present,
    /// otherwise routed by the line's rule.
    Reopened {
        /// The operator it was assigned to when it was closed, if any.
        operator: Option<UserId>,
    },
    /// With the line's bot (the session's status is
    /// [`SessionStatus::Bot`]) until it hands the session over.
    BotStage,
    /// Handed over by the line's bot stage to the line's routing rule.
    HandedOver {
        /// Why.
        handover: HandOverReason,
    },
    /// Assigned by a custom router, with its own explanation.
    Custom {
        /// Free text.
        note: String,
    },
}

impl RouteReason {
    /// Whether a session assigned for this reason was assigned by a
    /// routing rule (responsible, round robin, least loaded, or moved on
    /// after a lapse), not taken, transferred or assigned by a supervisor:
    /// such an assignment waits for the operator to accept it when the
    /// line has an accept timeout.
    pub fn is_rule_assignment(&self) -> bool {
        matches!(
            self,
            RouteReason::Responsible { .. }
                | RouteReason::RoundRobin
                | RouteReason::LeastLoaded
                | RouteReason::NotAccepted { .. }
        )
    }

    /// The operators excluded from routing this session again: those who
    /// let it lapse ([`RouteReason::NotAccepted`]); empty otherwise.
    pub fn excluded(&self) -> &[UserId] {
        match self {
            RouteReason::NotAccepted { lapsed } => lapsed,
            _ => &[],
        }
    }
}

/// One conversation of one client on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The line.
    pub line: LineId,
    /// The client.
    pub contact: ContactId,
    /// The status.
    pub status: SessionStatus,
    /// Why it has that status.
    pub reason: RouteReason,
    /// Optimistic-concurrency version; every transition increments it.
    pub version: u64,
    /// The sequence number of the last message (0 before the first).
    pub last_seq: u64,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Its service-level clocks, on a line with SLA targets (see
    /// [`sla`](crate::sla)); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Box<crate::sla::SessionSla>>,
    /// How urgently it is served (normal unless the host, a rule of the
    /// line or a supervisor set it; see [`priority`](crate::priority)).
    #[serde(default)]
    pub priority: crate::priority::Priority,
}

impl Session {
    /// A freshly opened, queued session (as a store creates it).
    pub fn opened(id: SessionId, line: LineId, contact: ContactId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            line,
            contact,
            status: SessionStatus::Queued,
            reason: RouteReason::New,
            version: 1,
            last_seq: 0,
            opened_at: now,
            updated_at: now,
            closed_at: None,
            sla: None,
            priority: crate::priority::Priority::Normal,
        }
    }

    /// The assigned operator, if any.
    pub fn operator(&self) -> Option<&UserId> {
        self.status.operator()
    }

    /// Whether the session is open.
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}

/// An open session as a supervisor sees it on the line's board: the
/// session and the times that tell how long its client has waited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionOverview {
    /// The session (status, operator, version…).
    pub session: Session,
    /// Since when the client has waited for an answer: the time of the
    /// first client message after the last message to the client; `None`
    /// when the last client message has been answered (or there is none).
    pub waiting_since: Option<DateTime<Utc>>,
    /// When the client last wrote.
    pub last_client_message_at: Option<DateTime<Utc>>,
    /// When an operator (or the system) last wrote to the client.
    pub last_operator_message_at: Option<DateTime<Utc>>,
}

impl SessionOverview {
    /// Builds an overview (used by stores).
    pub fn new(
        session: Session,
        waiting_since: Option<DateTime<Utc>>,
        last_client_message_at: Option<DateTime<Utc>>,
        last_operator_message_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            session,
            waiting_since,
            last_client_message_at,
            last_operator_message_at,
        }
    }
}
