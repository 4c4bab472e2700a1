//! Errors: one enum for the Hub, one for stores, one for host ports.
//!
//! Every error says what went wrong and, through [`Error::is_retryable`],
//! whether trying again may help.

use crate::ids::{AppId, SessionId, UserId};
use crate::validation::LineProblems;

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
        state: &'static str,
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
    Backend(BoxError),
}

impl StoreError {
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
        state: &'static str,
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
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Store(e) => e.is_retryable(),
            Error::Port { source, .. } => matches!(source, PortError::Unavailable(_)),
            _ => false,
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
                state: "closed",
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
