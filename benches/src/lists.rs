//! `list_scaling/*`: what an operator's offered list and a supervisor's
//! board cost with 10,000 lines in the store against 10, the caller seeing
//! the same sessions in both (10 lines of theirs, 5 offered sessions each;
//! every other line has an offered session of its own).

use crate::report::{median, Measured, Outcome, Scenario};
use chatlines_core::store::prelude::*;
use chatlines_core::testing::{MemoryApps, MemoryDirectory};
use chatlines_core::{
    Audience, Body, Clock, ContactKey, Hub, Line, LineConfig, LineId, NewInbound, PageRequest,
    RoutePlan, RouteReason, Store, SystemClock, Transition, UserId,
};
use chatlines_routing::RuleRouter;
use chatlines_store::{MemoryStore, SqliteStore};
use std::sync::Arc;
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "list_scaling",
        run: || Box::pin(list_scaling()),
    }]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Lines the caller operates and supervises.
const THEIRS: usize = 10;
/// Offered sessions on each of them.
const PER_LINE: usize = 5;
/// Calls measured per figure.
const CALLS: usize = 400;

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
}

async fn list_scaling() -> Outcome {
    let mut out = Vec::new();
    for (name, backend) in [("memory", Backend::Memory), ("sqlite", Backend::Sqlite)] {
        let small = measure(backend, THEIRS).await?;
        let large = measure(backend, 10_000).await?;
        out.push(Measured::scaling(
            format!("list_scaling/offered_{name}"),
            large.offered,
            small.offered,
            "ns",
        ));
        out.push(Measured::scaling(
            format!("list_scaling/board_{name}"),
            large.board,
            small.board,
            "ns",
        ));
    }
    Ok(out)
}

struct Costs {
    offered: f64,
    board: f64,
}

/// Median cost of `offered_sessions` (ann) and `line_sessions` (sue, one of
/// her lines) with `lines` lines in the store.
async fn measure(backend: Backend, lines: usize) -> Result<Costs, String> {
    let scratch = tempfile::tempdir().map_err(err)?;
    let store: Arc<dyn Store> = match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Sqlite => Arc::new(
            SqliteStore::open(scratch.path().join("lists.db"))
                .await
                .map_err(err)?,
        ),
    };
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    directory.add_to_group("ops", "ann");
    directory.add_to_group("sups", "sue");
    directory.add_to_group("others", "otto");
    let hub = Hub::builder(
        store.clone(),
        directory.clone(),
        Arc::new(MemoryApps::new()),
        Arc::new(RuleRouter::new()),
    )
    .build();
    let clock = SystemClock;
    let mut theirs = Vec::new();
    for i in 0..lines {
        let mine = i % (lines / THEIRS) == 0 && theirs.len() < THEIRS;
        let config = if mine {
            LineConfig::new(format!("line {i}"))
                .operators("ops")
                .supervisors("sups")
        } else {
            LineConfig::new(format!("line {i}")).operators("others")
        }
        .client(Audience::Group("clients".into()));
        let now = clock.now();
        let line = Line::new(LineId(clock.new_id()), 1, config, now, now);
        store.insert_line(&line).await.map_err(err)?;
        let roster = if mine { "ann" } else { "otto" };
        store
            .replace_roster(line.id, &[UserId::new(roster)])
            .await
            .map_err(err)?;
        let sessions = if mine { PER_LINE } else { 1 };
        for s in 0..sessions {
            offered(&*store, line.id, &format!("c{i}-{s}")).await?;
        }
        if mine {
            theirs.push(line.id);
        }
    }
    let board_line = *theirs.first().ok_or("no line of theirs")?;
    let (ann, sue) = (UserId::new("ann"), UserId::new("sue"));

    let mut offered_ns = Vec::with_capacity(CALLS);
    let mut board_ns = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let page = hub
            .offered_sessions(&ann, PageRequest::first(100))
            .await
            .map_err(err)?;
        offered_ns.push(start.elapsed().as_nanos() as f64);
        if page.items.len() != THEIRS * PER_LINE {
            return Err(format!(
                "ann sees {} offered sessions, not {}",
                page.items.len(),
                THEIRS * PER_LINE
            ));
        }
        let start = Instant::now();
        let board = hub
            .line_sessions(&sue, board_line, None, PageRequest::first(100))
            .await
            .map_err(err)?;
        board_ns.push(start.elapsed().as_nanos() as f64);
        if board.items.len() != PER_LINE {
            return Err(format!("the board shows {} sessions", board.items.len()));
        }
    }
    Ok(Costs {
        offered: median(offered_ns),
        board: median(board_ns),
    })
}

async fn offered(store: &dyn Store, line: LineId, client: &str) -> Result<(), String> {
    let clock = SystemClock;
    let appended = store
        .append_inbound(NewInbound::new(
            line,
            ContactKey::Internal {
                user: UserId::new(client),
            },
            "client",
            Body::text("hello"),
            clock.now(),
        ))
        .await
        .map_err(err)?;
    store
        .transition(
            appended.session.id,
            Transition::Route {
                expected_version: appended.session.version,
                plan: RoutePlan::Offer {
                    reason: RouteReason::FirstCome,
                },
            },
            clock.now(),
        )
        .await
        .map_err(err)?;
    Ok(())
}
