#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]
//! The bench command: `cargo run --release -p chatlines-benches -- [SCENARIO…]`.
//!
//! Each scenario prints one line,
//! `SCENARIO ours=N UNIT baseline=N UNIT ratio=R`, with ours and a raw
//! baseline measured in the same run. No argument runs every scenario;
//! arguments select scenarios by name or by prefix (`route_scaling` runs
//! every `route_scaling/...`).

mod connectors;
mod event_log;
mod lists;
mod memory;
mod postgres;
mod report;
mod sqlite;
mod timers;

use report::Scenario;

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(memory::scenarios());
    all.extend(sqlite::scenarios());
    all.extend(postgres::scenarios());
    all.extend(connectors::scenarios());
    all.extend(event_log::scenarios());
    all.extend(lists::scenarios());
    all.extend(timers::scenarios());
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let selected: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| {
            args.is_empty()
                || args
                    .iter()
                    .any(|a| s.name == a || s.name.starts_with(&format!("{a}/")))
        })
        .collect();
    if selected.is_empty() {
        eprintln!("no scenario matches {args:?}; known:");
        for s in scenarios() {
            eprintln!("  {}", s.name);
        }
        std::process::exit(2);
    }
    for s in selected {
        match runtime.block_on((s.run)()) {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
            }
            Err(e) => {
                eprintln!("{}: failed: {e}", s.name);
                std::process::exit(1);
            }
        }
    }
}
