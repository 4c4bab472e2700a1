//! Runs the quickstart binary and checks the story it tells.

use std::process::Command;

fn run_quickstart(db: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .arg(db)
        .output()
        .expect("quickstart starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "quickstart failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn quickstart_plays_the_seed_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("qs.db");
    let db = db.to_str().expect("utf-8 path");

    let first = run_quickstart(db);
    assert!(first.contains("created line \"IT support\""), "{first}");
    assert_eq!(first.matches("took the session").count(), 1, "{first}");
    assert_eq!(
        first.matches("too late: already taken").count(),
        1,
        "{first}"
    );
    assert!(first.contains("+ Link: created customers item"), "{first}");
    assert!(first.contains("registered ticket"), "{first}");
    // Operator names are displayed on this line.
    assert!(
        first.contains("Olga Operator:") || first.contains("Oleg Operator:"),
        "{first}"
    );
    assert_eq!(first.matches("Ann Client: ").count(), 2, "{first}");

    // Run again on the same file: the line and the earlier history are kept.
    let second = run_quickstart(db);
    assert!(second.contains("found line \"IT support\""), "{second}");
    assert_eq!(second.matches("Ann Client: ").count(), 4, "{second}");
}
