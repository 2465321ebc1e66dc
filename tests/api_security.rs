//! API security over a real socket: keys, roles, tenant isolation, rate limits, limits, TLS and
//! the audit chain, with keys made by the real `hoptrail keys` command.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{create_key, Server};
use serde_json::{json, Value};

/// Two tenants that use the same names for different things, and ids only one of them has.
fn events() -> Vec<String> {
    let mut lines = Vec::new();
    for (tenant, n) in [("acme", 6), ("globex", 3)] {
        for i in 0..n {
            let system = ["jira.corp", "github.com/acme", "aws:prod-1"][i % 3];
            lines.push(
                json!({
                    "schema": "hoptrail.tool_use.v1",
                    "event_id": format!("{tenant}-ev-{i}"),
                    "time": format!("2026-11-30T10:00:0{i}Z"),
                    "tenant": tenant,
                    "agent": {"id": format!("{tenant}-agent"), "workload": format!("spiffe://{tenant}.corp/bot")},
                    "session_id": format!("{tenant}-session"),
                    "system": system,
                    "zone": "internal",
                    "tool": {"name": "call"},
                    "outcome": "success",
                    "credential": {"id": format!("{tenant}-token")},
                })
                .to_string(),
            );
        }
    }
    lines
}

fn hoptrail(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args(args)
        .output()
        .expect("run hoptrail")
}

fn ingested(dir: &Path) -> PathBuf {
    common::ingest(dir, &events().join("\n"))
}

fn serve(data: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Every route the API has, with an id that exists in tenant `acme` only.
const ROUTES: &[(&str, &str)] = &[
    ("/v1/events", "analyst"),
    ("/v1/events/acme-ev-1", "analyst"),
    ("/v1/agents/acme-agent/path", "analyst"),
    ("/v1/sessions/acme-session/path", "analyst"),
    ("/v1/credentials/acme-token/path", "analyst"),
    ("/v1/systems/jira.corp/reach", "analyst"),
    ("/v1/sessions/acme-session/replay", "analyst"),
    ("/v1/alerts", "siem"),
    ("/metrics", "admin"),
];

fn allowed(role: &str, needs: &str) -> bool {
    role == "admin" || role == needs
}

#[test]
fn every_route_but_the_probes_refuses_a_missing_or_bad_key_alike() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    let revoked = create_key(&data, "acme", "admin");
    let revoked_id = &revoked[4..16];
    assert!(hoptrail(&[
        "keys",
        "--data-dir",
        data.to_str().unwrap(),
        "revoke",
        revoked_id
    ])
    .status
    .success());
    let unknown = "hpt_0123456789ab_".to_owned() + &"7".repeat(64);
    let mut bodies = std::collections::BTreeSet::new();
    for (route, _) in ROUTES.iter().chain(&[("/no/such/route", "admin")]) {
        for key in [
            None,
            Some("garbage"),
            Some(unknown.as_str()),
            Some(revoked.as_str()),
        ] {
            let (status, headers, body) = server.get_raw(key, route);
            assert_eq!(status, 401, "{route} with {key:?}: {body}");
            assert!(headers.contains_key("www-authenticate"), "{route}");
            bodies.insert(body);
        }
    }
    assert_eq!(
        bodies.len(),
        1,
        "a 401 must not hint at what was wrong: {bodies:?}"
    );
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(server.get_as(None, probe).0, 200, "{probe}");
    }
}

#[test]
fn each_role_reaches_exactly_its_routes() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    for role in ["analyst", "siem", "admin"] {
        let key = create_key(&data, "acme", role);
        for (route, needs) in ROUTES {
            let (status, body) = server.get_as(Some(&key), route);
            let want = if allowed(role, needs) { 200 } else { 403 };
            assert_eq!(status, want, "{role} on {route}: {body}");
            if want == 403 {
                assert_eq!(body["error"]["code"], "forbidden", "{route}");
            }
        }
    }
}

#[test]
fn a_tenant_sees_nothing_of_another_tenant_on_any_route() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    let acme = create_key(&data, "acme", "admin");
    let globex = create_key(&data, "globex", "admin");
    let nobody = create_key(&data, "initech", "admin");
    // What an id that exists nowhere answers: the other tenant's ids must answer the same.
    let missing = |route: &str| route.replace("acme-", "nowhere-");
    for (route, _) in ROUTES.iter().filter(|(r, _)| *r != "/metrics") {
        let (own, own_body) = server.get_as(Some(&acme), route);
        assert_eq!(own, 200, "{route}: {own_body}");
        for key in [&globex, &nobody] {
            let (status, body) = server.get_as(Some(key), route);
            let (absent_status, absent_body) = server.get_as(Some(key), &missing(route));
            assert_eq!(status, absent_status, "{route}: {body}");
            if status != 404 {
                let text = body.to_string();
                assert!(!text.contains("acme-"), "{route} leaked acme data: {text}");
            } else {
                assert_eq!(
                    body["error"]["message"]
                        .as_str()
                        .map(|m| m.replace("acme-", "nowhere-")),
                    absent_body["error"]["message"].as_str().map(str::to_owned),
                    "{route}"
                );
            }
        }
    }
    let (_, list) = server.get_as(Some(&globex), "/v1/events?limit=100");
    assert_eq!(list["total"], 3, "{list}");
    let (_, reach) = server.get_as(Some(&globex), "/v1/systems/jira.corp/reach");
    assert!(reach.to_string().contains("globex-agent"), "{reach}");
}

#[test]
fn a_revoked_key_is_refused_on_the_next_request_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    let key = create_key(&data, "acme", "analyst");
    assert_eq!(server.get_as(Some(&key), "/v1/events").0, 200);
    let out = hoptrail(&[
        "keys",
        "--data-dir",
        data.to_str().unwrap(),
        "revoke",
        &key[4..16],
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(server.get_as(Some(&key), "/v1/events").0, 401);
    let list = hoptrail(&[
        "keys",
        "--data-dir",
        data.to_str().unwrap(),
        "list",
        "--json",
    ]);
    let keys: Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key[4..16])
        .unwrap();
    assert_eq!(row["status"], "revoked");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&key[17..]),
        "list shows no secret"
    );
}

#[test]
fn an_expired_key_is_refused_from_its_expiry_on_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let key = common::create_key_with(
        &data,
        "acme",
        "analyst",
        &["--expires", &expires.to_rfc3339()],
    );
    assert_eq!(server.get_as(Some(&key), "/v1/events").0, 200);
    while chrono::Utc::now() <= expires + chrono::Duration::milliseconds(100) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, body) = server.get_as(Some(&key), "/v1/events");
    assert_eq!(status, 401, "{body}");
    let (_, missing) = server.get_as(None, "/v1/events");
    assert_eq!(
        body, missing,
        "an expired key is refused like no key at all"
    );
}

#[test]
fn a_key_over_its_budget_gets_429_with_retry_after_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let config = dir.path().join("hoptrail.toml");
    std::fs::write(
        &config,
        "[api]\nrate_limit_per_second = 0.5\nrate_limit_burst = 3\n",
    )
    .unwrap();
    let server = serve(&data, &["--config", config.to_str().unwrap()]);
    for (route, _) in ROUTES {
        let key = create_key(&data, "acme", "admin");
        for _ in 0..3 {
            assert_eq!(server.get_as(Some(&key), route).0, 200, "{route}");
        }
        let (status, headers, body) = server.get_raw(Some(&key), route);
        assert_eq!(status, 429, "{route}: {body}");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "{route}: retry-after {retry}");
    }
    let fresh = create_key(&data, "acme", "analyst");
    assert_eq!(
        server.get_as(Some(&fresh), "/v1/events").0,
        200,
        "budgets are per key"
    );
}

#[test]
fn metrics_need_an_admin_key_unless_served_on_the_separate_metrics_listener() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let port = common::free_port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = serve(&data, &["--metrics-listen", &metrics_addr]);
    assert_eq!(server.get_as(None, "/metrics").0, 401);
    let open = reqwest::blocking::get(format!("http://{metrics_addr}/metrics")).unwrap();
    assert_eq!(open.status(), 200);
    assert!(open.text().unwrap().contains("hoptrail_"));
    let other = reqwest::blocking::get(format!("http://{metrics_addr}/v1/events")).unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics listener serves metrics only"
    );
}

#[test]
fn oversized_and_deeply_nested_requests_are_refused_before_any_search() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let server = serve(&data, &[]);
    let key = &server.key;
    let long = format!("/v1/events?q={}", "a".repeat(10_000));
    assert_eq!(server.get_as(Some(key), &long).0, 414);
    let nested = format!("/v1/events?q={}x{}", "(".repeat(40), ")".repeat(40));
    let (status, body) = server.get_as(Some(key), &nested);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nested"));
    assert_eq!(server.get_as(Some(key), "/v1/events?limit=1000000").0, 400);
    // Found by schemathesis: a bound before the index's representable range overflowed.
    for far in ["0156-06-15T02:00:52.8%2B18:19", "9999-12-31T23:59:59Z"] {
        let (status, body) = server.get_as(Some(key), &format!("/v1/events?from={far}"));
        assert_eq!(status, 200, "{far}: {body}");
        let (status, body) =
            server.get_as(Some(key), &format!("/v1/agents/acme-agent/path?to={far}"));
        assert!(status == 200 || status == 404, "{far}: {body}");
    }
    assert_eq!(
        server
            .get_as(Some(key), "/v1/agents/acme-agent/path?max_depth=1000")
            .0,
        400
    );
    // An id whose percent-encoding is not UTF-8 is a JSON 400 like every other bad input.
    for route in ROUTES
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| r.matches('/').count() > 2)
    {
        let id = route.split('/').nth(3).unwrap();
        let (status, body) = server.get_as(Some(key), &route.replacen(id, "%FF%FE", 1));
        assert_eq!(status, 400, "{route}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{route}: {body}");
    }
}

#[test]
fn every_call_is_in_a_hash_chained_audit_log_that_names_a_tampered_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let mut server = serve(&data, &[]);
    let analyst = create_key(&data, "acme", "analyst");
    server.get_as(Some(&analyst), "/v1/events?q=outcome:success&limit=2");
    server.get_as(Some(&analyst), "/metrics");
    server.get_as(None, "/v1/events");
    server.get_as(Some(&analyst), "/v1/agents/acme-agent/path");
    let token = "ghp_Zq7sR2vX9kL4mN8pT1wY6cB3dF5gH0jK2lQ9";
    server.get_as(Some(&analyst), &format!("/v1/events?q=%22{token}%22"));
    server.get_as(Some(&analyst), &format!("/v1/credentials/{token}/path"));
    server.terminate();
    let log = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        !text.contains(token),
        "a secret typed into a query never reaches the audit log"
    );
    assert!(lines[4]["params"]["q"]
        .as_str()
        .unwrap()
        .contains("[REDACTED:github"));
    assert!(lines[5]["path"]
        .as_str()
        .unwrap()
        .contains("[REDACTED:github"));
    let id = &analyst[4..16];
    assert_eq!(lines[0]["key_id"], id);
    assert_eq!(lines[0]["tenant"], "acme");
    assert_eq!(lines[0]["route"], "/v1/events");
    assert_eq!(
        lines[0]["params"],
        json!({"q": "outcome:success", "limit": "2"})
    );
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["result_count"], 2);
    assert_eq!(lines[1]["status"], 403);
    assert_eq!(lines[2]["status"], 401);
    assert!(lines[2]["key_id"].is_null());
    assert_eq!(lines[3]["route"], "/v1/agents/{agent_id}/path");

    let verify = hoptrail(&["audit", "verify", log.to_str().unwrap()]);
    assert!(verify.status.success(), "{verify:?}");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("6 lines"));

    let tampered = text.replacen("\"status\":403", "\"status\":200", 1);
    std::fs::write(&log, tampered).unwrap();
    let verify = hoptrail(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(1), "{verify:?}");
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("line 2"),
        "{verify:?}"
    );
}

#[test]
fn with_tls_configured_the_api_speaks_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = ingested(dir.path());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let server = Server::start_with(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
        Some(cert_pem.as_bytes()),
    );
    assert!(server.base.starts_with("https://"));
    let acme = create_key(&data, "acme", "analyst");
    let (status, body) = server.get_as(Some(&acme), "/v1/events");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 6);
    let plain = server.base.replace("https://", "http://");
    let answer = reqwest::blocking::get(format!("{plain}/healthz"));
    assert!(
        answer.map(|r| !r.status().is_success()).unwrap_or(true),
        "no plaintext answers"
    );
}
