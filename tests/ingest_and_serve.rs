//! End-to-end without Kafka: `hoptrail ingest` builds an index from NDJSON files, and
//! `hoptrail serve` without brokers serves it over HTTP after a restart of the process.

mod common;

use std::process::Command;

use common::*;

fn hoptrail(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args(args)
        .output()
        .expect("run hoptrail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ingest_reports_counts_and_line_numbers_and_a_second_run_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("events.ndjson");
    let mut text = String::new();
    for (_, r) in valid_events("ingest", 50) {
        text.push_str(std::str::from_utf8(&r.payload).unwrap());
        text.push('\n');
    }
    text.push('\n'); // a blank line is not a record
    text.push_str("{\"schema\":\"hoptrail.tool_use.v1\"}\n"); // line 52
    text.push_str("not json\n"); // line 53
    std::fs::write(&file, &text).unwrap();

    let (code, stdout, stderr) = hoptrail(&[
        "ingest",
        "--data-dir",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        code, 2,
        "rejected lines make the exit code 2: {stdout} {stderr}"
    );
    assert!(stdout.contains("52 records"), "{stdout}");
    assert!(
        stdout.contains("50 accepted, 0 duplicate, 2 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}:52: event_id: missing", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}:53: record: not JSON", file.display())),
        "{stdout}"
    );

    let (_, stdout, _) = hoptrail(&[
        "ingest",
        "--data-dir",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("0 accepted, 50 duplicate, 2 rejected"),
        "{stdout}"
    );

    // `serve` without brokers serves the existing index: reopened, not rebuilt.
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200);
    assert_eq!(ready["consumer"], "not configured");
    assert_eq!(server.total(), 50);
    let (status, event) = server.get("/v1/events/ingest-ev-000007");
    assert_eq!(status, 200);
    assert_eq!(event["event_id"], "ingest-ev-000007");
    assert_eq!(event["tenant"], "default");
}

#[test]
fn the_api_answers_json_errors_with_the_parsers_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "serve",
        "--data-dir",
        dir.path().join("d").to_str().unwrap(),
    ]);
    let cases = [
        ("/v1/events?q=attributes.x:(unclosed", 400, "bad_request"),
        ("/v1/events?limit=0", 400, "bad_request"),
        ("/v1/events?limit=100000", 400, "bad_request"),
        ("/v1/events?from=yesterday", 400, "bad_request"),
        ("/v1/events?cursor=garbage", 400, "bad_request"),
        ("/v1/events?unknown=1", 400, "bad_request"),
        ("/v1/events/nope", 404, "not_found"),
        ("/no/such/route", 404, "not_found"),
    ];
    for (path, status, code) in cases {
        let (s, body) = server.get(path);
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    let (_, body) = server.get("/v1/events?q=attributes.x:(unclosed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("q: "),
        "{body}"
    );
    let (s, body) = server.get("/v1/events");
    assert_eq!(s, 200);
    assert_eq!(body["total"], 0);
    assert!(body["next_cursor"].is_null());
}
