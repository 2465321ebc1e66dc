//! The dead-letter producer. Invariant: the pipeline commits the index (and so moves the
//! checkpoint past a rejected record) only after every dead-letter record sent so far has been
//! acknowledged by the broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::{CollectorError, KafkaConfig, Result};

/// Records larger than this are dead-lettered truncated (with their full size in a header), so
/// that a record the broker accepted once cannot be refused by the dead-letter topic for size.
const MAX_DEAD_LETTER_PAYLOAD: usize = 512 << 10;

/// Why and where a record was rejected; becomes the dead-letter record's headers.
pub(crate) struct Rejection<'a> {
    pub(crate) reason: &'static str,
    pub(crate) message: &'a str,
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

#[derive(Default)]
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
    last_error: Mutex<String>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::AcqRel);
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = e.to_string();
            tracing::error!(error = %e, "dead-letter delivery failed");
        }
    }
}

pub(crate) struct DeadLetter {
    producer: BaseProducer<DeliveryTracker>,
    suffix: String,
}

impl DeadLetter {
    pub(crate) fn new(config: &KafkaConfig) -> Result<Self> {
        Ok(DeadLetter {
            producer: config
                .producer_config()
                .create_with_context(DeliveryTracker::default())?,
            suffix: config.dead_letter_suffix.clone(),
        })
    }

    /// Queues the original record, unchanged but for truncation of huge payloads, with headers
    /// saying why and where it was rejected. Original headers are kept.
    pub(crate) fn send(
        &self,
        key: Option<&[u8]>,
        payload: &[u8],
        original_headers: Option<&rdkafka::message::BorrowedHeaders>,
        rejection: &Rejection<'_>,
    ) -> Result<()> {
        let topic = crate::dead_letter_topic(rejection.topic, &self.suffix);
        let mut headers = OwnedHeaders::new();
        if let Some(original) = original_headers {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let partition = rejection.partition.to_string();
        let offset = rejection.offset.to_string();
        let size = payload.len().to_string();
        let truncated = payload.len() > MAX_DEAD_LETTER_PAYLOAD;
        headers = headers
            .insert(Header {
                key: "hoptrail.reason",
                value: Some(rejection.reason),
            })
            .insert(Header {
                key: "hoptrail.error",
                value: Some(rejection.message),
            })
            .insert(Header {
                key: "hoptrail.source.topic",
                value: Some(rejection.topic),
            })
            .insert(Header {
                key: "hoptrail.source.partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "hoptrail.source.offset",
                value: Some(&offset),
            })
            .insert(Header {
                key: "hoptrail.original_size",
                value: Some(&size),
            });
        if truncated {
            headers = headers.insert(Header {
                key: "hoptrail.truncated",
                value: Some("true"),
            });
        }
        let body = &payload[..payload.len().min(MAX_DEAD_LETTER_PAYLOAD)];
        let mut record = BaseRecord::to(&topic).payload(body).headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    // Back-pressure: serve delivery reports until the local queue has room.
                    record = back;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Serves delivery reports without blocking.
    pub(crate) fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed.
    /// Gives up only when `stop` is set: then the caller must not commit.
    pub(crate) fn flush(&self, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
        loop {
            match self.producer.flush(Duration::from_secs(5)) {
                Ok(()) => break,
                Err(e) if stop.load(Ordering::Acquire) => {
                    return Err(CollectorError::DeadLetter {
                        failed: self.producer.in_flight_count().max(0) as u64,
                        last_error: format!("shutting down before acknowledgement: {e}"),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, in_flight = self.producer.in_flight_count(), "dead-letter topic slow to acknowledge; still waiting")
                }
            }
        }
        let failed = self.producer.context().failed.swap(0, Ordering::AcqRel);
        if failed > 0 {
            let last_error = self
                .producer
                .context()
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            return Err(CollectorError::DeadLetter { failed, last_error });
        }
        Ok(())
    }
}
