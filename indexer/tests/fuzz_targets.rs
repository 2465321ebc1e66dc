//! The fuzz targets' claims on stable: the exact checks `cargo fuzz` runs (`fuzz/src/checks.rs`)
//! over the seed corpus, the hostile-record corpus and a few thousand generated inputs, so CI,
//! which has no nightly toolchain, still holds every change to them.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

#[path = "../../schemas/tests/hostile/corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::sync::LazyLock;

use hoptrail_schemas::Decoder;
use proptest::prelude::*;

static DECODER: LazyLock<Decoder> = LazyLock::new(Decoder::new);
static QUERY: LazyLock<checks::QueryTarget> = LazyLock::new(checks::QueryTarget::new);

/// Every file of `fuzz/seeds/<target>/`.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable seed");
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "{target}: only {} seeds", out.len());
    out
}

#[test]
fn decode_record_holds_on_every_seed_and_hostile_record() {
    for (name, bytes) in seeds("decode_record") {
        eprintln!("seed {name}");
        checks::decode_record(&DECODER, &bytes);
    }
    for case in corpus::hostile_records("fuzz") {
        checks::decode_record(&DECODER, &case.bytes);
    }
    for (_, bytes) in corpus::hostile_but_valid("fuzz") {
        checks::decode_record(&DECODER, &bytes);
    }
}

#[test]
fn query_parse_holds_on_every_seed() {
    for (name, bytes) in seeds("query_parse") {
        eprintln!("seed {name}");
        QUERY.check(&bytes);
    }
}

/// A valid record with a few bytes overwritten or inserted: inputs that get past the cheap
/// checks and into the field rules, which random bytes alone rarely reach.
fn mutated_record() -> impl Strategy<Value = Vec<u8>> {
    let base = corpus::valid_token_use("fz", "agent-1");
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>(), any::<bool>()), 1..6),
        Just(base),
    )
        .prop_map(|(edits, mut b)| {
            for (at, byte, insert) in edits {
                let at = at.min(b.len());
                if insert {
                    b.insert(at, byte);
                } else if at < b.len() {
                    b[at] = byte;
                }
            }
            b
        })
}

/// Strings made of tantivy query syntax, field names and odd characters.
fn query_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "agent_id:",
            "system:",
            "attributes.",
            "extra.",
            "time:",
            "attributes.n:",
            "AND",
            "OR",
            "NOT",
            "TO",
            "IN",
            "*",
            "?",
            "~",
            "^",
            "+",
            "-",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "\"",
            ":",
            "\\",
            ">",
            "<=",
            "'",
            " ",
            "a",
            "7",
            "1e400",
            "2026-11-30T10:00:00Z",
            "\u{0}",
            "\u{200B}",
            "é",
            "/",
            ".",
            "..",
            "!",
            "&&",
            "||",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,4}",
    ];
    prop::collection::vec(token, 0..14).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn decode_record_holds_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::decode_record(&DECODER, &bytes);
    }

    #[test]
    fn decode_record_holds_on_mutated_valid_records(bytes in mutated_record()) {
        checks::decode_record(&DECODER, &bytes);
    }

    #[test]
    fn query_parse_holds_on_query_syntax_soup(q in query_text()) {
        QUERY.check(q.as_bytes());
    }

    #[test]
    fn query_parse_holds_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        QUERY.check(&bytes);
    }
}
