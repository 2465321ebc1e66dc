//! Kafka settings. Invariant: anything librdkafka accepts can be passed through untouched, and
//! the settings exactly-once depends on cannot be overridden by accident.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::{CollectorError, Result};

/// The consumer group hoptrail joins unless told otherwise.
pub const DEFAULT_GROUP_ID: &str = "hoptrail";
/// The topics hoptrail consumes unless told otherwise.
pub const DEFAULT_TOPICS: [&str; 2] = ["agent.tool-use.v1", "agent.token-use.v1"];

/// Prefix of environment variables carrying librdkafka properties:
/// `HOPTRAIL_KAFKA_PROPERTY_SASL_PASSWORD=…` sets `sasl.password`. Secrets belong there, not in
/// the config file.
pub const ENV_PROPERTY_PREFIX: &str = "HOPTRAIL_KAFKA_PROPERTY_";

/// The librdkafka property an environment variable sets, if it is one of
/// [`ENV_PROPERTY_PREFIX`]'s.
pub fn env_property(variable: &str) -> Option<String> {
    let name = variable.strip_prefix(ENV_PROPERTY_PREFIX)?;
    Some(name.to_ascii_lowercase().replace('_', "."))
}

/// The `[kafka]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfigFile {
    /// Bootstrap servers, `host:port[,host:port]`. Without them `serve` only serves the index.
    pub brokers: Option<String>,
    /// Consumer group id (membership and lag reporting; positions come from the index).
    pub group_id: Option<String>,
    /// Topics to consume.
    pub topics: Option<Vec<String>>,
    /// Suffix of each topic's dead-letter topic (default `.dlq`).
    pub dead_letter_suffix: Option<String>,
    /// Create missing topics (and their dead-letter topics) at start.
    pub create_topics: Option<bool>,
    /// Partitions of topics created by hoptrail.
    pub create_partitions: Option<i32>,
    /// librdkafka properties for both the consumer and the dead-letter producer
    /// (`security.protocol`, `sasl.mechanism`, `ssl.ca.location`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only.
    #[serde(default)]
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the dead-letter producer only.
    #[serde(default)]
    pub producer_properties: BTreeMap<String, String>,
    /// Topics bound to a tenant: `"acme.tool-use" = "acme"`. Records read from a bound topic are
    /// stored in its tenant; one naming another tenant is dead-lettered.
    #[serde(default)]
    pub tenants: BTreeMap<String, String>,
}

/// Validated Kafka settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group id.
    pub group_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Dead-letter suffix.
    pub dead_letter_suffix: String,
    /// Create missing topics at start.
    pub create_topics: bool,
    /// Partitions of created topics.
    pub create_partitions: i32,
    /// Shared librdkafka properties.
    pub properties: BTreeMap<String, String>,
    /// Consumer-only properties.
    pub consumer_properties: BTreeMap<String, String>,
    /// Producer-only properties.
    pub producer_properties: BTreeMap<String, String>,
    /// Topic → tenant bindings.
    pub tenants: BTreeMap<String, String>,
}

/// Consumer properties exactly-once relies on: offsets are owned by the index checkpoint.
const PINNED_CONSUMER_PROPERTIES: [(&str, &str); 3] = [
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
];

/// Consumer properties hoptrail sets unless the configuration sets them.
const CONSUMER_DEFAULTS: [(&str, &str); 4] = [
    ("auto.offset.reset", "earliest"),
    ("statistics.interval.ms", "5000"),
    // Once its prefetch queue is full, librdkafka waits this long before fetching again (1 s
    // by default). The collector empties a full queue (64 MiB) in well under a second, so with
    // the default it then sat waiting on the network while the index had spare CPU; a commit,
    // which stops consumption for a few hundred milliseconds, filled the queue every time.
    ("fetch.queue.backoff.ms", "20"),
    // librdkafka asks for at most 1 MiB per partition by default: with a few busy partitions
    // that is many small fetches, each costing the broker (on the same cores in a small
    // deployment) a request's overhead. The whole response stays bounded by `fetch.max.bytes`
    // and the prefetch queue by `queued.max.messages.kbytes`.
    ("max.partition.fetch.bytes", "4194304"),
];

/// Producer properties (`hoptrail send`, the dead-letter producer) hoptrail sets unless the
/// configuration sets them.
const PRODUCER_DEFAULTS: [(&str, &str); 3] = [
    ("acks", "all"),
    ("linger.ms", "10"),
    // The broker stores and serves a compressed batch as it is: with lz4 the co-located Tansu in
    // the ingest benchmark spent 0.3 core-s per million events instead of 1.1-1.6, and the
    // consumer's decompression did not show in its CPU (BENCHMARKS.md). Every Kafka-protocol
    // broker and client supports lz4.
    ("compression.type", "lz4"),
];

impl KafkaConfig {
    /// Validates the file section, with `brokers` from a flag taking precedence, and librdkafka
    /// properties from `env` (see [`ENV_PROPERTY_PREFIX`]) overriding the file.
    pub fn from_file(
        file: KafkaConfigFile,
        brokers_flag: Option<String>,
        env: &BTreeMap<String, String>,
    ) -> Result<Option<Self>> {
        let Some(brokers) = brokers_flag
            .or(file.brokers)
            .filter(|b| !b.trim().is_empty())
        else {
            return Ok(None);
        };
        let topics = file
            .topics
            .unwrap_or_else(|| DEFAULT_TOPICS.iter().map(|t| t.to_string()).collect());
        if topics.is_empty() || topics.iter().any(|t| t.trim().is_empty()) {
            return Err(CollectorError::Config(
                "kafka.topics: must name at least one topic".into(),
            ));
        }
        let dead_letter_suffix = file.dead_letter_suffix.unwrap_or_else(|| ".dlq".into());
        if dead_letter_suffix.is_empty() {
            return Err(CollectorError::Config(
                "kafka.dead_letter_suffix: must not be empty (the dead-letter topic would be the input topic)".into(),
            ));
        }
        let create_partitions = file.create_partitions.unwrap_or(3);
        if create_partitions < 1 {
            return Err(CollectorError::Config(
                "kafka.create_partitions: must be at least 1".into(),
            ));
        }
        let mut properties = file.properties;
        for (key, value) in env {
            if let Some(name) = env_property(key) {
                properties.insert(name, value.clone());
            }
        }
        for (key, _) in PINNED_CONSUMER_PROPERTIES {
            if file.consumer_properties.contains_key(key) || properties.contains_key(key) {
                return Err(CollectorError::Config(format!(
                    "kafka property {key} is managed by hoptrail (offsets live in the index checkpoint)"
                )));
            }
        }
        for (topic, tenant) in &file.tenants {
            if !topics.contains(topic) {
                return Err(CollectorError::Config(format!(
                    "kafka.tenants: {topic:?} is not one of the consumed topics"
                )));
            }
            let valid = !tenant.is_empty()
                && tenant.len() <= 64
                && tenant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                return Err(CollectorError::Config(format!(
                    "kafka.tenants.{topic:?}: {tenant:?} is not a tenant name (1-64 of A-Z a-z 0-9 . _ -)"
                )));
            }
        }
        Ok(Some(KafkaConfig {
            brokers,
            group_id: file.group_id.unwrap_or_else(|| DEFAULT_GROUP_ID.into()),
            topics,
            dead_letter_suffix,
            create_topics: file.create_topics.unwrap_or(false),
            create_partitions,
            properties,
            consumer_properties: file.consumer_properties,
            producer_properties: file.producer_properties,
            tenants: file.tenants,
        }))
    }

    /// Settings for a plain client (admin) with the shared properties.
    pub fn client_config(&self) -> ClientConfig {
        self.config_over(&[])
    }

    /// `defaults`, then the brokers and the shared properties, which override them.
    fn config_over(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut c = self.config_over(&CONSUMER_DEFAULTS);
        c.set("group.id", &self.group_id);
        for (k, v) in &self.consumer_properties {
            c.set(k, v);
        }
        for (k, v) in PINNED_CONSUMER_PROPERTIES {
            c.set(k, v);
        }
        c
    }

    /// Settings for a producer: hoptrail's defaults, then the shared properties, then the
    /// producer properties.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.config_over(&PRODUCER_DEFAULTS);
        for (k, v) in &self.producer_properties {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn without_brokers_there_is_no_kafka_source() {
        assert!(
            KafkaConfig::from_file(KafkaConfigFile::default(), None, &env(&[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn brokers_flag_overrides_the_file_and_defaults_apply() {
        let file = KafkaConfigFile {
            brokers: Some("file:9092".into()),
            ..Default::default()
        };
        let c = KafkaConfig::from_file(file, Some("flag:9092".into()), &env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(c.brokers, "flag:9092");
        assert_eq!(c.group_id, DEFAULT_GROUP_ID);
        assert_eq!(c.topics, DEFAULT_TOPICS);
        assert_eq!(c.dead_letter_suffix, ".dlq");
    }

    #[test]
    fn environment_properties_override_file_properties() {
        let mut file = KafkaConfigFile::default();
        file.properties
            .insert("sasl.password".into(), "from-file".into());
        let c = KafkaConfig::from_file(
            file,
            Some("b:1".into()),
            &env(&[
                ("HOPTRAIL_KAFKA_PROPERTY_SASL_PASSWORD", "from-env"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c.properties.get("sasl.password").map(String::as_str),
            Some("from-env")
        );
        assert_eq!(c.properties.len(), 1);
    }

    #[test]
    fn auto_commit_cannot_be_switched_on_because_the_index_owns_offsets() {
        let mut file = KafkaConfigFile::default();
        file.consumer_properties
            .insert("enable.auto.commit".into(), "true".into());
        let err = KafkaConfig::from_file(file, Some("b:1".into()), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("enable.auto.commit"), "{err}");
    }

    #[test]
    fn tls_and_sasl_settings_are_accepted_by_the_bundled_librdkafka() {
        let mut file = KafkaConfigFile::default();
        for (k, v) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "hoptrail"),
            ("sasl.password", "secret"),
        ] {
            file.properties.insert(k.into(), v.into());
        }
        let c = KafkaConfig::from_file(file, Some("127.0.0.1:1".into()), &env(&[]))
            .unwrap()
            .unwrap();
        // Creating the clients validates every property (and that TLS was compiled in) without
        // connecting anywhere.
        let consumer: rdkafka::error::KafkaResult<rdkafka::consumer::BaseConsumer> =
            c.consumer_config().create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
        let producer: rdkafka::error::KafkaResult<rdkafka::producer::BaseProducer> =
            c.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn consumer_defaults_yield_to_configured_properties() {
        let mut file = KafkaConfigFile::default();
        file.properties
            .insert("auto.offset.reset".into(), "latest".into());
        file.consumer_properties
            .insert("fetch.queue.backoff.ms".into(), "500".into());
        let c = KafkaConfig::from_file(file, Some("b:1".into()), &env(&[]))
            .unwrap()
            .unwrap();
        let consumer = c.consumer_config();
        assert_eq!(consumer.get("auto.offset.reset"), Some("latest"));
        assert_eq!(consumer.get("fetch.queue.backoff.ms"), Some("500"));
        assert_eq!(consumer.get("statistics.interval.ms"), Some("5000"));
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));

        let plain =
            KafkaConfig::from_file(KafkaConfigFile::default(), Some("b:1".into()), &env(&[]))
                .unwrap()
                .unwrap();
        assert_eq!(
            plain.consumer_config().get("fetch.queue.backoff.ms"),
            Some("20")
        );
        assert_eq!(
            plain.consumer_config().get("max.partition.fetch.bytes"),
            Some("4194304")
        );

        // A response limit below the per-partition default still makes a valid consumer: the
        // broker caps a whole fetch response at it, whatever each partition asked for.
        let mut small = KafkaConfigFile::default();
        small
            .consumer_properties
            .insert("fetch.max.bytes".into(), "1048576".into());
        let small = KafkaConfig::from_file(small, Some("127.0.0.1:1".into()), &env(&[]))
            .unwrap()
            .unwrap();
        let consumer: rdkafka::error::KafkaResult<rdkafka::consumer::BaseConsumer> =
            small.consumer_config().create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
        assert_eq!(
            plain.consumer_config().get("group.id"),
            Some(DEFAULT_GROUP_ID)
        );
    }

    #[test]
    fn an_empty_dead_letter_suffix_is_refused() {
        let file = KafkaConfigFile {
            dead_letter_suffix: Some(String::new()),
            ..Default::default()
        };
        assert!(KafkaConfig::from_file(file, Some("b:1".into()), &env(&[])).is_err());
    }

    #[test]
    fn producers_compress_with_lz4_unless_configured_otherwise() {
        let c = KafkaConfig::from_file(KafkaConfigFile::default(), Some("b:1".into()), &env(&[]))
            .unwrap()
            .unwrap();
        let producer = c.producer_config();
        assert_eq!(producer.get("compression.type"), Some("lz4"));
        assert_eq!(producer.get("acks"), Some("all"));

        let mut file = KafkaConfigFile::default();
        file.properties.insert("acks".into(), "1".into());
        file.producer_properties
            .insert("compression.type".into(), "zstd".into());
        let c = KafkaConfig::from_file(file, Some("b:1".into()), &env(&[]))
            .unwrap()
            .unwrap();
        let producer = c.producer_config();
        assert_eq!(producer.get("compression.type"), Some("zstd"));
        assert_eq!(producer.get("acks"), Some("1"));
    }
}
