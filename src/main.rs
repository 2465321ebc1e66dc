//! The `hoptrail` command: argument parsing and wiring only; the work lives in the crates.

mod allocator;
mod cmd_audit;
mod cmd_demo;
mod cmd_ingest;
mod cmd_keys;
mod cmd_replay;
mod cmd_send;
mod cmd_serve;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hoptrail: the audit trail of what AI agents did with their credentials, and where they went.
///
/// It consumes tool-use and token-use events from Kafka, validates them against versioned
/// schemas, redacts secrets, indexes them on local disk exactly once, and answers searches over
/// HTTP. Start with `hoptrail demo`: it needs nothing else.

#[derive(Parser)]
#[command(name = "hoptrail", version, propagate_version = true)]
struct Cli {
    /// Log as JSON lines instead of human-readable text (level from RUST_LOG, default info).
    #[arg(long, global = true, env = "HOPTRAIL_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that open the index.
#[derive(clap::Args, Clone)]
pub struct IndexArgs {
    /// Config file (TOML); flags and environment override it. See README "Configuration".
    #[arg(long, env = "HOPTRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the index (created when missing) [default: ./hoptrail-data].
    #[arg(long, env = "HOPTRAIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector, the indexer and the HTTP API in one process.
    ///
    /// With brokers configured it consumes the topics into the index; without, it serves an
    /// existing index (for example one built by `hoptrail ingest` from exported logs).
    Serve {
        #[command(flatten)]
        index: IndexArgs,
        /// Kafka bootstrap servers, host:port[,host:port].
        #[arg(long, env = "HOPTRAIL_BROKERS")]
        brokers: Option<String>,
        /// Kafka consumer group [default: hoptrail]. Run one group per data directory.
        #[arg(long, env = "HOPTRAIL_GROUP_ID")]
        group_id: Option<String>,
        /// A librdkafka property for the consumer and the dead-letter producer, KEY=VALUE
        /// (repeatable; overrides the config file and HOPTRAIL_KAFKA_PROPERTY_*). Pass secrets
        /// such as sasl.password through HOPTRAIL_KAFKA_PROPERTY_SASL_PASSWORD instead: a flag
        /// is visible to every user of the machine.
        #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = settings::parse_property)]
        kafka_properties: Vec<(String, String)>,
        /// Address of the HTTP API [default: 127.0.0.1:7700].
        #[arg(long, env = "HOPTRAIL_LISTEN")]
        listen: Option<String>,
        /// Create the input topics and their dead-letter topics when missing.
        #[arg(long)]
        create_topics: bool,
        /// TLS certificate chain (PEM): with --tls-key the API serves HTTPS only.
        #[arg(long, env = "HOPTRAIL_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, env = "HOPTRAIL_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Also serve /metrics WITHOUT a key on this address, for a Prometheus on a private
        /// interface. On the main listener /metrics needs an admin key.
        #[arg(long, env = "HOPTRAIL_METRICS_LISTEN")]
        metrics_listen: Option<String>,
    },
    /// Manage the API keys `serve` accepts (stored as hashes in the data directory).
    ///
    /// A running `serve` sees changes on its next request: no restart is needed.
    Keys {
        #[command(flatten)]
        index: IndexArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Replay a session as a terminal timeline: time, system, tool, outcome, hops and alerts,
    /// in colour on a terminal (NO_COLOR turns it off).
    Replay {
        /// The session id.
        session: String,
        /// Base URL of a running `hoptrail serve`.
        #[arg(long, env = "HOPTRAIL_SERVER", default_value = "http://127.0.0.1:7700")]
        server: String,
        /// API key with the analyst or admin role (prefer the environment variable: a flag is
        /// visible to other users of the machine).
        #[arg(long, env = "HOPTRAIL_KEY", hide_env_values = true)]
        key: String,
        /// Watch it unfold at this multiple of the original pace (gaps capped by the server).
        #[arg(long)]
        speed: Option<f64>,
        /// Resume after this event id.
        #[arg(long)]
        from_event: Option<String>,
        /// Trust this PEM certificate (a server with a private CA or self-signed certificate).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Colour: always or never [default: when stdout is a terminal].
        #[arg(long, value_parser = ["always", "never"])]
        color: Option<String>,
    },
    /// Check the API's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Index NDJSON files (or `-` for standard input) without Kafka, with the same validation
    /// and redaction. Re-ingesting a file adds nothing twice.
    Ingest {
        #[command(flatten)]
        index: IndexArgs,
        /// NDJSON files, one event per line; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Produce NDJSON events to Kafka, routed by `schema` to the configured topics and keyed by
    /// `agent.id` (so one agent's events stay in order on one partition). Tool-use events go to
    /// the first configured topic, token-use events to the second (default
    /// `agent.tool-use.v1` and `agent.token-use.v1`); a record without a readable schema goes to
    /// the first, where the collector dead-letters it with its reason.
    Send {
        /// NDJSON file; `-` reads standard input.
        file: PathBuf,
        /// Kafka bootstrap servers.
        #[arg(long, env = "HOPTRAIL_BROKERS", required = true)]
        brokers: String,
        /// Send every record to this topic instead of routing by schema.
        #[arg(long)]
        topic: Option<String>,
        /// A librdkafka property for the producer, KEY=VALUE (repeatable; as for `serve`).
        #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = settings::parse_property)]
        kafka_properties: Vec<(String, String)>,
        /// Config file whose [kafka] section supplies topics and librdkafka properties.
        #[arg(long, env = "HOPTRAIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// The whole pipeline on an embedded default: an in-process Kafka mock cluster, a built-in
    /// scenario (several agents, a delegation, a stolen-token pivot to an external SaaS), the
    /// real collector and indexer, and the API on 127.0.0.1:7700.
    Demo {
        /// Address of the HTTP API.
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: String,
        /// Keep the demo index here instead of a fresh temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Ingest the scenario, print the summary and exit instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once on stdout; only its SHA-256 is kept.
    Create {
        /// The one tenant the key may read.
        #[arg(long)]
        tenant: String,
        /// analyst (events, paths, replay), siem (alerts only) or admin (everything).
        #[arg(long)]
        role: hoptrail_query_api::auth::Role,
        /// Who holds it, for `keys list` and the audit log [default: ROLE@TENANT].
        #[arg(long)]
        name: Option<String>,
        /// Lifetime (90d, 12h, 30m) or an RFC 3339 expiry time [default: never].
        #[arg(long)]
        expires: Option<String>,
    },
    /// List keys: id, status, role, tenant, creation and expiry.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; it is refused from the next request on.
    Revoke {
        /// The key id (the 12 hex digits after `hpt_`).
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of an audit log; names the first broken line (exit 1) or prints
    /// the chain's tip to anchor elsewhere (exit 0).
    ///
    /// A rotated log is one chain over its files, oldest first: `hoptrail audit verify
    /// audit.jsonl.* audit.jsonl` (the rotated names sort in time order).
    Verify {
        /// The audit log (default location: <data-dir>/audit.jsonl), after the files it was
        /// rotated into, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The chain starts after this tip (printed by an earlier verify of the older files)
        /// instead of at its beginning: to verify only the files rotated since.
        #[arg(long, value_name = "SHA256")]
        after: Option<String>,
    },
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let result = match cli.command {
        Command::Serve {
            index,
            brokers,
            group_id,
            kafka_properties,
            listen,
            create_topics,
            tls_cert,
            tls_key,
            metrics_listen,
        } => cmd_serve::run(
            index,
            cmd_serve::KafkaFlags {
                brokers,
                group_id,
                properties: kafka_properties,
            },
            listen,
            create_topics,
            settings::ApiFlags {
                tls_cert,
                tls_key,
                metrics_listen,
            },
        ),
        Command::Keys { index, command } => {
            let data_dir = settings::load(index.config.as_deref())
                .map(|file| settings::data_dir(index.data_dir, &file));
            data_dir.and_then(|dir| match command {
                KeysCommand::Create {
                    tenant,
                    role,
                    name,
                    expires,
                } => cmd_keys::create(&dir, &tenant, role, name.as_deref(), expires.as_deref()),
                KeysCommand::List { json } => cmd_keys::list(&dir, json),
                KeysCommand::Revoke { id } => cmd_keys::revoke(&dir, &id),
            })
        }
        Command::Replay {
            session,
            server,
            key,
            speed,
            from_event,
            ca_cert,
            color,
        } => cmd_replay::run(cmd_replay::ReplayArgs {
            session,
            server,
            key,
            speed,
            from_event,
            ca_cert,
            colour: color.map(|c| c == "always"),
        }),
        Command::Audit {
            command: AuditCommand::Verify { files, after },
        } => cmd_audit::verify(&files, after.as_deref()),
        Command::Ingest { index, files } => cmd_ingest::run(index, files),
        Command::Send {
            file,
            brokers,
            topic,
            kafka_properties,
            config,
        } => cmd_send::run(file, brokers, topic, &kafka_properties, config),
        Command::Demo {
            listen,
            data_dir,
            no_serve,
        } => cmd_demo::run(listen, data_dir, no_serve),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,tantivy=warn"));
    // Colour only for a person at a terminal: escape codes in a log file or a journal are noise
    // to whoever greps it later (NO_COLOR turns it off there too).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
