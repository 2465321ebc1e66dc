//! End-to-end alerts: events through Kafka (or `hoptrail ingest`) → detection → alert store →
//! `GET /v1/alerts` followed by a SIEM's cursor, across a kill -9.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use hoptrail_core::detect::{alert_id, RuleId};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(120);
const TENANT: &str = "default";

/// Seconds after 2026-11-30T09:00:00Z as RFC 3339.
fn at(s: u64) -> String {
    format!(
        "2026-11-30T{:02}:{:02}:{:02}Z",
        9 + s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

fn tool(id: &str, s: u64, agent: &str, session: &str, system: &str) -> Value {
    json!({
        "schema": "hoptrail.tool_use.v1", "event_id": id, "time": at(s),
        "agent": {"id": agent}, "session_id": session, "system": system, "zone": "internal",
        "tool": {"name": "t.call", "server": "mcp"}, "outcome": "success",
    })
}

fn token(id: &str, s: u64, action: &str, tok: &str) -> Value {
    let mut v = json!({
        "schema": "hoptrail.token_use.v1", "event_id": id, "time": at(s),
        "agent": {"id": "agent:idp"}, "session_id": "sess-idp", "action": action,
        "token": {"id": tok},
    });
    if action != "revoked" {
        v["system"] = json!("sts.corp");
        v["zone"] = json!("internal");
    }
    v
}

trait Tweak {
    fn set(self, path: &[&str], value: Value) -> Self;
}

impl Tweak for Value {
    fn set(mut self, path: &[&str], value: Value) -> Value {
        let mut v = &mut self;
        for p in &path[..path.len() - 1] {
            v = &mut v[*p];
        }
        v[path[path.len() - 1]] = value;
        self
    }
}

fn cred(v: Value, c: &str) -> Value {
    v.set(&["credential"], json!({"id": c}))
}

fn records(events: &[Value]) -> Vec<Record> {
    events
        .iter()
        .map(|e| Record {
            topic: if e["schema"] == "hoptrail.tool_use.v1" {
                TOOL
            } else {
                TOKEN
            },
            key: e["agent"]["id"].as_str().map(str::to_owned),
            payload: serde_json::to_vec(e).unwrap(),
        })
        .collect()
}

/// Every scenario of the catalogue that the suite drives end to end, each with its benign twin,
/// all within 20 minutes of event time. Returns the events and the alerts they must raise.
fn scenarios() -> (Vec<Value>, BTreeMap<String, RuleId>) {
    let w = |name: &str| format!("spiffe://acme.corp/agents/{name}");
    let mut ev = Vec::new();
    let mut want = BTreeMap::new();
    let mut expect = |rule: RuleId, key: &[&str]| {
        want.insert(alert_id(rule, TENANT, key), rule);
    };

    // credential.foreign_presenter: a token issued to `owner`, presented by `thief`'s workload.
    ev.push(token("fp-1", 0, "issued", "tok-fp").set(&["token", "subject"], json!(w("owner"))));
    ev.push(
        cred(
            tool("fp-2", 60, "agent:thief", "sess-thief", "jira.corp"),
            "tok-fp",
        )
        .set(&["agent", "workload"], json!(w("thief"))),
    );
    expect(RuleId::ForeignPresenter, &["tok-fp", &w("thief")]);
    // Twin: the subject presents its own token.
    ev.push(token("fp-3", 0, "issued", "tok-own").set(&["token", "subject"], json!(w("owner2"))));
    ev.push(
        cred(
            tool("fp-4", 60, "agent:owner2", "sess-owner2", "jira.corp"),
            "tok-own",
        )
        .set(&["agent", "workload"], json!(w("owner2"))),
    );

    // credential.after_revocation, the revocation produced after the use it condemns.
    ev.push(cred(
        tool("rv-1", 300, "agent:late", "sess-late", "jira.corp"),
        "tok-rv",
    ));
    ev.push(token("rv-2", 200, "revoked", "tok-rv"));
    expect(RuleId::AfterRevocation, &["tok-rv"]);
    // Twin: a use before the revocation.
    ev.push(cred(
        tool("rv-3", 100, "agent:early", "sess-early", "jira.corp"),
        "tok-rv-ok",
    ));
    ev.push(token("rv-4", 200, "revoked", "tok-rv-ok"));

    // credential.shared: one key, two agents.
    ev.push(cred(
        tool("sh-1", 100, "agent:s1", "sess-s1", "jira.corp"),
        "key-shared",
    ));
    ev.push(cred(
        tool("sh-2", 110, "agent:s2", "sess-s2", "github.com/acme"),
        "key-shared",
    ));
    expect(RuleId::SharedCredential, &["key-shared"]);
    // Twin: one agent, its key, two sessions.
    ev.push(cred(
        tool("sh-3", 100, "agent:s3", "sess-s3a", "jira.corp"),
        "key-solo",
    ));
    ev.push(cred(
        tool("sh-4", 110, "agent:s3", "sess-s3b", "github.com/acme"),
        "key-solo",
    ));

    // boundary.first_external: an internal read, then out.
    ev.push(tool("fe-1", 400, "agent:exfil", "sess-exfil", "jira.corp"));
    ev.push(
        tool("fe-2", 460, "agent:exfil", "sess-exfil", "pastebin.com")
            .set(&["zone"], json!("external")),
    );
    expect(RuleId::FirstExternal, &["agent:exfil"]);
    // Twin: refused at the boundary.
    ev.push(tool("fe-3", 400, "agent:stay", "sess-stay", "jira.corp"));
    ev.push(
        tool("fe-4", 460, "agent:stay", "sess-stay", "pastebin.com")
            .set(&["zone"], json!("external"))
            .set(&["outcome"], json!("denied")),
    );

    // blast_radius.fanout: 8 systems within 10 minutes; twin: 8 systems over 10.5 minutes.
    for i in 0..8u64 {
        ev.push(tool(
            &format!("fan-{i}"),
            500 + i * 60,
            "agent:fan",
            "sess-fan",
            &format!("sys-{i}.corp"),
        ));
        ev.push(tool(
            &format!("calm-{i}"),
            400 + i * 90,
            "agent:calm",
            "sess-calm",
            &format!("sys-{i}.corp"),
        ));
    }
    expect(RuleId::Fanout, &["agent:fan", "sess-fan"]);

    // probe.denied_burst: 5 denied calls then a success; twin: 4 then a success.
    for (agent, denied) in [("agent:probe", 5u64), ("agent:probe4", 4)] {
        let session = format!("sess-{}", &agent[6..]);
        for i in 0..denied {
            ev.push(
                tool(
                    &format!("{agent}-d{i}"),
                    700 + i * 10,
                    agent,
                    &session,
                    &format!("vault-{}.corp", i % 3),
                )
                .set(&["outcome"], json!("denied")),
            );
        }
        ev.push(tool(
            &format!("{agent}-ok"),
            800,
            agent,
            &session,
            "vault-9.corp",
        ));
    }
    expect(RuleId::DeniedBurst, &["agent:probe", "sess-probe"]);

    // delegation.depth: d0 → d1 → d2 → d3 → d4 (four hand-offs); twin: e0 → … → e3.
    for (prefix, n) in [("d", 4u64), ("e", 3)] {
        for i in 1..=n {
            ev.push(
                tool(
                    &format!("dl-{prefix}{i}"),
                    900 + i,
                    &format!("agent:{prefix}{i}"),
                    &format!("sess-{prefix}{i}"),
                    "jira.corp",
                )
                .set(
                    &["delegated_by"],
                    json!({"agent_id": format!("agent:{prefix}{}", i - 1), "session_id": format!("sess-{prefix}{}", i - 1)}),
                ),
            );
        }
    }
    expect(RuleId::DelegationDepth, &["agent:d4", "sess-d4"]);
    (ev, want)
}

/// An internal call an hour later: moves the tenant's watermark past every deferred verdict
/// (`credential.foreign_presenter` waits for the 10-minute lateness).
fn clock(id: &str, s: u64) -> Value {
    tool(id, s, "agent:clock", "sess-clock", "jira.corp")
}

/// The second wave: `n` agents that each go external once (first_external), pairs of them
/// sharing a key (shared), amid `filler` alert-free internal calls.
fn wave(n: usize, filler: usize) -> (Vec<Value>, BTreeMap<String, RuleId>) {
    let base = 3700;
    let mut ev = Vec::new();
    let mut want = BTreeMap::new();
    for i in 0..n {
        let agent = format!("agent:w{i}");
        let session = format!("sess-w{i}");
        let key = format!("key-pair-{}", i / 2);
        ev.push(cred(
            tool(
                &format!("w{i}-in"),
                base + (i as u64 % 600),
                &agent,
                &session,
                "jira.corp",
            ),
            &key,
        ));
        ev.push(
            tool(
                &format!("w{i}-out"),
                base + 1 + (i as u64 % 600),
                &agent,
                &session,
                "pastebin.com",
            )
            .set(&["zone"], json!("external")),
        );
        want.insert(
            alert_id(RuleId::FirstExternal, TENANT, &[&agent]),
            RuleId::FirstExternal,
        );
        if i % 2 == 1 {
            want.insert(
                alert_id(RuleId::SharedCredential, TENANT, &[&key]),
                RuleId::SharedCredential,
            );
        }
    }
    let systems = [
        "jira.corp",
        "github.com/acme",
        "aws:prod-123",
        "confluence.corp",
    ];
    let mut out = Vec::with_capacity(ev.len() + filler);
    let every = (filler / ev.len().max(1)).max(1);
    let mut alerting = ev.into_iter();
    for i in 0..filler {
        if i % every == 0 {
            out.extend(alerting.next());
        }
        out.push(tool(
            &format!("fill-{i:06}"),
            base + (i as u64 % 600),
            &format!("agent:fill-{}", i % 40),
            &format!("sess-fill-{}", i % 40),
            systems[i % systems.len()],
        ));
    }
    out.extend(alerting);
    (out, want)
}

/// A SIEM's position in the feed and what it has received.
struct Siem {
    key: String,
    cursor: Option<String>,
    received: Vec<Value>,
}

impl Siem {
    fn new(key: String) -> Self {
        Siem {
            key,
            cursor: None,
            received: Vec::new(),
        }
    }

    /// One page; returns how many alerts it held.
    fn pull(&mut self, server: &Server, limit: usize) -> usize {
        let path = match &self.cursor {
            Some(c) => format!("/v1/alerts?limit={limit}&cursor={c}"),
            None => format!("/v1/alerts?limit={limit}"),
        };
        let (status, body) = server.get_as(Some(&self.key), &path);
        assert_eq!(status, 200, "{path}: {body}");
        let alerts = body["alerts"].as_array().expect("alerts array").clone();
        let next = body["next_cursor"]
            .as_str()
            .expect("next_cursor is always present");
        if alerts.is_empty() {
            if let Some(c) = &self.cursor {
                assert_eq!(next, c, "an empty page keeps the cursor");
            }
        }
        self.cursor = Some(next.to_owned());
        let n = alerts.len();
        self.received.extend(alerts);
        n
    }

    /// Pulls until `want` distinct ids arrived or time ran out.
    fn pull_until(&mut self, server: &Server, want: usize, limit: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.ids().len() < want && Instant::now() < deadline {
            if self.pull(server, limit) == 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn ids(&self) -> BTreeSet<String> {
        self.received
            .iter()
            .map(|a| a["finding_info"]["uid"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The OCSF Detection Finding fields the suite relies on, with their types.
fn assert_ocsf_finding(f: &Value) {
    let ctx = || format!("{f:#}");
    assert_eq!(f["class_uid"], 2004, "{}", ctx());
    assert_eq!(f["category_uid"], 2);
    assert_eq!(f["activity_id"], 1);
    assert_eq!(f["type_uid"], 200401);
    assert!(
        (1..=5).contains(&f["severity_id"].as_u64().unwrap()),
        "{}",
        ctx()
    );
    assert!(f["severity"].is_string());
    assert!(
        f["time"].as_i64().unwrap() > 1_700_000_000_000,
        "time in ms"
    );
    assert_eq!(f["metadata"]["product"]["name"], "hoptrail");
    assert!(f["metadata"]["version"].is_string());
    let info = &f["finding_info"];
    let uid = info["uid"].as_str().unwrap();
    assert_eq!(uid.len(), 64);
    assert!(info["title"].as_str().is_some_and(|t| !t.is_empty()));
    let rule = info["analytic"]["uid"].as_str().unwrap();
    assert!(RuleId::parse(rule).is_some(), "{rule}");
    assert!(info["analytic"]["name"].is_string());
    let related = info["related_events"].as_array().unwrap();
    assert!(!related.is_empty() && related.iter().all(|e| e["uid"].is_string()));
    let graph = &info["attack_graph"];
    let nodes = graph["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty());
    let node_ids: BTreeSet<&str> = nodes.iter().map(|n| n["uid"].as_str().unwrap()).collect();
    for e in graph["edges"].as_array().unwrap() {
        assert!(
            node_ids.contains(e["source"].as_str().unwrap()),
            "{}",
            ctx()
        );
        assert!(
            node_ids.contains(e["target"].as_str().unwrap()),
            "{}",
            ctx()
        );
    }
    assert!(f["actor"]["user"]["uid"].is_string());
    assert!(f["resources"]
        .as_array()
        .is_some_and(|r| r.iter().all(|x| x["uid"].is_string())));
}

fn by_id(received: &[Value]) -> BTreeMap<String, &Value> {
    received
        .iter()
        .map(|a| (a["finding_info"]["uid"].as_str().unwrap().to_owned(), a))
        .collect()
}

#[test]
fn each_rule_fires_on_its_scenario_not_on_its_twin_and_the_cursor_delivers_every_alert_once_across_a_kill9(
) {
    let sb = Sandbox::new("alerts");
    let config = sb.write_config(500);
    let mut server = sb.start_hoptrail(&config);
    let data = sb.data_dir();
    let siem_key = create_key(&data, TENANT, "siem");
    let analyst_key = create_key(&data, TENANT, "analyst");
    let other_siem = create_key(&data, "other", "siem");

    // Phase 1: every scenario and its twin, then the clock.
    let (events, want) = scenarios();
    sb.produce(&records(&events));
    assert_eq!(
        server.wait_total(events.len() as u64, WAIT),
        events.len() as u64
    );
    sb.produce(&records(&[clock("clock-1", 3600)]));
    let mut siem = Siem::new(siem_key.clone());
    siem.pull_until(&server, want.len(), 3, WAIT);
    // A little longer: nothing else may come.
    std::thread::sleep(Duration::from_secs(1));
    while siem.pull(&server, 100) > 0 {}
    let got = by_id(&siem.received);
    let got_rules: BTreeMap<String, RuleId> = got
        .iter()
        .map(|(id, f)| {
            (
                id.clone(),
                RuleId::parse(f["finding_info"]["analytic"]["uid"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got_rules, want,
        "exactly the scenarios' alerts, none from a twin"
    );
    assert_eq!(siem.received.len(), want.len(), "each alert once");
    for f in &siem.received {
        assert_ocsf_finding(f);
    }
    // The content follows the evidence.
    let fp = got[&alert_id(
        RuleId::ForeignPresenter,
        TENANT,
        &["tok-fp", "spiffe://acme.corp/agents/thief"],
    )];
    assert_eq!(fp["actor"]["user"]["uid"], "agent:thief");
    assert_eq!(fp["actor"]["user"]["credential_uid"], "tok-fp");
    assert_eq!(fp["actor"]["app_uid"], "spiffe://acme.corp/agents/thief");
    let related: BTreeSet<&str> = fp["finding_info"]["related_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap())
        .collect();
    assert_eq!(related, BTreeSet::from(["fp-1", "fp-2"]));
    let fan = got[&alert_id(RuleId::Fanout, TENANT, &["agent:fan", "sess-fan"])];
    assert_eq!(fan["resources"].as_array().unwrap().len(), 8);
    assert_eq!(fan["actor"]["session"]["uid"], "sess-fan");
    assert_eq!(
        server.metric("hoptrail_alerts_raised_total{rule=\"blast_radius.fanout\"}"),
        1.0
    );

    // Filters, roles, tenants.
    let (status, body) = server.get_as(Some(&siem_key), "/v1/alerts?rule=probe.denied_burst");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    let (status, body) = server.get_as(Some(&siem_key), "/v1/alerts?severity=high&limit=1000");
    assert_eq!(status, 200);
    assert!(body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity_id"].as_u64().unwrap() >= 4));
    let (status, _) = server.get_as(Some(&siem_key), "/v1/alerts?rule=nope");
    assert_eq!(status, 400);
    let (status, _) = server.get_as(Some(&siem_key), "/v1/alerts?cursor=zzz");
    assert_eq!(status, 400);
    let (status, _) = server.get_as(Some(&analyst_key), "/v1/alerts");
    assert_eq!(status, 403, "alerts are for siem and admin keys");
    let (status, body) = server.get_as(Some(&other_siem), "/v1/alerts?limit=1000");
    assert_eq!(status, 200);
    assert_eq!(body["alerts"], json!([]), "another tenant sees none");

    // Phase 2: a wave of alerts amid filler; the SIEM is mid-feed when hoptrail is killed.
    let (wave_events, wave_want) = wave(300, 20_000);
    let mut all_want = want.clone();
    all_want.extend(wave_want);
    let total = (events.len() + 1 + wave_events.len()) as u64;
    sb.produce(&records(&wave_events));
    siem.pull_until(&server, want.len() + 1, 7, WAIT);
    let indexed = server.total();
    server.kill9();
    assert!(
        indexed < total,
        "killed mid-ingest ({indexed} of {total} events)"
    );
    let before_kill = siem.ids().len();
    assert!(
        before_kill > want.len() && before_kill < all_want.len(),
        "killed mid-feed ({before_kill} of {})",
        all_want.len()
    );

    let server = sb.start_hoptrail(&config);
    assert_eq!(server.wait_total(total, WAIT), total);
    siem.pull_until(&server, all_want.len(), 50, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    while siem.pull(&server, 1000) > 0 {}
    let ids: Vec<String> = siem
        .received
        .iter()
        .map(|a| a["finding_info"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), distinct.len(), "no alert delivered twice");
    assert_eq!(
        distinct,
        all_want.keys().cloned().collect::<BTreeSet<_>>(),
        "every alert delivered, none missing, none extra"
    );

    // Re-sending everything raises nothing new.
    let mut again = events.clone();
    again.push(clock("clock-1", 3600));
    again.extend(wave_events.iter().cloned());
    sb.produce(&records(&again));
    let deadline = Instant::now() + WAIT;
    while server.metric("hoptrail_events_duplicate_total") < again.len() as f64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        server.metric("hoptrail_events_duplicate_total"),
        again.len() as f64
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(siem.pull(&server, 1000), 0, "re-sent events raise no alert");
}

#[test]
fn hoptrail_ingest_raises_the_alerts_that_serve_then_answers_and_a_second_ingest_adds_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("events.ndjson");
    let (mut events, want) = scenarios();
    events.push(clock("clock-1", 3600));
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let ingest = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoptrail"))
            .args([
                "ingest",
                "--data-dir",
                data.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .output()
            .expect("run hoptrail ingest");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let first = ingest();
    assert!(
        first.contains(&format!("{} new alerts", want.len())),
        "{first}"
    );
    let second = ingest();
    assert!(
        second.contains(&format!("0 accepted, {} duplicate", events.len())),
        "{second}"
    );
    assert!(second.contains(" 0 new alerts"), "{second}");

    let server = Server::start(&["serve", "--data-dir", data.to_str().unwrap()]);
    let mut siem = Siem::new(create_key(&data, TENANT, "siem"));
    siem.pull_until(&server, want.len(), 4, WAIT);
    assert_eq!(siem.pull(&server, 100), 0);
    let got: BTreeSet<String> = siem.ids();
    assert_eq!(siem.received.len(), want.len());
    assert_eq!(got, want.keys().cloned().collect::<BTreeSet<_>>());
    for f in &siem.received {
        assert_ocsf_finding(f);
    }
}
