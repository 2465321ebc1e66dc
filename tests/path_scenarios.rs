//! Hop reconstruction through the HTTP API, on a real index built by `hoptrail ingest`.

mod common;

use common::Server;
use serde_json::{json, Value};

const DEMO: &str = include_str!("../src/demo/scenario.ndjson");

fn serve_events(lines: &[String]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let data = common::ingest(dir.path(), &lines.join("\n"));
    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    (dir, server)
}

fn route(path: &Value) -> Vec<String> {
    let mut r = vec![path["start"]["system"].as_str().unwrap_or("").to_owned()];
    for h in path["hops"].as_array().unwrap() {
        r.push(h["to"].as_str().unwrap().to_owned());
    }
    r
}

fn tool(id: &str, t: &str, agent: &str, session: &str, system: &str, extra: Value) -> String {
    let mut v = json!({
        "schema": "hoptrail.tool_use.v1", "event_id": id, "time": t,
        "agent": {"id": agent}, "session_id": session, "system": system,
        "zone": "internal", "tool": {"name": "call"}, "outcome": "success",
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v.to_string()
}

#[test]
fn the_demo_scenario_paths_are_exactly_as_designed() {
    let lines: Vec<String> = DEMO.lines().map(str::to_owned).collect();
    let (_dir, server) = serve_events(&lines);

    let (status, triage) = server.get("/v1/agents/agent:triage-bot/path");
    assert_eq!(status, 200, "{triage}");
    assert_eq!(route(&triage), ["jira.corp", "github.com/acme"]);
    assert_eq!(
        triage["start"]["event_ids"],
        json!(["demo-0002", "demo-0003"])
    );
    let hop = &triage["hops"][0];
    assert_eq!(hop["event_ids"], json!(["demo-0004"]));
    assert_eq!(hop["credential_id"], "tok-triage-1");
    let fixer = &hop["delegations"][0];
    assert_eq!(fixer["via"], "token_exchange");
    assert_eq!(fixer["agent_id"], "agent:fixer-bot");
    assert_eq!(
        route(fixer),
        ["github.com/acme", "aws:prod-123", "ci.acme.corp"]
    );
    assert_eq!(
        fixer["hops"][0]["credential_root"], "tok-triage-1",
        "the delegate's token descends from the delegator's"
    );
    assert_eq!(
        triage["summary"]["systems"],
        json!([
            "jira.corp",
            "github.com/acme",
            "aws:prod-123",
            "ci.acme.corp"
        ])
    );

    let (_, reporter) = server.get("/v1/sessions/sess-reporter-0042/path");
    assert_eq!(
        route(&reporter),
        [
            "jira.corp",
            "aws:prod-123",
            "github.com/acme",
            "api.notion.com"
        ]
    );
    let s = &reporter["summary"];
    assert_eq!(s["external_systems"], json!(["api.notion.com"]));
    assert_eq!(s["zones_crossed"], json!(["internal->external"]));
    assert_eq!(s["denied"], 3);
    assert_eq!(s["credentials"], json!(["tok-reporter-9"]));
    assert_eq!(
        reporter["hops"][2]["event_ids"],
        json!(["demo-0016", "demo-0017", "demo-0018"])
    );

    let (_, leak) = server.get("/v1/credentials/tok-reporter-9/path");
    assert!(
        leak["workloads"]
            .as_array()
            .unwrap()
            .contains(&json!("spiffe://unknown.example/worker-7")),
        "{leak}"
    );

    let (_, reach) = server.get("/v1/systems/api.notion.com/reach");
    assert_eq!(reach["agents"][0]["agent_id"], "agent:reporter-bot");
    assert_eq!(reach["agents"][0]["arrivals"][0]["from"], "github.com/acme");

    let (status, dot) = server.get_text("/v1/agents/agent:triage-bot/path?format=dot");
    assert_eq!(status, 200);
    assert!(dot.starts_with("digraph hoptrail"), "{dot}");
    let (_, mermaid) = server.get_text("/v1/agents/agent:triage-bot/path?format=mermaid");
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    let (status, leak_dot) = server.get_text("/v1/credentials/tok-reporter-9/path?format=dot");
    assert_eq!(status, 200);
    assert!(
        leak_dot.contains("presented at") && leak_dot.contains("system api.notion.com"),
        "{leak_dot}"
    );
    let (status, reach_mermaid) =
        server.get_text("/v1/systems/api.notion.com/reach?format=mermaid");
    assert_eq!(status, 200);
    assert!(
        reach_mermaid.contains("system github.com/acme"),
        "{reach_mermaid}"
    );
}

#[test]
fn a_delegation_chain_of_three_agents_nests_twice() {
    let by = |a: &str, s: &str| json!({"delegated_by": {"agent_id": a, "session_id": s}});
    let lines = vec![
        tool("1", "2026-11-30T10:00:00Z", "a", "sa", "A", json!({})),
        tool("2", "2026-11-30T10:01:00Z", "b", "sb", "B", by("a", "sa")),
        tool("3", "2026-11-30T10:02:00Z", "c", "sc", "C", by("b", "sb")),
        tool("4", "2026-11-30T10:03:00Z", "c", "sc", "D", by("b", "sb")),
    ];
    let (_dir, server) = serve_events(&lines);
    let (_, a) = server.get("/v1/agents/a/path");
    let b = &a["start"]["delegations"][0];
    assert_eq!(
        (b["agent_id"].as_str(), b["via"].as_str()),
        (Some("b"), Some("delegated_by"))
    );
    let c = &b["start"]["delegations"][0];
    assert_eq!(route(c), ["C", "D"]);
    assert_eq!(a["summary"]["systems"], json!(["A", "B", "C", "D"]));
    let (_, shallow) = server.get("/v1/agents/a/path?max_depth=1");
    assert_eq!(
        shallow["start"]["delegations"][0]["start"]["delegations"][0]["truncated"],
        true
    );
}

#[test]
fn a_token_exchanged_twice_and_presented_by_a_foreign_workload_is_traced_to_its_root() {
    let token = |id: &str, t: &str, agent: &str, action: &str, tok: Value, extra: Value| {
        let mut v = json!({
            "schema": "hoptrail.token_use.v1", "event_id": id, "time": t,
            "agent": {"id": agent, "workload": format!("spiffe://acme.corp/{agent}")},
            "session_id": format!("s-{agent}"), "action": action, "token": tok, "system": "idp.acme.corp",
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v.to_string()
    };
    let lines = vec![
        token(
            "t1",
            "2026-11-30T10:00:00Z",
            "a",
            "issued",
            json!({"id": "tok-1"}),
            json!({}),
        ),
        token(
            "t2",
            "2026-11-30T10:01:00Z",
            "a",
            "exchanged",
            json!({"id": "tok-2", "parent_id": "tok-1"}),
            json!({"actor": {"agent_id": "b", "session_id": "s-b"}}),
        ),
        token(
            "t3",
            "2026-11-30T10:02:00Z",
            "b",
            "exchanged",
            json!({"id": "tok-3", "parent_id": "tok-2"}),
            json!({}),
        ),
        token(
            "t4",
            "2026-11-30T10:03:00Z",
            "b",
            "presented",
            json!({"id": "tok-3", "subject": "spiffe://acme.corp/b"}),
            json!({"system": "api.partner.example", "zone": "external", "presenter": "spiffe://evil.example/x"}),
        ),
        tool(
            "u1",
            "2026-11-30T10:00:30Z",
            "a",
            "s-a",
            "jira.corp",
            json!({"credential": {"id": "tok-1"}}),
        ),
    ];
    let (_dir, server) = serve_events(&lines);
    let (_, b) = server.get("/v1/agents/b/path");
    assert_eq!(b["start"]["system"], "api.partner.example");
    let (_, cred) = server.get("/v1/credentials/tok-3/path");
    assert_eq!(cred["lineage"]["chain"], json!(["tok-3", "tok-2", "tok-1"]));
    assert_eq!(cred["lineage"]["root"], "tok-1");
    assert!(
        cred["workloads"]
            .as_array()
            .unwrap()
            .contains(&json!("spiffe://evil.example/x")),
        "{cred}"
    );
    let (_, root) = server.get("/v1/credentials/tok-1/path");
    let agents: Vec<&str> = root["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents,
        ["a", "b"],
        "a leak of the root reaches everything derived from it"
    );
}

#[test]
fn clock_skew_within_the_tolerance_keeps_a_trace_parent_first_and_beyond_it_the_clocks_win() {
    let traced = |id: &str, t: &str, system: &str, span: &str, parent: Option<&str>| {
        let mut trace = json!({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": span});
        if let Some(p) = parent {
            trace["parent_span_id"] = json!(p);
        }
        tool(id, t, "a", "s", system, json!({"trace": trace}))
    };
    let lines = vec![
        traced("0", "2026-11-30T10:00:00Z", "A", "0000000000000001", None),
        traced(
            "p",
            "2026-11-30T10:00:11.500Z",
            "B",
            "0000000000000002",
            None,
        ),
        traced(
            "c",
            "2026-11-30T10:00:10Z",
            "C",
            "0000000000000003",
            Some("0000000000000002"),
        ),
        traced("p2", "2026-11-30T10:01:13Z", "D", "0000000000000004", None),
        traced(
            "c2",
            "2026-11-30T10:01:10Z",
            "E",
            "0000000000000005",
            Some("0000000000000004"),
        ),
    ];
    let (_dir, server) = serve_events(&lines);
    let (_, p) = server.get("/v1/agents/a/path");
    assert_eq!(
        route(&p),
        ["A", "B", "C", "E", "D"],
        "1.5 s of skew is tolerated, 3 s is not"
    );
}

#[test]
fn unknown_ids_are_404_and_an_empty_window_is_an_empty_path() {
    let lines = vec![tool(
        "1",
        "2026-11-30T10:00:00Z",
        "a",
        "sa",
        "A",
        json!({"credential": {"id": "k"}}),
    )];
    let (_dir, server) = serve_events(&lines);
    for path in [
        "/v1/agents/nobody/path",
        "/v1/sessions/nope/path",
        "/v1/credentials/nope/path",
        "/v1/systems/nowhere/reach",
    ] {
        let (status, body) = server.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, empty) =
        server.get("/v1/agents/a/path?from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z");
    assert_eq!(status, 200);
    assert!(
        empty["start"].is_null() && empty["hops"].as_array().unwrap().is_empty(),
        "{empty}"
    );
    let (status, _) = server.get("/v1/agents/a/path?max_depth=99");
    assert_eq!(status, 400);
    let (status, _) = server.get("/v1/agents/a/path?format=svg");
    assert_eq!(status, 400);
}
