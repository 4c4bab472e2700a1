//! The Hub API's common rules: paged lists, hidden equals missing, policy
//! before input, the supervisor's board, deleted lines' history, and
//! availability changes of users who operate nothing.

mod common;

use chatlines_core::{
    Availability, Body, Error, EventPosition, LineConfig, LineId, NewSource, PageRequest,
    SessionId, SessionState,
};
use common::*;
use uuid::Uuid;

/// What a caller learns from a refusal: its kind and, for `NotFound`, what
/// was not found.
fn kind<T>(r: &Result<T, Error>) -> Option<(chatlines_core::ErrorKind, Option<&'static str>)> {
    r.as_ref().err().map(|e| {
        let what = match e {
            Error::NotFound { what, .. } => Some(*what),
            _ => None,
        };
        (e.kind(), what)
    })
}

fn missing_line() -> LineId {
    LineId(Uuid::now_v7())
}

#[tokio::test]
async fn offered_sessions_page_across_the_operators_lines() -> TestResult {
    let w = World::new();
    let a = w.line(staff_line("A")).await?;
    let b = w.line(staff_line("B")).await?;
    w.dir.add_to_group("elsewhere", "eli");
    let c = w
        .line(
            LineConfig::new("C")
                .operators("elsewhere")
                .client(chatlines_core::Audience::Group(STAFF.into())),
        )
        .await?;
    let mut expected = Vec::new();
    for (who, line) in [("carl", a.id), ("dora", b.id)] {
        expected.push(w.hub.write(&user(who), line, text("hi")).await?.session.id);
    }
    w.hub.write(&user("carl"), c.id, text("hi")).await?;

    let mut got = Vec::new();
    let mut request = PageRequest::first(1);
    let mut pages = 0;
    loop {
        let page = w.hub.offered_sessions(&user("ann"), request).await?;
        assert!(page.items.len() <= 1);
        got.extend(page.items.iter().map(|s| s.id));
        pages += 1;
        assert!(pages <= 3, "paging does not end");
        match page.next_request(1) {
            Some(next) => request = next,
            None => break,
        }
    }
    assert_eq!(got, expected, "both of ann's lines, none of line C");
    let eli = w
        .hub
        .offered_sessions(&user("eli"), PageRequest::default())
        .await?;
    assert_eq!(eli.items.len(), 1);
    assert_eq!(eli.next, None);

    // A token of another list is refused.
    let token = w
        .hub
        .offered_sessions(&user("ann"), PageRequest::first(1))
        .await?
        .next
        .ok_or("a second page")?;
    let r = w
        .hub
        .assigned_sessions(&user("ann"), PageRequest::after(token, 10))
        .await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn a_hidden_line_or_session_answers_as_a_missing_one() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    let stranger = user("stranger");
    let missing_session = SessionId(Uuid::now_v7());

    let hidden = w.hub.line(&stranger, line.id).await;
    let missing = w.hub.line(&stranger, missing_line()).await;
    assert!(
        matches!(hidden, Err(Error::NotFound { what: "line", .. })),
        "{hidden:?}"
    );
    assert_eq!(kind(&hidden), kind(&missing));

    let hidden = w.hub.session(&stranger, s.id).await;
    let missing = w.hub.session(&stranger, missing_session).await;
    assert!(
        matches!(
            hidden,
            Err(Error::NotFound {
                what: "session",
                ..
            })
        ),
        "{hidden:?}"
    );
    assert_eq!(kind(&hidden), kind(&missing));

    let hidden = w.hub.write(&stranger, line.id, text("x")).await;
    let missing = w.hub.write(&stranger, missing_line(), text("x")).await;
    assert_eq!(kind(&hidden), kind(&missing));

    let hidden = w
        .hub
        .line_sessions(&stranger, line.id, None, PageRequest::default())
        .await;
    let missing = w
        .hub
        .line_sessions(&stranger, missing_line(), None, PageRequest::default())
        .await;
    assert!(matches!(hidden, Err(Error::NotFound { .. })), "{hidden:?}");
    assert_eq!(kind(&hidden), kind(&missing));
    Ok(())
}

#[tokio::test]
async fn policy_is_checked_before_the_input() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let s = w
        .hub
        .write(&user("carl"), line.id, text("help"))
        .await?
        .session;
    w.hub.take(&user("ann"), s.id).await?;
    let empty = Body::text("");

    // An operator who is not assigned, with an empty body: refused for who
    // they are, not for what they sent.
    let r = w.hub.reply(&user("bob"), s.id, empty.clone()).await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    // Someone who does not see the line writes an empty message to it.
    let r = w.hub.write(&user("stranger"), line.id, empty.clone()).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    // An operator edits the line with a configuration that is invalid.
    let r = w
        .hub
        .update_line(&user("ann"), line.id, line.version, LineConfig::new(""))
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    // A non-administrator binds a source without a kind.
    let r = w
        .hub
        .bind_source(&user("ann"), line.id, NewSource::new("", "", ""))
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    // The assigned operator with the same empty body gets the input error.
    let r = w.hub.reply(&user("ann"), s.id, empty).await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn supervisors_see_their_lines_board_and_roster() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let first = w.hub.write(&user("carl"), line.id, text("one")).await?;
    let again = w.hub.write(&user("carl"), line.id, text("two")).await?;
    let second = w.hub.write(&user("dora"), line.id, text("hi")).await?;
    w.hub.take(&user("ann"), second.session.id).await?;
    let answer = w
        .hub
        .reply(&user("ann"), second.session.id, text("yes"))
        .await?;

    let board = w
        .hub
        .line_sessions(&user("sue"), line.id, None, PageRequest::default())
        .await?;
    assert_eq!(board.next, None);
    assert_eq!(board.items.len(), 2);
    let carl = &board.items[0];
    assert_eq!(carl.session.id, first.session.id);
    assert_eq!(carl.session.status.state(), SessionState::Offered);
    assert_eq!(carl.waiting_since, Some(first.message.created_at));
    assert_eq!(carl.last_client_message_at, Some(again.message.created_at));
    assert_eq!(carl.last_operator_message_at, None);
    let dora = &board.items[1];
    assert_eq!(dora.session.operator(), Some(&user("ann")));
    assert_eq!(dora.waiting_since, None);
    assert_eq!(dora.last_operator_message_at, Some(answer.created_at));

    let assigned = w
        .hub
        .line_sessions(
            &user("sue"),
            line.id,
            Some(SessionState::Assigned),
            PageRequest::default(),
        )
        .await?;
    assert_eq!(
        assigned
            .items
            .iter()
            .map(|o| o.session.id)
            .collect::<Vec<_>>(),
        vec![second.session.id]
    );
    let page = w
        .hub
        .line_sessions(&user("sue"), line.id, None, PageRequest::first(1))
        .await?;
    let rest = w
        .hub
        .line_sessions(
            &user("sue"),
            line.id,
            None,
            page.next_request(1).ok_or("a second page")?,
        )
        .await?;
    assert_eq!(rest.items[0].session.id, second.session.id);
    assert_eq!(rest.next, None);

    w.set_availability("cat", Availability::Absent).await?;
    let roster = w
        .hub
        .line_roster(&user("sue"), line.id, PageRequest::default())
        .await?;
    let rows: Vec<_> = roster
        .items
        .iter()
        .map(|o| (o.user.as_str(), o.availability, o.eligible, o.load))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("ann", Availability::Present, true, 1),
            ("bob", Availability::Present, true, 0),
            ("cat", Availability::Absent, false, 0),
        ]
    );
    let first_two = w
        .hub
        .line_roster(&user("sue"), line.id, PageRequest::first(2))
        .await?;
    assert_eq!(first_two.items.len(), 2);
    let last = w
        .hub
        .line_roster(
            &user("sue"),
            line.id,
            first_two.next_request(2).ok_or("a second page")?,
        )
        .await?;
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].user, user("cat"));
    assert_eq!(last.next, None);

    // Operators and administrators see the line but not its board.
    for who in ["ann", ADMIN] {
        let r = w
            .hub
            .line_sessions(&user(who), line.id, None, PageRequest::default())
            .await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
        let r = w
            .hub
            .line_roster(&user(who), line.id, PageRequest::default())
            .await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{who}: {r:?}");
    }
    Ok(())
}

#[tokio::test]
async fn an_administrator_reads_the_history_of_a_deleted_line() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Closing down")).await?;
    let posted = w.hub.write(&user("carl"), line.id, text("hello")).await?;
    let s = posted.session.id;
    w.hub.take(&user("ann"), s).await?;
    w.hub.reply(&user("ann"), s, text("hi")).await?;
    let current = w.hub.line(&user(ADMIN), line.id).await?;
    w.hub
        .delete_line(&user(ADMIN), line.id, current.version)
        .await?;

    let page = w
        .hub
        .messages(&user(ADMIN), s, PageRequest::default())
        .await?;
    let texts: Vec<_> = page.items.iter().map(|m| m.body.text.as_str()).collect();
    assert_eq!(texts, vec!["hello", "hi"]);
    assert!(!w.hub.session(&user(ADMIN), s).await?.is_open());
    // The line's former operators and supervisors no longer see it.
    for who in ["ann", "sue"] {
        let r = w.hub.messages(&user(who), s, PageRequest::default()).await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{who}: {r:?}");
    }
    Ok(())
}

#[tokio::test]
async fn availability_of_a_user_who_operates_nothing_writes_nothing() -> TestResult {
    let w = World::new();
    let a = w.line(staff_line("A")).await?;
    let b = w.line(staff_line("B")).await?;
    let before = w.hub.events_after(EventPosition::START, 10_000).await?;
    let rosters = |w: &World| {
        let (a, b) = (a.id, b.id);
        let store = w.store.clone();
        async move {
            use chatlines_core::SessionStore;
            Ok::<_, chatlines_core::StoreError>((store.roster(a).await?, store.roster(b).await?))
        }
    };
    let rosters_before = rosters(&w).await?;

    for availability in [
        Availability::Absent,
        Availability::Present,
        Availability::Blocked,
    ] {
        w.set_availability("carl", availability).await?;
    }
    assert_eq!(
        w.hub.events_after(EventPosition::START, 10_000).await?,
        before,
        "no event logged"
    );
    let rosters_after = rosters(&w).await?;
    assert_eq!(rosters_after, rosters_before, "no roster row written");
    assert!(rosters_after
        .0
        .iter()
        .chain(&rosters_after.1)
        .all(|e| e.user != user("carl")));

    // An operator who leaves the group becomes ineligible, not forgotten.
    w.dir.remove_from_group(&OPS.into(), &user("bob"));
    w.hub.availability_changed(&user("bob")).await?;
    let (ra, _) = rosters(&w).await?;
    let bob = ra
        .iter()
        .find(|e| e.user == user("bob"))
        .ok_or("bob's entry")?;
    assert!(!bob.eligible);
    Ok(())
}
