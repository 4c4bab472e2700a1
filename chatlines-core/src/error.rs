//! Errors: one enum for the Hub, one for stores, one for host ports.
//!
//! Every error says what went wrong and, through [`Error::is_retryable`],
//! whether trying again may help.

use crate::ids::{AppId, SessionId, UserId};
use crate::session::SessionState;
use crate::validation::{FieldProblem, LineProblems};

/// What kind of failure an error is: what a caller (or an HTTP mapping)
/// decides on. Every [`Error`] and [`StoreError`] has one
/// ([`Error::kind`], [`StoreError::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller may not do this (HTTP 403).
    Forbidden,
    /// What the caller named does not exist, or they may not know it does
    /// (HTTP 404).
    NotFound,
    /// The state of a record does not allow the change now: changed
    /// concurrently, already taken, closed (HTTP 409). Re-read, then decide.
    Conflict,
    /// The input is unacceptable; the same request will fail again
    /// (HTTP 400 or 422).
    Invalid,
    /// A temporary failure of the store or a host port: retry later
    /// (HTTP 503).
    Unavailable,
    /// Anything else: a broken setup or a bug (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// A short stable name: `forbidden`, `not_found`, `conflict`,
    /// `invalid`, `unavailable`, `internal`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status code an API answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Invalid => 422,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A boxed error from a backend (database driver, HTTP client…).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a host-provided port ([`Directory`](crate::Directory),
/// [`AppCatalog`](crate::AppCatalog)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The host refused the request (e.g. a form value it does not accept).
    /// Retrying the same request will fail again.
    #[error("rejected by the host: {0}")]
    Rejected(String),
    /// The host could not answer now; retry later.
    #[error("host temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error(transparent)]
    Other(BoxError),
}

/// An error from a [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The record changed since it was read (optimistic concurrency).
    #[error("{what} {id} was changed concurrently (expected version {expected}, found {actual}); re-read and retry")]
    Conflict {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// A first-come `take` lost: the session is no longer up for taking.
    #[error("session {session} is already taken")]
    AlreadyTaken {
        /// The session.
        session: SessionId,
        /// Who has it, when assigned.
        by: Option<UserId>,
    },
    /// The session is not in a state that allows the change.
    #[error("session {session} is {state}; cannot {action}")]
    InvalidState {
        /// The session.
        session: SessionId,
        /// Its state.
        state: SessionState,
        /// What was attempted.
        action: &'static str,
    },
    /// A uniqueness rule was violated (e.g. an id reused).
    #[error("{what} {id} already exists")]
    AlreadyExists {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The store cannot be used as it is (e.g. written by a newer version,
    /// not a database). Nothing was changed; fix the setup.
    #[error("store unusable: {0}")]
    Unusable(String),
    /// A temporary failure (lock timeout, lost connection); retry.
    #[error("store temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else from the backend.
    #[error("store backend error: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Conflict { .. }
            | StoreError::AlreadyTaken { .. }
            | StoreError::InvalidState { .. }
            | StoreError::AlreadyExists { .. } => ErrorKind::Conflict,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Unusable(_) | StoreError::Backend(_) => ErrorKind::Internal,
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Conflict { .. }
        )
    }
}

/// An error from the [`Hub`](crate::Hub).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The acting user may not do this. Nothing changed.
    #[error("forbidden: {user} may not {action}: {reason}")]
    Forbidden {
        /// The actor.
        user: UserId,
        /// What was attempted.
        action: &'static str,
        /// Why not.
        reason: String,
    },
    /// A referenced record does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The record changed since the caller read it; re-read and retry.
    #[error("{what} {id} was changed concurrently (expected version {expected}, found {actual}); re-read and retry")]
    Conflict {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// Another operator took the session first.
    #[error("session {session} is already taken")]
    AlreadyTaken {
        /// The session.
        session: SessionId,
        /// Who has it.
        by: Option<UserId>,
    },
    /// The line configuration is invalid; every problem is listed.
    #[error("invalid line configuration: {0}")]
    InvalidLine(LineProblems),
    /// An input value is unacceptable (empty message, too long, …).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The session is closed.
    #[error("session {session} is closed")]
    SessionClosed {
        /// The session.
        session: SessionId,
    },
    /// The session is not in a state that allows the change.
    #[error("session {session} is {state}; cannot {action}")]
    InvalidState {
        /// The session.
        session: SessionId,
        /// Its state.
        state: SessionState,
        /// What was attempted.
        action: &'static str,
    },
    /// A request cannot be registered before the client's account is linked.
    #[error("session {session}: link the client's account (+ Link) before registering requests")]
    AccountNotLinked {
        /// The session.
        session: SessionId,
    },
    /// The app is not one of the line's request apps.
    #[error("app {app} is not a request app of this line")]
    AppNotOnLine {
        /// The app.
        app: AppId,
    },
    /// The line has no account-linking app.
    #[error("this line has no account-linking application")]
    NoAccountApp,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A host port failed.
    #[error("{port} failed: {source}")]
    Port {
        /// Which port.
        port: &'static str,
        /// The error.
        #[source]
        source: PortError,
    },
}

impl Error {
    /// What kind of failure this is; HTTP mappings derive their status from
    /// it ([`ErrorKind::http_status`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. }
            | Error::AlreadyTaken { .. }
            | Error::SessionClosed { .. }
            | Error::InvalidState { .. }
            | Error::AccountNotLinked { .. } => ErrorKind::Conflict,
            Error::InvalidLine(_)
            | Error::InvalidInput { .. }
            | Error::AppNotOnLine { .. }
            | Error::NoAccountApp => ErrorKind::Invalid,
            Error::Store(e) => e.kind(),
            Error::Port { source, .. } => match source {
                PortError::Rejected(_) => ErrorKind::Invalid,
                PortError::Unavailable(_) => ErrorKind::Unavailable,
                PortError::Other(_) => ErrorKind::Internal,
            },
        }
    }

    /// A short stable name of this failure, finer than its
    /// [`kind`](Self::kind), for a program (a UI, a script) to react to
    /// without reading the message: `forbidden`, `not_found`, `conflict`,
    /// `already_taken`, `invalid_line`, `invalid_input`, `session_closed`,
    /// `invalid_state`, `account_not_linked`, `app_not_on_line`,
    /// `no_account_app`, `port_rejected`, `port_unavailable`, `port_failed`,
    /// or for a store's failure `store_` and the store error's name
    /// (`store_not_found`, `store_conflict`, `store_already_taken`,
    /// `store_invalid_state`, `store_already_exists`, `store_unavailable`,
    /// `store_unusable`, `store_backend`).
    ///
    /// ```
    /// use chatlines_core::{Error, SessionId, UserId};
    /// let e = Error::AlreadyTaken {
    ///     session: SessionId(uuid::Uuid::nil()),
    ///     by: Some(UserId::new("olga")),
    /// };
    /// assert_eq!(e.code(), "already_taken");
    /// assert_eq!(e.kind().name(), "conflict");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::AlreadyTaken { .. } => "already_taken",
            Error::InvalidLine(_) => "invalid_line",
            Error::InvalidInput { .. } => "invalid_input",
            Error::SessionClosed { .. } => "session_closed",
            Error::InvalidState { .. } => "invalid_state",
            Error::AccountNotLinked { .. } => "account_not_linked",
            Error::AppNotOnLine { .. } => "app_not_on_line",
            Error::NoAccountApp => "no_account_app",
            Error::Store(e) => match e {
                StoreError::NotFound { .. } => "store_not_found",
                StoreError::Conflict { .. } => "store_conflict",
                StoreError::AlreadyTaken { .. } => "store_already_taken",
                StoreError::InvalidState { .. } => "store_invalid_state",
                StoreError::AlreadyExists { .. } => "store_already_exists",
                StoreError::Unavailable(_) => "store_unavailable",
                StoreError::Unusable(_) => "store_unusable",
                StoreError::Backend(_) => "store_backend",
            },
            Error::Port { source, .. } => match source {
                PortError::Rejected(_) => "port_rejected",
                PortError::Unavailable(_) => "port_unavailable",
                PortError::Other(_) => "port_failed",
            },
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Store(e) => e.is_retryable(),
            Error::Port { source, .. } => matches!(source, PortError::Unavailable(_)),
            _ => false,
        }
    }

    /// The problems of the input named by the field each concerns, for a
    /// form to show next to its fields: one per [`LineProblem`](crate::LineProblem)
    /// of [`Error::InvalidLine`], one for [`Error::InvalidInput`], none for
    /// any other error.
    ///
    /// ```
    /// use chatlines_core::{Error, LineField, LineProblem, LineProblems};
    /// let e = Error::InvalidLine(LineProblems(vec![LineProblem::NoOperatorsGroup]));
    /// let problems = e.field_problems();
    /// assert_eq!(problems[0].field, LineField::Operators.name());
    /// assert_eq!(problems[0].problem, "no operators group is set");
    /// ```
    pub fn field_problems(&self) -> Vec<FieldProblem> {
        match self {
            Error::InvalidLine(problems) => problems.by_field(),
            Error::InvalidInput { field, reason } => {
                vec![FieldProblem::new(*field, reason.clone(), "invalid")]
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn directory(source: PortError) -> Self {
        Error::Port {
            port: "directory",
            source,
        }
    }

    pub(crate) fn apps(source: PortError) -> Self {
        Error::Port {
            port: "app catalog",
            source,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => Error::NotFound { what, id },
            StoreError::Conflict {
                what,
                id,
                expected,
                actual,
            } => Error::Conflict {
                what,
                id,
                expected,
                actual,
            },
            StoreError::AlreadyTaken { session, by } => Error::AlreadyTaken { session, by },
            StoreError::InvalidState {
                session,
                state: SessionState::Closed,
                ..
            } => Error::SessionClosed { session },
            StoreError::InvalidState {
                session,
                state,
                action,
            } => Error::InvalidState {
                session,
                state,
                action,
            },
            other => Error::Store(other),
        }
    }
}
