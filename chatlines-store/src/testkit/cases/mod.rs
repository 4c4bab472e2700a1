//! The cases of the conformance suite, one `async fn(Arc<dyn Store>)` each.
//!
//! Every case expects a fresh, empty store, panics with a message naming
//! what broke, and uses only the [`Store`](chatlines_core::Store) trait.

mod apps;
mod bot_stage;
mod concurrency;
mod events;
mod inactivity;
mod lines;
mod lists;
mod media;
mod messages;
mod no_answer;
mod offline;
mod outbox;
mod priority;
mod roster;
mod sessions;
mod sla;
mod timers;
mod updates;
mod wrap_up;

pub use apps::*;
pub use bot_stage::*;
pub use concurrency::*;
pub use events::*;
pub use inactivity::*;
pub use lines::*;
pub use lists::*;
pub use media::*;
pub use messages::*;
pub use no_answer::*;
pub use offline::*;
pub use outbox::{
    outbox_claim_and_lease, outbox_claims_each_chats_head_in_order, outbox_keeps_a_substitute,
    outbox_retry_then_fail,
};
pub use priority::*;
pub use roster::*;
pub use sessions::*;
pub use sla::*;
pub use timers::*;
pub use updates::*;
pub use wrap_up::*;
