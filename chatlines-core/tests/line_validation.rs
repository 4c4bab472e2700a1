//! The Applications and Employees blocks: only apps with an Account field,
//! Responsible needs an account app and a User field, every rule needs an
//! operators group. Every problem is reported at once; nothing is saved.

mod common;

use chatlines_core::{
    Audience, Error, FieldProblem, LineConfig, LineField, LineProblem, LineProblems, RoutingRule,
};
use common::*;
use std::sync::Arc;

fn problems(r: Result<chatlines_core::Line, Error>) -> LineProblems {
    match r {
        Err(Error::InvalidLine(p)) => p,
        other => panic!("expected InvalidLine, got {other:?}"),
    }
}

#[tokio::test]
async fn every_problem_is_reported_at_once_and_nothing_is_saved() -> TestResult {
    let w = World::new();
    // NOTES_APP has a Text field "text" and a User field "author", but no
    // Account field.
    let config = LineConfig::new("Broken")
        .account_app(NOTES_APP)
        .request_app(NOTES_APP)
        .request_app(TICKETS_APP)
        .rule(RoutingRule::Responsible {
            field: "text".into(),
        })
        .supervisors("no-such-group")
        .client(Audience::Group("ghosts".into()));
    let p = problems(w.hub.create_line(&user(ADMIN), config).await);
    let expected = [
        LineProblem::AccountAppWithoutAccountField {
            app: NOTES_APP.into(),
        },
        LineProblem::RequestAppWithoutAccountField {
            app: NOTES_APP.into(),
        },
        LineProblem::ResponsibleFieldNotUser {
            field: "text".into(),
        },
        LineProblem::NoOperatorsGroup,
        LineProblem::UnknownGroup {
            group: "no-such-group".into(),
            at: LineField::Supervisors,
        },
        LineProblem::UnknownGroup {
            group: "ghosts".into(),
            at: LineField::Clients,
        },
    ];
    for e in &expected {
        assert!(p.contains(e), "{e:?} missing from {p}");
    }
    // TICKETS_APP is fine and must not be reported.
    assert_eq!(p.0.len(), expected.len(), "{p}");
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn every_problem_names_the_field_it_concerns() -> TestResult {
    let w = World::new();
    let config = LineConfig::new("")
        .account_app("no-such-app")
        .request_app(NOTES_APP)
        .request_app("no-such-request-app")
        .rule(RoutingRule::LeastLoaded { capacity: 0 })
        .operators("ghost-ops")
        .supervisors("ghost-ops")
        .client(Audience::Group("ghost-clients".into()));
    let err = w
        .hub
        .create_line(&user(ADMIN), config)
        .await
        .expect_err("invalid");
    let fields: Vec<(String, String)> = err
        .field_problems()
        .into_iter()
        .map(|p| (p.field, p.code))
        .collect();
    let expected = [
        ("name", "bad_name"),
        ("account_app", "unknown_app"),
        ("request_apps", "request_app_without_account_field"),
        ("request_apps", "unknown_app"),
        ("capacity", "zero_capacity"),
        // One unknown group named in two settings: shown at both.
        ("operators", "unknown_group"),
        ("supervisors", "unknown_group"),
        ("clients", "unknown_group"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(fields, expected);
    // Each problem's message is the one the error's text lists.
    let text = err.to_string();
    for p in err.field_problems() {
        assert!(text.contains(&p.problem), "{} not in {text}", p.problem);
    }
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[test]
fn a_problem_code_is_its_serialized_tag_and_inputs_name_their_field() {
    let problems = [
        LineProblem::BadName { reason: "r".into() },
        LineProblem::UnknownApp {
            app: "a".into(),
            at: LineField::RequestApps,
        },
        LineProblem::AccountAppWithoutAccountField { app: "a".into() },
        LineProblem::RequestAppWithoutAccountField { app: "a".into() },
        LineProblem::ResponsibleWithoutAccountApp,
        LineProblem::ResponsibleFieldNotUser { field: "f".into() },
        LineProblem::NoOperatorsGroup,
        LineProblem::UnknownGroup {
            group: "g".into(),
            at: LineField::Clients,
        },
        LineProblem::ZeroCapacity,
        LineProblem::RuleNotSupportedByStore { rule: "x".into() },
    ];
    for p in &problems {
        let json = serde_json::to_value(p).expect("serializes");
        assert_eq!(json["problem"], p.code(), "{json}");
        let back: LineProblem = serde_json::from_value(json).expect("reads back");
        assert_eq!(&back, p);
    }
    let e = Error::InvalidInput {
        field: "display_name",
        reason: "must not be empty".into(),
    };
    assert_eq!(
        e.field_problems(),
        vec![FieldProblem::new(
            "display_name",
            "must not be empty",
            "invalid"
        )]
    );
    assert!(Error::NoAccountApp.field_problems().is_empty());
}

#[tokio::test]
async fn responsible_needs_an_account_app() -> TestResult {
    let w = World::new();
    let config = LineConfig::new("Managers")
        .rule(RoutingRule::Responsible {
            field: "manager".into(),
        })
        .operators("nobody-made-this");
    let p = problems(w.hub.create_line(&user(ADMIN), config).await);
    assert_eq!(
        p.0,
        vec![
            LineProblem::ResponsibleWithoutAccountApp,
            LineProblem::UnknownGroup {
                group: "nobody-made-this".into(),
                at: LineField::Operators,
            },
        ]
    );
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn responsible_on_a_user_field_of_the_account_app_is_accepted() -> TestResult {
    let w = World::new();
    let config = LineConfig::new("Managers")
        .account_app(CLIENTS_APP)
        .request_app(TICKETS_APP)
        .rule(RoutingRule::Responsible {
            field: "manager".into(),
        })
        .operators(OPS);
    let line = w.hub.create_line(&user(ADMIN), config).await?;
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&line));

    // "name" is a Text field: not a User field.
    let bad = LineConfig::new("Managers")
        .account_app(CLIENTS_APP)
        .rule(RoutingRule::Responsible {
            field: "name".into(),
        })
        .operators(OPS);
    let p = problems(w.hub.create_line(&user(ADMIN), bad).await);
    assert_eq!(
        p.0,
        vec![LineProblem::ResponsibleFieldNotUser {
            field: "name".into()
        }]
    );
    // A field the app does not have at all is not a User field either.
    let bad = LineConfig::new("Managers")
        .account_app(CLIENTS_APP)
        .rule(RoutingRule::Responsible {
            field: "no-such-field".into(),
        })
        .operators(OPS);
    let p = problems(w.hub.create_line(&user(ADMIN), bad).await);
    assert!(p.contains(&LineProblem::ResponsibleFieldNotUser {
        field: "no-such-field".into()
    }));
    assert_eq!(w.store.lines().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn unknown_apps_empty_names_and_zero_capacity_are_problems() -> TestResult {
    let w = World::new();
    let config = LineConfig::new("   ")
        .account_app("no-such-app")
        .operators(OPS)
        .rule(RoutingRule::LeastLoaded { capacity: 0 });
    let p = problems(w.hub.create_line(&user(ADMIN), config).await);
    assert!(p.contains(&LineProblem::UnknownApp {
        app: "no-such-app".into(),
        at: LineField::AccountApp,
    }));
    assert!(p.contains(&LineProblem::ZeroCapacity));
    assert!(p.0.iter().any(|x| matches!(x, LineProblem::BadName { .. })));
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_name_with_a_nul_character_is_a_problem() -> TestResult {
    let w = World::new();
    let p = problems(
        w.hub
            .create_line(&user(ADMIN), staff_line("Help\0desk"))
            .await,
    );
    assert_eq!(p.0.len(), 1, "{p:?}");
    assert!(matches!(&p.0[0], LineProblem::BadName { reason } if reason.contains("NUL")));
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_invalid_update_leaves_the_line_as_it_was() -> TestResult {
    let w = World::new();
    let line = w.line(staff_line("Desk")).await?;
    let mut broken = staff_line("Desk");
    broken.employees.operators = None;
    let p = problems(w.hub.update_line(&user(ADMIN), line.id, 1, broken).await);
    assert_eq!(p.0, vec![LineProblem::NoOperatorsGroup]);
    assert_eq!(w.store.line(line.id).await?.as_ref(), Some(&line));
    Ok(())
}

#[tokio::test]
async fn validation_does_not_run_before_the_permission_check() -> TestResult {
    // A non-administrator learns nothing about the host's apps and groups:
    // an invalid configuration from them is refused as Forbidden.
    let w = World::new();
    let r = w
        .hub
        .create_line(&user("carl"), LineConfig::new("").account_app(NOTES_APP))
        .await;
    assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    assert!(w.store.lines().await?.is_empty());
    Ok(())
}

/// A store that answers no roster questions: round robin and least loaded
/// are refused when the line is created, not at its first routing.
#[tokio::test]
async fn a_rule_the_store_cannot_carry_out_is_refused_at_creation() -> TestResult {
    use chatlines_core::{Hub, StoreCapabilities};
    let w = World::new();
    let store = Arc::new(chatlines_store::MemoryStore::with_capabilities(
        StoreCapabilities::NONE,
    ));
    let hub = Hub::builder(
        store.clone(),
        w.dir.clone(),
        w.apps.clone(),
        Arc::new(chatlines_routing::RuleRouter::new()),
    )
    .build();
    for rule in [
        RoutingRule::RoundRobin,
        RoutingRule::LeastLoaded { capacity: 2 },
    ] {
        let err = hub
            .create_line(&user(ADMIN), staff_line("Desk").rule(rule.clone()))
            .await
            .expect_err("refused");
        match err {
            Error::InvalidLine(problems) => {
                assert!(problems.contains(&LineProblem::RuleNotSupportedByStore {
                    rule: rule.name().to_owned()
                }))
            }
            other => panic!("expected InvalidLine, got {other:?}"),
        }
    }
    assert!(store.lines().await?.is_empty(), "nothing was stored");
    hub.create_line(&user(ADMIN), staff_line("Desk")).await?;
    Ok(())
}
