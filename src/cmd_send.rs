//! `hoptrail send FILE --brokers B`: NDJSON events into Kafka, routed by schema, keyed by agent.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use serde::Deserialize;

use crate::settings;

#[derive(Deserialize)]
struct Route<'a> {
    #[serde(borrow)]
    schema: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    agent: Option<AgentRoute<'a>>,
}

#[derive(Deserialize)]
struct AgentRoute<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}
impl ClientContext for Deliveries {}
impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if self.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                tracing::error!(error = %e, "delivery failed");
            }
        }
    }
}

/// Picks the topic for a record: by its `schema` (tool use first topic, token use second), and
/// the first topic for anything unreadable so that the collector dead-letters it with a reason.
fn route<'a>(line: &'a [u8], topics: &'a [String]) -> (&'a str, Option<String>) {
    let (schema, key) = match serde_json::from_slice::<Route<'_>>(line) {
        Ok(r) => (
            r.schema.map(|s| s.into_owned()),
            r.agent.and_then(|a| a.id).map(|k| k.into_owned()),
        ),
        // A record the collector will reject (say, a numeric `agent.id`) still goes to its
        // schema's topic, so that its dead letter lands beside that topic's.
        Err(_) => match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) => (
                v["schema"].as_str().map(str::to_owned),
                v["agent"]["id"].as_str().map(str::to_owned),
            ),
            Err(_) => (None, None),
        },
    };
    let topic = match schema.as_deref() {
        Some(hoptrail_core::event::TOKEN_USE_V1) if topics.len() > 1 => &topics[1],
        _ => &topics[0],
    };
    (topic, key)
}

pub fn run(
    file: PathBuf,
    brokers: String,
    topic: Option<String>,
    properties: &[(String, String)],
    config: Option<PathBuf>,
) -> Result<ExitCode> {
    let file_config = settings::load(config.as_deref())?;
    let kafka = settings::kafka(&file_config, Some(brokers), properties, settings::env_map())?
        .context("no brokers")?;
    let topics = match topic {
        Some(t) => vec![t],
        None => kafka.topics.clone(),
    };
    let producer: BaseProducer<Deliveries> = kafka
        .producer_config()
        .create_with_context(Deliveries::default())?;
    let name = file.display().to_string();
    let input: Box<dyn BufRead> = if name == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(&file).with_context(|| format!("opening {name}"))?,
        ))
    };
    let started = Instant::now();
    let mut sent = 0u64;
    for line in input.split(b'\n') {
        let line = line.with_context(|| format!("reading {name}"))?;
        let record = line.strip_suffix(b"\r").unwrap_or(&line);
        if record.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (topic, key) = route(record, &topics);
        let mut r = BaseRecord::<str, [u8]>::to(topic).payload(record);
        if let Some(k) = key.as_deref() {
            r = r.key(k);
        }
        let mut r = Some(r);
        while let Some(rec) = r.take() {
            match producer.send(rec) {
                Ok(()) => {}
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    producer.poll(Duration::from_millis(20));
                    r = Some(back);
                }
                Err((e, _)) => return Err(e).context("producing"),
            }
        }
        sent += 1;
        if sent % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("waiting for the broker to acknowledge")?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    println!(
        "sent {} records in {:.2}s ({} failed)",
        sent - failed,
        started.elapsed().as_secs_f64(),
        failed
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<String> {
        vec!["tool".into(), "token".into()]
    }

    #[test]
    fn token_events_go_to_the_second_topic_keyed_by_agent() {
        let t = topics();
        let (topic, key) = route(
            br#"{"schema":"hoptrail.token_use.v1","agent":{"id":"a1"}}"#,
            &t,
        );
        assert_eq!((topic, key.as_deref()), ("token", Some("a1")));
    }

    #[test]
    fn a_token_event_the_collector_will_reject_still_goes_to_the_token_topic() {
        let t = topics();
        let (topic, key) = route(
            br#"{"schema":"hoptrail.token_use.v1","agent":{"id":7},"token":"x"}"#,
            &t,
        );
        assert_eq!((topic, key), ("token", None));
        let (topic, key) = route(
            br#"{"schema":"hoptrail.token_use.v1","agent":{"id":"a1","name":[1]},"x":{"y":1}}"#,
            &t,
        );
        assert_eq!((topic, key.as_deref()), ("token", Some("a1")));
    }

    #[test]
    fn unreadable_records_go_to_the_first_topic_to_be_dead_lettered() {
        let t = topics();
        assert_eq!(route(b"not json", &t), ("tool", None));
        assert_eq!(route(br#"{"schema":"other"}"#, &t).0, "tool");
    }
}
