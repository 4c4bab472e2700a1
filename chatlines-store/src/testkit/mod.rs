//! The conformance suite: the [`Store`] contract made executable
//! (feature `testkit`).
//!
//! Written once, run against every store. A backend's test file calls
//! [`store_conformance_tests!`](crate::store_conformance_tests) with an
//! async function that returns a fresh, empty store; the macro expands to
//! one `#[test]` per case, so a failure names the backend's test file and
//! the case:
//!
//! ```ignore
//! // tests/memory.rs
//! async fn fresh_store() -> chatlines_store::MemoryStore {
//!     chatlines_store::MemoryStore::new()
//! }
//! chatlines_store::store_conformance_tests!(fresh_store);
//! ```
//!
//! A backend that needs a server and may be absent (PostgreSQL without
//! `CHATLINES_PG_URL`) returns `Option<S>` and uses the `optional:` form;
//! `None` skips the case with a note on stderr, or fails it when
//! `CHATLINES_REQUIRE_PG` is set (as CI does):
//!
//! ```ignore
//! async fn fresh_store() -> Option<chatlines_store::PostgresStore> { /* … */ }
//! chatlines_store::store_conformance_tests!(optional: fresh_store);
//! ```
//!
//! Each case runs on its own multi-threaded Tokio runtime (two workers), so
//! the concurrency cases really run calls in parallel. Every case needs its
//! own empty store: a temporary file per SQLite case, a fresh schema or
//! database per PostgreSQL case.
//!
//! What the suite pins beyond the trait's doc comments, so that every store
//! answers alike:
//!
//! * `NotFound`/`AlreadyExists` name the record as `"line"`, `"source"`,
//!   `"session"`, …;
//! * a refused session change is `InvalidState` with the session's state
//!   name (`"queued"`, `"offered"`, `"assigned"`, `"closed"`); a `Route` of
//!   a session that is not queued at the expected version is `Conflict`;
//! * `messages` of an unknown session is an empty page;
//! * `replace_roster`/`set_eligible` on an unknown line succeed and write
//!   nothing;
//! * appending a message changes `last_seq` but not the session `version`;
//! * a lost outbox lease (or a finished entry) is `Conflict`.
//!
//! Durability across a restart needs the backend's own close-and-reopen
//! step, so it is not in the macro: persistent stores call
//! [`durability::write_acknowledged`] and [`durability::check_acknowledged`]
//! around it.

pub mod cases;
pub mod durability;
pub mod fixtures;

use chatlines_core::Store;
use std::future::Future;
use std::sync::Arc;

/// A store as the cases take it.
pub type SharedStore = Arc<dyn Store>;

/// Runs one case on a fresh store from `fresh`, on a new multi-threaded
/// runtime. `fresh` returning `None` skips the case (with a note on
/// stderr; a failure when `CHATLINES_REQUIRE_PG` is set). Called by
/// [`store_conformance_tests!`](crate::store_conformance_tests).
///
/// # Panics
///
/// When the case fails (that is how a test fails), or when no runtime can
/// be built.
pub fn run_case<Fresh, FreshFut, Case, CaseFut>(name: &str, fresh: Fresh, case: Case)
where
    Fresh: FnOnce() -> FreshFut,
    FreshFut: Future<Output = Option<SharedStore>>,
    Case: FnOnce(SharedStore) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("{name}: cannot build a Tokio runtime: {e}"),
    };
    runtime.block_on(async move {
        match fresh().await {
            Some(store) => case(store).await,
            None => skipped(name),
        }
    });
}

/// Reports a skipped case, or fails it when `CHATLINES_REQUIRE_PG` is set
/// (CI sets it: there a skipped backend is a broken setup, not a pass).
#[allow(clippy::print_stderr)] // a skipped test must say so where tests report
fn skipped(name: &str) {
    let required = std::env::var("CHATLINES_REQUIRE_PG").is_ok_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("{name}: the backend is not available but CHATLINES_REQUIRE_PG is set");
    }
    eprintln!("skipped {name}: the backend is not available (see its fresh_store)");
}

/// Expands to one `#[test]` per conformance case, each calling the given
/// async function for a fresh store.
///
/// * `store_conformance_tests!(fresh_store)` — `async fn fresh_store() -> S`
///   where `S: Store + 'static`;
/// * `store_conformance_tests!(optional: fresh_store)` — returns
///   `Option<S>`; `None` skips.
///
/// See the [`testkit`](crate::testkit) module for the rules cases rely on.
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
macro_rules! store_conformance_tests {
    (optional: $fresh:path) => {
        $crate::store_conformance_tests!(@list (|| async {
            $fresh()
                .await
                .map(|s| ::std::sync::Arc::new(s) as $crate::testkit::SharedStore)
        }));
    };
    ($fresh:path) => {
        $crate::store_conformance_tests!(@list (|| async {
            ::std::option::Option::Some(
                ::std::sync::Arc::new($fresh().await) as $crate::testkit::SharedStore,
            )
        }));
    };
    (@list $fresh:tt) => {
        $crate::store_conformance_tests!(@cases $fresh;
            line_insert_get_list,
            line_update_is_guarded_by_version,
            line_delete_cascades,
            source_bind_and_unbind,
            inbound_opens_session_and_contact,
            inbound_to_unknown_line_writes_nothing,
            inbound_is_idempotent_by_external_ref,
            inbound_keeps_the_messengers_send_time,
            inbound_after_close_opens_new_session,
            contact_keys_are_distinct,
            messages_page_by_cursor,
            outbound_writes_message_and_outbox,
            outbound_refused_writes_nothing,
            route_plans_are_guarded,
            take_first_come,
            assign_and_transfer,
            close_rules,
            session_lists,
            offered_to_spans_eligible_lines,
            assigned_sessions_page,
            line_sessions_board,
            queued_lines_are_the_lines_with_a_queue,
            ineligible_without_entry_writes_nothing,
            roster_replace_and_set,
            round_robin_rotates,
            least_loaded_respects_capacity,
            account_link_put_and_relink,
            requests_insert_and_list,
            outbox_claim_and_lease,
            outbox_retry_then_fail,
            outbox_claims_each_chats_head_in_order,
            outbox_keeps_a_substitute,
            concurrent_takes_have_one_winner,
            concurrent_first_messages_open_one_session,
            concurrent_redeliveries_store_one_message,
            concurrent_routing_respects_capacity,
            concurrent_claims_are_disjoint,
            concurrent_appends_keep_seq_gapless,
            concurrent_round_robin_is_fair,
            concurrent_line_updates_have_one_winner,
            every_change_logs_its_events,
            line_delete_logs_closes,
            event_consumers_keep_their_positions,
            prune_keeps_what_a_consumer_has_not_passed,
            edits_add_revisions_and_revokes_mark,
            edits_by_another_author_change_nothing,
            reactions_are_events_on_the_message,
            delivery_statuses_only_move_forward,
            statuses_need_a_sent_outbound_message,
            media_jobs_written_with_the_message,
            media_claim_and_lease,
            media_stored_marks_available,
            media_retry_then_fail,
            concurrent_media_claims_are_disjoint,
            offer_timeout_arms_and_take_cancels,
            due_timers_fire_once_and_repeat,
            due_timers_counts_the_backlog,
            lost_and_stale_timers_do_nothing,
            line_delete_cancels_timers,
            concurrent_fires_have_one_effect,
            batch_fires_have_one_effect,
            opening_timer_requeues_a_waiting_session_once,
            accept_timeout_moves_on_by_round_robin,
            accept_timeout_least_loaded_and_away,
            accept_timeout_responsible_offers,
            offline_grace_arms_back_cancels_and_fires_once,
            operator_away_at_once_and_refusals,
            wrap_up_holds_the_slot_until_it_fires,
            bot_state_round_trips_and_is_not_offered,
            bot_timeout_hands_over_once,
            sla_clocks_warn_breach_and_stop,
            messages_write_their_follow_ups,
            a_breach_raises_the_priority,
            a_notice_goes_out_with_its_change,
            priority_orders_waiting_sessions,
            inactivity_timers_follow_messages,
            reopen_within_the_window,
            never_answered_escalates_or_closes,
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::run_case(
                    stringify!($case),
                    $fresh,
                    $crate::testkit::cases::$case,
                );
            }
        )*
    };
}
