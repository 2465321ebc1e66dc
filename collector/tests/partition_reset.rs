//! When a partition's log no longer holds the checkpointed offset (the topic was deleted and
//! created again, or retention passed the checkpoint), the collector follows the log instead of
//! skipping new records until the old offset comes round. An assigned partition that never
//! delivers anything changes nothing for the others.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{valid, writer_config};
use hoptrail_collector::Pipeline;
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::EventIndex;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const TOPIC: &str = "reset.tool-use";
/// Partition 0 gets every record; partition 1 stays empty.
const PARTITIONS: i32 = 2;

/// A broker whose topic holds `ids`, in order, on partition 0.
fn broker_with(ids: &[String]) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    mock.create_topic(&format!("{TOPIC}.dlq"), 1, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .create()
        .unwrap();
    for id in ids {
        producer
            .send(
                BaseRecord::<str, str>::to(TOPIC)
                    .partition(0)
                    .payload(&valid(id)),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    mock
}

/// Runs the collector over `brokers` until the index's checkpoint for partition 0 reaches
/// `next_offset`.
fn ingest_until(index: &EventIndex, brokers: &str, next_offset: i64) {
    let writer = index.writer(writer_config()).unwrap();
    let handle = Pipeline::new(
        &common::config(brokers, TOPIC, "reset", &[]),
        writer,
        Arc::new(Metrics::default()),
    )
    .unwrap()
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while index
        .committed_payload()
        .unwrap()
        .checkpoint
        .next_offset(TOPIC, 0)
        != Some(next_offset)
    {
        assert!(
            Instant::now() < deadline,
            "checkpoint never reached {next_offset}: {:?}",
            index.committed_payload().unwrap().checkpoint
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    handle.stop().unwrap();
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn a_topic_created_again_is_read_from_its_new_start_and_nothing_new_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();

    let first = broker_with(&ids("old", 6));
    ingest_until(&index, &first.bootstrap_servers(), 6);
    assert_eq!(index.num_docs(), 6);
    drop(first);

    // The same topic, created again: its log starts at 0 and holds three new records, all
    // below the checkpoint's offset 6.
    let second = broker_with(&ids("new", 3));
    ingest_until(&index, &second.bootstrap_servers(), 3);
    assert_eq!(index.num_docs(), 9, "the three new records are indexed too");
    let committed = index.committed_payload().unwrap().checkpoint;
    assert_eq!(committed.next_offset(TOPIC, 0), Some(3));
    assert_eq!(
        committed.next_offset(TOPIC, 1),
        None,
        "the empty partition never delivered a record"
    );
}
