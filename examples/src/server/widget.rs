//! The web chat widget's script and a demo page: `/widget.js` (plain
//! JavaScript, embedded with one `<script>` tag, no build step),
//! `/widget.css` (which the script links), and `/demo`, a shop page with
//! the widget of the first `webchat` source. The widget talks to the
//! connector's endpoints under `/webchat/{source}`.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chatlines_core::SourceId;

const SCRIPT: &str = include_str!("widget/widget.js");
const STYLE: &str = include_str!("widget/widget.css");
const DEMO: &str = include_str!("widget/demo.html");

/// The demo page's own scripts, styles and connections only.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'self'";

/// A script or style any site may load (it is public and embeds the
/// widget there).
fn public_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

fn demo(source: Option<SourceId>) -> Response {
    let Some(source) = source else {
        return (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no web chat widget is configured: add a source with \
             connector = { kind = \"webchat\", secret_env = \"...\" }",
        )
            .into_response();
    };
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-cache"),
        ],
        DEMO.replace("{{SOURCE}}", &source.to_string()),
    )
        .into_response()
}

/// `/widget.js`, `/widget.css` and `/demo` (showing the widget of
/// `demo_source`; 404 without one).
pub fn router(demo_source: Option<SourceId>) -> Router {
    Router::new()
        .route(
            "/widget.js",
            get(|| async { public_asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/widget.css",
            get(|| async { public_asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/demo", get(move || async move { demo(demo_source) }))
}
