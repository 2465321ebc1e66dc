//! hoptrail's sources: Kafka (and NDJSON files) into the index. Invariant: a record's offset
//! enters the index checkpoint only once its fate is durable — indexed in the same commit, a
//! duplicate of an indexed event, or acknowledged by the dead-letter topic.

mod config;
mod dead_letter;
mod detection;
mod error;
mod kafka_source;
mod ndjson;
mod pipeline;
mod tenant_binding;
mod topics;

pub use config::{
    env_property, KafkaConfig, KafkaConfigFile, DEFAULT_GROUP_ID, DEFAULT_TOPICS,
    ENV_PROPERTY_PREFIX,
};
pub use detection::{Detection, RebuildStats};
pub use error::{CollectorError, Result};
pub use ndjson::{ingest_ndjson, IngestReport, LineError};
pub use pipeline::{Pipeline, PipelineHandle};
pub use tenant_binding::TenantBinding;
pub use topics::{create_topics, dead_letter_topic};
