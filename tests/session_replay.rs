//! Session replay over a real socket: NDJSON in path order, resumption, paced SSE, and the
//! `hoptrail replay` timeline, on an index built by `hoptrail ingest`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Instant;

use common::{ingest, Server};
use serde_json::{json, Value};

const DEMO: &str = include_str!("../src/demo/scenario.ndjson");

fn ndjson(server: &Server, path: &str) -> Vec<Value> {
    let (status, text) = server.get_text(path);
    assert_eq!(status, 200, "{text}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn replay_order_is_the_path_order_and_hops_are_marked_on_their_moving_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), DEMO);
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    for session in ["sess-reporter-0042", "sess-triage-0001", "sess-fixer-0001"] {
        let lines = ndjson(&server, &format!("/v1/sessions/{session}/replay"));
        let (status, path) = server.get(&format!("/v1/sessions/{session}/path"));
        assert_eq!(status, 200, "{path}");
        let mut path_order: Vec<String> = Vec::new();
        let mut movers = vec![(
            0u64,
            path["start"]["event_ids"][0].as_str().unwrap().to_owned(),
        )];
        path_order.extend(
            path["start"]["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
        for (i, hop) in path["hops"].as_array().unwrap().iter().enumerate() {
            let hop_ids: Vec<String> = hop["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            movers.push((i as u64 + 1, hop_ids[0].clone()));
            path_order.extend(hop_ids);
        }
        let replayed: Vec<String> = ids(&lines)
            .into_iter()
            .filter(|id| path_order.contains(id))
            .collect();
        assert_eq!(replayed, path_order, "{session}");
        for (index, mover) in movers {
            let line = lines
                .iter()
                .find(|l| l["event_id"] == mover.as_str())
                .unwrap();
            assert_eq!(line["hop"]["index"], index, "{session} {line}");
        }
        let marked = lines.iter().filter(|l| !l["hop"].is_null()).count();
        assert_eq!(
            marked,
            path["hops"].as_array().unwrap().len() + 1,
            "{session}"
        );
        for (seq, line) in lines.iter().enumerate() {
            assert_eq!(line["seq"], seq as u64);
            assert_eq!(line["event"]["event_id"], line["event_id"]);
            assert_eq!(line["event"]["session_id"], session);
            assert!(line["alerts"].is_array());
        }
    }
}

#[test]
fn from_event_resumes_after_the_named_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), DEMO);
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let all = ids(&ndjson(&server, "/v1/sessions/sess-reporter-0042/replay"));
    let rest = ids(&ndjson(
        &server,
        &format!(
            "/v1/sessions/sess-reporter-0042/replay?from_event={}",
            all[3]
        ),
    ));
    assert_eq!(rest, all[4..]);
    let (status, body) = server.get("/v1/sessions/sess-reporter-0042/replay?from_event=nope");
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.get("/v1/sessions/sess-reporter-0042/replay?speed=0");
    assert_eq!(status, 400);
}

/// Five events one second apart.
fn paced_session() -> String {
    (0..5)
        .map(|i| {
            json!({
                "schema": "hoptrail.tool_use.v1", "event_id": format!("p-{i}"),
                "time": format!("2026-11-30T10:00:0{i}Z"), "agent": {"id": "pacer"},
                "session_id": "paced", "system": format!("sys-{}", i % 2), "tool": {"name": "t"},
                "outcome": "success",
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Seconds from the first SSE event to each later one.
fn sse_arrivals(server: &Server, path: &str) -> (Vec<Value>, Vec<f64>) {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(&server.key)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut lines = Vec::new();
    let mut at = Vec::new();
    let mut t0 = None;
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let now = Instant::now();
            let t0 = *t0.get_or_insert(now);
            at.push((now - t0).as_secs_f64());
            lines.push(serde_json::from_str(data).unwrap());
        }
    }
    (lines, at)
}

#[test]
fn sse_paces_events_at_the_requested_multiple_of_their_gaps_and_caps_long_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), &paced_session());
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let plain = ndjson(&server, "/v1/sessions/paced/replay");
    // 4 gaps of 1 s at 4x: about 1 s in all.
    let (lines, at) = sse_arrivals(&server, "/v1/sessions/paced/replay?speed=4");
    assert_eq!(lines, plain, "SSE carries the NDJSON lines");
    let total = *at.last().unwrap();
    assert!(
        (0.9..2.0).contains(&total),
        "4 gaps of 1 s at speed 4 took {total:.2} s"
    );
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= 0.2, "each gap is about 250 ms: {at:?}");
    }
    // At 2x the same session takes twice as long.
    let (_, slower) = sse_arrivals(&server, "/v1/sessions/paced/replay?speed=2");
    let slow_total = *slower.last().unwrap();
    assert!(
        slow_total > total * 1.5,
        "{slow_total:.2} s at 2x vs {total:.2} s at 4x"
    );
    drop(server);

    let config = dir.path().join("capped.toml");
    std::fs::write(&config, "[api]\nreplay_max_gap_ms = 100\n").unwrap();
    let server = Server::start(&[
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (_, capped) = sse_arrivals(&server, "/v1/sessions/paced/replay?speed=1");
    let capped_total = *capped.last().unwrap();
    assert!(
        capped_total < 1.5,
        "gaps capped at 100 ms, took {capped_total:.2} s"
    );
}

#[test]
fn the_replay_command_prints_a_timeline_with_hops() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), DEMO);
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args([
            "replay",
            "sess-reporter-0042",
            "--server",
            &server.base,
            "--color",
            "never",
        ])
        .env("HOPTRAIL_KEY", &server.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("session sess-reporter-0042"), "{text}");
    assert!(
        text.contains("▶ start") && text.contains("⇢ hop 1"),
        "{text}"
    );
    assert!(text.contains("10 events"), "{text}");
    assert!(!text.contains('\x1b'));

    let bad = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args(["replay", "sess-reporter-0042", "--server", &server.base])
        .env("HOPTRAIL_KEY", "hpt_nope")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("401"),
        "{bad:?}"
    );
}

#[test]
fn each_alert_appears_once_on_the_event_that_completed_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingest(dir.path(), DEMO);
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let (status, pulled) = server.get("/v1/alerts?limit=1000");
    assert_eq!(status, 200, "{pulled}");
    // Alert id → its related event ids, as the SIEM sees them.
    let mut expected = std::collections::BTreeMap::new();
    for finding in pulled["alerts"].as_array().unwrap() {
        let related: Vec<String> = finding["finding_info"]["related_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_str().unwrap().to_owned())
            .collect();
        expected.insert(
            finding["finding_info"]["uid"].as_str().unwrap().to_owned(),
            related,
        );
    }
    assert!(!expected.is_empty(), "the demo scenario raises alerts");
    let mut seen = std::collections::BTreeSet::new();
    for session in ["sess-reporter-0042", "sess-triage-0001", "sess-fixer-0001"] {
        let lines = ndjson(&server, &format!("/v1/sessions/{session}/replay"));
        let order = ids(&lines);
        for (i, line) in lines.iter().enumerate() {
            for alert in line["alerts"].as_array().unwrap() {
                let id = alert["id"].as_str().unwrap().to_owned();
                let related = &expected[&id];
                assert!(
                    related.contains(&order[i]),
                    "placed on one of its events: {alert}"
                );
                let last = related
                    .iter()
                    .filter_map(|r| order.iter().position(|o| o == r))
                    .max();
                assert_eq!(last, Some(i), "placed on the last of its evidence: {alert}");
                assert!(alert["rule"].is_string() && alert["severity"].is_string());
                assert!(seen.insert(id), "an alert is placed once: {alert}");
            }
        }
    }
    assert!(!seen.is_empty(), "some alert is placed on a replay line");
}
