//! The Kafka → index loop, on a dedicated thread (rdkafka polling and tantivy commits block).
//! Invariant: per partition, records are handled in offset order and each exactly once: a record
//! below the pending checkpoint is a re-delivery and is skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hoptrail_core::Event;
use hoptrail_indexer::metrics::{BatchCounts, Metrics};
use hoptrail_indexer::{AddOutcome, EventWriter};
use hoptrail_schemas::Decoder;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::Offset;

use crate::dead_letter::{DeadLetter, Rejection};
use crate::detection::Detection;
use crate::kafka_source::SourceContext;
use crate::tenant_binding::TenantBinding;
use crate::{KafkaConfig, Result};

/// Records handled between two looks at the commit policy and the stop flag.
const POLL_BATCH: usize = 2048;
/// How long a poll waits when nothing is pending; bounds how late the stop flag is seen.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// The shortest wait for records while work is pending: a poll that waited this long and got
/// nothing means the source ran dry (an immediate poll coming back empty only means librdkafka's
/// prefetch queue was momentarily empty).
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// The running collector: consume, decode, redact, dead-letter, index, commit.
pub struct Pipeline {
    consumer: BaseConsumer<SourceContext>,
    sink: Sink,
    running: Arc<AtomicBool>,
}

/// Everything the loop mutates per record; apart from the consumer, whose messages borrow it.
struct Sink {
    dead_letter: DeadLetter,
    writer: EventWriter,
    decoder: Decoder,
    /// The last record's event, decoded over by the next one (see `Decoder::decode_reusing`).
    event: Option<Event>,
    tenants: TenantBinding,
    metrics: Arc<Metrics>,
    batch: BatchCounts,
    stop: Arc<AtomicBool>,
    detection: Option<Detection>,
    awaiting_first: AwaitingFirst,
}

/// Freshly assigned partitions whose first record has not come yet, each with the offset it was
/// told to start at. A partition that stays empty stays here, so the per-record look costs a
/// hash probe, not a lock or an allocation.
#[derive(Default)]
struct AwaitingFirst {
    by_topic: HashMap<String, HashMap<i32, Offset>>,
}

impl AwaitingFirst {
    fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    fn insert(&mut self, topic: String, partition: i32, requested: Offset) {
        self.by_topic
            .entry(topic)
            .or_default()
            .insert(partition, requested);
    }

    fn take(&mut self, topic: &str, partition: i32) -> Option<Offset> {
        let partitions = self.by_topic.get_mut(topic)?;
        let requested = partitions.remove(&partition)?;
        if partitions.is_empty() {
            self.by_topic.remove(topic);
        }
        Some(requested)
    }
}

/// Controls a pipeline running on its own thread.
pub struct PipelineHandle {
    stop: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl PipelineHandle {
    /// True while the consumer loop runs.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// A flag that reads true while the consumer loop runs.
    pub fn running_flag(&self) -> Arc<AtomicBool> {
        self.running.clone()
    }

    /// Asks the loop to stop after committing what it has.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// True once the loop has ended (cleanly or not).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the loop and waits for its final commit.
    pub fn stop(mut self) -> Result<()> {
        self.request_stop();
        self.join()
    }

    /// Waits for the loop to end and returns how it ended.
    pub fn join(&mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(crate::CollectorError::Config(
                    "collector thread panicked".into(),
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Pipeline {
    /// Builds the consumer and the dead-letter producer and subscribes; partitions start at the
    /// writer's committed checkpoint.
    pub fn new(config: &KafkaConfig, writer: EventWriter, metrics: Arc<Metrics>) -> Result<Self> {
        let context = SourceContext::new(writer.committed_checkpoint().clone(), metrics.clone());
        let consumer: BaseConsumer<SourceContext> =
            config.consumer_config().create_with_context(context)?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        tracing::info!(brokers = %config.brokers, group = %config.group_id, topics = ?config.topics, "collector subscribed");
        Ok(Pipeline {
            consumer,
            sink: Sink {
                dead_letter: DeadLetter::new(config)?,
                writer,
                decoder: Decoder::new(),
                event: None,
                tenants: TenantBinding::new(config.tenants.clone()),
                metrics,
                batch: BatchCounts::default(),
                stop: Arc::new(AtomicBool::new(false)),
                detection: None,
                awaiting_first: AwaitingFirst::default(),
            },
            running: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Adds the detect stage; it is rebuilt from the index when the loop starts.
    pub fn with_detection(mut self, detection: Option<Detection>) -> Self {
        self.sink.detection = detection;
        self
    }

    /// Runs the loop on a dedicated thread.
    pub fn spawn(self) -> std::io::Result<PipelineHandle> {
        let stop = self.sink.stop.clone();
        let running = self.running.clone();
        let thread = std::thread::Builder::new()
            .name("hoptrail-collector".into())
            .spawn(move || self.run())?;
        Ok(PipelineHandle {
            stop,
            running,
            thread: Some(thread),
        })
    }

    /// Runs until stopped or until Kafka or the index fails; commits what it has on the way out.
    pub fn run(mut self) -> Result<()> {
        self.running.store(true, Ordering::Release);
        let result = self.run_loop();
        self.running.store(false, Ordering::Release);
        match &result {
            Ok(()) => tracing::info!("collector stopped after a final commit"),
            Err(e) => {
                tracing::error!(error = %e, "collector stopped; records after the last commit will be read again on restart")
            }
        }
        result
    }

    fn run_loop(&mut self) -> Result<()> {
        let consumer = &self.consumer;
        let sink = &mut self.sink;
        if let Some(d) = &mut sink.detection {
            d.rebuild()?;
        }
        while !sink.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            // Nothing pending: block in poll (the stop flag is looked at between polls). Work
            // pending: wait no longer than the commit interval allows, and at least IDLE_WAIT,
            // so that a poll coming back empty means the source really ran dry.
            let wait = if sink.writer.is_dirty() {
                let idle = sink.writer.time_to_idle_commit(now).max(IDLE_WAIT);
                sink.writer.time_to_commit(now).min(idle)
            } else {
                IDLE_POLL
            };
            let mut handled = 0;
            let mut timeout = wait;
            let mut ran_dry = false;
            while handled < POLL_BATCH {
                match consumer.poll(timeout) {
                    None => {
                        ran_dry = handled == 0 && !timeout.is_zero();
                        break;
                    }
                    Some(Ok(message)) => {
                        sink.handle(consumer, &message)?;
                        handled += 1;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "kafka consumer error; retrying");
                        break;
                    }
                }
                timeout = Duration::ZERO;
            }
            sink.dead_letter.poll();
            let now = Instant::now();
            // Committing as soon as the source runs dry makes the last records searchable (and
            // their offsets durable) without waiting for the interval.
            if sink.writer.should_commit(now) || (ran_dry && sink.writer.should_commit_idle(now)) {
                sink.commit(consumer)?;
            }
        }
        sink.commit(consumer)
    }
}

impl Sink {
    fn handle(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        message: &BorrowedMessage<'_>,
    ) -> Result<()> {
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset();
        if consumer
            .context()
            .assignment_changed
            .load(Ordering::Acquire)
        {
            self.take_fresh_assignments(consumer);
        }
        if !self.awaiting_first.is_empty() {
            if let Some(requested) = self.awaiting_first.take(topic, partition) {
                self.check_reset(topic, partition, offset, requested);
            }
        }
        if let Some(next) = self
            .writer
            .pending_checkpoint()
            .next_offset(topic, partition)
        {
            if offset < next {
                return Ok(());
            }
        }
        let payload = message.payload().unwrap_or_default();
        let decoded = self
            .decoder
            .decode_reusing(payload, &mut self.event)
            .and_then(|(event, redactions)| {
                self.tenants.bind(topic, event)?;
                Ok((event, redactions))
            });
        match decoded {
            Ok((event, redactions)) => {
                self.batch.redactions.add(redactions);
                if let Some(d) = &mut self.detection {
                    d.observe(event)?;
                }
                match self.writer.add(event)? {
                    AddOutcome::Added => self.batch.added += 1,
                    AddOutcome::Duplicate => self.batch.duplicate += 1,
                }
            }
            Err(rejected) => {
                tracing::debug!(topic, partition, offset, reason = rejected.reason.as_str(), error = %rejected.message, "record rejected; dead-lettering");
                self.batch.reject(rejected.reason);
                self.batch.dlq_records += 1;
                self.dead_letter.send(
                    message.key(),
                    payload,
                    message.headers(),
                    &Rejection {
                        reason: rejected.reason.as_str(),
                        message: &rejected.message,
                        topic,
                        partition,
                        offset,
                    },
                )?;
            }
        }
        self.writer.advance(topic, partition, offset + 1);
        Ok(())
    }

    /// Moves the partitions the last rebalance assigned out of the consumer's context (where
    /// the rebalance callback, run inside `poll` on this thread, put them).
    fn take_fresh_assignments(&mut self, consumer: &BaseConsumer<SourceContext>) {
        let context = consumer.context();
        let fresh = std::mem::take(
            &mut *context
                .fresh_assignments
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        context.assignment_changed.store(false, Ordering::Release);
        for ((topic, partition), requested) in fresh {
            self.awaiting_first.insert(topic, partition, requested);
        }
    }

    /// The first record of a freshly assigned partition shows where the broker really started
    /// it. Starting below the checkpoint means the log no longer holds the checkpoint's offset
    /// (topic re-created, or retention removed it): skipping until the old offset would drop
    /// new records forever, so the checkpoint follows the log, loudly.
    fn check_reset(&mut self, topic: &str, partition: i32, offset: i64, requested: Offset) {
        if let Offset::Offset(requested) = requested {
            if offset < requested {
                tracing::warn!(
                    topic,
                    partition,
                    checkpoint = requested,
                    log_start = offset,
                    "the partition's log does not hold the checkpointed offset (topic re-created or retention passed it); resuming from the log"
                );
                self.writer.reset_position(topic, partition, offset);
            }
        }
    }

    fn commit(&mut self, consumer: &BaseConsumer<SourceContext>) -> Result<()> {
        // Rejected records must be safe in the dead-letter topic before the checkpoint passes them.
        self.dead_letter.flush(&self.stop)?;
        let stats = self.writer.commit()?;
        if let Some(d) = &mut self.detection {
            d.commit()?;
        }
        self.metrics.record_commit(stats.duration);
        self.metrics.record_committed_batch(&self.batch);
        if stats.docs > 0 || self.batch.rejected_total() > 0 {
            tracing::info!(
                indexed = stats.docs,
                duplicates = self.batch.duplicate,
                rejected = self.batch.rejected_total(),
                redactions = self.batch.redactions.total(),
                commit_ms = stats.duration.as_millis() as u64,
                "committed"
            );
        }
        self.batch = BatchCounts::default();
        let checkpoint = self.writer.committed_checkpoint().clone();
        courtesy_commit(consumer, &checkpoint);
        *consumer
            .context()
            .resume_from
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = checkpoint;
        Ok(())
    }
}

/// Tells the consumer group where we are, for lag tooling; positions are read back from the
/// index checkpoint, never from here.
fn courtesy_commit(
    consumer: &BaseConsumer<SourceContext>,
    checkpoint: &hoptrail_indexer::Checkpoint,
) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    for e in assignment.elements() {
        if let Some(next) = checkpoint.next_offset(e.topic(), e.partition()) {
            let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(next));
        }
    }
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "courtesy offset commit not sent");
        }
    }
}
