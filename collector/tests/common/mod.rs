//! What the collector's mock-cluster tests share: a valid record, the consumer settings that
//! make a group join quickly, and a small writer that commits often.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hoptrail_collector::{KafkaConfig, KafkaConfigFile};
use hoptrail_indexer::WriterConfig;

/// A valid tool-use record with this event id.
pub fn valid(id: &str) -> String {
    format!(
        r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","time":"2026-11-30T10:00:00Z","agent":{{"id":"a"}},"session_id":"s","system":"jira.corp","tool":{{"name":"t"}},"outcome":"success"}}"#
    )
}

/// Consumes `topic` in `group` from `brokers`, with `producer` settings for the dead-letter
/// producer.
pub fn config(brokers: &str, topic: &str, group: &str, producer: &[(&str, &str)]) -> KafkaConfig {
    let file = KafkaConfigFile {
        topics: Some(vec![topic.into()]),
        group_id: Some(group.into()),
        consumer_properties: BTreeMap::from([
            ("session.timeout.ms".to_string(), "6000".to_string()),
            ("max.poll.interval.ms".to_string(), "6000".to_string()),
        ]),
        producer_properties: producer
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    KafkaConfig::from_file(file, Some(brokers.into()), &BTreeMap::new())
        .unwrap()
        .unwrap()
}

/// One indexing thread, a small budget, a commit every 200 ms.
pub fn writer_config() -> WriterConfig {
    WriterConfig {
        num_threads: 1,
        memory_budget_bytes: 20 << 20,
        commit_interval: Duration::from_millis(200),
        ..WriterConfig::default()
    }
}

/// Polls `done` every 50 ms until it holds or `timeout` passes; its last answer.
#[allow(dead_code)] // not every test file waits this way
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}
