//! The Kafka consumer's context. Invariant: a partition assigned to this process starts at the
//! index checkpoint (or at the beginning of the log when the index has never seen it), never at
//! the consumer group's committed offset.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::Checkpoint;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset};

/// Shared between the consumer callbacks (run inside `poll`) and the pipeline loop.
pub(crate) struct SourceContext {
    /// Positions of the last durable commit, where a newly assigned partition resumes.
    pub(crate) resume_from: Mutex<Checkpoint>,
    /// Where each freshly assigned partition was told to start, so the pipeline can notice a
    /// broker that reset the position (topic re-created, retention passed the checkpoint).
    pub(crate) fresh_assignments: Mutex<BTreeMap<(String, i32), Offset>>,
    pub(crate) assignment_changed: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
}

impl SourceContext {
    pub(crate) fn new(resume_from: Checkpoint, metrics: Arc<Metrics>) -> Self {
        SourceContext {
            resume_from: Mutex::new(resume_from),
            fresh_assignments: Mutex::new(BTreeMap::new()),
            assignment_changed: AtomicBool::new(false),
            metrics,
        }
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        let mut lag = BTreeMap::new();
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                // -1 is librdkafka's internal "unassigned" partition; lag -1 means unknown.
                if partition >= 0 && p.consumer_lag >= 0 {
                    lag.insert((topic.clone(), partition), p.consumer_lag);
                }
            }
        }
        self.metrics.set_lag(lag);
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let resume = self
                    .resume_from
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let partitions: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                let mut fresh = self
                    .fresh_assignments
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                for (topic, partition) in partitions {
                    let offset = resume
                        .next_offset(&topic, partition)
                        .map_or(Offset::Beginning, Offset::Offset);
                    if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                        tracing::error!(%topic, partition, error = %e, "cannot set start offset");
                    }
                    tracing::info!(%topic, partition, start = ?offset, "partition assigned; resuming from the index checkpoint");
                    fresh.insert((topic, partition), offset);
                }
                drop(fresh);
                self.assignment_changed.store(true, Ordering::Release);
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "partition assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                for e in tpl.elements() {
                    tracing::info!(
                        topic = e.topic(),
                        partition = e.partition(),
                        "partition revoked"
                    );
                }
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "partition revocation failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        // Group offsets are a courtesy for lag tooling; the index checkpoint is authoritative.
        if let Err(e) = result {
            tracing::debug!(error = %e, "courtesy offset commit to the consumer group failed");
        }
    }
}
