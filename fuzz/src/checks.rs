//! What each fuzz target asserts about one input. Shared, through `#[path]`, by the cargo-fuzz
//! targets (nightly) and by `indexer/tests/fuzz_targets.rs` (stable, in CI), so both hold every
//! input to the same claims.
#![allow(dead_code)]

use hoptrail_indexer::{parse_query, EventSchema};
use hoptrail_schemas::{encode_event, Decoder, Reason};
use tantivy::collector::Count;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Index, IndexReader};

/// `Decoder::decode` on arbitrary bytes: it returns (never panics) the same answer as the
/// decoder without its fast path; a rejection carries a one-line message that names a field or
/// the record; an accepted record's stored form decodes back to the same event.
pub fn decode_record(decoder: &Decoder, data: &[u8]) {
    let answer = decoder.decode(data);
    assert_eq!(
        answer,
        decoder.decode_without_fast_path(data),
        "the fast path changed the answer"
    );
    match answer {
        Err(e) => {
            assert!(Reason::ALL.contains(&e.reason));
            assert!(
                e.message.contains(": ") && !e.message.chars().any(char::is_control),
                "message is one line naming a field: {:?}",
                e.message
            );
        }
        Ok(decoded) => {
            let mut stored = String::new();
            encode_event(&decoded.event, &mut stored);
            let again = decoder
                .decode(stored.as_bytes())
                .unwrap_or_else(|e| panic!("stored form rejected: {e}"));
            let (mut a, mut b) = (decoded.event, again.event);
            // Free-form values may hold floats that serde_json does not promise to read back to
            // the last bit; their keys must survive all the same.
            assert!(a.attributes.keys().eq(b.attributes.keys()));
            assert!(a.extra.keys().eq(b.extra.keys()));
            for e in [&mut a, &mut b] {
                e.attributes.clear();
                e.extra.clear();
            }
            assert_eq!(a, b, "stored form decodes to the same event");
        }
    }
}

/// The events search's `q` parser over an empty index: any string parses to a query that runs,
/// or is refused with an error, never a panic.
pub struct QueryTarget {
    fields: EventSchema,
    tokenizers: TokenizerManager,
    reader: IndexReader,
}

impl QueryTarget {
    pub fn new() -> Self {
        let fields = EventSchema::new();
        let index = Index::create_in_ram(fields.schema.clone());
        QueryTarget {
            tokenizers: index.tokenizers().clone(),
            reader: index.reader().expect("reader of an empty index"),
            fields,
        }
    }

    pub fn check(&self, data: &[u8]) {
        let Ok(q) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(query) = parse_query(&self.fields, &self.tokenizers, q) {
            match self.reader.searcher().search(&*query, &Count) {
                // The searcher answers these as the caller's error (400), not ours.
                Ok(_) | Err(tantivy::TantivyError::InvalidArgument(_)) => {}
                Err(e) => panic!("parsed query {q:?} fails to run: {e}"),
            }
        }
    }
}
