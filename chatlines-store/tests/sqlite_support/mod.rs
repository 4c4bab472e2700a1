//! Shared by the SQLite crash tests: killing a child process at a random
//! moment once it has acknowledged a write.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;
use uuid::Uuid;

/// Waits until `child` prints its first `ok …` line, kills it (SIGKILL) a
/// random 5–255 ms later, and returns every line it printed, that first one
/// included.
pub fn kill_after_first_ack(mut child: Child, round: u32) -> Vec<String> {
    let out = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the child started writing");
        if line.starts_with("ok ") {
            break line;
        }
    };
    // The kill lands at a random point of the child's work: after a random
    // number of further lines (the child keeps writing meanwhile).
    let further = (Uuid::new_v4().as_u128() % 40) as usize;
    let mut seen = vec![first];
    for _ in 0..further {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("wait for the child");
    assert!(!status.success(), "round {round}: the child was not killed");
    reader.join().expect("reader thread");
    seen.extend(rx.try_iter());
    seen
}

/// The ids of the `ok <uuid>` lines among `lines`.
pub fn acknowledged(lines: &[String]) -> Vec<Uuid> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("ok "))
        .map(|id| Uuid::parse_str(id.trim()).expect("a message id"))
        .collect()
}
