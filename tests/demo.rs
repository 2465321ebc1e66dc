//! The first command of the README: `hoptrail demo` runs the whole pipeline on its embedded
//! default and hands the user a key that works.

use std::process::Command;

#[test]
fn the_demo_ingests_its_scenario_dead_letters_the_bad_records_and_prints_a_working_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args([
            "demo",
            "--no-serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--data-dir", dir.path().join("demo").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("19 indexed, 2 dead-lettered"), "{text}");
    assert!(text.contains("agent.id: missing"), "{text}");
    let key = text
        .lines()
        .find(|l| l.starts_with("hpt_"))
        .expect("the demo prints a key on a line of its own");
    assert_eq!(key.len(), 4 + 12 + 1 + 64);
    // The key is stored only as a hash in the demo's data directory.
    let keys = std::fs::read_to_string(dir.path().join("demo/keys.json")).unwrap();
    assert!(!keys.contains(&key[17..]));
}
