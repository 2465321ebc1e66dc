//! `hoptrail demo`: the real pipeline on an embedded default. librdkafka's mock cluster stands in
//! for Kafka, in-process; everything after the broker (collector, DLQ, indexer, API) is the
//! production code path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hoptrail_collector::{dead_letter_topic, KafkaConfig, KafkaConfigFile};
use hoptrail_indexer::{EventIndex, WriterConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{cmd_serve, settings};
use hoptrail_core::event::DEFAULT_TENANT;
use hoptrail_query_api::auth::{KeyFile, Role};

/// The built-in scenario: three agents, a delegation by token exchange, denied probes, and a
/// stolen token presented by a foreign workload to reach an external SaaS; two bad records.
pub const SCENARIO: &str = include_str!("demo/scenario.ndjson");

pub fn run(listen: String, data_dir: Option<PathBuf>, no_serve: bool) -> Result<ExitCode> {
    let mock = MockCluster::new(1).context("starting the embedded Kafka mock cluster")?;
    let brokers = mock.bootstrap_servers();
    let kafka = KafkaConfig::from_file(
        KafkaConfigFile::default(),
        Some(brokers.clone()),
        &Default::default(),
    )?
    .context("mock cluster has no address")?;
    for topic in &kafka.topics {
        mock.create_topic(topic, 3, 1)?;
        mock.create_topic(&dead_letter_topic(topic, &kafka.dead_letter_suffix), 1, 1)?;
    }
    let data_dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hoptrail-demo-{}", std::process::id()))
    });
    let index = EventIndex::open_or_create(&data_dir)
        .with_context(|| format!("opening the demo index in {}", data_dir.display()))?;
    // The demo's own key, so the commands it prints work as shown.
    let mut keys = KeyFile::load_for_update(&data_dir)?;
    let (_, key) = keys.create(
        DEFAULT_TENANT,
        Role::Admin,
        "demo",
        Some(chrono::Utc::now() + chrono::Duration::days(1)),
        chrono::Utc::now(),
    )?;
    keys.save()?;
    let api = settings::api(&Default::default(), Default::default(), &data_dir)?;
    let before = index.num_docs();
    let runtime = cmd_serve::runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| {
                format!("binding the API to {listen} (use --listen to pick another address)")
            })?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cmd_serve::serve(
            index.clone(),
            Some(kafka.clone()),
            WriterConfig::default(),
            Default::default(),
            api,
            listener,
            async move {
                let _ = stop_rx.await;
            },
        ));

        let produced = tokio::task::spawn_blocking({
            let brokers = brokers.clone();
            let topics = kafka.topics.clone();
            move || produce_scenario(&brokers, &topics)
        })
        .await??;
        let expected = produced.valid;
        let deadline = Instant::now() + Duration::from_secs(60);
        while index.num_docs() < before + expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let indexed = index.num_docs() - before;
        let rejected = tokio::task::spawn_blocking({
            let brokers = brokers.clone();
            let dlq = dead_letter_topic(&kafka.topics[0], &kafka.dead_letter_suffix);
            let want = produced.invalid;
            move || read_dead_letters(&brokers, &dlq, want)
        })
        .await??;
        print_summary(
            &addr.to_string(),
            &key,
            &data_dir,
            produced.total,
            indexed,
            &rejected,
        );
        if no_serve || indexed < expected {
            let _ = stop_tx.send(());
        } else {
            eprintln!("serving until Ctrl-C…");
            // The sender lives until the server ends on a signal.
            std::mem::forget(stop_tx);
        }
        let code = server.await??;
        drop(mock);
        anyhow::ensure!(
            indexed >= expected,
            "only {indexed} of {expected} scenario events were indexed"
        );
        Ok(code)
    })
}

struct Produced {
    total: u64,
    valid: u64,
    invalid: u64,
}

fn produce_scenario(brokers: &str, topics: &[String]) -> Result<Produced> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let decoder = hoptrail_schemas::Decoder::new();
    let mut p = Produced {
        total: 0,
        valid: 0,
        invalid: 0,
    };
    for line in SCENARIO.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let topic = if value["schema"] == hoptrail_core::event::TOKEN_USE_V1 {
            &topics[1]
        } else {
            &topics[0]
        };
        let key = value["agent"]["id"].as_str().unwrap_or("").to_owned();
        producer
            .send(BaseRecord::to(topic).payload(line).key(&key))
            .map_err(|(e, _)| e)?;
        p.total += 1;
        // Counted only so the demo knows when it is done; the collector decides for itself.
        if decoder.decode(line.as_bytes()).is_ok() {
            p.valid += 1;
        } else {
            p.invalid += 1;
        }
    }
    producer.flush(Duration::from_secs(10))?;
    Ok(p)
}

fn read_dead_letters(brokers: &str, topic: &str, want: u64) -> Result<Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "hoptrail-demo-dlq-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while (out.len() as u64) < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let error = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "hoptrail.error"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            out.push(format!("{topic} offset {}: {error}", m.offset()));
        }
    }
    Ok(out)
}

fn print_summary(
    addr: &str,
    key: &str,
    data_dir: &std::path::Path,
    produced: u64,
    indexed: u64,
    rejected: &[String],
) {
    let base = format!("http://{addr}");
    println!();
    println!("hoptrail demo: {produced} records produced to the embedded Kafka, {indexed} indexed, {} dead-lettered", rejected.len());
    for r in rejected {
        println!("  dead letter: {r}");
    }
    println!("index: {}", data_dir.display());
    println!();
    println!("API key (admin, tenant {DEFAULT_TENANT}, valid 24 h; shown only here):");
    println!("{key}");
    println!();
    println!("Try:");
    println!("  export HOPTRAIL_KEY={key}");
    let auth = "-H \"Authorization: Bearer $HOPTRAIL_KEY\"";
    println!("  curl -s {auth} '{base}/v1/events?agent=agent:reporter-bot&limit=5'");
    println!("  curl -s {auth} '{base}/v1/events?q=zone:external'");
    println!("  curl -s {auth} '{base}/v1/events?q=outcome:denied&from=2026-11-30T09:00:00Z&to=2026-11-30T10:00:00Z'");
    println!(
        "  curl -s {auth} '{base}/v1/events/demo-0008'      # AWS keys in its attributes, redacted"
    );
    println!("  curl -s {auth} '{base}/v1/agents/agent:triage-bot/path?format=mermaid'");
    println!("  curl -s {auth} '{base}/v1/alerts'     # OCSF Detection Findings, for a SIEM");
    println!("  hoptrail replay sess-reporter-0042 --server {base}   # the stolen-token session, step by step");
    println!("  curl -s {auth} '{base}/metrics' | grep ^hoptrail_");
    println!();
}
