//! Topic administration. Some Kafka-protocol brokers (Tansu) never auto-create topics, and
//! production clusters usually forbid it, so creation is explicit and opt-in.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{KafkaConfig, Result};

/// The dead-letter topic of `topic`.
pub fn dead_letter_topic(topic: &str, suffix: &str) -> String {
    format!("{topic}{suffix}")
}

/// Creates the given topics with `partitions` partitions; a topic that already exists is fine.
pub async fn create_topics(config: &KafkaConfig, topics: &[String], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config.client_config().create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(%topic, "topic exists")
            }
            Err((topic, code)) => {
                return Err(crate::CollectorError::Config(format!(
                    "creating topic {topic}: {code}"
                )))
            }
        }
    }
    Ok(())
}
