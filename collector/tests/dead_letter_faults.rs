//! Fault injection with librdkafka's mock cluster: when the dead-letter topic refuses a rejected
//! record, the checkpoint must not pass it, so that nothing is lost across a restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{valid, wait_until, writer_config};
use hoptrail_collector::Pipeline;
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::EventIndex;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;

const TOPIC: &str = "faults.tool-use";

#[test]
fn a_refused_dead_letter_stops_the_checkpoint_before_the_rejected_record_and_a_restart_delivers_it()
{
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, 1, 1).unwrap();
    mock.create_topic(&format!("{TOPIC}.dlq"), 1, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    // offsets 0, 1: valid; 2: invalid; 3: valid
    for payload in [
        valid("e0"),
        valid("e1"),
        "not json".to_string(),
        valid("e3"),
    ] {
        producer
            .send(BaseRecord::<str, str>::to(TOPIC).payload(&payload))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    // From now on the broker refuses every produce request: the dead letter cannot be delivered.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 64],
    );

    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let kafka = common::config(
        &brokers,
        TOPIC,
        "faults",
        // Fail fast instead of retrying for the default five minutes.
        &[("message.timeout.ms", "2000"), ("retries", "0")],
    );
    let writer = index.writer(writer_config()).unwrap();
    let mut handle = Pipeline::new(&kafka, writer, Arc::new(Metrics::default()))
        .unwrap()
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || handle.is_finished()),
        "the collector stops when the DLQ refuses"
    );
    let err = handle.join().unwrap_err();
    assert!(err.to_string().contains("dead-letter"), "{err}");
    let committed = index.committed_payload().unwrap().checkpoint;
    assert!(
        committed.next_offset(TOPIC, 0).unwrap_or(0) <= 2,
        "the checkpoint never passes an unacknowledged dead letter: {committed:?}"
    );

    // The broker recovers; a restart re-reads the rejected record and delivers it.
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    let writer = index.writer(writer_config()).unwrap();
    let handle = Pipeline::new(&kafka, writer, Arc::new(Metrics::default()))
        .unwrap()
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || {
            index
                .committed_payload()
                .unwrap()
                .checkpoint
                .next_offset(TOPIC, 0)
                == Some(4)
        }),
        "every record handled after the restart"
    );
    handle.stop().unwrap();
    assert_eq!(index.num_docs(), 3, "e0, e1, e3 indexed once each");
}
