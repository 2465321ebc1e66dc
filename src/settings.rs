//! The config file, layered under flags and environment. Invariant: only validated settings leave
//! this module; an unknown key in the file is an error, not silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use hoptrail_collector::{KafkaConfig, KafkaConfigFile};
use hoptrail_core::detect::{DetectConfig, DetectSettings};
use hoptrail_indexer::WriterConfig;
use hoptrail_query_api::auth::RateLimit;
use hoptrail_query_api::TlsFiles;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "hoptrail-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";
/// About a million audit lines per file: small enough to ship, large enough to rotate rarely.
pub const DEFAULT_AUDIT_LOG_MAX_MIB: u64 = 256;

/// The config file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Index directory.
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address.
    pub listen: Option<String>,
    /// Kafka source.
    #[serde(default)]
    pub kafka: KafkaConfigFile,
    /// Index writer.
    #[serde(default)]
    pub index: IndexFileConfig,
    /// HTTP API: limits, audit log, TLS.
    #[serde(default)]
    pub api: ApiFileConfig,
    /// Detection rules: thresholds, severities, switches (see `hoptrail_core::detect`).
    #[serde(default)]
    pub detect: DetectConfig,
}

/// The validated `[detect]` section.
pub fn detect(file: &FileConfig) -> Result<DetectSettings> {
    file.detect
        .validate()
        .map_err(|e| anyhow::anyhow!("config file: {e}"))
}

/// `[api]`: what the HTTP listener enforces.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFileConfig {
    /// Sustained requests per second allowed to one API key (default 20).
    pub rate_limit_per_second: Option<f64>,
    /// Requests one key may make at once after a quiet period (default 60).
    pub rate_limit_burst: Option<u32>,
    /// The audit log of every API call (default `<data_dir>/audit.jsonl`).
    pub audit_log: Option<PathBuf>,
    /// Rotate the audit log past this size (default 256; 0 never rotates).
    pub audit_log_max_mib: Option<u64>,
    /// TLS certificate chain, PEM. With `tls_key`, the API serves HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM.
    pub tls_key: Option<PathBuf>,
    /// Also serve `/metrics` without a key on this address (keep it on a private interface).
    pub metrics_listen: Option<String>,
    /// Longest pause between two events of a paced replay (`?speed=`), default 5000.
    pub replay_max_gap_ms: Option<u64>,
}

/// The validated `[api]` section, with flags applied.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Where `keys.json` lives (the data directory).
    pub data_dir: PathBuf,
    /// The audit log file.
    pub audit_log: PathBuf,
    /// Its rotation size; `None` never rotates.
    pub audit_log_max_bytes: Option<u64>,
    /// Per-key budget.
    pub rate_limit: RateLimit,
    /// HTTPS, when configured.
    pub tls: Option<TlsFiles>,
    /// Unauthenticated metrics listener, when configured.
    pub metrics_listen: Option<String>,
    /// Cap on the pauses of a paced replay.
    pub replay_max_gap: Duration,
}

/// Flags of `serve` that override `[api]`.
#[derive(Debug, Default)]
pub struct ApiFlags {
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub metrics_listen: Option<String>,
}

pub fn api(file: &ApiFileConfig, flags: ApiFlags, data_dir: &Path) -> Result<ApiSettings> {
    let mut rate_limit = RateLimit::default();
    if let Some(r) = file.rate_limit_per_second {
        anyhow::ensure!(
            r.is_finite() && r > 0.0,
            "api.rate_limit_per_second: must be a positive number"
        );
        rate_limit.per_second = r;
    }
    if let Some(b) = file.rate_limit_burst {
        anyhow::ensure!(b >= 1, "api.rate_limit_burst: must be at least 1");
        rate_limit.burst = b;
    }
    let tls = match (
        flags.tls_cert.or_else(|| file.tls_cert.clone()),
        flags.tls_key.or_else(|| file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate and a key (--tls-cert and --tls-key)"),
    };
    Ok(ApiSettings {
        data_dir: data_dir.to_owned(),
        audit_log: file
            .audit_log
            .clone()
            .unwrap_or_else(|| data_dir.join(hoptrail_query_api::audit_log::AUDIT_FILE)),
        audit_log_max_bytes: match file.audit_log_max_mib.unwrap_or(DEFAULT_AUDIT_LOG_MAX_MIB) {
            0 => None,
            mib => Some(
                mib.checked_mul(1 << 20)
                    .context("api.audit_log_max_mib: too large")?,
            ),
        },
        rate_limit,
        tls,
        metrics_listen: flags.metrics_listen.or_else(|| file.metrics_listen.clone()),
        replay_max_gap: Duration::from_millis(file.replay_max_gap_ms.unwrap_or(5000)),
    })
}

/// `[index]`: the commit policy and writer resources.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexFileConfig {
    /// Commit at least this often while events arrive (default 1000).
    pub commit_interval_ms: Option<u64>,
    /// Commit when this many events are pending (default 100000).
    pub commit_max_docs: Option<usize>,
    /// Indexing memory in MiB, shared by the indexing threads (default 256).
    pub writer_memory_mib: Option<usize>,
    /// Indexing threads (default: the machine's cores, at most 8).
    pub writer_threads: Option<usize>,
}

pub fn load(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

pub fn env_map() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// The Kafka settings: the file's, then `HOPTRAIL_KAFKA_PROPERTY_*` from `env`, then the
/// `--kafka-property` flags, each overriding the one before.
pub fn kafka(
    file: &FileConfig,
    brokers: Option<String>,
    flag_properties: &[(String, String)],
    mut env: BTreeMap<String, String>,
) -> Result<Option<KafkaConfig>> {
    let mut kafka = file.kafka.clone();
    for (key, value) in flag_properties {
        // The environment overrides the file inside `from_file`; a flag overrides both.
        env.retain(|name, _| hoptrail_collector::env_property(name).as_ref() != Some(key));
        kafka.properties.insert(key.clone(), value.clone());
    }
    Ok(KafkaConfig::from_file(kafka, brokers, &env)?)
}

/// Parses a `--kafka-property` value.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE (a librdkafka property, e.g. security.protocol=SASL_SSL)"
        )),
    }
}

pub fn writer(file: &IndexFileConfig) -> Result<WriterConfig> {
    let mut c = WriterConfig::default();
    if let Some(ms) = file.commit_interval_ms {
        anyhow::ensure!(ms >= 10, "index.commit_interval_ms: must be at least 10");
        c.commit_interval = Duration::from_millis(ms);
    }
    if let Some(n) = file.commit_max_docs {
        anyhow::ensure!(n >= 1, "index.commit_max_docs: must be at least 1");
        c.commit_max_docs = n;
    }
    if let Some(mib) = file.writer_memory_mib {
        // tantivy needs at least 15 MB per indexing thread.
        anyhow::ensure!(
            mib >= 16 * c.num_threads.max(1),
            "index.writer_memory_mib: must be at least 16 per writer thread"
        );
        c.memory_budget_bytes = mib << 20;
    }
    if let Some(t) = file.writer_threads {
        anyhow::ensure!(
            (1..=64).contains(&t),
            "index.writer_threads: must be from 1 to 64"
        );
        c.num_threads = t;
    }
    anyhow::ensure!(
        c.memory_budget_bytes >= c.num_threads * (16 << 20),
        "index.writer_memory_mib: must be at least 16 per writer thread"
    );
    Ok(c)
}

pub fn data_dir(flag: Option<PathBuf>, file: &FileConfig) -> PathBuf {
    flag.or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka_file(toml_text: &str) -> FileConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_kafka_property_flag_overrides_the_environment_which_overrides_the_file() {
        let file = kafka_file(
            r#"
            [kafka]
            brokers = "k:9092"
            [kafka.properties]
            "security.protocol" = "SSL"
            "client.id" = "from-file"
            "socket.timeout.ms" = "1000"
            "#,
        );
        let env = BTreeMap::from([
            (
                "HOPTRAIL_KAFKA_PROPERTY_SECURITY_PROTOCOL".to_owned(),
                "SASL_SSL".to_owned(),
            ),
            (
                "HOPTRAIL_KAFKA_PROPERTY_CLIENT_ID".to_owned(),
                "from-env".to_owned(),
            ),
        ]);
        let flags = [parse_property("client.id=from-flag").unwrap()];
        let k = kafka(&file, None, &flags, env).unwrap().unwrap();
        let get = |key: &str| k.properties.get(key).map(String::as_str);
        assert_eq!(get("client.id"), Some("from-flag"));
        assert_eq!(get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(get("socket.timeout.ms"), Some("1000"));
    }

    #[test]
    fn a_kafka_property_flag_cannot_take_over_what_hoptrail_manages() {
        let file = kafka_file("[kafka]\nbrokers = \"k:9092\"");
        let flags = [parse_property("enable.auto.commit=true").unwrap()];
        let err = kafka(&file, None, &flags, BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("managed by hoptrail"), "{err}");
    }

    #[test]
    fn a_kafka_property_flag_must_be_key_equals_value() {
        assert_eq!(
            parse_property("sasl.username=a=b").unwrap(),
            ("sasl.username".to_owned(), "a=b".to_owned())
        );
        assert!(parse_property("security.protocol").is_err());
        assert!(parse_property("=x").is_err());
    }

    #[test]
    fn an_unknown_key_in_the_config_file_is_an_error() {
        assert!(toml::from_str::<FileConfig>("data_dirr = 'x'").is_err());
        assert!(toml::from_str::<FileConfig>("[index]\ncommit_every = 1").is_err());
    }

    #[test]
    fn a_full_config_file_parses() {
        let c: FileConfig = toml::from_str(
            r#"
            data_dir = "/var/lib/hoptrail"
            listen = "0.0.0.0:7700"
            [kafka]
            brokers = "kafka-1:9092"
            group_id = "hoptrail-prod"
            topics = ["agent.tool-use.v1"]
            [kafka.properties]
            "security.protocol" = "SASL_SSL"
            [index]
            commit_interval_ms = 500
            [api]
            rate_limit_per_second = 5.0
            tls_cert = "/etc/hoptrail/cert.pem"
            tls_key = "/etc/hoptrail/key.pem"
            "#,
        )
        .unwrap();
        assert_eq!(c.kafka.brokers.as_deref(), Some("kafka-1:9092"));
        assert_eq!(
            writer(&c.index).unwrap().commit_interval,
            Duration::from_millis(500)
        );
        let api = api(&c.api, ApiFlags::default(), Path::new("/data")).unwrap();
        assert_eq!(api.rate_limit.per_second, 5.0);
        assert!(api.tls.is_some());
        assert_eq!(api.audit_log, Path::new("/data/audit.jsonl"));
    }

    #[test]
    fn the_detect_section_is_validated_with_a_clear_error() {
        let c: FileConfig = toml::from_str(
            "[detect]\nlateness_ms = 1000\n[detect.rules.\"blast_radius.fanout\"]\nmin_systems = 3",
        )
        .unwrap();
        assert_eq!(detect(&c).unwrap().thresholds.fanout_min_systems, 3);
        let c: FileConfig =
            toml::from_str("[detect.rules.\"credential.nope\"]\nenabled = false").unwrap();
        let e = detect(&c).unwrap_err().to_string();
        assert!(e.contains("unknown rule id `credential.nope`"), "{e}");
        assert!(toml::from_str::<FileConfig>("[detect]\nlatenes_ms = 1").is_err());
    }

    #[test]
    fn the_readme_detect_example_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("[detect]  ")
            .expect("the README has a [detect] example");
        let block = &readme[start..];
        let block = &block[..block.find("```").unwrap()];
        let c: FileConfig = toml::from_str(block).unwrap();
        let s = detect(&c).unwrap();
        assert_eq!(s.thresholds.fanout_min_systems, 12);
        assert!(
            !s.rule(hoptrail_core::detect::RuleId::UndeclaredTool)
                .enabled
        );
    }

    #[test]
    fn a_tls_certificate_without_its_key_is_an_error() {
        let flags = ApiFlags {
            tls_cert: Some("c.pem".into()),
            ..ApiFlags::default()
        };
        assert!(api(&ApiFileConfig::default(), flags, Path::new("/d")).is_err());
    }
}
