//! The example server: webhooks from messengers in, operators' JSON API,
//! replies delivered by the outbox dispatcher.
//!
//! Run: `cargo run -p chatlines-examples --bin server -- examples/server.example.toml`
//! (see `examples/README.md`). `CHATLINES_DB` overrides the database path;
//! `RUST_LOG` sets the log filter (default `info`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use chatlines_examples::{build_app, EnvSecrets, ServerConfig};
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

async fn run() -> Result<(), chatlines_examples::BoxError> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: server CONFIG.toml")?;
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
        println!(
            "  {} ({}): webhook http://{addr}{}",
            s.name,
            s.kind,
            s.path()
        );
    }
    println!("  operators' API: http://{addr}/api/sessions/offered (header X-User: <user>)");
    println!("Ctrl-C stops the server.");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                eprintln!("cannot listen for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        })
        .await?;
    println!("stopping: letting deliveries in flight finish");
    server.shutdown().await;
    println!("stopped");
    Ok(())
}
