//! The example records in `schemas/examples/` are the contract between producers and hoptrail:
//! every `*.valid.json` decodes, every `*.invalid.json` is rejected, and the JSON Schema files in
//! `schemas/json/` say the same about each of them.

use std::path::PathBuf;

use hoptrail_schemas::{encode_event, Decoder, Reason};
use serde_json::Value;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// `(file name, bytes)` of every example, sorted by name.
fn examples(suffix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable example"))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "too few {suffix} examples: {}", out.len());
    out
}

/// What the decoder says about each invalid example; every one must be listed.
const EXPECTED_REJECTIONS: &[(&str, Reason, &str)] = &[
    (
        "not_an_object.invalid.json",
        Reason::InvalidField,
        "record: expected an object, got array",
    ),
    (
        "token_use.bad_action.invalid.json",
        Reason::InvalidField,
        "action: expected one of issued, presented, exchanged, refreshed, revoked, denied",
    ),
    (
        "token_use.bad_audience_item.invalid.json",
        Reason::InvalidField,
        "token.audience[2]: expected a string, got object",
    ),
    (
        "token_use.missing_system.invalid.json",
        Reason::InvalidField,
        "system: missing",
    ),
    (
        "token_use.missing_token_id.invalid.json",
        Reason::InvalidField,
        "token.id: missing",
    ),
    (
        "tool_use.agent_id_number.invalid.json",
        Reason::InvalidField,
        "agent.id: expected a string, got number",
    ),
    (
        "tool_use.bad_delegation.invalid.json",
        Reason::InvalidField,
        "delegated_by.session_id: missing",
    ),
    (
        "tool_use.bad_outcome.invalid.json",
        Reason::InvalidField,
        "outcome: expected one of success, denied, error",
    ),
    (
        "tool_use.bad_tenant.invalid.json",
        Reason::InvalidField,
        "tenant: expected 1-64 characters of [A-Za-z0-9._-]",
    ),
    (
        "tool_use.bad_time.invalid.json",
        Reason::InvalidField,
        "time: not RFC 3339",
    ),
    (
        "tool_use.bad_workload.invalid.json",
        Reason::InvalidField,
        "agent.workload: not a SPIFFE ID (spiffe://<trust-domain>/<path>)",
    ),
    (
        "tool_use.invisible_agent_id.invalid.json",
        Reason::InvalidField,
        "agent.id: contains invisible character U+200B",
    ),
    (
        "tool_use.long_event_id.invalid.json",
        Reason::InvalidField,
        "event_id: longer than 128 characters",
    ),
    (
        "tool_use.missing_agent_id.invalid.json",
        Reason::InvalidField,
        "agent.id: missing",
    ),
    (
        "tool_use.missing_outcome.invalid.json",
        Reason::InvalidField,
        "outcome: missing",
    ),
    (
        "tool_use.zero_trace_id.invalid.json",
        Reason::InvalidField,
        "trace.trace_id: must not be all zero",
    ),
    (
        "unknown_schema.invalid.json",
        Reason::UnknownSchema,
        r#"schema: unknown "hoptrail.tool_use.v2" (expected hoptrail.tool_use.v1 or hoptrail.token_use.v1)"#,
    ),
];

#[test]
fn every_valid_example_decodes_and_survives_encode_decode() {
    let d = Decoder::new();
    for (name, bytes) in examples(".valid.json") {
        let decoded = d
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("{name} rejected: {e}"));
        let kind = name.split('.').next().unwrap();
        assert_eq!(
            decoded.event.schema(),
            format!("hoptrail.{kind}.v1"),
            "{name}"
        );

        let mut stored = String::new();
        encode_event(&decoded.event, &mut stored);
        let again = d
            .decode(stored.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: stored form rejected: {e}"));
        assert_eq!(again.event, decoded.event, "{name}");
        assert_eq!(
            again.redactions.total(),
            0,
            "{name}: redaction is idempotent"
        );
        let mut stored_again = String::new();
        encode_event(&again.event, &mut stored_again);
        assert_eq!(stored_again, stored, "{name}: the stored form is stable");
    }
}

#[test]
fn secrets_in_the_delegated_example_are_redacted() {
    let bytes = std::fs::read(dir("examples/tool_use.delegated.valid.json")).unwrap();
    let d = Decoder::new().decode(&bytes).unwrap();
    assert_eq!(d.redactions.total(), 2);
    let mut stored = String::new();
    encode_event(&d.event, &mut stored);
    let text = stored;
    assert!(
        !text.contains("abcdefghijklmnop0123456789") && !text.contains("AKIAIOSFODNN7EXAMPLE"),
        "{text}"
    );
    assert!(text.contains(r#""agent.colour":"teal""#), "{text}");
}

#[test]
fn every_invalid_example_is_rejected_with_its_reason() {
    let d = Decoder::new();
    let found = examples(".invalid.json");
    let names: Vec<_> = found.iter().map(|(n, _)| n.as_str()).collect();
    let listed: Vec<_> = EXPECTED_REJECTIONS.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        names, listed,
        "EXPECTED_REJECTIONS lists exactly the invalid examples"
    );
    for ((name, bytes), (_, reason, message)) in found.iter().zip(EXPECTED_REJECTIONS) {
        let e = d.decode(bytes).expect_err(name);
        assert_eq!(
            (e.reason, e.message.as_str()),
            (*reason, *message),
            "{name}"
        );
    }
}

struct Schemas {
    tool_use: jsonschema::Validator,
    token_use: jsonschema::Validator,
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir("json").join(name)).expect("schema file");
    serde_json::from_str(&text).expect("schema file is JSON")
}

fn schemas() -> Schemas {
    let common = load("common.v1.schema.json");
    let id = common["$id"].as_str().unwrap().to_owned();
    let registry = jsonschema::Registry::new()
        .add(id, common)
        .expect("common schema registers")
        .prepare()
        .expect("registry prepares");
    let build = |name: &str| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&registry)
            .build(&load(name))
            .unwrap_or_else(|e| panic!("{name} compiles: {e}"))
    };
    Schemas {
        tool_use: build("tool_use.v1.schema.json"),
        token_use: build("token_use.v1.schema.json"),
    }
}

#[test]
fn schema_files_are_valid_draft_2020_12_schemas() {
    for name in [
        "common.v1.schema.json",
        "tool_use.v1.schema.json",
        "token_use.v1.schema.json",
    ] {
        let schema = load(name);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn json_schemas_accept_every_valid_example_and_its_stored_form() {
    let s = schemas();
    let d = Decoder::new();
    for (name, bytes) in examples(".valid.json") {
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let validator = if name.starts_with("tool_use.") {
            &s.tool_use
        } else {
            &s.token_use
        };
        let errors: Vec<_> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");

        let mut stored = String::new();
        encode_event(&d.decode(&bytes).unwrap().event, &mut stored);
        let stored: Value = serde_json::from_str(&stored).unwrap();
        let errors: Vec<_> = validator
            .iter_errors(&stored)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name} stored: {errors:?}");
    }
}

#[test]
fn json_schemas_reject_every_invalid_example() {
    let s = schemas();
    for (name, bytes) in examples(".invalid.json") {
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(!s.tool_use.is_valid(&v), "tool_use schema accepts {name}");
        assert!(!s.token_use.is_valid(&v), "token_use schema accepts {name}");
    }
}
