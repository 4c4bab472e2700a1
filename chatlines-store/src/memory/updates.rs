//! Messenger updates to stored messages (edits, reactions, statuses).

use super::state::State;
use chatlines_core::machine;
use chatlines_core::{ExternalRef, MessageUpdate, UpdateOutcome};

impl State {
    pub(super) fn update_message(&mut self, update: &MessageUpdate) -> UpdateOutcome {
        let key = ExternalRef {
            source: update.source,
            message_id: update.external_message_id.clone(),
        };
        let Some(id) = self
            .external
            .get(&key, &self.messages)
            .or_else(|| self.sent_external.get(&key).copied())
        else {
            return UpdateOutcome::UnknownMessage;
        };
        let Some(message) = self.messages.get(&id) else {
            return UpdateOutcome::UnknownMessage;
        };
        let state = self.message_states.get(&id).cloned().unwrap_or_default();
        match machine::message_update(message, &state, update) {
            None => UpdateOutcome::Unchanged { message: id },
            Some((state, events)) => {
                self.message_states.insert(id, state.clone());
                self.log(events, update.now);
                UpdateOutcome::Applied { message: id, state }
            }
        }
    }
}
