//! The source positions stored in each tantivy commit's payload. Invariant: a checkpoint names,
//! for every partition, the next offset to read, and every record before it is either in the
//! same commit (indexed or counted as duplicate) or was dead-lettered and acknowledged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{IndexError, Result};

/// Per topic, per partition: the next offset to consume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// topic → partition → next offset.
    pub kafka: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl Checkpoint {
    /// The next offset to consume on `topic`/`partition`, if one was ever committed.
    pub fn next_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.kafka.get(topic)?.get(&partition).copied()
    }

    /// Records that everything before `next_offset` was handled. Positions never move back:
    /// a re-delivered older record cannot rewind the checkpoint.
    pub fn advance(&mut self, topic: &str, partition: i32, next_offset: i64) {
        if let Some(partitions) = self.kafka.get_mut(topic) {
            let slot = partitions.entry(partition).or_insert(next_offset);
            *slot = (*slot).max(next_offset);
        } else {
            self.kafka
                .insert(topic.to_owned(), BTreeMap::from([(partition, next_offset)]));
        }
    }

    /// Sets a position unconditionally, also backwards: for when the source's log no longer
    /// holds the recorded offset.
    pub fn reset(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.kafka
            .entry(topic.to_owned())
            .or_default()
            .insert(partition, next_offset);
    }

    /// True when no position is recorded.
    pub fn is_empty(&self) -> bool {
        self.kafka.values().all(BTreeMap::is_empty)
    }
}

/// What hoptrail writes as tantivy's commit payload. Versioned so that a later hoptrail can add
/// state (detection state, alert cursors) without misreading an older index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitPayload {
    /// Payload format version; this build writes and reads 1.
    pub version: u32,
    /// Source positions.
    pub checkpoint: Checkpoint,
}

impl CommitPayload {
    const VERSION: u32 = 1;

    /// Wraps a checkpoint in the current payload version.
    pub fn new(checkpoint: Checkpoint) -> Self {
        CommitPayload {
            version: Self::VERSION,
            checkpoint,
        }
    }

    /// Serializes for `PreparedCommit::set_payload`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a checkpoint always serializes")
    }

    /// Reads a payload; an index that never committed a payload has an empty checkpoint.
    pub fn from_json_opt(payload: Option<&str>) -> Result<Self> {
        let Some(text) = payload else {
            return Ok(CommitPayload::new(Checkpoint::default()));
        };
        let payload: CommitPayload =
            serde_json::from_str(text).map_err(|e| IndexError::Checkpoint(e.to_string()))?;
        if payload.version != Self::VERSION {
            return Err(IndexError::Checkpoint(format!(
                "payload version {} is not supported by this build (expected {})",
                payload.version,
                Self::VERSION
            )));
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_never_moves_back() {
        let mut cp = Checkpoint::default();
        cp.advance("t", 0, 10);
        cp.advance("t", 0, 4);
        assert_eq!(cp.next_offset("t", 0), Some(10));
        cp.advance("t", 0, 11);
        assert_eq!(cp.next_offset("t", 0), Some(11));
        assert_eq!(cp.next_offset("t", 1), None);
    }

    #[test]
    fn payload_round_trips_through_json() {
        let mut cp = Checkpoint::default();
        cp.advance("agent.tool-use.v1", 3, 42);
        let payload = CommitPayload::new(cp);
        let back = CommitPayload::from_json_opt(Some(&payload.to_json())).unwrap();
        assert_eq!(back, payload);
    }

    #[test]
    fn an_index_without_payload_has_an_empty_checkpoint() {
        assert!(CommitPayload::from_json_opt(None)
            .unwrap()
            .checkpoint
            .is_empty());
    }

    #[test]
    fn a_payload_from_a_future_version_is_refused_not_misread() {
        let err = CommitPayload::from_json_opt(Some(r#"{"version":2,"checkpoint":{"kafka":{}}}"#));
        assert!(matches!(err, Err(IndexError::Checkpoint(_))));
    }
}
