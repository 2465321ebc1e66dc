//! A topic bound to a tenant, against the real broker: its records land in that tenant only,
//! and a record claiming another tenant is dead-lettered instead of planted there.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::message::Message;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

fn record(id: &str, tenant: Option<&str>) -> Record {
    let mut v = json!({
        "schema": "hoptrail.tool_use.v1", "event_id": id, "time": "2026-11-30T10:00:00Z",
        "agent": {"id": "bound-agent"}, "session_id": "s", "system": "jira.corp",
        "tool": {"name": "t"}, "outcome": "success",
    });
    if let Some(t) = tenant {
        v["tenant"] = t.into();
    }
    Record {
        topic: TOOL,
        key: Some("bound-agent".into()),
        payload: v.to_string().into_bytes(),
    }
}

#[test]
fn a_producer_on_a_bound_topic_cannot_write_into_another_tenant() {
    let sb = Sandbox::new("tenant-bound");
    let config = sb.write_config(100_000);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[kafka.tenants]\n\"{}\" = \"acme\"\n",
        sb.topics[TOOL]
    ));
    std::fs::write(&config, text).unwrap();
    let server = sb.start_hoptrail(&config);
    sb.produce(&[
        record("unlabelled", None),
        record("labelled-acme", Some("acme")),
        record("claims-globex", Some("globex")),
        record("after", None),
    ]);
    let acme = create_key(&sb.data_dir(), "acme", "analyst");
    let globex = create_key(&sb.data_dir(), "globex", "analyst");
    let deadline = std::time::Instant::now() + WAIT;
    let mut total = 0;
    while total < 3 && std::time::Instant::now() < deadline {
        total = server.get_as(Some(&acme), "/v1/events").1["total"]
            .as_u64()
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, page) = server.get_as(Some(&acme), "/v1/events?limit=10");
    let mut ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["after", "labelled-acme", "unlabelled"], "{page}");
    for e in page["events"].as_array().unwrap() {
        assert_eq!(e["tenant"], "acme");
    }
    assert_eq!(server.get_as(Some(&globex), "/v1/events").1["total"], 0);
    assert_eq!(
        server.get("/v1/events").1["total"],
        0,
        "nothing in the default tenant"
    );

    let dead = sb.read_all(&sb.dead_letter_topic(TOOL), 1, WAIT);
    assert_eq!(dead.len(), 1);
    assert_eq!(header(&dead[0], "hoptrail.reason"), "invalid_field");
    assert!(header(&dead[0], "hoptrail.error").starts_with("tenant: "));
    assert!(String::from_utf8_lossy(dead[0].payload().unwrap()).contains("claims-globex"));
}
