//! The connector conformance suite, for any [`Messenger`] (feature
//! `testkit`).
//!
//! Written once, run against every connector: parse a text message with a
//! stable idempotency key, refuse bad authentication and malformed bodies,
//! send a text, and map the messenger's rate-limit and server-error answers
//! and refused connections to the right [`SendError`](chatlines_core::SendError),
//! without secrets in errors. A connector crate implements
//! [`ConnectorHarness`] (which knows the messenger's wire format) and calls
//! [`connector_conformance_tests!`](crate::connector_conformance_tests); the
//! macro expands to one `#[test]` per case, so a failure names the test
//! file and the case. Sends go to a [`MockApi`] on 127.0.0.1 that answers
//! what the harness scripts.
//!
//! ```
//! use chatlines_connectors::generic::{self, GenericConfig, GenericWebhook};
//! use chatlines_connectors::signing::signature_header;
//! use chatlines_connectors::testkit::{ConnectorHarness, MockReply};
//! use chatlines_core::Messenger;
//! use std::sync::Arc;
//!
//! struct Generic;
//! impl ConnectorHarness for Generic {
//!     fn build(&self, api_base: &str) -> Arc<dyn Messenger> {
//!         Arc::new(GenericWebhook::new(GenericConfig::new("SECRET-Y", format!("{api_base}/out"))).unwrap())
//!     }
//!     fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8> {
//!         serde_json::json!({"messages": [{"id": id, "user": user, "text": text}]}).to_string().into_bytes()
//!     }
//!     fn authenticate(&self, body: &[u8]) -> Vec<(String, String)> {
//!         let ts = chrono::Utc::now().timestamp().to_string();
//!         vec![
//!             (generic::SIGNATURE_HEADER.to_owned(), signature_header(b"SECRET-Y", &[ts.as_bytes(), b".", body])),
//!             (generic::TIMESTAMP_HEADER.to_owned(), ts),
//!         ]
//!     }
//!     fn sent(&self) -> MockReply { MockReply::json(200, serde_json::json!({"id": "g-1"})) }
//!     fn rate_limited(&self) -> MockReply { MockReply::status(429).header("retry-after", "3") }
//!     fn secrets(&self) -> Vec<String> { vec!["SECRET-Y".to_owned()] }
//! }
//!
//! // In a test file this is `chatlines_connectors::connector_conformance_tests!(Generic);`
//! chatlines_connectors::testkit::run_case("sends_a_text", &Generic, |h| {
//!     Box::pin(chatlines_connectors::testkit::cases::sends_a_text(h))
//! });
//! ```

pub mod cases;
mod mock;

pub use mock::{dead_url, MockApi, MockReply, RecordedRequest};

use chatlines_core::Messenger;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Headers of a webhook request, as `(name, value)`.
pub type Headers = Vec<(String, String)>;

/// What the suite needs to know about one connector: how to build it
/// against a local API, and the messenger's wire format.
pub trait ConnectorHarness: Send + Sync {
    /// The connector, sending to `api_base` (a [`MockApi`] URL, or a dead
    /// address).
    fn build(&self, api_base: &str) -> Arc<dyn Messenger>;
    /// A webhook body holding one text message `text` with the messenger's
    /// message id `id` from user `user` (both numeric strings, so that
    /// messengers with numeric ids can use them), in the user's private
    /// conversation.
    fn text_body(&self, id: &str, user: &str, text: &str) -> Vec<u8>;
    /// Headers that authenticate `body` (secret token, signature…).
    fn authenticate(&self, body: &[u8]) -> Headers;
    /// The API's answer to a successful send.
    fn sent(&self) -> MockReply;
    /// The API's rate-limit answer.
    fn rate_limited(&self) -> MockReply;
    /// Secrets that must never show in errors or `Debug` output.
    fn secrets(&self) -> Vec<String>;
    /// Whether the authentication covers the body (a signature), so that
    /// headers made for another body are refused. A shared secret token
    /// (Telegram's) does not; then only missing authentication is checked.
    fn signs_the_body(&self) -> bool {
        true
    }
}

/// A case: an async function of the harness.
pub type Case<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs one case with `harness` on a new current-thread Tokio runtime
/// (with I/O and time), as [`connector_conformance_tests!`](crate::connector_conformance_tests)
/// does for each case.
///
/// # Panics
///
/// When the case fails (that is how a test fails), or when no runtime can
/// be built.
pub fn run_case<H, F>(name: &str, harness: &H, case: F)
where
    H: ConnectorHarness,
    F: for<'a> FnOnce(&'a dyn ConnectorHarness) -> Case<'a>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("{name}: cannot build a Tokio runtime: {e}"),
    };
    runtime.block_on(case(harness));
}

/// Expands to one `#[test]` per conformance case, each running it with the
/// given harness (an expression of a type implementing
/// [`ConnectorHarness`](crate::testkit::ConnectorHarness)):
///
/// ```ignore
/// // tests/conformance.rs of a messenger crate
/// struct MyHarness;
/// impl chatlines_connectors::testkit::ConnectorHarness for MyHarness { /* … */ }
/// chatlines_connectors::connector_conformance_tests!(MyHarness);
/// ```
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
macro_rules! connector_conformance_tests {
    ($harness:expr) => {
        $crate::connector_conformance_tests!(@cases $harness;
            parses_a_text_message,
            refuses_bad_authentication,
            refuses_malformed_bodies,
            sends_a_text,
            maps_rate_limits,
            maps_server_errors_and_refused_connections,
            declares_text,
            hides_secrets_in_parse_errors,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::run_case(stringify!($case), &$harness, |h| {
                    ::std::boxed::Box::pin($crate::testkit::cases::$case(h))
                });
            }
        )*
    };
}
