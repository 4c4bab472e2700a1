//! "The interaction is an ordinary conversation: the user can send text
//! messages and attach files." Sessions open on the first message and the
//! whole history stays readable.

mod common;

use chatlines_core::{Attachment, Body, ContactKey, Direction, Error, SessionStatus};
use common::*;

#[tokio::test]
async fn text_attachments_or_both_are_accepted() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let carl = user("carl");
    let a = w.hub.write(&carl, line.id, text("just text")).await?;
    let b = w
        .hub
        .write(
            &carl,
            line.id,
            Body::default().with_attachment(png("screen.png")),
        )
        .await?;
    let c = w
        .hub
        .write(
            &carl,
            line.id,
            text("both")
                .with_attachment(png("a.png"))
                .with_attachment(png("b.png")),
        )
        .await?;
    assert_eq!(a.message.body.text, "just text");
    assert_eq!(b.message.body.attachments, vec![png("screen.png")]);
    assert_eq!(c.message.body.attachments.len(), 2);
    let stored = w
        .store
        .messages(a.session.id, chatlines_core::Cursor::Start, 10)
        .await?;
    assert_eq!(stored, vec![a.message, b.message, c.message]);
    Ok(())
}

#[tokio::test]
async fn bad_bodies_are_refused_and_nothing_is_stored() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let carl = user("carl");
    let too_many = (0..11).fold(Body::default(), |b, i| {
        b.with_attachment(png(&format!("{i}.png")))
    });
    let too_large = Body::default().with_attachment(Attachment::new(
        "huge.iso",
        "application/octet-stream",
        100 * 1024 * 1024 + 1,
        "blob://huge",
    ));
    let nameless = Body::default().with_attachment(Attachment::new("", "image/png", 1, "blob://x"));
    let bad = [
        ("empty", Body::default()),
        ("blank", text("  \n\t ")),
        ("16 KiB + 1", text(&"x".repeat(16 * 1024 + 1))),
        ("11 attachments", too_many),
        ("100 MiB + 1", too_large),
        ("nameless attachment", nameless),
    ];
    for (what, body) in bad {
        let r = w.hub.write(&carl, line.id, body).await;
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{what}: {r:?}"
        );
    }
    let key = ContactKey::Internal { user: carl.clone() };
    assert_eq!(w.store.contact_by_key(&key).await?, None);
    assert!(w
        .hub
        .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
        .await?
        .items
        .is_empty());

    // The limits themselves are allowed.
    let at_limit = (0..10).fold(text(&"é".repeat(8 * 1024)), |b, i| {
        b.with_attachment(Attachment::new(
            format!("{i}.bin"),
            "application/octet-stream",
            100 * 1024 * 1024,
            format!("blob://{i}"),
        ))
    });
    assert_eq!(at_limit.text.len(), 16 * 1024);
    let posted = w.hub.write(&carl, line.id, at_limit).await?;
    assert_eq!(posted.message.seq, 1);
    Ok(())
}

#[tokio::test]
async fn the_first_message_opens_a_session_later_ones_join_it() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let carl = user("carl");
    let first = w.hub.write(&carl, line.id, text("one")).await?;
    assert!(first.opened);
    assert!(!first.duplicate);
    assert_eq!(first.message.seq, 1);
    assert_eq!(first.message.direction, Direction::Inbound);
    assert_eq!(first.session.status, SessionStatus::Offered);

    let second = w.hub.write(&carl, line.id, text("two")).await?;
    assert!(!second.opened);
    assert_eq!(second.session.id, first.session.id);
    assert_eq!(second.message.seq, 2);
    assert_eq!(second.contact.id, first.contact.id);

    // Another client gets their own session.
    let dora = w.hub.write(&user("dora"), line.id, text("hi")).await?;
    assert!(dora.opened);
    assert_ne!(dora.session.id, first.session.id);
    assert_eq!(dora.message.seq, 1);

    // After the close the next message opens a new session, numbered from 1.
    w.hub.close(&user("sue"), first.session.id).await?;
    let third = w.hub.write(&carl, line.id, text("three")).await?;
    assert!(third.opened);
    assert_ne!(third.session.id, first.session.id);
    assert_eq!(third.message.seq, 1);
    assert_eq!(
        w.stored_session(first.session.id).await?.status,
        SessionStatus::Closed
    );
    let sessions = w.store.contact_sessions(line.id, first.contact.id).await?;
    assert_eq!(
        sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![first.session.id, third.session.id]
    );
    Ok(())
}

#[tokio::test]
async fn the_whole_history_across_sessions_reads_in_order_page_by_page() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let carl = user("carl");
    let ann = user("ann");

    // Session 1: carl writes twice, ann answers, it is closed.
    let s1 = w.hub.write(&carl, line.id, text("c1")).await?.session.id;
    w.hub.write(&carl, line.id, text("c2")).await?;
    w.hub.take(&ann, s1).await?;
    w.hub.reply(&ann, s1, text("a1")).await?;
    w.hub.close(&ann, s1).await?;
    // Session 2: one message each way.
    let s2 = w.hub.write(&carl, line.id, text("c3")).await?.session.id;
    w.hub.take(&ann, s2).await?;
    w.hub.reply(&ann, s2, text("a2")).await?;
    // Somebody else's conversation does not leak into carl's.
    w.hub.write(&user("dora"), line.id, text("dora")).await?;

    let expected = [
        (s1, 1, "c1", Direction::Inbound),
        (s1, 2, "c2", Direction::Inbound),
        (s1, 3, "a1", Direction::Outbound),
        (s2, 1, "c3", Direction::Inbound),
        (s2, 2, "a2", Direction::Outbound),
    ];

    // One page holds everything.
    let all = w
        .hub
        .conversation(&carl, line.id, chatlines_core::PageRequest::first(100))
        .await?;
    assert_eq!(all.next, None);
    let got: Vec<_> = all
        .items
        .iter()
        .map(|m| (m.session, m.seq, m.body.text.as_str(), m.direction))
        .collect();
    assert_eq!(got, expected);

    // Pages of every size return the same sequence, without gaps or repeats.
    for limit in 1..=6 {
        let mut got = Vec::new();
        let mut request = chatlines_core::PageRequest::first(limit);
        let mut pages = 0;
        loop {
            let page = w.hub.conversation(&carl, line.id, request).await?;
            assert!(page.items.len() <= limit);
            pages += 1;
            assert!(pages <= 10, "pagination does not end (limit {limit})");
            got.extend(
                page.items
                    .iter()
                    .map(|m| (m.session, m.seq, m.body.text.clone(), m.direction)),
            );
            match page.next_request(limit) {
                Some(next) => request = next,
                None => break,
            }
        }
        let want: Vec<_> = expected
            .iter()
            .map(|(s, q, t, d)| (*s, *q, (*t).to_owned(), *d))
            .collect();
        assert_eq!(got, want, "limit {limit}");
    }

    // Someone the line admits who never wrote has an empty history.
    w.dir.add_to_group(STAFF, "uma");
    let empty = w
        .hub
        .conversation(
            &user("uma"),
            line.id,
            chatlines_core::PageRequest::first(10),
        )
        .await?;
    assert!(empty.items.is_empty());
    assert_eq!(empty.next, None);
    Ok(())
}

#[tokio::test]
async fn a_cursor_from_another_conversation_is_refused() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    w.hub.write(&user("dora"), line.id, text("mine")).await?;
    w.hub.write(&user("dora"), line.id, text("more")).await?;
    w.hub.write(&user("carl"), line.id, text("his")).await?;
    let first = w
        .hub
        .conversation(
            &user("dora"),
            line.id,
            chatlines_core::PageRequest::first(1),
        )
        .await?;
    let foreign = first.next.ok_or("dora's conversation has a second page")?;
    let r = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::after(foreign, 10),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    // A token of another list is refused too.
    let other = chatlines_core::PageToken::from("messages.q1");
    let r = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::after(other, 10),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_first_messages_opens_exactly_one_session() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let hub = w.hub.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            hub.write(&user("carl"), line.id, text(&format!("m{i}")))
                .await
        }));
    }
    let mut posted = Vec::new();
    for t in tasks {
        posted.push(t.await??);
    }
    assert_eq!(posted.iter().filter(|p| p.opened).count(), 1);
    let session = posted[0].session.id;
    assert!(posted.iter().all(|p| p.session.id == session));
    let mut seqs: Vec<u64> = posted.iter().map(|p| p.message.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=16).collect::<Vec<u64>>());
    // One offer, not sixteen.
    assert_eq!(
        w.hub
            .offered_sessions(&user("ann"), chatlines_core::PageRequest::default())
            .await?
            .items
            .len(),
        1
    );
    let all = w
        .hub
        .conversation(
            &user("carl"),
            line.id,
            chatlines_core::PageRequest::first(100),
        )
        .await?;
    assert_eq!(all.items.len(), 16);
    Ok(())
}

#[tokio::test]
async fn a_host_can_tighten_the_limits() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let mut config = chatlines_core::HubConfig::default();
    config.limits.max_text_bytes = 8;
    config.limits.max_attachments = 1;
    config.limits.max_attachment_bytes = 2048;
    let strict = chatlines_core::Hub::builder(
        w.store.clone(),
        w.dir.clone(),
        w.apps.clone(),
        std::sync::Arc::new(chatlines_routing::RuleRouter::new()),
    )
    .config(config)
    .build();
    let carl = user("carl");
    for body in [
        text("123456789"),
        text("ok")
            .with_attachment(png("a.png"))
            .with_attachment(png("b.png")),
        Body::default().with_attachment(Attachment::new(
            "big.png",
            "image/png",
            2049,
            "blob://big",
        )),
    ] {
        let r = strict.write(&carl, line.id, body).await;
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }
    assert_eq!(
        w.store
            .contact_by_key(&ContactKey::Internal { user: carl.clone() })
            .await?,
        None
    );
    let s = strict
        .write(
            &carl,
            line.id,
            text("12345678").with_attachment(png("a.png")),
        )
        .await?
        .session;
    strict.take(&user("ann"), s.id).await?;
    let r = strict.reply(&user("ann"), s.id, text("too long!")).await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    assert_eq!(w.stored_session(s.id).await?.last_seq, 1);
    Ok(())
}
