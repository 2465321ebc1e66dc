//! The index's contract, on a real on-disk index.

use std::collections::BTreeSet;

use hoptrail_core::Event;
use hoptrail_schemas::Decoder;

use crate::{AddOutcome, Cursor, EventIndex, EventQuery, WriterConfig};

fn event(tenant: &str, id: &str, time: &str, agent: &str, system: &str) -> Event {
    let json = serde_json::json!({
        "schema": "hoptrail.tool_use.v1", "event_id": id, "time": time, "tenant": tenant,
        "agent": {"id": agent}, "session_id": "s1", "system": system,
        "tool": {"name": "t"}, "outcome": "success", "attributes": {"note": "hello world"},
    });
    Decoder::new()
        .decode(json.to_string().as_bytes())
        .unwrap()
        .event
}

fn small_writer() -> WriterConfig {
    WriterConfig {
        num_threads: 1,
        memory_budget_bytes: 20 << 20,
        ..WriterConfig::default()
    }
}

fn query(tenant: &str) -> EventQuery {
    EventQuery {
        tenant: tenant.into(),
        limit: 100,
        ..Default::default()
    }
}

fn ids(index: &EventIndex, q: &EventQuery) -> Vec<String> {
    let page = index.searcher().search(q).unwrap();
    page.events
        .iter()
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(e).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_duplicate_event_id_is_dropped_within_a_batch_and_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = EventIndex::open_or_create(dir.path()).unwrap();
        let mut w = index.writer(small_writer()).unwrap();
        assert_eq!(
            w.add(&event("t", "e1", "2026-01-01T00:00:00Z", "a", "s"))
                .unwrap(),
            AddOutcome::Added
        );
        assert_eq!(
            w.add(&event("t", "e1", "2026-01-01T00:00:09Z", "b", "x"))
                .unwrap(),
            AddOutcome::Duplicate
        );
        w.close().unwrap();
    }
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    assert_eq!(
        w.add(&event("t", "e1", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap(),
        AddOutcome::Duplicate
    );
    assert_eq!(
        w.add(&event("t", "e2", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap(),
        AddOutcome::Added
    );
    w.close().unwrap();
    assert_eq!(index.searcher().num_docs(), 2);
}

#[test]
fn the_same_event_id_in_two_tenants_is_two_events() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    assert_eq!(
        w.add(&event("t1", "e1", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap(),
        AddOutcome::Added
    );
    assert_eq!(
        w.add(&event("t2", "e1", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap(),
        AddOutcome::Added
    );
    w.close().unwrap();
    assert!(index.searcher().get("t1", "e1").unwrap().is_some());
    assert!(index.searcher().get("t3", "e1").unwrap().is_none());
}

#[test]
fn the_checkpoint_is_committed_with_the_documents_and_read_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = EventIndex::open_or_create(dir.path()).unwrap();
        let mut w = index.writer(small_writer()).unwrap();
        w.add(&event("t", "e1", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap();
        w.advance("topic", 2, 41);
        w.commit().unwrap();
        // Added but never committed: neither the document nor the position survive.
        w.add(&event("t", "e2", "2026-01-01T00:00:00Z", "a", "s"))
            .unwrap();
        w.advance("topic", 2, 99);
    }
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let payload = index.committed_payload().unwrap();
    assert_eq!(payload.checkpoint.next_offset("topic", 2), Some(41));
    assert_eq!(index.num_docs(), 1);
    let w = index.writer(small_writer()).unwrap();
    assert_eq!(w.committed_checkpoint().next_offset("topic", 2), Some(41));
}

#[test]
fn a_search_never_leaves_its_tenant_whatever_the_query_string_says() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    w.add(&event("mine", "m1", "2026-01-01T00:00:00Z", "a", "s"))
        .unwrap();
    w.add(&event("theirs", "t1", "2026-01-01T00:00:00Z", "a", "s"))
        .unwrap();
    w.commit().unwrap();
    for q in [
        "tenant:theirs",
        "event_id:t1",
        "*",
        "hello OR tenant:theirs",
    ] {
        let mut req = query("mine");
        req.q = Some(q.into());
        let found = ids(&index, &req);
        assert!(!found.contains(&"t1".to_string()), "{q} leaked {found:?}");
    }
    assert_eq!(index.searcher().search(&query("mine")).unwrap().total, 1);
}

#[test]
fn pages_are_newest_first_and_the_cursor_visits_every_match_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    // Several events share one timestamp: the cursor must still not skip or repeat any.
    for i in 0..57 {
        let time = format!("2026-01-01T00:00:{:02}.000001Z", i / 5);
        w.add(&event("t", &format!("e{i:02}"), &time, "a", "s"))
            .unwrap();
        if i % 20 == 0 {
            w.commit().unwrap(); // spread over several segments
        }
    }
    w.commit().unwrap();
    let mut seen = Vec::new();
    let mut req = query("t");
    req.limit = 10;
    let mut last_time = i64::MAX;
    loop {
        let page = index.searcher().search(&req).unwrap();
        assert_eq!(page.total, 57, "total counts every match on every page");
        for e in &page.events {
            let v: serde_json::Value = serde_json::from_slice(e).unwrap();
            let t = hoptrail_schemas::parse_time(v["time"].as_str().unwrap()).unwrap();
            assert!(t <= last_time, "newest first");
            last_time = t;
            seen.push(v["event_id"].as_str().unwrap().to_owned());
        }
        match page.next_cursor {
            Some(c) => req.cursor = Some(Cursor::decode(&c.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 57);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 57);
}

#[test]
fn time_bounds_are_exact_to_the_microsecond_and_the_upper_bound_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    w.add(&event(
        "t",
        "before",
        "2026-01-01T00:00:00.999999Z",
        "a",
        "s",
    ))
    .unwrap();
    w.add(&event("t", "at", "2026-01-01T00:00:01Z", "a", "s"))
        .unwrap();
    w.add(&event("t", "end", "2026-01-01T00:00:02Z", "a", "s"))
        .unwrap();
    w.commit().unwrap();
    let mut req = query("t");
    req.from_us = hoptrail_schemas::parse_time("2026-01-01T00:00:01Z");
    req.to_us = hoptrail_schemas::parse_time("2026-01-01T00:00:02Z");
    assert_eq!(ids(&index, &req), vec!["at".to_string()]);
}

#[test]
fn filters_and_query_strings_combine_as_and() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    w.add(&event("t", "1", "2026-01-01T00:00:00Z", "a", "jira.corp"))
        .unwrap();
    w.add(&event("t", "2", "2026-01-01T00:00:01Z", "a", "aws:prod-1"))
        .unwrap();
    w.add(&event("t", "3", "2026-01-01T00:00:02Z", "b", "aws:prod-1"))
        .unwrap();
    w.commit().unwrap();
    let mut req = query("t");
    req.agent = Some("a".into());
    req.system = Some("aws:prod-1".into());
    assert_eq!(ids(&index, &req), vec!["2".to_string()]);
    let mut req = query("t");
    req.q = Some("system:\"aws:prod-1\" AND agent_id:b".into());
    assert_eq!(ids(&index, &req), vec!["3".to_string()]);
    let mut req = query("t");
    req.q = Some("attributes.note:hello".into());
    assert_eq!(index.searcher().search(&req).unwrap().total, 3);
}

#[test]
fn a_malformed_query_string_is_an_error_that_carries_the_parsers_message() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut req = query("t");
    req.q = Some("system:(unclosed".into());
    let err = index.searcher().search(&req).unwrap_err();
    assert!(matches!(err, crate::IndexError::Query(_)), "{err}");
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_nul_in_a_json_field_path_is_refused_before_tantivy_can_panic_on_it() {
    // Found by the query_parse fuzz target: tantivy asserts on a NUL inside a JSON path.
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    for q in [
        "attributes.a\u{0}b:x",
        "extra.\u{0}:\"2026-11-30T10:00:00Z\"",
    ] {
        let mut req = query("t");
        req.q = Some(q.into());
        match index.searcher().search(&req) {
            Err(crate::IndexError::Query(m)) => {
                assert_eq!(m, "contains control character U+0000")
            }
            other => panic!("{q:?}: {:?}", other.map(|p| p.total)),
        }
    }
}

#[test]
fn a_range_over_attributes_is_the_callers_error_not_an_internal_one() {
    // Found by the query_parse fuzz target: it parses, then tantivy refuses to run it.
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut req = query("t");
    req.q = Some("attributes.n:>5".into());
    match index.searcher().search(&req) {
        Err(crate::IndexError::Query(m)) => assert!(m.contains("RangeQuery"), "{m}"),
        other => panic!("{:?}", other.map(|p| p.total)),
    }
}

#[test]
fn deep_parentheses_are_refused_before_the_query_grammar_backtracks_on_them() {
    // Found by the query_parse fuzz target: 33 "(" then "AND" ran past its 10 s timeout.
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    let started = std::time::Instant::now();
    for q in [nested(9), nested(10_000), format!("{}AND", "(".repeat(33))] {
        let mut req = query("t");
        req.q = Some(q);
        match index.searcher().search(&req) {
            Err(crate::IndexError::Query(m)) => {
                assert_eq!(m, "nested deeper than 8 parentheses")
            }
            other => panic!("{:?}", other.map(|p| p.total)),
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let mut req = query("t");
    req.q = Some(nested(crate::MAX_QUERY_NESTING));
    index.searcher().search(&req).expect("8 levels parse");
    req.q = Some(format!("\"{}\" OR a", "(".repeat(40)));
    index
        .searcher()
        .search(&req)
        .expect("parentheses inside a phrase are text");
}

#[test]
fn a_query_tantivys_grammar_panics_on_is_an_error_not_a_panic() {
    // Found by the query_parse fuzz target: "+\t*" trips an assertion inside tantivy.
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut req = query("t");
    req.q = Some("+\t*".into());
    match index.searcher().search(&req) {
        Err(crate::IndexError::Query(m)) => assert_eq!(m, "not a query tantivy can parse"),
        other => panic!("{:?}", other.map(|p| p.total)),
    }
}

#[test]
fn a_path_over_more_events_than_one_answer_may_hold_is_refused_before_loading_them() {
    use hoptrail_core::path::{PathOptions, PathRoot};
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let mut w = index.writer(small_writer()).unwrap();
    for i in 0..6 {
        let t = format!("2026-01-01T00:00:0{i}Z");
        w.add(&event("t", &format!("e{i}"), &t, "busy", "s"))
            .unwrap();
    }
    w.commit().unwrap();
    let root = PathRoot::Agent("busy".into());
    let bounded = index.searcher().with_max_matching_events(5);
    let err = bounded
        .path("t", &root, crate::Window::default(), PathOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::IndexError::TooBroad {
                matched: 6,
                limit: 5
            }
        ),
        "{err}"
    );
    // A window that holds fewer events is answered.
    let window = crate::Window {
        from_us: Some(1_767_225_602_000_000),
        to_us: None,
    };
    assert!(bounded
        .path("t", &root, window, PathOptions::default())
        .unwrap()
        .is_some());
    assert!(bounded
        .session_replay("t", "s1", 100)
        .is_err_and(|e| matches!(e, crate::IndexError::TooBroad { .. })));
}

#[test]
fn the_commit_interval_counts_from_the_first_change_after_a_commit() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let interval = Duration::from_secs(5);
    let mut w = index
        .writer(WriterConfig {
            commit_interval: interval,
            ..small_writer()
        })
        .unwrap();
    // Long after the writer opened, nothing pending: nothing to commit, the whole interval ahead.
    let later = Instant::now() + 2 * interval;
    assert!(!w.should_commit(later));
    assert_eq!(w.time_to_commit(later), interval);
    w.add(&event("t", "e1", "2026-01-01T00:00:00Z", "a", "s"))
        .unwrap();
    let now = Instant::now();
    assert!(w.time_to_commit(now) > interval - Duration::from_secs(1));
    assert!(!w.should_commit(now));
    assert!(w.should_commit(now + interval));
    w.commit().unwrap();
    assert!(!w.should_commit(now + 3 * interval));
}

#[test]
fn an_idle_commit_waits_for_the_gap_after_the_previous_commit() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let gap = Duration::from_secs(2);
    let mut w = index
        .writer(WriterConfig {
            commit_interval: Duration::from_secs(60),
            idle_commit_gap: gap,
            ..small_writer()
        })
        .unwrap();
    w.commit().unwrap();
    let committed = Instant::now();
    assert!(!w.should_commit_idle(committed + gap), "nothing pending");
    w.add(&event("t", "e1", "2026-01-01T00:00:00Z", "a", "s"))
        .unwrap();
    assert!(!w.should_commit_idle(committed));
    assert!(w.time_to_idle_commit(committed) > Duration::ZERO);
    assert!(w.should_commit_idle(committed + gap));
    assert!(!w.should_commit(committed + gap), "the interval is not due");
    // The gap never exceeds the interval.
    drop(w);
    let w = index
        .writer(WriterConfig {
            commit_interval: Duration::from_millis(10),
            idle_commit_gap: gap,
            ..small_writer()
        })
        .unwrap();
    assert!(w.time_to_idle_commit(Instant::now()) <= Duration::from_millis(10));
}

#[test]
fn replay_hands_out_every_committed_event_since_a_time_once_in_time_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    assert_eq!(index.searcher().newest_time_us().unwrap(), None);
    let mut w = index.writer(small_writer()).unwrap();
    for (id, t) in [("c", "00:00:03"), ("a", "00:00:01")] {
        w.add(&event("t", id, &format!("2026-01-01T{t}Z"), "x", "s"))
            .unwrap();
    }
    w.commit().unwrap();
    for (id, t, tenant) in [
        ("d", "00:00:04", "u"),
        ("b", "00:00:02", "t"),
        ("old", "00:00:00", "t"),
    ] {
        w.add(&event(tenant, id, &format!("2026-01-01T{t}Z"), "x", "s"))
            .unwrap();
    }
    w.add(&event("t", "e", "2026-01-01T00:00:05Z", "x", "s"))
        .unwrap();
    w.commit().unwrap();
    w.add(&event("t", "pending", "2026-01-01T00:00:09Z", "x", "s"))
        .unwrap(); // not committed: neither newest nor replayed
    let searcher = index.searcher();
    let t0 = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z
    assert_eq!(searcher.newest_time_us().unwrap(), Some(t0 + 5_000_000));
    let mut seen = Vec::new();
    let n = searcher
        .replay_since(t0 + 1_000_000, |bytes| -> crate::Result<()> {
            let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            seen.push(v["event_id"].as_str().unwrap().to_owned());
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(n, 5);
}
