//! End-to-end: Kafka-protocol broker → `hoptrail serve` → index on disk → HTTP API.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use rdkafka::message::Message;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn ten_thousand_mixed_events_are_all_searchable_and_every_invalid_one_is_dead_lettered_with_its_reason(
) {
    let sb = Sandbox::new("mixed");
    let server = sb.start_hoptrail(&sb.write_config(100_000));
    let valid = valid_events(&sb.prefix, 9_700);
    // A third of the bad records arrive on the token topic: each topic has its own dead letters.
    let mut invalid = invalid_records(&sb.prefix, 300);
    for (i, r) in invalid.iter_mut().enumerate() {
        if i % 3 == 0 {
            r.topic = TOKEN;
        }
    }
    // Interleave so that bad records sit between good ones on the same partitions.
    let mut records = Vec::new();
    let mut bad = invalid.iter();
    for (i, (_, r)) in valid.iter().enumerate() {
        records.push(Record {
            topic: r.topic,
            key: r.key.clone(),
            payload: r.payload.clone(),
        });
        if i % 32 == 5 {
            if let Some(b) = bad.next() {
                records.push(Record {
                    topic: b.topic,
                    key: Some(format!("agent-{}", i % 37)),
                    payload: b.payload.clone(),
                });
            }
        }
    }
    for b in bad {
        records.push(Record {
            topic: b.topic,
            key: None,
            payload: b.payload.clone(),
        });
    }
    sb.produce(&records);

    assert_eq!(
        server.wait_total(valid.len() as u64, WAIT),
        valid.len() as u64
    );
    let ids = server.all_event_ids();
    assert_eq!(ids.len(), valid.len(), "paging returns each event once");
    let expected: BTreeSet<String> = valid.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(id_set(&ids), expected);

    // Each dead letter is its record, unchanged, in its own topic's dead-letter topic, with the
    // reason the decoder gives for exactly that record.
    let decoder = hoptrail_schemas::Decoder::new();
    let mut reasons = BTreeSet::new();
    for topic in [TOOL, TOKEN] {
        let sent: Vec<&Record> = invalid.iter().filter(|r| r.topic == topic).collect();
        let dead = sb.read_all(&sb.dead_letter_topic(topic), sent.len(), WAIT);
        assert_eq!(
            dead.len(),
            sent.len(),
            "one dead letter per invalid record of {}, no more",
            sb.topics[topic]
        );
        let sent_bytes: BTreeSet<&[u8]> = sent.iter().map(|r| r.payload.as_slice()).collect();
        for m in &dead {
            let payload = m.payload().unwrap_or_default();
            assert!(
                sent_bytes.contains(payload),
                "dead letters carry the original bytes"
            );
            let header = |k: &str| header(m, k);
            let Err(expected) = decoder.decode(payload) else {
                panic!("a dead-lettered record does not decode");
            };
            assert_eq!(header("hoptrail.reason"), expected.reason.as_str());
            assert_eq!(header("hoptrail.error"), expected.message);
            assert!(
                expected.message.contains(':'),
                "reason names a field or the record: {}",
                expected.message
            );
            assert_eq!(header("hoptrail.source.topic"), sb.topics[topic]);
            header("hoptrail.source.partition").parse::<i32>().unwrap();
            header("hoptrail.source.offset").parse::<i64>().unwrap();
            reasons.insert(header("hoptrail.reason"));
        }
        let got: BTreeSet<&[u8]> = dead
            .iter()
            .map(|m| m.payload().unwrap_or_default())
            .collect();
        assert_eq!(got, sent_bytes, "every invalid record is dead-lettered");
    }
    for r in [
        "not_json",
        "invalid_field",
        "unknown_schema",
        "too_deep",
        "invalid_utf8",
    ] {
        assert!(reasons.contains(r), "reason {r} among {reasons:?}");
    }
    assert_eq!(
        server.metric("hoptrail_events_indexed_total") as usize,
        valid.len()
    );
    let rejected: f64 = [
        "not_json",
        "invalid_field",
        "unknown_schema",
        "too_deep",
        "invalid_utf8",
        "too_large",
    ]
    .iter()
    .map(|r| server.metric(&format!("hoptrail_events_rejected_total{{reason=\"{r}\"}}")))
    .sum();
    assert_eq!(rejected as usize, invalid.len());
}

#[test]
fn the_same_events_sent_twice_are_indexed_once() {
    let sb = Sandbox::new("twice");
    let server = sb.start_hoptrail(&sb.write_config(100_000));
    let events = valid_events(&sb.prefix, 1_000);
    let records: Vec<Record> = events.iter().map(|(_, r)| r.clone()).collect();
    sb.produce(&records);
    assert_eq!(server.wait_total(1_000, WAIT), 1_000);
    sb.produce(&records);
    let deadline = std::time::Instant::now() + WAIT;
    while server.metric("hoptrail_events_duplicate_total") < 1_000.0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.metric("hoptrail_events_duplicate_total"), 1_000.0);
    assert_eq!(server.total(), 1_000);
    assert_eq!(server.all_event_ids().len(), 1_000);
}

#[test]
fn hoptrail_send_routes_each_event_to_its_schemas_topic_keyed_by_agent_and_serve_indexes_them_all()
{
    let sb = Sandbox::new("send");
    let config = sb.write_config(100_000);
    // `serve` creates the topics (`create_topics = true`) before it is ready.
    let server = sb.start_hoptrail(&config);
    let events = valid_events(&sb.prefix, 2_000);
    let mut ndjson = String::new();
    for (_, r) in &events {
        ndjson.push_str(std::str::from_utf8(&r.payload).unwrap());
        ndjson.push('\n');
    }
    sb.send_with_hoptrail(&config, &ndjson);

    // `send` compresses with lz4 by default (config.rs tests the default): the collector reads
    // those batches like any others.
    assert_eq!(
        server.wait_total(events.len() as u64, WAIT),
        events.len() as u64
    );
    for topic in [TOOL, TOKEN] {
        let routed_here: Vec<&Record> = events
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.topic == topic)
            .collect();
        let on_topic = sb.read_all(&sb.topics[topic], routed_here.len(), WAIT);
        assert_eq!(on_topic.len(), routed_here.len(), "{}", sb.topics[topic]);
        let sent: BTreeSet<(&[u8], &[u8])> = routed_here
            .iter()
            .map(|r| (r.key.as_deref().unwrap().as_bytes(), r.payload.as_slice()))
            .collect();
        for m in &on_topic {
            assert!(
                sent.contains(&(m.key().unwrap_or_default(), m.payload().unwrap_or_default())),
                "{} holds only its schema's events, each keyed by its agent id",
                sb.topics[topic]
            );
        }
    }
}

#[test]
fn serve_killed_with_sigkill_mid_ingest_restarts_with_exactly_the_accepted_set() {
    let sb = Sandbox::new("kill9");
    // Small commits so that the kill lands between commits, with work both behind and ahead.
    let config = sb.write_config(1_000);
    let mut server = sb.start_hoptrail(&config);
    let events = valid_events(&sb.prefix, 20_000);
    let invalid = invalid_records(&sb.prefix, 200);
    let mut records: Vec<Record> = events.iter().map(|(_, r)| r.clone()).collect();
    records.extend(invalid);
    sb.produce(&records);
    let seen = server.wait_total(1, WAIT);
    server.kill9();
    assert!(
        seen > 0 && seen < events.len() as u64,
        "killed mid-ingest (saw {seen} of {})",
        events.len()
    );

    let server = sb.start_hoptrail(&config);
    assert_eq!(
        server.wait_total(events.len() as u64, WAIT),
        events.len() as u64
    );
    // Let it run a little more: nothing may be added twice by a late re-delivery.
    std::thread::sleep(Duration::from_secs(2));
    let ids = server.all_event_ids();
    assert_eq!(ids.len(), events.len(), "no duplicates after the restart");
    let expected: BTreeSet<String> = events.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(id_set(&ids), expected, "no loss after the restart");
}

#[test]
fn a_secret_in_attributes_is_never_returned_by_any_endpoint_nor_found_in_the_index_files() {
    let sb = Sandbox::new("secret");
    let server = sb.start_hoptrail(&sb.write_config(100_000));
    let aws_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    let github = "ghp_Zq7sR2vX9kL4mN8pT1wY6cB3dF5gH0jK2lQ9";
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtYWdlbnQifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2ln";
    let event = serde_json::json!({
        "schema": "hoptrail.tool_use.v1", "event_id": "secret-1", "time": "2026-11-30T10:00:00Z",
        "agent": {"id": "agent-leaky"}, "session_id": "s-1", "system": "aws:prod-123",
        "tool": {"name": "s3.get_object", "operation": format!("GET with Authorization: Bearer {jwt}")},
        "resource": format!("https://example.com/download?token={github}"),
        "outcome": "success",
        "attributes": {"preview": format!("aws_secret_access_key={aws_secret}"), "nested": {"gh": github}},
    });
    sb.produce(&[Record {
        topic: TOOL,
        key: Some("agent-leaky".into()),
        payload: serde_json::to_vec(&event).unwrap(),
    }]);
    assert_eq!(server.wait_total(1, WAIT), 1);

    let secrets = [aws_secret, github, jwt, "eyJzdWIiOiJzZWNyZXQtYWdlbnQifQ"];
    // Every route that answers with event content; those that return whole events show the
    // marker where the secret was.
    for (path, whole_events) in [
        ("/v1/events", true),
        ("/v1/events/secret-1", true),
        ("/v1/events?agent=agent-leaky", true),
        ("/v1/events?q=attributes.preview:REDACTED", true),
        ("/v1/sessions/s-1/replay", true),
        ("/v1/agents/agent-leaky/path", false),
        ("/v1/sessions/s-1/path", false),
        ("/v1/agents/agent-leaky/path?format=dot", false),
        ("/v1/systems/aws:prod-123/reach", false),
        ("/v1/alerts", false),
    ] {
        let (status, body) = server.get_text(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !whole_events || body.contains("[REDACTED:"),
            "{path}: the redaction marker is visible: {body}"
        );
        for s in secrets {
            assert!(!body.contains(s), "{path} leaked {s}");
        }
    }
    // Searching for a secret finds nothing: it was never indexed.
    for s in [github, "wJalrXUtnFEMI"] {
        let (status, body) = server.get(&format!("/v1/events?q=%22{s}%22"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 0, "searching {s}");
    }
    drop(server);

    // Nothing on disk: neither in the raw files nor in any term or stored document.
    let dir = sb.data_dir();
    // The alert store is a subdirectory: walk it too.
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for s in secrets {
                assert!(
                    !contains(&bytes, s.as_bytes()),
                    "{s} found in {}",
                    path.display()
                );
            }
        }
    }
    let index = tantivy::Index::open_in_dir(&dir).unwrap();
    let searcher = index.reader().unwrap().searcher();
    let lowered: Vec<String> = secrets.iter().map(|s| s.to_lowercase()).collect();
    for segment in searcher.segment_readers() {
        for (field, entry) in index.schema().fields() {
            if !entry.is_indexed() {
                continue;
            }
            let inverted = segment.inverted_index(field).unwrap();
            let mut terms = inverted.terms().stream().unwrap();
            while terms.advance() {
                let term = String::from_utf8_lossy(terms.key()).to_lowercase();
                for s in &lowered {
                    assert!(
                        !term.contains(s.as_str()),
                        "term {term:?} of {} holds a secret",
                        entry.name()
                    );
                }
                // Tokenizers split secrets: no long fragment of one may be a term either.
                for s in &lowered {
                    for piece in s
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|p| p.len() >= 12)
                    {
                        assert!(
                            !term.contains(piece),
                            "term {term:?} holds a piece of a secret"
                        );
                    }
                }
            }
        }
        let stored = index.schema().get_field("event").unwrap();
        let store = segment.get_store_reader(1).unwrap();
        let mut docs = 0;
        for doc in store.iter::<tantivy::TantivyDocument>(None) {
            use tantivy::schema::Value;
            let doc = doc.unwrap();
            let bytes = doc.get_first(stored).and_then(|v| v.as_bytes()).unwrap();
            docs += 1;
            for s in secrets {
                assert!(!contains(bytes, s.as_bytes()), "stored document holds {s}");
            }
        }
        assert_eq!(docs, 1);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
