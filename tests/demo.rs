//! The first command of the README: `hoptrail demo` runs the whole pipeline on its embedded
//! default and hands the user a key that works.

use std::process::Command;

/// `hoptrail demo` on a free port, its index in `dir`.
fn demo(dir: &std::path::Path) -> Command {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hoptrail"));
    command
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", dir.join("demo").to_str().unwrap()]);
    command
}

#[test]
fn the_demo_ingests_its_scenario_dead_letters_the_bad_records_and_prints_a_working_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path()).arg("--no-serve").output().unwrap();
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

#[test]
fn the_demo_serves_the_api_and_every_curl_command_it_prints_answers() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = demo(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the server whatever happens below.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _server = Kill(child);

    let mut key = None;
    let mut urls = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("hpt_") {
            key = Some(line.clone());
        }
        if let Some(rest) = line.trim_start().strip_prefix("curl -s") {
            let url = rest.split('\'').nth(1).expect("a quoted URL");
            urls.push(url.to_owned());
        }
        // The summary ends with an empty line after the commands.
        if line.is_empty() && !urls.is_empty() {
            break;
        }
    }
    let key = key.expect("the demo prints its key");
    assert!(
        urls.len() >= 6,
        "the demo prints its curl commands: {urls:?}"
    );
    let client = reqwest::blocking::Client::new();
    for url in &urls {
        let response = client.get(url).bearer_auth(&key).send().unwrap();
        let status = response.status().as_u16();
        let body = response.text().unwrap();
        assert_eq!(status, 200, "{url}: {body}");
        assert!(!body.trim().is_empty(), "{url} answered nothing");
    }
}
