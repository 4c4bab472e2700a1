//! The `server` binary's helper subcommands: `hash-password` prints an
//! argon2id hash of the password on standard input; `new-token` prints a
//! token once and the configuration entry holding only its digest.

// A failed setup step is a failed test.
#![allow(clippy::unwrap_used)]

use chatlines_examples::auth::password;
use std::io::Write;
use std::process::{Command, Stdio};

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_server"))
}

#[test]
fn hash_password_prints_an_argon2id_hash_of_the_password_on_stdin() {
    let mut child = server()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret pass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("s3cret"));
    assert!(password::verify("s3cret pass", hash));
    assert!(!password::verify("s3cret pass\n", hash));
}

#[test]
fn hash_password_refuses_an_empty_password() {
    let mut child = server()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

#[test]
fn new_token_prints_the_token_and_a_config_entry_with_its_digest() {
    let out = server().args(["new-token", "crm-sync"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .find(|l| l.starts_with("clt_"))
        .unwrap()
        .to_owned();
    let entry = text.split("add to the configuration:").nth(1).unwrap();
    assert!(entry.contains("user = \"crm-sync\""), "{text}");
    assert!(
        entry.contains(&format!("sha256 = \"{}\"", password::token_digest(&token))),
        "{text}"
    );
    assert!(!entry.contains(&token), "the entry must not hold the token");
}
