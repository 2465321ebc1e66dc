//! Hostile input through the real pipeline (issue 5): the corpus of `schemas/tests/hostile.rs`
//! sent to one partition of a real broker, each hostile record between valid ones.

mod common;

#[path = "../schemas/tests/hostile/corpus.rs"]
mod corpus;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use rdkafka::message::Message;

const WAIT: Duration = Duration::from_secs(120);
/// Valid records after the last hostile one: if any hostile record had blocked the partition,
/// these would never be indexed.
const TRAILING_VALID: usize = 25;
/// The dead-letter producer truncates payloads above this (collector/src/dead_letter.rs).
const MAX_DEAD_LETTER_PAYLOAD: usize = 512 << 10;

#[test]
fn hostile_records_on_one_partition_are_each_dead_lettered_with_their_reason_and_never_block_the_valid_ones_around_them(
) {
    let sb = Sandbox::new("hostile");
    let mut server = sb.start_hoptrail(&sb.write_config(100_000));
    let hostile = corpus::hostile_records(&sb.prefix);

    // One partition, so offsets are positions in `sequence`: a valid record, then a hostile one,
    // for every case, and a tail of valid records.
    let mut sequence: Vec<Vec<u8>> = Vec::new();
    let mut valid_ids = BTreeSet::new();
    let mut hostile_at: BTreeMap<i64, &corpus::Hostile> = BTreeMap::new();
    let mut push_valid = |sequence: &mut Vec<Vec<u8>>, n: usize| {
        let id = format!("{}-ok-{n:04}", sb.prefix);
        let record = if n % 2 == 0 {
            corpus::valid_tool_use(&id, &format!("agent-{}", n % 5))
        } else {
            corpus::valid_token_use(&id, &format!("agent-{}", n % 5))
        };
        sequence.push(record);
        valid_ids.insert(id);
    };
    for (i, case) in hostile.iter().enumerate() {
        push_valid(&mut sequence, i);
        hostile_at.insert(sequence.len() as i64, case);
        sequence.push(case.bytes.clone());
    }
    for n in 0..TRAILING_VALID {
        push_valid(&mut sequence, hostile.len() + n);
    }
    sb.produce_to_partition(TOOL, 0, &sequence);

    assert_eq!(
        server.wait_total(valid_ids.len() as u64, WAIT),
        valid_ids.len() as u64,
        "every valid record is indexed, those after the hostile ones included"
    );
    assert_eq!(
        id_set(&server.all_event_ids()),
        valid_ids,
        "exactly the valid records are searchable"
    );

    let dead = sb.read_all(&sb.dead_letter_topic(TOOL), hostile.len(), WAIT);
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for m in &dead {
        let header = |k: &str| header(m, k);
        let offset: i64 = header("hoptrail.source.offset").parse().unwrap();
        assert_eq!(header("hoptrail.source.partition"), "0");
        let case = hostile_at
            .get(&offset)
            .unwrap_or_else(|| panic!("offset {offset} is a valid record, yet dead-lettered"));
        assert!(seen.insert(offset), "{} dead-lettered twice", case.name);
        let (reason, error) = (header("hoptrail.reason"), header("hoptrail.error"));
        if reason != case.reason.as_str() || !error.contains(case.message) {
            wrong.push(format!(
                "{}: got {reason} {error:?}, want {} containing {:?}",
                case.name,
                case.reason.as_str(),
                case.message
            ));
        }
        let kept = &case.bytes[..case.bytes.len().min(MAX_DEAD_LETTER_PAYLOAD)];
        assert!(
            m.payload().unwrap_or_default() == kept,
            "{}: the dead letter carries the original bytes",
            case.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let missing: Vec<&str> = hostile_at
        .iter()
        .filter(|(o, _)| !seen.contains(*o))
        .map(|(_, c)| c.name)
        .collect();
    assert!(missing.is_empty(), "not dead-lettered: {missing:?}");

    assert_eq!(server.exited(), None, "hoptrail never crashed");
    assert_eq!(
        server.metric("hoptrail_events_indexed_total") as usize,
        valid_ids.len()
    );
}
