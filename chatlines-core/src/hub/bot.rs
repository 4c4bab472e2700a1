//! The bot stage: new sessions of a line with a bot, and each client
//! message while a session is with it (see [`crate::bot`]).

use super::Hub;
use crate::bot::{BotDecision, BotTurn, TRANSCRIPT_MESSAGES};
use crate::error::{Error, StoreError};
use crate::line::Line;
use crate::message::{Author, Cursor, Message};
use crate::session::{HandOverReason, Session, SessionStatus};
use crate::store::Transition;

/// The longest hand-over note kept from a bot, in characters.
const MAX_NOTE_CHARS: usize = 500;

impl Hub {
    /// A session a client's message just opened: with the line's bot when
    /// the line has the bot stage and this hub a bot, otherwise routed.
    pub(crate) async fn open_session(
        &self,
        session: Session,
        message: &Message,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        let Some(line) = self.line_for(line, session.line).await? else {
            return Ok(session);
        };
        let line: &Line = &line;
        if line.config.bot.is_none() || self.inner.bot.is_none() {
            if line.config.bot.is_some() {
                tracing::warn!(line = %line.id, "the line has a bot stage but the hub no bot; routing");
            }
            return self.route_session(session, Some(line)).await;
        }
        let store = &self.inner.store;
        let change = Transition::ToBot {
            expected_version: session.version,
        };
        let with_bot = match store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(s) => s,
            Err(StoreError::Conflict { .. }) => {
                tracing::debug!(session = %session.id, "session routed concurrently");
                return Ok(store.session(session.id).await?.unwrap_or(session));
            }
            Err(e) => return Err(e.into()),
        };
        self.bot_turn(with_bot, message, Some(line)).await
    }

    /// A client message in a session with the bot: a hand-over keyword
    /// hands it over; otherwise the bot decides, and its decision is
    /// carried out. A bot error (or an unusable answer) hands it over.
    pub(crate) async fn bot_turn(
        &self,
        session: Session,
        message: &Message,
        line: Option<&Line>,
    ) -> Result<Session, Error> {
        let Some(line) = self.line_for(line, session.line).await? else {
            return Ok(session);
        };
        let line: &Line = &line;
        let (Some(settings), Some(bot)) = (&line.config.bot, &self.inner.bot) else {
            return self.hand_over(session, HandOverReason::NoBot, line).await;
        };
        if let Some(keyword) = settings.keyword_in(&message.body.text) {
            let reason = HandOverReason::Keyword {
                keyword: keyword.to_owned(),
            };
            return self.hand_over(session, reason, line).await;
        }
        let transcript = self
            .inner
            .store
            .messages(session.id, Cursor::End, TRANSCRIPT_MESSAGES)
            .await?;
        let turn = BotTurn::new(line.clone(), session.clone(), message.clone(), transcript);
        let decision = match bot.answer(turn).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "the bot failed; handing the session over");
                let reason = HandOverReason::BotError {
                    error: short(&e.to_string()),
                };
                return self.hand_over(session, reason, line).await;
            }
        };
        match decision {
            BotDecision::Reply { body } => {
                if let Err(e) = self.check_body(&body) {
                    tracing::warn!(session = %session.id, error = %e, "the bot's reply is unusable; handing the session over");
                    let reason = HandOverReason::BotError {
                        error: short(&format!("unusable reply: {e}")),
                    };
                    return self.hand_over(session, reason, line).await;
                }
                match self
                    .write_to_client(&session, Author::Bot, body, None)
                    .await
                {
                    Ok(_) => Ok(self
                        .inner
                        .store
                        .session(session.id)
                        .await?
                        .unwrap_or(session)),
                    // Handed over or closed meanwhile: the answer is late.
                    Err(Error::InvalidState { .. } | Error::SessionClosed { .. }) => {
                        tracing::debug!(session = %session.id, "the bot answered a session no longer with it");
                        Ok(self
                            .inner
                            .store
                            .session(session.id)
                            .await?
                            .unwrap_or(session))
                    }
                    Err(e) => Err(e),
                }
            }
            BotDecision::HandOver { reason } => {
                let reason = HandOverReason::Bot {
                    note: short(&crate::validation::clean_metadata(&reason)),
                };
                self.hand_over(session, reason, line).await
            }
            BotDecision::Close => {
                let close = Transition::Close { by_operator: None };
                match self
                    .inner
                    .store
                    .transition(session.id, close, self.inner.clock.now())
                    .await
                {
                    Ok(closed) => Ok(closed),
                    Err(StoreError::InvalidState { .. }) => Ok(self
                        .inner
                        .store
                        .session(session.id)
                        .await?
                        .unwrap_or(session)),
                    Err(e) => Err(e.into()),
                }
            }
            BotDecision::Wait => Ok(session),
        }
    }

    /// Hands a session with the bot over and routes it by the line's rule.
    /// A session no longer with the bot is returned as it is now.
    async fn hand_over(
        &self,
        session: Session,
        reason: HandOverReason,
        line: &Line,
    ) -> Result<Session, Error> {
        let store = &self.inner.store;
        let change = Transition::HandOver { reason };
        match store
            .transition(session.id, change, self.inner.clock.now())
            .await
        {
            Ok(queued) => self.route_session(queued, Some(line)).await,
            Err(StoreError::InvalidState { .. }) => {
                tracing::debug!(session = %session.id, "session left the bot meanwhile");
                Ok(store.session(session.id).await?.unwrap_or(session))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the session is with the bot (for [`after_inbound`](Hub::after_inbound)).
    pub(crate) fn with_bot(session: &Session) -> bool {
        session.status == SessionStatus::Bot
    }
}

/// At most [`MAX_NOTE_CHARS`] characters of `text`.
fn short(text: &str) -> String {
    text.chars().take(MAX_NOTE_CHARS).collect()
}
