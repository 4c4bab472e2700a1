//! One page type for every list the [`Hub`](crate::Hub) returns.
//!
//! A list call takes a [`PageRequest`] (where to start and how many) and
//! returns a [`Page`]: the items and, when more follow, an opaque
//! [`PageToken`] to pass back for the next page. A token is only meaningful
//! to the list that issued it; a token of another list (or a damaged one) is
//! refused as [`Error::Invalid`].
//!
//! ```
//! use chatlines_core::{PageRequest, MAX_PAGE};
//! let first = PageRequest::first(20);
//! assert_eq!(first.limit(), 20);
//! // Limits are kept between 1 and MAX_PAGE.
//! assert_eq!(PageRequest::first(0).limit(), 1);
//! assert_eq!(PageRequest::first(1_000_000).limit(), MAX_PAGE);
//! ```

use crate::error::Error;
use crate::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most items one page holds; larger requests are cut to this.
pub const MAX_PAGE: usize = 500;

/// Where the next page of a list starts. Opaque: pass it back as it is
/// (as a string through an API: [`as_str`](Self::as_str) and
/// [`PageToken::from`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageToken(String);

impl PageToken {
    /// The token as text, to hand to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PageToken {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for PageToken {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Display for PageToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which page of a list to read: from the start or after a token, and at
/// most how many items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct PageRequest {
    token: Option<PageToken>,
    limit: usize,
}

impl PageRequest {
    /// The first page, `limit` items at most (kept within 1..=[`MAX_PAGE`]).
    pub fn first(limit: usize) -> Self {
        Self {
            token: None,
            limit: limit.clamp(1, MAX_PAGE),
        }
    }

    /// The page after `token`, `limit` items at most.
    pub fn after(token: PageToken, limit: usize) -> Self {
        Self {
            token: Some(token),
            ..Self::first(limit)
        }
    }

    /// From a token that may be absent (as an API query parameter is).
    pub fn from_parts(token: Option<PageToken>, limit: usize) -> Self {
        Self {
            token,
            ..Self::first(limit)
        }
    }

    /// The most items the page holds.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The token the page starts after, if any.
    pub fn token(&self) -> Option<&PageToken> {
        self.token.as_ref()
    }

    pub(crate) fn position(&self, list: &'static str) -> Result<Option<Position>, Error> {
        self.token
            .as_ref()
            .map(|t| Position::decode(t, list))
            .transpose()
    }
}

impl Default for PageRequest {
    /// The first page of 50 items.
    fn default() -> Self {
        Self::first(50)
    }
}

/// A page of a list, in the list's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` at the end of the list.
    pub next: Option<PageToken>,
}

impl<T> Page<T> {
    /// A page (used by the hub and by hosts that wrap a list).
    pub fn new(items: Vec<T>, next: Option<PageToken>) -> Self {
        Self { items, next }
    }

    /// An empty last page.
    pub fn empty() -> Self {
        Self::new(Vec::new(), None)
    }

    /// The request for the next page with the same limit, `None` at the end.
    pub fn next_request(&self, limit: usize) -> Option<PageRequest> {
        self.next.clone().map(|t| PageRequest::after(t, limit))
    }
}

/// What a token holds: the last item of the page it ended, per kind of list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// A message list: after this sequence number.
    Seq(u64),
    /// A conversation across sessions: after `seq` in `session`.
    SessionSeq(SessionId, u64),
    /// A session list: after this session in the list's order.
    Session(SessionId),
    /// A list of users: after this user id.
    User(UserId),
}

impl Position {
    /// The token of this position in the list named `list`.
    pub(crate) fn token(&self, list: &'static str) -> PageToken {
        let body = match self {
            Position::Seq(seq) => format!("q{seq}"),
            Position::SessionSeq(s, seq) => format!("c{}.{seq}", s.0.simple()),
            Position::Session(s) => format!("s{}", s.0.simple()),
            Position::User(u) => format!("u{}", hex(u.as_str().as_bytes())),
        };
        PageToken(format!("{list}.{body}"))
    }

    fn decode(token: &PageToken, list: &'static str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                "page",
                "the page token was not issued by this list; start again from the first page",
            )
        };
        let body = token
            .0
            .strip_prefix(list)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(bad)?;
        let (kind, rest) = body.split_at_checked(1).ok_or_else(bad)?;
        let uuid = |s: &str| Uuid::try_parse(s).map_err(|_| bad());
        let seq = |s: &str| s.parse::<u64>().map_err(|_| bad());
        Ok(match kind {
            "q" => Position::Seq(seq(rest)?),
            "c" => {
                let (session, n) = rest.split_once('.').ok_or_else(bad)?;
                Position::SessionSeq(SessionId(uuid(session)?), seq(n)?)
            }
            "s" => Position::Session(SessionId(uuid(rest)?)),
            "u" => {
                let bytes = unhex(rest).ok_or_else(bad)?;
                let user = String::from_utf8(bytes).map_err(|_| bad())?;
                Position::User(UserId::new(user))
            }
            _ => return Err(bad()),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_list_only() {
        let session = SessionId(Uuid::now_v7());
        for p in [
            Position::Seq(7),
            Position::SessionSeq(session, 3),
            Position::Session(session),
            Position::User(UserId::new("ann:ö.1")),
        ] {
            let t = p.token("x");
            assert_eq!(Position::decode(&t, "x").ok(), Some(p));
            assert!(Position::decode(&t, "y").is_err());
        }
        for junk in [
            "", "x", "x.", "x.q", "x.qa", "x.sZZ", "x.u0", "x.c1.2", "x.z1",
        ] {
            assert!(
                Position::decode(&PageToken::from(junk), "x").is_err(),
                "{junk}"
            );
        }
    }
}
