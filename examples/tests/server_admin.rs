//! The administrators' API over real HTTP on 127.0.0.1: only
//! administrators configure lines (a line's supervisors edit it), an
//! invalid configuration gets its problems by field and stores nothing,
//! and the bound messenger accounts are listed with their webhooks. Also:
//! the administration page script is served from the binary.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app, Server, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

struct Running {
    base: String,
    server: Server,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// ada administers, olga and oleg operate "Support", sam supervises it.
/// Every password is `pw-<user>`.
async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut passwords = String::from("[auth.passwords]\n");
    for user in ["ada", "olga", "sam"] {
        let hash = password::hash_with(&format!("pw-{user}"), 8, 1).unwrap();
        passwords.push_str(&format!("{user} = {hash:?}\n"));
    }
    let toml = format!(
        r#"
admin = "root"
database = {db:?}
blobs = {blobs:?}
drain_interval_ms = 50
dispatch_poll_ms = 600000

[directory]
admins = ["root", "ada"]
[directory.groups]
support = ["olga", "oleg"]
leads = ["sam"]

[[lines]]
name = "Support"
operators = "support"
supervisors = "leads"

[[sources]]
name = "crm"
display_name = "CRM widget"
line = "Support"
connector = {{ kind = "webhook", signing_secret_env = "CRM_SECRET", outbound_url = "http://127.0.0.1:9/out" }}

{passwords}
"#,
        db = dir.path().join("server.db").display().to_string(),
        blobs = dir.path().join("blobs").display().to_string(),
    );
    let config = ServerConfig::from_toml(&toml).unwrap();
    let secrets: BTreeMap<String, String> =
        [("CRM_SECRET".to_owned(), "whsec-admin".to_owned())].into();
    let (app, server) = build_app(&config, &secrets).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        std::future::pending(),
    ));
    Running {
        base: format!("http://{addr}"),
        server,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A signed-in user: the session cookie and the CSRF token.
struct As {
    cookie: String,
    csrf: String,
}

impl Running {
    async fn sign_in(&self, user: &str) -> As {
        let r = self
            .http
            .post(format!("{}/api/auth/sign-in", self.base))
            .json(&json!({ "user": user, "password": format!("pw-{user}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{user} signs in");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = r.json().await.unwrap();
        As {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A request as `who` (with the CSRF token unless `csrf` is false):
    /// the status and the JSON answer (`null` when there is none).
    async fn call(
        &self,
        who: &As,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &who.cookie);
        if csrf {
            r = r.header("x-csrf-token", &who.csrf);
        }
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, who: &As, path: &str) -> (StatusCode, Value) {
        self.call(who, Method::GET, path, None, true).await
    }

    async fn send(&self, who: &As, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(who, method, path, Some(body), true).await
    }

    /// The lines as the administrator lists them.
    async fn lines(&self, admin: &As) -> Vec<Value> {
        let (status, body) = self.get(admin, "/api/admin/lines").await;
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }
}

/// The `(field, code)` pairs of a 422 answer.
fn problems(body: &Value) -> Vec<(String, String)> {
    body["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems in {body}"))
        .iter()
        .map(|p| {
            assert!(
                !p["problem"].as_str().unwrap().is_empty(),
                "a problem says what is wrong: {p}"
            );
            (
                p["field"].as_str().unwrap().to_owned(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect()
}

fn valid_line(name: &str) -> Value {
    json!({
        "name": name,
        "operators": "support",
        "supervisors": "leads",
        "rule": "round_robin",
        "clients": ["group:support", "user:sam"],
        "show_operator_name": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_is_refused_and_nothing_changes() {
    let s = start().await;
    let ada = s.sign_in("ada").await;
    let olga = s.sign_in("olga").await;
    let before = s.lines(&ada).await;
    assert_eq!(before.len(), 1);
    let support = before[0]["id"].as_str().unwrap().to_owned();

    let (status, body) = s.get(&olga, "/api/admin/access").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "administrator": false }))
    );
    let (status, body) = s.get(&ada, "/api/admin/access").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "administrator": true }))
    );

    let (status, body) = s.get(&olga, "/api/admin/lines").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.get(&olga, "/api/admin/sources").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .send(
            &olga,
            Method::POST,
            "/api/admin/lines",
            valid_line("Olga's"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // An invalid configuration from her is refused the same way: she
    // learns nothing about the host's groups and apps.
    let (status, body) = s
        .send(
            &olga,
            Method::POST,
            "/api/admin/lines",
            json!({ "name": "", "operators": "no-such-group" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.get("problems").is_none(), "{body}");
    let mut edit = valid_line("Olga's support");
    edit["version"] = json!(1);
    let (status, body) = s
        .send(
            &olga,
            Method::PUT,
            &format!("/api/admin/lines/{support}"),
            edit,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .call(
            &olga,
            Method::DELETE,
            &format!("/api/admin/lines/{support}?version=1"),
            None,
            true,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Even the administrator changes nothing without the CSRF token.
    let (status, body) = s
        .call(
            &ada,
            Method::POST,
            "/api/admin/lines",
            Some(valid_line("No token")),
            false,
        )
        .await;
    assert_eq!(status, 403, "{body}");

    assert_eq!(s.lines(&ada).await, before);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_line_gets_its_problems_by_field_and_nothing_is_stored() {
    let s = start().await;
    let ada = s.sign_in("ada").await;
    let before = s.lines(&ada).await;

    // Every problem the hub finds, at once, each at its field.
    let (status, body) = s
        .send(
            &ada,
            Method::POST,
            "/api/admin/lines",
            json!({
                "name": "  ",
                "account_app": "no-such-app",
                "rule": "least_loaded",
                "capacity": 0,
                "operators": "ghosts",
                "supervisors": "leads",
                "clients": ["group:nobody", "user:olga"],
            }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["retryable"], false);
    assert_eq!(
        problems(&body),
        pairs(&[
            ("name", "bad_name"),
            ("account_app", "unknown_app"),
            ("capacity", "zero_capacity"),
            ("operators", "unknown_group"),
            ("clients", "unknown_group"),
        ])
    );
    // The message of the whole still reads as before.
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid line configuration: name: must not be empty"),
        "{body}"
    );

    // Problems of the request's shape are named by field too.
    let (status, body) = s
        .send(
            &ada,
            Method::POST,
            "/api/admin/lines",
            json!({
                "name": "Desk",
                "operators": "support",
                "rule": "whoever",
                "clients": ["group:support", "everyone"],
            }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        pairs(&[("rule", "unknown_rule"), ("clients", "bad_client")])
    );
    // Responsible without an account-linking app, and without its field.
    let (status, body) = s
        .send(
            &ada,
            Method::POST,
            "/api/admin/lines",
            json!({ "name": "Desk", "operators": "support", "rule": "responsible" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        pairs(&[("rule", "responsible_without_account_app")])
    );
    assert_eq!(s.lines(&ada).await, before, "nothing was stored");

    // An invalid edit leaves the line as it was.
    let support = before[0]["id"].as_str().unwrap();
    let (status, body) = s
        .send(
            &ada,
            Method::PUT,
            &format!("/api/admin/lines/{support}"),
            json!({ "name": "Support", "version": 1 }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        pairs(&[("operators", "no_operators_group")])
    );
    let (status, body) = s
        .send(
            &ada,
            Method::PUT,
            &format!("/api/admin/lines/{support}"),
            valid_line("Support"),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problems(&body), pairs(&[("version", "missing_version")]));
    assert_eq!(s.lines(&ada).await, before, "nothing was changed");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_edit_then_list_shows_the_change() {
    let s = start().await;
    let ada = s.sign_in("ada").await;

    let (status, created) = s
        .send(
            &ada,
            Method::POST,
            "/api/admin/lines",
            valid_line("Billing"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["rule"], "round_robin");
    assert_eq!(created["clients"], json!(["group:support", "user:sam"]));
    assert_eq!(created["show_operator_name"], true);
    let id = created["id"].as_str().unwrap().to_owned();

    let mut edit = json!({
        "name": "Billing desk",
        "operators": "support",
        "rule": "least_loaded",
        "capacity": 3,
        "clients": [],
        "show_operator_name": false,
        "version": 1,
    });
    let (status, edited) = s
        .send(
            &ada,
            Method::PUT,
            &format!("/api/admin/lines/{id}"),
            edit.clone(),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["version"], 2);

    let lines = s.lines(&ada).await;
    assert_eq!(lines.len(), 2);
    let billing = lines.iter().find(|l| l["id"] == id.as_str()).unwrap();
    assert_eq!(billing["name"], "Billing desk");
    assert_eq!(billing["rule"], "least_loaded");
    assert_eq!(billing["capacity"], 3);
    assert_eq!(billing["supervisors"], Value::Null);
    assert_eq!(billing["clients"], json!([]));
    assert_eq!(billing["show_operator_name"], false);
    assert_eq!(billing["version"], 2);
    // The hub holds the same.
    let root = chatlines_core::UserId::from("root");
    let stored = s.server.hub.lines(&root).await.unwrap();
    assert!(stored.iter().any(|l| l.name() == "Billing desk"));

    // An edit from a stale form is refused and changes nothing.
    edit["name"] = json!("Stale");
    let (status, body) = s
        .send(&ada, Method::PUT, &format!("/api/admin/lines/{id}"), edit)
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, one) = s.get(&ada, &format!("/api/admin/lines/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "Billing desk");

    // The bound messenger accounts: kind, name, line and webhook; the
    // line they feed lists them as its external sources.
    let (status, sources) = s.get(&ada, "/api/admin/sources").await;
    assert_eq!(status, 200, "{sources}");
    let support = lines.iter().find(|l| l["name"] == "Support").unwrap();
    let source = &s.server.sources[0];
    let expected = json!({
        "id": source.id.to_string(),
        "kind": "webhook",
        "name": "CRM widget",
        "config_ref": "crm",
        "line": support["id"],
        "line_name": "Support",
        "webhook": source.path(),
    });
    let listed = sources.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{sources}");
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&listed[0][key], value, "{key}");
    }
    assert_eq!(support["sources"][0]["id"], expected["id"]);
    assert_eq!(billing["sources"], json!([]));

    // Delete needs the current version.
    let (status, _) = s
        .call(
            &ada,
            Method::DELETE,
            &format!("/api/admin/lines/{id}?version=1"),
            None,
            true,
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = s
        .call(
            &ada,
            Method::DELETE,
            &format!("/api/admin/lines/{id}?version=2"),
            None,
            true,
        )
        .await;
    assert_eq!(status, 204);
    let lines = s.lines(&ada).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "Support");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_edits_their_line_but_creates_none() {
    let s = start().await;
    let ada = s.sign_in("ada").await;
    let sam = s.sign_in("sam").await;
    let support = s.lines(&ada).await[0]["id"].as_str().unwrap().to_owned();

    let (status, body) = s
        .send(&sam, Method::POST, "/api/admin/lines", valid_line("Sam's"))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, line) = s.get(&sam, &format!("/api/admin/lines/{support}")).await;
    assert_eq!(status, 200, "{line}");
    // Messenger accounts are for administrators: a supervisor sees none.
    assert_eq!(line["sources"], json!([]));
    let mut edit = valid_line("Support (EN)");
    edit["version"] = line["version"].clone();
    let (status, body) = s
        .send(
            &sam,
            Method::PUT,
            &format!("/api/admin/lines/{support}"),
            edit,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let lines = s.lines(&ada).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "Support (EN)");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_routes_are_documented_and_answer() {
    let s = start().await;
    let ada = s.sign_in("ada").await;
    let doc: Value = s
        .http
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut described: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/api/admin/") {
            for method in item.as_object().unwrap().keys() {
                described.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    described.sort();
    let mut routes = vec![
        "GET /api/admin/access",
        "GET /api/admin/lines",
        "POST /api/admin/lines",
        "GET /api/admin/lines/{id}",
        "PUT /api/admin/lines/{id}",
        "DELETE /api/admin/lines/{id}",
        "GET /api/admin/sources",
    ];
    routes.sort_unstable();
    assert_eq!(described, routes);
    let create = &doc["paths"]["/api/admin/lines"]["post"];
    assert!(create["responses"]["422"].is_object(), "{create}");
    let error = &doc["components"]["schemas"]["ErrorBody"]["properties"];
    assert!(error["problems"].is_object(), "{error}");
    for route in &routes {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "00000000-0000-0000-0000-000000000001");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, _) = s.call(&ada, method, &path, Some(json!({})), true).await;
        assert!(
            status != 405 && (status != 404 || path.contains("0000-000000000001")),
            "{route}: {status}"
        );
    }
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_are_served_from_the_binary() {
    let s = start().await;
    for (path, kind, holds) in [
        ("/console", "text/html", "id=\"admin\""),
        ("/console/admin.js", "text/javascript", "/api/admin/lines"),
        ("/console/style.css", "text/css", "#admin"),
    ] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(r.text().await.unwrap().contains(holds), "{path}");
    }
    s.server.shutdown().await;
}

#[test]
fn the_demo_configuration_has_an_administrator() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.toml");
    let config = ServerConfig::load(&path).unwrap();
    assert!(config.directory.admins.iter().any(|a| a == "ada"));
    assert!(password::verify("demo", &config.auth.passwords["ada"]));
}
