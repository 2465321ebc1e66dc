//! The hostile-record corpus (issue 5): each record a careless or malicious producer might send,
//! with the reason and message the decoder must give it. The end-to-end suite
//! (`tests/hostile_input.rs`) sends the same corpus through a real broker; it reads it from
//! `schemas/tests/hostile/corpus.rs` so both agree on every case.

use std::time::{Duration, Instant};

use hoptrail_schemas::{Decoder, Reason};

#[path = "hostile/corpus.rs"]
mod corpus;

use corpus::{hostile_records, Hostile};

fn check(d: &Decoder, case: &Hostile) -> Result<(), String> {
    let started = Instant::now();
    let result = d.decode(&case.bytes);
    let took = started.elapsed();
    let e = match result {
        Ok(_) => return Err(format!("{}: accepted", case.name)),
        Err(e) => e,
    };
    if e.reason != case.reason || !e.message.contains(case.message) {
        return Err(format!(
            "{}: got {} {:?}, want {} containing {:?}",
            case.name,
            e.reason.as_str(),
            e.message,
            case.reason.as_str(),
            case.message
        ));
    }
    if !e.message.bytes().all(|b| (0x20..0x7f).contains(&b)) || e.message.len() > 300 {
        return Err(format!(
            "{}: message is not a short printable-ASCII line: {:?}",
            case.name, e.message
        ));
    }
    // Generous for a debug build on a shared machine; a partition must never stall on one record.
    if took > Duration::from_secs(2) {
        return Err(format!("{}: took {took:?}", case.name));
    }
    Ok(())
}

#[test]
fn every_hostile_record_is_rejected_with_its_reason_and_a_printable_message() {
    let d = Decoder::new();
    let failures: Vec<String> = hostile_records("case")
        .iter()
        .filter_map(|c| check(&d, c).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_covers_every_class_of_hostile_input_the_issue_names() {
    let cases = hostile_records("case");
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    for class in [
        "invalid_utf8",
        "1mib",
        "10000_deep",
        "out_of_range",
        "wrong_type",
        "control",
        "zero_width",
        "homoglyph",
        "year_9999",
        "before_1970",
    ] {
        assert!(
            names.iter().any(|n| n.contains(class)),
            "no case for {class} in {names:?}"
        );
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "case names are unique");
}

#[test]
fn every_reason_appears_and_the_templates_the_cases_break_are_valid() {
    let d = Decoder::new();
    let cases = hostile_records("case");
    for r in Reason::ALL {
        assert!(cases.iter().any(|c| c.reason == r), "{r:?}");
    }
    // The corpus records are the valid template with one thing broken: the template itself must
    // pass, or a case could be rejected for the wrong reason.
    let valid = corpus::valid_tool_use("case-valid", "agent-1");
    d.decode(&valid)
        .unwrap_or_else(|e| panic!("template rejected: {e}"));
    let valid = corpus::valid_token_use("case-valid-token", "agent-1");
    d.decode(&valid)
        .unwrap_or_else(|e| panic!("token template rejected: {e}"));
}

#[test]
fn hostile_but_legal_records_are_accepted() {
    let d = Decoder::new();
    for (name, bytes) in corpus::hostile_but_valid("ok") {
        d.decode(&bytes)
            .unwrap_or_else(|e| panic!("{name} rejected: {e}"));
    }
}
