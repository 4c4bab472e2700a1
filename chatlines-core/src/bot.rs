//! The bot stage: a line may put its new sessions first with a bot.
//!
//! A line with [`BotSettings`] ([`LineConfig::bot`](crate::LineConfig::bot))
//! on a hub built with a [`Bot`] ([`HubBuilder::bot`](crate::HubBuilder::bot))
//! puts every new session in the [`SessionStatus::Bot`](crate::SessionStatus::Bot)
//! state: it is neither queued nor offered. Every client message in that
//! state is stored first, then:
//!
//! 1. when it holds one of the line's hand-over keywords, the session is
//!    handed over at once (the bot is not asked);
//! 2. otherwise the bot is asked and its [`BotDecision`] is carried out:
//!    its reply is stored with [`Author::Bot`](crate::Author::Bot) and
//!    delivered like an operator's reply (through the outbox), or the
//!    session is handed over, or closed, or nothing happens (wait);
//! 3. a bot error, or a reply the hub cannot store (empty, too long),
//!    hands the session over; the error is logged with `tracing`. The
//!    client's message is never lost and the session never stalls.
//!
//! With [`TimerSettings::bot_timeout_secs`](crate::TimerSettings::bot_timeout_secs),
//! a session still with the bot that long after it entered the stage is
//! handed over by a durable [`TimerKind::BotTimeout`](crate::TimerKind::BotTimeout)
//! timer ([`Hub::run_due`](crate::Hub::run_due)).
//!
//! A hand-over logs [`SessionHandedOver`](crate::Event::SessionHandedOver)
//! and the line's routing rule routes the session
//! ([`RouteReason::HandedOver`](crate::RouteReason::HandedOver)). The
//! operator who gets it reads the whole transcript in
//! [`Hub::messages`](crate::Hub::messages).

use crate::error::BoxError;
use crate::line::Line;
use crate::message::{Body, Message};
use crate::session::Session;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The most hand-over keywords a line may set.
pub const MAX_KEYWORDS: usize = 50;
/// The longest hand-over keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 100;
/// How many of the session's last messages a [`BotTurn`] carries.
pub const TRANSCRIPT_MESSAGES: usize = 50;

/// A line's bot stage: on when set ([`LineConfig::bot`](crate::LineConfig::bot)).
///
/// ```
/// use chatlines_core::{BotSettings, LineConfig};
/// let config = LineConfig::new("Desk")
///     .operators("ops")
///     .bot(BotSettings::new().keywords(["operator", "human"]))
///     .bot_timeout(std::time::Duration::from_secs(600));
/// assert_eq!(config.bot.as_ref().map(|b| b.keywords.len()), Some(2));
/// assert_eq!(config.timers.bot_timeout_secs, Some(600));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BotSettings {
    /// Words a client writes to reach a person: a client message holding
    /// one (as a whole word or phrase, ignoring case) hands the session
    /// over before the bot is asked.
    pub keywords: Vec<String>,
    /// The name clients see on the bot's messages (default: the line's
    /// name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl BotSettings {
    /// A bot stage without keywords.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the hand-over keywords.
    pub fn keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the name clients see on the bot's messages.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The first keyword `text` holds, if any: as a whole word or phrase,
    /// ignoring case (so `operator` matches "Operator, please!" but not
    /// "cooperators").
    ///
    /// ```
    /// use chatlines_core::BotSettings;
    /// let bot = BotSettings::new().keywords(["operator", "real person"]);
    /// assert_eq!(bot.keyword_in("Operator, please!"), Some("operator"));
    /// assert_eq!(bot.keyword_in("a REAL  person?"), None);
    /// assert_eq!(bot.keyword_in("a real person?"), Some("real person"));
    /// assert_eq!(bot.keyword_in("we are cooperators"), None);
    /// ```
    pub fn keyword_in(&self, text: &str) -> Option<&str> {
        let text = text.to_lowercase();
        self.keywords
            .iter()
            .find(|k| holds_phrase(&text, &k.trim().to_lowercase()))
            .map(String::as_str)
    }
}

/// Whether `text` holds `phrase` bounded by non-alphanumeric characters
/// (or the ends).
fn holds_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        bounded(before) && bounded(after)
    })
}

/// What the hub asks the bot: one client message of a session with the
/// bot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BotTurn {
    /// The line.
    pub line: Line,
    /// The session (in the bot state).
    pub session: Session,
    /// The client's message, as stored.
    pub message: Message,
    /// The session's last messages, oldest first, this one included (at
    /// most [`TRANSCRIPT_MESSAGES`]).
    pub transcript: Vec<Message>,
}

impl BotTurn {
    /// A turn (the hub builds them; also for bots' tests).
    pub fn new(line: Line, session: Session, message: Message, transcript: Vec<Message>) -> Self {
        Self {
            line,
            session,
            message,
            transcript,
        }
    }
}

/// What the bot decided about a client message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BotDecision {
    /// Answer the client (stored with [`Author::Bot`](crate::Author::Bot),
    /// delivered like a reply); the session stays with the bot.
    Reply {
        /// The answer.
        body: Body,
    },
    /// Hand the session to the line's routing rule.
    HandOver {
        /// Why, for the operator and the event log.
        #[serde(default)]
        reason: String,
    },
    /// Close the session (the client's question is answered).
    Close,
    /// Do nothing now; the session stays with the bot.
    Wait,
}

impl BotDecision {
    /// A text reply.
    pub fn reply(text: impl Into<String>) -> Self {
        BotDecision::Reply {
            body: Body::text(text),
        }
    }

    /// A hand-over with a reason.
    pub fn hand_over(reason: impl Into<String>) -> Self {
        BotDecision::HandOver {
            reason: reason.into(),
        }
    }
}

/// The bot a line's sessions meet first: implemented by the host (or an
/// external bot over HTTP, `chatlines_connectors::bot`).
///
/// ```
/// use chatlines_core::{Bot, BotDecision, BotTurn, BoxError};
/// struct Echo;
/// #[async_trait::async_trait]
/// impl Bot for Echo {
///     async fn answer(&self, turn: BotTurn) -> Result<BotDecision, BoxError> {
///         Ok(BotDecision::reply(format!("You said: {}", turn.message.body.text)))
///     }
/// }
/// ```
#[async_trait]
pub trait Bot: Send + Sync {
    /// Decides about one client message. An error hands the session over
    /// (and is logged); it never loses the client's message.
    async fn answer(&self, turn: BotTurn) -> Result<BotDecision, BoxError>;
}
