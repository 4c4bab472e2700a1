//! Quickstart: the seed, played end to end in one process.
//!
//! An administrator creates an internal IT-support line; a user writes to it;
//! two operators race to take the session; the winner replies, links the
//! client's account and registers a ticket; a supervisor reassigns the
//! session; it is closed; the client's transcript is printed.
//!
//! Run: `cargo run -p chatlines-examples --bin quickstart [DB_PATH]` (default
//! `chatlines-quickstart.db` in the working directory, or `CHATLINES_DB`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use chatlines_core::testing::{MemoryApps, MemoryDirectory, RecordingSink};
use chatlines_core::{
    AppSchema, Attachment, Audience, Body, Error, FieldDef, FieldKind, FieldValue, FieldValues,
    Hub, LineConfig, PageRequest, Relay, RelayConfig, RoutingRule, Store, UserId,
};
use chatlines_routing::RuleRouter;
use std::sync::Arc;

mod setup;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (store, path): (Arc<dyn Store>, String) = setup::open_store().await?;
    println!("[store] SQLite database {path}");

    // The host's side: users, groups, org units, and two applications.
    let directory = Arc::new(MemoryDirectory::new());
    directory.add_admin("root");
    for (id, name) in [
        ("ann", "Ann Client"),
        ("olga", "Olga Operator"),
        ("oleg", "Oleg Operator"),
        ("sam", "Sam Supervisor"),
    ] {
        directory.set_name(id, name);
        directory.add_to_group("everyone", id);
    }
    directory.add_to_group("it-staff", "olga");
    directory.add_to_group("it-staff", "oleg");
    directory.add_to_group("it-leads", "sam");

    let apps = Arc::new(MemoryApps::new());
    apps.add_app(AppSchema::new(
        "customers",
        "Customers",
        vec![
            FieldDef::new("name", "Name", FieldKind::Text),
            FieldDef::new("account", "Account", FieldKind::Account),
            FieldDef::new("manager", "Account manager", FieldKind::User),
        ],
    ));
    apps.add_app(AppSchema::new(
        "tickets",
        "Support tickets",
        vec![
            FieldDef::new("title", "Title", FieldKind::Text),
            FieldDef::new("account", "Account", FieldKind::Account),
        ],
    ));

    // The host's UIs follow changes through the event log: a relay delivers
    // it to their sink, resuming where it stopped on the next run.
    let events = Arc::new(RecordingSink::new());
    let relay = Relay::new(
        store.clone(),
        events.clone(),
        RelayConfig::new("quickstart"),
    );
    let hub = Hub::builder(store, directory, apps.clone(), Arc::new(RuleRouter::new())).build();

    let root = UserId::from("root");
    let ann = UserId::from("ann");
    let sam = UserId::from("sam");

    // 1. An administrator creates the line (or finds it, when the database
    //    is reused: the history of earlier runs is still there).
    let existing = hub
        .lines(&root)
        .await?
        .into_iter()
        .find(|l| l.name() == "IT support");
    let line = match existing {
        Some(line) => {
            println!("[admin root] found line {:?} ({})", line.name(), line.id);
            line
        }
        None => {
            let line = hub
                .create_line(
                    &root,
                    LineConfig::new("IT support")
                        .account_app("customers")
                        .request_app("tickets")
                        .client(Audience::Group("everyone".into()))
                        .show_operator_name(true)
                        .operators("it-staff")
                        .supervisors("it-leads")
                        .rule(RoutingRule::FirstCome),
                )
                .await?;
            println!("[admin root] created line {:?} ({})", line.name(), line.id);
            line
        }
    };

    // 2. Ann picks the line and writes, with a screenshot attached.
    let available: Vec<String> = hub
        .lines_for(&ann)
        .await?
        .iter()
        .map(|l| l.name().to_owned())
        .collect();
    println!("[client ann] lines available: {available:?}");
    let posted = hub
        .write(
            &ann,
            line.id,
            Body::text("My laptop will not boot after the update.").with_attachment(
                Attachment::new("screen.png", "image/png", 48_213, "blob://screens/1"),
            ),
        )
        .await?;
    let session = posted.session.id;
    println!(
        "[client ann] wrote; session {} opened, status: {}",
        session,
        posted.session.status.name()
    );

    // 3. Two operators race to take it: exactly one wins.
    let race = |who: &'static str| {
        let hub = hub.clone();
        tokio::spawn(async move { hub.take(&UserId::from(who), session).await })
    };
    let (olga, oleg) = (race("olga"), race("oleg"));
    let (a, b) = (olga.await?, oleg.await?);
    let (winner, loser) = match (a, b) {
        (Ok(_), Err(e)) => ("olga", ("oleg", e)),
        (Err(e), Ok(_)) => ("oleg", ("olga", e)),
        (a, b) => return Err(format!("expected exactly one winner, got {a:?} and {b:?}").into()),
    };
    let winner = UserId::from(winner);
    println!("[operator {winner}] took the session");
    match loser.1 {
        Error::AlreadyTaken { .. } => println!("[operator {}] too late: already taken", loser.0),
        other => return Err(other.into()),
    }

    // 4. The winner replies, links the account and registers a ticket.
    hub.reply(
        &winner,
        session,
        Body::text("Hello Ann, hold Shift while booting and tell me what you see."),
    )
    .await?;
    let mut values = FieldValues::new();
    values.insert("name".into(), FieldValue::Text("Ann Client".into()));
    let link = hub.link_new_account(&winner, session, values).await?;
    println!(
        "[operator {winner}] + Link: created customers item {}",
        link.item
    );
    let mut ticket = FieldValues::new();
    ticket.insert(
        "title".into(),
        FieldValue::Text("Laptop does not boot".into()),
    );
    let request = hub
        .register_request(&winner, session, &"tickets".into(), ticket)
        .await?;
    println!("[operator {winner}] registered ticket {}", request.item);

    // 5. The supervisor reassigns the session to the other operator.
    let other = if winner.as_str() == "olga" {
        "oleg"
    } else {
        "olga"
    };
    let other = UserId::from(other);
    hub.assign(&sam, session, &other).await?;
    println!("[supervisor sam] reassigned the session to {other}");
    hub.reply(
        &other,
        session,
        Body::text("I have your ticket; a courier brings a spare today."),
    )
    .await?;
    hub.write(&ann, line.id, Body::text("Thank you!")).await?;
    hub.close(&other, session).await?;
    println!("[operator {other}] closed the session");

    // 6. What Ann sees.
    println!("\nTranscript as the client sees it:");
    let mut request = PageRequest::first(100);
    loop {
        let page = hub.conversation(&ann, line.id, request).await?;
        for m in &page.items {
            let files = if m.body.attachments.is_empty() {
                String::new()
            } else {
                format!(" [+{} attachment(s)]", m.body.attachments.len())
            };
            println!(
                "  #{} {:>15}: {}{}",
                m.seq, m.author_name, m.body.text, files
            );
        }
        match page.next_request(100) {
            Some(next) => request = next,
            None => break,
        }
    }
    relay.catch_up().await?;
    println!("\n{} events delivered by the relay.", events.events().len());
    Ok(())
}
