//! The example server: webhooks from messengers in, operators' JSON API,
//! replies delivered by the outbox dispatcher.
//!
//! Run: `cargo run -p chatlines-examples --bin server -- examples/server.example.toml`
//! (see `examples/README.md`). `CHATLINES_DB` overrides the database path;
//! `RUST_LOG` sets the log filter (default `info`).
//!
//! `server hash-password` reads a password from standard input and prints
//! its argon2id hash for `[auth.passwords]`; `server new-token USER`
//! prints a new API token (once) and the `[[auth.tokens]]` entry holding
//! its digest.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use chatlines_examples::auth::password;
use chatlines_examples::http::{serve, Limits};
use chatlines_examples::{build_app, EnvSecrets, ServerConfig};
use std::io::BufRead;
use std::path::PathBuf;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("server failed: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str =
    "usage: server CONFIG.toml | server hash-password (password on stdin) | server new-token USER";

async fn run() -> Result<(), chatlines_examples::BoxError> {
    let arg = std::env::args().nth(1).ok_or(USAGE)?;
    match arg.as_str() {
        "hash-password" => return hash_password(),
        "new-token" => {
            let user = std::env::args().nth(2).ok_or(USAGE)?;
            return new_token(&user);
        }
        "-h" | "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => {}
    }
    let path = PathBuf::from(arg);
    let mut config = ServerConfig::load(&path)?;
    if let Ok(db) = std::env::var("CHATLINES_DB") {
        config.database = db;
    }
    let (app, server) = build_app(&config, &EnvSecrets).await?;
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    println!(
        "chatlines example server on http://{addr} (database {})",
        config.database
    );
    for s in &server.sources {
        if s.kind == "webchat" {
            println!(
                "  {} (webchat): <script src=\"http://{addr}/widget.js\" data-source=\"{}\"></script>; demo page http://{addr}/demo",
                s.name, s.id
            );
            continue;
        }
        println!(
            "  {} ({}): webhook http://{addr}{}",
            s.name,
            s.kind,
            s.path()
        );
    }
    println!("  sign in: POST http://{addr}/api/auth/sign-in {{\"user\": ..., \"password\": ...}}");
    println!("  operators' API: http://{addr}/api/sessions/offered");
    if config.auth.trust_user_header {
        println!("  WARNING: trust_user_header is on: X-User is believed as sent");
    }
    println!("Ctrl-C stops the server.");
    serve(
        listener,
        app,
        Limits::from(&config.http),
        server.metrics.clone(),
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                eprintln!("cannot listen for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        },
    )
    .await?;
    println!("stopping: letting deliveries in flight finish");
    server.shutdown().await;
    println!("stopped");
    Ok(())
}

/// Reads one line (the password) from standard input and prints its hash.
fn hash_password() -> Result<(), chatlines_examples::BoxError> {
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    println!("{}", password::hash(password)?);
    Ok(())
}

/// Prints a new API token for `user` and its configuration entry.
fn new_token(user: &str) -> Result<(), chatlines_examples::BoxError> {
    let (token, digest) = password::new_token()?;
    println!("API token for {user} (shown once; send it as `Authorization: Bearer <token>`):");
    println!("{token}");
    println!();
    println!("add to the configuration:");
    println!("[[auth.tokens]]");
    println!("user = {user:?}");
    println!("sha256 = \"{digest}\"");
    Ok(())
}
