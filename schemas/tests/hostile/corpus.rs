//! The hostile-record corpus, shared by `schemas/tests/hostile.rs` (decoder level) and
//! `tests/hostile_input.rs` (through a real broker). Every case is a valid record with one thing
//! broken, so it can be rejected for no other reason; large ones are generated here rather than
//! stored. `prefix` makes event ids unique per test run.
#![allow(dead_code)]

use hoptrail_schemas::Reason;
use serde_json::{json, Value};

/// One record the decoder must refuse, and what it must say.
pub struct Hostile {
    /// What is hostile about it; unique, snake_case.
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub reason: Reason,
    /// A fragment of the expected `hoptrail.error` message.
    pub message: &'static str,
}

fn tool_value(id: &str, agent: &str) -> Value {
    json!({
        "schema": "hoptrail.tool_use.v1", "event_id": id, "time": "2026-11-30T10:00:00Z",
        "agent": {"id": agent}, "session_id": "sess-1", "system": "jira.corp",
        "tool": {"name": "jira.search"}, "credential": {"id": "tok-1"}, "outcome": "success",
        "delegated_by": {"agent_id": "planner-7", "session_id": "sess-0"},
        "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
    })
}

fn token_value(id: &str, agent: &str) -> Value {
    json!({
        "schema": "hoptrail.token_use.v1", "event_id": id, "time": "2026-11-30T10:00:00Z",
        "agent": {"id": agent}, "session_id": "sess-1", "action": "exchanged",
        "token": {"id": "tok-2", "subject": "spiffe://acme.corp/a", "parent_id": "tok-1",
                  "issued_at": "2026-11-30T10:00:00Z", "expires_at": "2026-11-30T11:00:00Z"},
        "system": "sts.corp", "presenter": "spiffe://acme.corp/a",
        "actor": {"agent_id": "helper-2", "session_id": "sess-2"}
    })
}

/// A tool-use record every rule accepts.
pub fn valid_tool_use(id: &str, agent: &str) -> Vec<u8> {
    serde_json::to_vec(&tool_value(id, agent)).unwrap()
}

/// A token-use record every rule accepts.
pub fn valid_token_use(id: &str, agent: &str) -> Vec<u8> {
    serde_json::to_vec(&token_value(id, agent)).unwrap()
}

/// Sets `path` (dot-separated object keys) in `v`.
fn set(mut v: Value, path: &str, x: Value) -> Value {
    let mut cur = &mut v;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let obj = cur.as_object_mut().expect("path runs through objects");
        if parts.peek().is_none() {
            obj.insert(p.to_owned(), x);
            break;
        }
        cur = obj.entry(p).or_insert_with(|| json!({}));
    }
    v
}

/// The record text with `"@@"` (a JSON string holding the placeholder) replaced by raw `with`.
fn splice(v: &Value, with: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(v).unwrap();
    let at = text
        .windows(4)
        .position(|w| w == b"\"@@\"")
        .expect("placeholder");
    let mut out = text[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&text[at + 4..]);
    out
}

/// Every hostile case.
pub fn hostile_records(prefix: &str) -> Vec<Hostile> {
    let id = |name: &str| format!("{prefix}-{name}");
    let tool = |name: &str| tool_value(&id(name), "agent-1");
    let token = |name: &str| token_value(&id(name), "agent-1");
    let tool_with = |name: &str, path: &str, x: Value| set(tool(name), path, x);
    let token_with = |name: &str, path: &str, x: Value| set(token(name), path, x);
    let bytes = |v: Value| serde_json::to_vec(&v).unwrap();
    let deep = |open: &str, close: &str| -> Vec<u8> {
        splice(
            &tool_with("x", "attributes", json!({"deep": "@@"})),
            format!("{}{}", open.repeat(10_000), close.repeat(10_000)).as_bytes(),
        )
    };
    let mut cases = Vec::new();
    let mut case = |name: &'static str, bytes: Vec<u8>, reason: Reason, message: &'static str| {
        cases.push(Hostile {
            name,
            bytes,
            reason,
            message,
        })
    };
    use Reason::*;

    // ---- bytes that are not UTF-8, or not JSON ----
    case(
        "invalid_utf8_in_agent_id",
        splice(
            &tool_with("u1", "agent.id", json!("@@")),
            b"\"agent-\xff\xfe\"",
        ),
        InvalidUtf8,
        "record: invalid UTF-8 at byte",
    );
    case(
        "invalid_utf8_overlong_nul",
        splice(
            &tool_with("u2", "session_id", json!("@@")),
            b"\"s\xc0\x80\"",
        ),
        InvalidUtf8,
        "record: invalid UTF-8 at byte",
    );
    case(
        "invalid_utf8_encoded_surrogate",
        splice(&tool_with("u3", "system", json!("@@")), b"\"\xed\xa0\x80\""),
        InvalidUtf8,
        "record: invalid UTF-8 at byte",
    );
    case(
        "invalid_utf8_truncated_sequence_at_end",
        {
            let mut b = bytes(tool("u4"));
            b.push(0xe2);
            b
        },
        InvalidUtf8,
        "record: invalid UTF-8 at byte",
    );
    case(
        "lone_surrogate_escape_in_agent_id",
        splice(&tool_with("u5", "agent.id", json!("@@")), br#""a\ud800b""#),
        NotJson,
        "record: not JSON: unexpected end of hex escape",
    );
    case(
        "raw_control_byte_inside_a_string",
        splice(&tool_with("j1", "agent.id", json!("@@")), b"\"a\x1bb\""),
        NotJson,
        "control character",
    );
    case("empty_record", Vec::new(), NotJson, "record: not JSON: EOF");
    case(
        "byte_order_mark_before_the_record",
        [b"\xef\xbb\xbf".as_slice(), &bytes(tool("j2"))].concat(),
        NotJson,
        "record: not JSON",
    );
    case(
        "nan_literal",
        splice(&tool_with("j3", "attributes", json!({"x": "@@"})), b"NaN"),
        NotJson,
        "record: not JSON",
    );
    case(
        "second_record_after_the_first",
        [bytes(tool("j4")), bytes(tool("j5"))].concat(),
        NotJson,
        "trailing characters",
    );
    case(
        "record_that_is_an_array",
        bytes(json!([tool("j6")])),
        InvalidField,
        "record: expected an object, got array",
    );

    // ---- size ----
    case(
        "string_of_1mib_makes_the_record_too_large",
        bytes(tool_with(
            "s1",
            "attributes.note",
            json!("x".repeat(1 << 20)),
        )),
        TooLarge,
        "record: larger than 1 MiB",
    );
    case(
        "agent_id_of_almost_1mib",
        bytes(tool_with(
            "s2",
            "agent.id",
            json!("a".repeat((1 << 20) - 1024)),
        )),
        InvalidField,
        "agent.id: longer than 256 characters",
    );
    case(
        "attribute_string_of_almost_1mib",
        bytes(tool_with(
            "s3",
            "attributes.note",
            json!("x".repeat((1 << 20) - 1024)),
        )),
        InvalidField,
        "attributes: larger than 64 KiB",
    );
    case(
        "event_id_of_almost_1mib_of_zero_width_spaces",
        bytes(tool_with(
            "s4",
            "event_id",
            json!("\u{200B}".repeat(340_000)),
        )),
        InvalidField,
        "event_id: contains invisible character U+200B",
    );

    // ---- nesting ----
    case(
        "arrays_10000_deep",
        deep("[", "]"),
        TooDeep,
        "record: nested deeper than 32 levels",
    );
    case(
        "objects_10000_deep",
        deep("{\"a\":", "}"),
        TooDeep,
        "record: nested deeper than 32 levels",
    );
    case(
        "unknown_field_31_deep_would_store_33_deep",
        splice(
            &tool_with("x31", "colour", json!("@@")),
            format!("{}{}", "[".repeat(31), "]".repeat(31)).as_bytes(),
        ),
        TooDeep,
        "colour: nested deeper than 32 levels once stored under extra",
    );
    case(
        "unclosed_arrays_10000_deep",
        "[".repeat(10_000).into_bytes(),
        TooDeep,
        "record: nested deeper than 32 levels",
    );

    // ---- numbers ----
    case(
        "number_out_of_range_1e400_in_attributes",
        splice(&tool_with("n1", "attributes", json!({"n": "@@"})), b"1e400"),
        InvalidField,
        "attributes.n: number out of range",
    );
    case(
        "number_out_of_range_negative_in_a_list",
        splice(
            &tool_with("n2", "attributes", json!({"l": [1, "@@"]})),
            b"-1e999",
        ),
        InvalidField,
        "attributes.l[1]: number out of range",
    );
    case(
        "integer_out_of_range_400_digits",
        splice(
            &tool_with("n3", "attributes", json!({"n": "@@"})),
            format!("1{}", "0".repeat(400)).as_bytes(),
        ),
        InvalidField,
        "attributes.n: number out of range",
    );
    case(
        "number_out_of_range_as_time",
        splice(&tool_with("n4", "time", json!("@@")), b"1e400"),
        InvalidField,
        "time: number out of range",
    );
    case(
        "integer_beyond_u64_as_agent_id_is_a_wrong_type",
        splice(
            &tool_with("n5", "agent.id", json!("@@")),
            b"18446744073709551616",
        ),
        InvalidField,
        "agent.id: expected a string, got number",
    );

    // ---- wrong types ----
    case(
        "wrong_type_agent_id_number",
        bytes(tool_with("t1", "agent.id", json!(42))),
        InvalidField,
        "agent.id: expected a string, got number",
    );
    case(
        "wrong_type_agent_array",
        bytes(tool_with("t2", "agent", json!(["agent-1"]))),
        InvalidField,
        "agent: expected an object, got array",
    );
    case(
        "wrong_type_tool_name_object",
        bytes(tool_with("t3", "tool.name", json!({"name": "x"}))),
        InvalidField,
        "tool.name: expected a string, got object",
    );
    case(
        "wrong_type_outcome_boolean",
        bytes(tool_with("t4", "outcome", json!(true))),
        InvalidField,
        "outcome: expected a string, got boolean",
    );
    case(
        "wrong_type_attributes_string",
        bytes(tool_with("t5", "attributes", json!("{}"))),
        InvalidField,
        "attributes: expected an object, got string",
    );
    case(
        "wrong_type_audience_item",
        bytes(token_with("t6", "token.audience", json!(["a", 7]))),
        InvalidField,
        "token.audience[1]: expected a string, got number",
    );
    case(
        "wrong_type_session_id_null_reads_as_missing",
        bytes(tool_with("t7", "session_id", Value::Null)),
        InvalidField,
        "session_id: missing",
    );

    // ---- control characters ----
    case(
        "control_nul_in_agent_id",
        bytes(tool_with("c1", "agent.id", json!("agent\u{0}-1"))),
        InvalidField,
        "agent.id: contains control character U+0000",
    );
    case(
        "control_newline_in_session_id",
        bytes(tool_with(
            "c2",
            "session_id",
            json!("sess-1\nFAKE LOG LINE"),
        )),
        InvalidField,
        "session_id: contains control character U+000A",
    );
    case(
        "control_ansi_escape_in_event_id",
        bytes(tool_with("c3", "event_id", json!("\u{1b}[31mevt"))),
        InvalidField,
        "event_id: contains control character U+001B",
    );
    case(
        "control_c1_next_line_in_system",
        bytes(tool_with("c4", "system", json!("jira\u{85}corp"))),
        InvalidField,
        "system: contains control character U+0085",
    );
    case(
        "control_bell_in_resource",
        bytes(tool_with("c5", "resource", json!("jira://x\u{7}"))),
        InvalidField,
        "resource: contains control character U+0007",
    );
    case(
        "control_line_separator_in_agent_name",
        bytes(tool_with("c6", "agent.name", json!("Triage\u{2028}bot"))),
        InvalidField,
        "agent.name: contains control character U+2028",
    );

    // ---- zero-width, invisible and bidi characters ----
    case(
        "zero_width_space_in_agent_id",
        bytes(tool_with("z1", "agent.id", json!("planner\u{200B}-7"))),
        InvalidField,
        "agent.id: contains invisible character U+200B",
    );
    case(
        "zero_width_word_joiner_as_agent_id",
        bytes(tool_with("z2", "agent.id", json!("\u{2060}"))),
        InvalidField,
        "agent.id: contains invisible character U+2060",
    );
    case(
        "zero_width_bom_in_credential_id",
        bytes(tool_with("z3", "credential.id", json!("\u{FEFF}tok-1"))),
        InvalidField,
        "credential.id: contains invisible character U+FEFF",
    );
    case(
        "zero_width_bidi_override_in_delegated_by_agent_id",
        bytes(tool_with(
            "z4",
            "delegated_by.agent_id",
            json!("planner-\u{202E}7-rotcaf"),
        )),
        InvalidField,
        "delegated_by.agent_id: contains invisible character U+202E",
    );
    case(
        "zero_width_joiner_in_delegated_by_session_id",
        bytes(tool_with(
            "z5",
            "delegated_by.session_id",
            json!("sess\u{200D}-0"),
        )),
        InvalidField,
        "delegated_by.session_id: contains invisible character U+200D",
    );
    case(
        "zero_width_tag_character_in_token_id",
        bytes(token_with("z6", "token.id", json!("tok-2\u{E0041}"))),
        InvalidField,
        "token.id: contains invisible character U+E0041",
    );
    case(
        "zero_width_variation_selector_in_token_parent_id",
        bytes(token_with("z7", "token.parent_id", json!("tok-1\u{FE0F}"))),
        InvalidField,
        "token.parent_id: contains invisible character U+FE0F",
    );
    case(
        "zero_width_soft_hyphen_in_actor_session_id",
        bytes(token_with("z8", "actor.session_id", json!("sess\u{AD}-2"))),
        InvalidField,
        "actor.session_id: contains invisible character U+00AD",
    );
    case(
        "zero_width_space_in_trace_id",
        bytes(tool_with(
            "z9",
            "trace.trace_id",
            json!("4bf92f3577b34da6a3ce929d0e0e473\u{200B}"),
        )),
        InvalidField,
        "trace.trace_id: expected 32 hex digits",
    );
    case(
        "zero_width_space_in_workload",
        bytes(tool_with(
            "z10",
            "agent.workload",
            json!("spiffe://acme.corp/\u{200B}a"),
        )),
        InvalidField,
        "agent.workload: not a SPIFFE ID",
    );
    case(
        "zero_width_space_in_tenant",
        bytes(tool_with("z11", "tenant", json!("acme\u{200B}"))),
        InvalidField,
        "tenant: expected 1-64 characters of [A-Za-z0-9._-]",
    );
    case(
        "zero_width_right_to_left_mark_in_agent_name",
        bytes(tool_with("z12", "agent.name", json!("Triage bot\u{200F}"))),
        InvalidField,
        "agent.name: contains invisible character U+200F",
    );
    case(
        "zero_width_trailing_space_in_token_subject",
        bytes(token_with(
            "z13",
            "token.subject",
            json!("spiffe://acme.corp/a "),
        )),
        InvalidField,
        "token.subject: contains space character U+0020",
    );
    case(
        "zero_width_bidi_in_unknown_schema_is_escaped_in_the_message",
        bytes(tool_with(
            "z14",
            "schema",
            json!("hoptrail.tool_use.v1\u{202E}"),
        )),
        UnknownSchema,
        r#"schema: unknown "hoptrail.tool_use.v1\u202e""#,
    );

    // ---- homoglyphs ----
    case(
        "homoglyph_cyrillic_a_in_agent_id",
        bytes(tool_with("h1", "agent.id", json!("pl\u{0430}nner-7"))),
        InvalidField,
        "agent.id: contains non-ASCII character U+0430",
    );
    case(
        "homoglyph_cyrillic_i_in_system",
        bytes(tool_with("h2", "system", json!("g\u{0456}thub.com/acme"))),
        InvalidField,
        "system: contains non-ASCII character U+0456",
    );
    case(
        "homoglyph_greek_omicron_in_session_id",
        bytes(tool_with("h3", "session_id", json!("sess-1-ab\u{03BF}"))),
        InvalidField,
        "session_id: contains non-ASCII character U+03BF",
    );
    case(
        "homoglyph_fullwidth_letters_in_presenter",
        bytes(token_with(
            "h4",
            "presenter",
            json!("\u{FF53}piffe://acme.corp/a"),
        )),
        InvalidField,
        "presenter: contains non-ASCII character U+FF53",
    );
    case(
        "homoglyph_mathematical_letter_in_actor_agent_id",
        bytes(token_with(
            "h5",
            "actor.agent_id",
            json!("helper-\u{1D7D0}"),
        )),
        InvalidField,
        "actor.agent_id: contains non-ASCII character U+1D7D0",
    );
    case(
        "homoglyph_unicode_hyphen_in_token_subject",
        bytes(token_with(
            "h6",
            "token.subject",
            json!("spiffe://acme.corp/a\u{2010}b"),
        )),
        InvalidField,
        "token.subject: contains non-ASCII character U+2010",
    );
    case(
        "homoglyph_cyrillic_in_event_id",
        bytes(tool_with("h7", "event_id", json!("evt-\u{0435}1"))),
        InvalidField,
        "event_id: contains non-ASCII character U+0435",
    );
    case(
        "homoglyph_cyrillic_in_tenant",
        bytes(tool_with("h8", "tenant", json!("\u{0430}cme"))),
        InvalidField,
        "tenant: expected 1-64 characters of [A-Za-z0-9._-]",
    );
    case(
        "homoglyph_no_break_space_in_credential_id",
        bytes(tool_with("h9", "credential.id", json!("tok\u{A0}1"))),
        InvalidField,
        "credential.id: contains space character U+00A0",
    );
    case(
        "homoglyph_in_agent_id_of_the_last_duplicate_key",
        // The last of duplicate keys wins, so a clean first copy cannot hide a spoofed second.
        {
            let mut b = bytes(tool("h10"));
            b.pop();
            b.extend_from_slice(",\"agent\":{\"id\":\"pl\u{0430}nner-7\"}}".as_bytes());
            b
        },
        InvalidField,
        "agent.id: contains non-ASCII character U+0430",
    );

    // ---- timestamps ----
    case(
        "time_in_year_9999",
        bytes(tool_with("d1", "time", json!("9999-12-31T23:59:59Z"))),
        InvalidField,
        "time: out of range (1970-01-01 to 2100-01-01)",
    );
    case(
        "time_before_1970",
        bytes(tool_with(
            "d2",
            "time",
            json!("1969-12-31T23:59:59.999999Z"),
        )),
        InvalidField,
        "time: out of range (1970-01-01 to 2100-01-01)",
    );
    case(
        "time_before_1970_in_year_0000",
        bytes(tool_with("d3", "time", json!("0000-01-01T00:00:00Z"))),
        InvalidField,
        "time: out of range",
    );
    case(
        "time_at_2100_is_out_of_range",
        bytes(tool_with("d4", "time", json!("2100-01-01T00:00:00Z"))),
        InvalidField,
        "time: out of range",
    );
    case(
        "time_in_year_275760_is_not_rfc3339",
        bytes(tool_with("d5", "time", json!("+275760-09-13T00:00:00Z"))),
        InvalidField,
        "time: not RFC 3339",
    );
    case(
        "token_expires_at_in_year_9999",
        bytes(token_with(
            "d6",
            "token.expires_at",
            json!("9999-12-31T23:59:59Z"),
        )),
        InvalidField,
        "token.expires_at: out of range (1970-01-01 to 2100-01-01)",
    );
    case(
        "token_issued_at_before_1970",
        bytes(token_with(
            "d7",
            "token.issued_at",
            json!("1960-01-01T00:00:00Z"),
        )),
        InvalidField,
        "token.issued_at: out of range (1970-01-01 to 2100-01-01)",
    );
    case(
        "time_before_1970_as_unix_seconds_is_a_wrong_type",
        bytes(tool_with("d8", "time", json!(-1))),
        InvalidField,
        "time: expected a string, got number",
    );
    cases
}

/// Records that look hostile but break no rule: refusing them would lose evidence.
pub fn hostile_but_valid(prefix: &str) -> Vec<(&'static str, Vec<u8>)> {
    let id = |name: &str| format!("{prefix}-{name}");
    let tool = |name: &str, path: &str, x: Value| {
        serde_json::to_vec(&set(tool_value(&id(name), "agent-1"), path, x)).unwrap()
    };
    let token = |name: &str, path: &str, x: Value| {
        serde_json::to_vec(&set(token_value(&id(name), "agent-1"), path, x)).unwrap()
    };
    vec![
        (
            "agent_name_in_any_script_with_spaces",
            tool("v1", "agent.name", json!("Ticket triage — агент 名前")),
        ),
        (
            "invisible_characters_in_free_form_attributes_are_evidence",
            tool(
                "v2",
                "attributes",
                json!({"prompt": "ignore\u{200B} previous\u{202E}"}),
            ),
        ),
        (
            "newlines_in_tool_operation",
            tool("v3", "tool.operation", json!("SELECT 1\nFROM t")),
        ),
        (
            "time_with_100000_fractional_digits",
            tool(
                "v4",
                "time",
                json!(format!("2026-11-30T10:00:00.{}Z", "9".repeat(100_000))),
            ),
        ),
        (
            "integers_at_the_64_bit_limits",
            tool(
                "v5",
                "attributes",
                json!({"max": u64::MAX, "min": i64::MIN, "big": 1e308}),
            ),
        ),
        (
            "time_just_before_2100",
            tool("v6", "time", json!("2099-12-31T23:59:59.999999Z")),
        ),
        (
            "token_expiring_at_the_epoch",
            token("v7", "token.expires_at", json!("1970-01-01T00:00:00Z")),
        ),
        (
            "unknown_field_30_deep_stores_exactly_32_deep",
            splice(
                &set(tool_value(&id("v9"), "agent-1"), "colour", json!("@@")),
                format!("{}{}", "[".repeat(30), "]".repeat(30)).as_bytes(),
            ),
        ),
        (
            "every_printable_ascii_character_in_an_id",
            tool("v8", "agent.id", json!(('!'..='~').collect::<String>())),
        ),
    ]
}
