//! A small FAQ bot for lines with the bot stage (`bot = { ... }` in a
//! line of the configuration): it answers a question holding one of the
//! line's FAQ keys with its answer, and hands anything else over to the
//! line's operators. The line's hand-over keywords (default `operator`)
//! reach a person without asking the bot.

use async_trait::async_trait;
use chatlines_core::{Bot, BotDecision, BotSettings, BotTurn, BoxError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A line's bot stage in the configuration, e.g.
/// `bot = { keywords = ["operator"], timeout_secs = 600, answers = { hours = "We are open 9 to 18." } }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSpec {
    /// Words that hand the session over to a person at once (default
    /// `["operator"]`).
    #[serde(default = "default_keywords")]
    pub keywords: Vec<String>,
    /// Seconds after which a session still with the bot is handed over;
    /// never when absent.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The name clients see on the bot's answers (default: the line's).
    #[serde(default)]
    pub name: Option<String>,
    /// The FAQ: a key word (or phrase) -> its answer.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

fn default_keywords() -> Vec<String> {
    vec!["operator".to_owned()]
}

impl BotSpec {
    /// The line's bot settings.
    pub fn settings(&self) -> BotSettings {
        let settings = BotSettings::new().keywords(self.keywords.iter().cloned());
        match &self.name {
            Some(name) => settings.name(name.as_str()),
            None => settings,
        }
    }
}

/// The FAQ bot of every line with a bot stage, by line name.
#[derive(Clone, Debug, Default)]
pub struct FaqBot {
    faqs: BTreeMap<String, BotSettings>,
    answers: BTreeMap<String, Vec<(BotSettings, String)>>,
}

impl FaqBot {
    /// A bot answering each named line's FAQ.
    pub fn new<'a>(lines: impl IntoIterator<Item = (&'a str, &'a BotSpec)>) -> Self {
        let mut bot = Self::default();
        for (line, spec) in lines {
            bot.faqs.insert(line.to_owned(), spec.settings());
            // Each key matched as a whole word or phrase, as keywords are.
            let answers = spec
                .answers
                .iter()
                .map(|(key, answer)| (BotSettings::new().keywords([key.as_str()]), answer.clone()))
                .collect();
            bot.answers.insert(line.to_owned(), answers);
        }
        bot
    }

    /// Whether any line has a bot stage.
    pub fn is_empty(&self) -> bool {
        self.faqs.is_empty()
    }

    /// The answer to `text` on `line`, if the FAQ has one.
    pub fn answer_to(&self, line: &str, text: &str) -> Option<&str> {
        self.answers
            .get(line)?
            .iter()
            .find(|(key, _)| key.keyword_in(text).is_some())
            .map(|(_, answer)| answer.as_str())
    }
}

#[async_trait]
impl Bot for FaqBot {
    async fn answer(&self, turn: BotTurn) -> Result<BotDecision, BoxError> {
        let line = turn.line.config.name.as_str();
        Ok(match self.answer_to(line, &turn.message.body.text) {
            Some(answer) => BotDecision::reply(answer),
            None => BotDecision::hand_over("no answer in the FAQ"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_key_and_hands_over_the_rest() {
        let spec: BotSpec = toml::from_str(
            r#"answers = { hours = "9 to 18", "opening hours" = "see hours", price = "10 EUR" }"#,
        )
        .expect("spec");
        assert_eq!(spec.keywords, vec!["operator".to_owned()]);
        let bot = FaqBot::new([("Support", &spec)]);
        assert_eq!(bot.answer_to("Support", "Your HOURS?"), Some("9 to 18"));
        assert_eq!(
            bot.answer_to("Support", "the price, please"),
            Some("10 EUR")
        );
        assert_eq!(bot.answer_to("Support", "prices"), None);
        assert_eq!(bot.answer_to("Other", "hours"), None);
    }
}
