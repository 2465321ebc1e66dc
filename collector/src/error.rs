//! Errors of the collector: failures of Kafka or of the index, never of a record (a bad record is
//! data, dead-lettered and counted, not an error).

/// What stops the collector.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// librdkafka refused the configuration or failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The index failed (disk full, I/O error): nothing past the last commit is acknowledged.
    #[error(transparent)]
    Index(#[from] hoptrail_indexer::IndexError),
    /// The dead-letter topic did not acknowledge rejected records; the checkpoint was not
    /// advanced past them, so they will be read again after a restart.
    #[error("dead-letter topic did not acknowledge {failed} record(s): {last_error}")]
    DeadLetter {
        /// How many deliveries failed.
        failed: u64,
        /// The last delivery error.
        last_error: String,
    },
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// Reading an input file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Result alias of the collector crate.
pub type Result<T, E = CollectorError> = std::result::Result<T, E>;
