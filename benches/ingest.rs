//! Ingest throughput on this machine, in one run: `cargo bench --bench ingest`. Figures and their
//! reading are in BENCHMARKS.md. Each round runs:
//!
//! 1. raw tantivy, twice, each in a child process (so that its memory peak is its own): the same
//!    N events as prebuilt documents of hoptrail's schema, once as hoptrail's `EventDocument` and
//!    once copied into tantivy's own `TantivyDocument`, added with all cores into a fresh on-disk
//!    index in batches, on the pipeline's commit policy. Only the indexing and the commits are
//!    timed; the faster of the two is the baseline. In the first round the child also times the
//!    pipeline's per-event work on one thread: decode (parse + validate + redact) alone, then
//!    decode + stored encoding + document.
//! 2. hoptrail end to end: N events pre-produced to Kafka (a real broker named by
//!    `HOPTRAIL_BENCH_BROKERS` or `HOPTRAIL_TEST_BROKERS`, else librdkafka's in-process mock
//!    cluster), then the real collector pipeline is started and timed until the index's committed
//!    checkpoint covers every produced offset. The group join (~3 s, the brokers' initial
//!    rebalance delay) is reported apart: the headline rate runs from the first record, seen as
//!    the collector thread starting to work, to the commit that covers the last offset.
//!
//! Per-thread CPU (from /proc) and the CPU other processes took meanwhile are printed with each
//! phase, so that a run on a busy machine shows as such.
//!
//! Environment: `HOPTRAIL_BENCH_EVENTS` sets N (default 1 000 000); `HOPTRAIL_BENCH_ROUNDS` the
//! rounds of baselines + pipeline (default 3; each round's ratio is its own, and the median is
//! the headline);
//! `HOPTRAIL_BENCH_COMMIT_INTERVAL_MS` and `HOPTRAIL_BENCH_INDEX_THREADS` override the pipeline's
//! `WriterConfig`; `HOPTRAIL_BENCH_CONSUMER_PROPERTIES` (`key=value,…`) adds librdkafka consumer
//! properties, and `HOPTRAIL_BENCH_PRODUCER_PROPERTIES` properties of the producer that fills the
//! topics (e.g. `compression.type=lz4`; by default it sends uncompressed, as Kafka's clients do).
//! Under `cargo test` (no `--bench` argument) the same code runs on 2 000 events as a smoke test,
//! followed by a short freshness run; nothing here asserts on timings.
//!
//! `cargo bench --bench ingest -- --freshness` measures instead how soon an event is searchable
//! while events flow at a steady rate (`ingest_parts/freshness.rs`). `-- --pipeline-only` runs
//! phase 2 alone, to compare the pipeline's per-thread CPU between two builds.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hoptrail_collector::{
    create_topics, dead_letter_topic, KafkaConfig, KafkaConfigFile, Pipeline, DEFAULT_TOPICS,
};
use hoptrail_indexer::metrics::{names, Metrics};
use hoptrail_indexer::{id_hash, EventDocument, EventIndex, EventSchema, WriterConfig, BATCH_DOCS};
use hoptrail_schemas::{format_time_us, Decoder};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tantivy::indexer::UserOperation;
use tantivy::schema::Document as _;
use tantivy::{Index, IndexWriter, TantivyDocument};

/// Enough for ten commits on the default policy, so that the start (the first batch) and the end
/// (the last commit) weigh little and merges run as they do in a long ingest.
const DEFAULT_EVENTS: usize = 1_000_000;
const SMOKE_EVENTS: usize = 2_000;
const EVENTS_ENV: &str = "HOPTRAIL_BENCH_EVENTS";
/// Rounds of baseline + pipeline in one run (default 3 under `--bench`, 1 as a smoke test).
const ROUNDS_ENV: &str = "HOPTRAIL_BENCH_ROUNDS";
const DEFAULT_ROUNDS: usize = 3;
/// Override the pipeline's commit interval and indexing threads, for experiments (default:
/// `WriterConfig::default()`, as `hoptrail serve` uses).
const COMMIT_INTERVAL_ENV: &str = "HOPTRAIL_BENCH_COMMIT_INTERVAL_MS";
const INDEX_THREADS_ENV: &str = "HOPTRAIL_BENCH_INDEX_THREADS";
/// Extra librdkafka consumer properties for the pipeline, `key=value,key=value`.
const CONSUMER_PROPERTIES_ENV: &str = "HOPTRAIL_BENCH_CONSUMER_PROPERTIES";
/// Extra librdkafka properties for the producer that fills the topics before the timed phase,
/// e.g. `compression.type=lz4`.
const PRODUCER_PROPERTIES_ENV: &str = "HOPTRAIL_BENCH_PRODUCER_PROPERTIES";
const BROKER_ENVS: [&str; 2] = ["HOPTRAIL_BENCH_BROKERS", "HOPTRAIL_TEST_BROKERS"];
const RAW_CHILD_ARG: &str = "--hoptrail-raw-child";
/// Makes the raw child also time the collector's per-event work on one thread.
const TIME_PREPARATION_ARG: &str = "--hoptrail-time-preparation";
/// Runs only the collector's per-event work (decode, encode, document) in a loop on one thread,
/// dropping each document as tantivy would: a focused target for `perf record` or callgrind.
const PREPARE_LOOP_ARG: &str = "--hoptrail-prepare-loop";
const RAW_RESULT_PREFIX: &str = "RAW_RESULT";
/// Partitions per input topic on a real broker: what hoptrail creates by default.
const PARTITIONS: i32 = 3;
/// librdkafka's mock broker keeps only the last 5 MiB of each partition (`max_size` in
/// rdkafka_mock.c, not configurable) and silently drops older records, so on the mock the topics
/// get enough partitions to keep each below this.
const MOCK_PARTITION_BYTES: u64 = 3 << 20;
const SEED: u64 = 0x0b5e_55ed_4007_7a11;
/// How long the end-to-end phase may take before the run is declared stuck.
const E2E_DEADLINE: Duration = Duration::from_secs(600);

// The same allocator, tuned as there, as the `hoptrail` binary, for both sides of the comparison.
#[path = "../src/allocator.rs"]
mod allocator;
#[path = "ingest_parts/freshness.rs"]
mod freshness;

/// Runs the freshness measurement (`freshness.rs`) instead of the throughput rounds.
const FRESHNESS_ARG: &str = "--freshness";
/// Runs only the end-to-end phase, without the baselines: for comparing the pipeline's own CPU
/// (per thread) between two builds, which the baselines would not tell apart.
const PIPELINE_ONLY_ARG: &str = "--pipeline-only";

fn main() -> Result<()> {
    allocator::tune();
    let args: Vec<String> = std::env::args().collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    let n = match env_number(EVENTS_ENV)? {
        Some(n) => n,
        None if bench_mode => DEFAULT_EVENTS,
        None => SMOKE_EVENTS,
    };
    ensure!(n > 0, "{EVENTS_ENV} must be at least 1");
    if args.iter().any(|a| a == RAW_CHILD_ARG) {
        let doc = if args.iter().any(|a| a == RawDoc::Tantivy.arg()) {
            RawDoc::Tantivy
        } else {
            RawDoc::Event
        };
        return raw_child(n, doc, args.iter().any(|a| a == TIME_PREPARATION_ARG));
    }
    if args.iter().any(|a| a == PREPARE_LOOP_ARG) {
        return prepare_loop(n);
    }
    if args.iter().any(|a| a == FRESHNESS_ARG) {
        return freshness::run(bench_mode);
    }
    if args.iter().any(|a| a == PIPELINE_ONLY_ARG) {
        end_to_end(n)?;
        return Ok(());
    }

    let cores = cores();
    println!(
        "hoptrail ingest benchmark: {n} events, {cores} cores, load average {}{}",
        load_average(),
        if bench_mode {
            ""
        } else {
            " (smoke run under cargo test; figures are not meaningful)"
        }
    );

    let rounds = match env_number(ROUNDS_ENV)? {
        Some(r) => r.max(1),
        None if bench_mode => DEFAULT_ROUNDS,
        None => 1,
    };
    // The machine is shared: its speed can change by a third within a minute. Rounds of
    // baseline-then-pipeline, each giving its own ratio, show how much of a difference is noise.
    let mut figures = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        println!("\n======== round {round} of {rounds}");
        figures.push(run_round(n, round == 1)?);
    }
    if rounds > 1 {
        print_rounds(&figures);
    }
    if !bench_mode {
        // Under `cargo test`, the freshness phase runs too, briefly, so that it keeps working.
        println!();
        freshness::run(false)?;
    }
    Ok(())
}

/// One round's headline figures.
struct RoundFigures {
    record_eps: f64,
    handling_eps: f64,
    raw_eps: f64,
    quiet: bool,
}

fn print_rounds(figures: &[RoundFigures]) {
    println!(
        "\nacross {} rounds (each ratio within its own round)",
        figures.len()
    );
    for (i, f) in figures.iter().enumerate() {
        println!(
            "  round {}: hoptrail {:>7.0} events/s, raw {:>7.0} events/s, ratio {:.2} from the first record, {:.2} for the handling alone{}",
            i + 1,
            f.record_eps,
            f.raw_eps,
            f.record_eps / f.raw_eps,
            f.handling_eps / f.raw_eps,
            if f.quiet { "" } else { " (busy)" }
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "  median: hoptrail {:.0} events/s, raw {:.0} events/s, ratio {:.2} from the first record, {:.2} for the handling alone",
        median(figures.iter().map(|f| f.record_eps).collect()),
        median(figures.iter().map(|f| f.raw_eps).collect()),
        median(figures.iter().map(|f| f.record_eps / f.raw_eps).collect()),
        median(figures.iter().map(|f| f.handling_eps / f.raw_eps).collect()),
    );
    // The fastest run of each side is the one least slowed by the machine's other tenants.
    let best = |v: &mut dyn Iterator<Item = f64>| v.fold(0.0, f64::max);
    let best_record = best(&mut figures.iter().map(|f| f.record_eps));
    let best_raw = best(&mut figures.iter().map(|f| f.raw_eps));
    println!(
        "  best of each: hoptrail {best_record:.0} events/s, raw {best_raw:.0} events/s, ratio {:.2}",
        best_record / best_raw
    );
}

fn run_round(n: usize, first: bool) -> Result<RoundFigures> {
    // Two baselines, the same documents in two forms: tantivy's own document type, and the
    // pipeline's (which tantivy reads in place). The faster one is the baseline.
    println!("\n[1/3] raw tantivy baseline, hoptrail's EventDocument (child process)");
    let raw_event = run_raw_child(n, RawDoc::Event, first)?;
    println!("\n[2/3] raw tantivy baseline, tantivy's TantivyDocument (child process)");
    let raw_tantivy = run_raw_child(n, RawDoc::Tantivy, false)?;
    let raw_tantivy_eps = n as f64 / raw_tantivy.index_secs;
    let raw_event_eps = n as f64 / raw_event.index_secs;
    let (raw, raw_doc) = if raw_tantivy.index_secs < raw_event.index_secs {
        (&raw_tantivy, RawDoc::Tantivy)
    } else {
        (&raw_event, RawDoc::Event)
    };

    println!("\n[3/3] hoptrail end to end");
    let e2e = end_to_end(n)?;

    let mb = |bytes: u64, secs: f64| bytes as f64 / 1e6 / secs;
    // Zero when every event came in the first commit (a tiny N).
    let steady_eps = e2e.steady_events as f64 / e2e.steady_secs.max(1e-3);
    let from_record_secs = (e2e.total_secs - e2e.first_record_secs).max(1e-3);
    let record_eps = n as f64 / from_record_secs;
    let total_eps = n as f64 / e2e.total_secs;
    let raw_eps = n as f64 / raw.index_secs;
    println!(
        "\nsummary ({n} events, {:.0} bytes average, MB = 10^6 bytes of wire JSON)",
        e2e.bytes as f64 / n as f64
    );
    println!("  broker:                                {}", e2e.broker);
    println!(
        "  hoptrail, first record -> all committed: {:>9.0} events/s  {:>6.1} MB/s   ({n} events in {:.2} s)",
        record_eps,
        mb(e2e.bytes, from_record_secs),
        from_record_secs
    );
    let handling_eps = n as f64 / e2e.handling_secs.max(1e-3);
    println!(
        "  hoptrail, first record -> last handed over: {:>5.0} events/s  {:>6.1} MB/s   (to tantivy, not yet committed)",
        handling_eps,
        mb(e2e.bytes, e2e.handling_secs.max(1e-3))
    );
    println!(
        "  hoptrail, first commit -> all committed: {:>9.0} events/s  {:>6.1} MB/s   ({} events in {:.2} s)",
        steady_eps,
        mb(
            e2e.bytes * e2e.steady_events / n as u64,
            e2e.steady_secs.max(1e-3)
        ),
        e2e.steady_events,
        e2e.steady_secs
    );
    println!(
        "  hoptrail, pipeline start -> all committed: {:>7.0} events/s  {:>6.1} MB/s   ({:.2} s, of which {:.2} s until the first record)",
        total_eps,
        mb(e2e.bytes, e2e.total_secs),
        e2e.total_secs,
        e2e.first_record_secs
    );
    for (doc, eps, result) in [
        (RawDoc::Event, raw_event_eps, &raw_event),
        (RawDoc::Tantivy, raw_tantivy_eps, &raw_tantivy),
    ] {
        println!(
            "  raw tantivy, {:<15} + commits: {:>7.0} events/s  {:>6.1} MB/s   ({:.2} s){}",
            doc.name(),
            eps,
            mb(result.bytes, result.index_secs),
            result.index_secs,
            if doc == raw_doc { ": the baseline" } else { "" }
        );
    }
    println!(
        "  ratio hoptrail/raw: {:.2} from the first record, {:.2} from the first commit, {:.2} including the group join; {:.2} for the handling alone",
        record_eps / raw_eps,
        steady_eps / raw_eps,
        total_eps / raw_eps,
        handling_eps / raw_eps
    );
    if raw_event.prepare_secs > 0.0 {
        println!(
            "  one thread, per event: decode {:.1} µs ({:.0}/s); decode + encode + document {:.1} µs ({:.0}/s)",
            raw_event.decode_secs * 1e6 / n as f64,
            n as f64 / raw_event.decode_secs,
            raw_event.prepare_secs * 1e6 / n as f64,
            n as f64 / raw_event.prepare_secs
        );
    }
    println!(
        "  peak RSS: raw child {} MiB ({} MiB before indexing); hoptrail phase {} MiB ({} MiB at pipeline start{})",
        raw.hwm_kb / 1024,
        raw.rss_before_kb / 1024,
        e2e.hwm_kb / 1024,
        e2e.rss_before_kb / 1024,
        if e2e.mock { ", mock broker's log included" } else { "" }
    );
    let quiet = !busy(raw_event.foreign, raw_event.index_secs)
        && !busy(raw_tantivy.foreign, raw_tantivy.index_secs)
        && !busy(e2e.foreign, e2e.total_secs);
    println!(
        "  other processes + steal: {:.2} core-s during raw indexing, {:.2} during the pipeline: {}",
        raw.foreign,
        e2e.foreign,
        if quiet {
            "a quiet run"
        } else {
            "A BUSY MACHINE, figures are not representative"
        }
    );
    Ok(RoundFigures {
        record_eps,
        handling_eps,
        raw_eps,
        quiet,
    })
}

/// The number in environment variable `name`, if it is set.
fn env_number(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(None),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------------------------
// Event generator: deterministic per event index, so the child and the parent see the same data.

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn for_event(i: usize) -> Self {
        Rng(SEED ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn push_chars(&mut self, out: &mut String, alphabet: &[u8], len: usize) {
        for _ in 0..len {
            out.push(*self.pick(alphabet) as char);
        }
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const AGENTS: usize = 200;
/// 2026-11-30T09:00:00Z.
const BASE_TIME_US: i64 = 1_796_029_200_000_000;

struct System {
    name: &'static str,
    zone: &'static str,
    server: &'static str,
    tools: &'static [(&'static str, &'static str)],
    resource: &'static str,
}

const SYSTEMS: &[System] = &[
    System {
        name: "jira.corp",
        zone: "internal",
        server: "mcp-jira",
        tools: &[
            ("jira.search", "JQL project = PROJ AND status = Open"),
            ("jira.comment", "add comment"),
            ("jira.transition", "transition to In Review"),
        ],
        resource: "jira://jira.corp/PROJ-",
    },
    System {
        name: "github.com/acme",
        zone: "internal",
        server: "mcp-github",
        tools: &[
            (
                "github.search_code",
                "search: NullPointerException PaymentService",
            ),
            ("github.get_file", "read src/PaymentService.java"),
            ("github.create_pull_request", "open pull request fix/npe"),
        ],
        resource: "github://acme/payments/pull/",
    },
    System {
        name: "aws:prod-1234",
        zone: "internal",
        server: "mcp-aws",
        tools: &[
            ("aws.s3.get_object", "GetObject"),
            ("aws.s3.list_objects", "ListObjectsV2 prefix=reports/"),
            (
                "aws.ec2.describe_instances",
                "DescribeInstances region=eu-west-1",
            ),
        ],
        resource: "s3://acme-reports/daily-",
    },
    System {
        name: "salesforce.com",
        zone: "external",
        server: "mcp-salesforce",
        tools: &[
            (
                "salesforce.query",
                "SELECT Id, Name FROM Account WHERE Industry = 'Retail'",
            ),
            ("salesforce.update_record", "update Opportunity StageName"),
        ],
        resource: "sf://Account/001",
    },
    System {
        name: "slack.com/acme",
        zone: "external",
        server: "mcp-slack",
        tools: &[
            ("slack.post_message", "post message to #payments-oncall"),
            ("slack.search", "search: deploy freeze"),
        ],
        resource: "slack://acme/C0",
    },
];

/// One generated record: which input topic (index into the topic list), key, JSON payload.
struct Generated {
    topic: usize,
    agent: usize,
    key: String,
    payload: String,
}

/// About 85% `hoptrail.tool_use.v1`, 15% `hoptrail.token_use.v1`, about 1% carrying a secret that
/// the decoder redacts; about 500 bytes each.
fn generate(i: usize) -> Generated {
    let mut r = Rng::for_event(i);
    let agent = r.below(AGENTS);
    let tenant = TENANTS[agent % TENANTS.len()];
    let system = r.pick(SYSTEMS);
    let token_use = r.below(100) < 15;
    let secret = r.below(100) == 0;
    let secret_in_operation = secret && r.below(2) == 0;
    let mut p = String::with_capacity(640);
    let schema = if token_use {
        "hoptrail.token_use.v1"
    } else {
        "hoptrail.tool_use.v1"
    };
    let _ = write!(
        p,
        r#"{{"schema":"{schema}","event_id":"{:08x}-{i:07}","time":"{}","#,
        r.next() as u32,
        format_time_us(BASE_TIME_US + i as i64 * 1_000 + r.below(1_000) as i64),
    );
    // The first tenant's agents send no tenant: they land in the default one.
    if tenant != TENANTS[0] {
        let _ = write!(p, r#""tenant":"{tenant}","#);
    }
    let _ = write!(p, r#""agent":{{"id":"agent:bot-{agent:03}""#);
    if r.below(2) == 0 {
        let _ = write!(p, r#","workload":"spiffe://{tenant}.corp/bot-{agent:03}""#);
    }
    if r.below(10) < 3 {
        let _ = write!(
            p,
            r#","on_behalf_of":"user-{:03}@{tenant}.corp""#,
            agent * 7 % 101
        );
    }
    let _ = write!(p, r#"}},"session_id":"sess-{agent:03}-{:05}","#, i / 1_000);
    let token_id = format!("tok-{agent:03}-{:04}", i / 5_000);
    if token_use {
        let action = match r.below(20) {
            0..=13 => "presented",
            14..=16 => "issued",
            17 => "exchanged",
            18 => "refreshed",
            _ => "denied",
        };
        let _ = write!(
            p,
            r#""action":"{action}","token":{{"id":"{token_id}","issuer":"idp.{tenant}.corp","subject":"spiffe://{tenant}.corp/bot-{agent:03}","audience":["{}"],"scopes":["read","write"],"expires_at":"{}"}},"system":"{}","zone":"{}""#,
            system.name,
            format_time_us(BASE_TIME_US + 3_600_000_000),
            system.name,
            system.zone,
        );
        if secret {
            p.push_str(r#","attributes":{"request_headers":{"Authorization":"Bearer "#);
            r.push_chars(&mut p, ALNUM, 40);
            p.push_str(r#""}}"#);
        }
    } else {
        let (tool, operation) = *r.pick(system.tools);
        if r.below(10) < 3 {
            let _ = write!(p, r#""task":{{"id":"TASK-{}"}},"#, 1_000 + agent * 13 % 900);
        }
        if r.below(10) < 3 {
            p.push_str(r#""trace":{"trace_id":""#);
            r.push_chars(&mut p, HEX, 31);
            p.push('1');
            p.push_str(r#"","span_id":""#);
            r.push_chars(&mut p, HEX, 15);
            p.push('1');
            p.push_str(r#""},"#);
        }
        let _ = write!(
            p,
            r#""system":"{}","zone":"{}","tool":{{"name":"{tool}","server":"{}","operation":"{operation}"#,
            system.name, system.zone, system.server,
        );
        if secret_in_operation {
            p.push_str(" --access-key AKIA");
            r.push_chars(&mut p, UPPER_ALNUM, 16);
        }
        let outcome = match r.below(100) {
            0..=89 => "success",
            90..=96 => "denied",
            _ => "error",
        };
        let _ = write!(
            p,
            r#""}},"resource":"{}{}","credential":{{"id":"{token_id}"}},"outcome":"{outcome}","#,
            system.resource,
            r.below(100_000),
        );
        if r.below(20) == 0 {
            let by = r.below(AGENTS);
            let _ = write!(
                p,
                r#""delegated_by":{{"agent_id":"agent:bot-{by:03}","session_id":"sess-{by:03}-{:05}"}},"#,
                i / 1_000
            );
        }
        let _ = write!(
            p,
            r#""attributes":{{"latency_ms":{},"region":"{}""#,
            1 + r.below(900),
            r.pick(&["eu-west-1", "us-east-1", "ap-southeast-2"]),
        );
        if secret && !secret_in_operation {
            p.push_str(r#","note":"retried with ghp_"#);
            r.push_chars(&mut p, ALNUM, 36);
            p.push('"');
        }
        p.push('}');
    }
    p.push('}');
    Generated {
        topic: usize::from(token_use),
        agent,
        key: format!("agent:bot-{agent:03}"),
        payload: p,
    }
}

// ---------------------------------------------------------------------------------------------
// Memory.

fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0). Returns false when the
/// kernel refuses, in which case VmHWM stays the whole-process peak.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

// ---------------------------------------------------------------------------------------------
// CPU time per thread, from /proc (utime + stime, in USER_HZ ticks, 100 per second on Linux).

const TICKS_PER_SEC: f64 = 100.0;

/// `(name, user + system ticks)` from a `/proc/.../stat` line.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn process_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0.0, |(_, t)| t as f64 / TICKS_PER_SEC)
}

/// Accumulates CPU time per thread name over a phase by sampling `/proc/self/task`; a thread
/// that exits loses at most its time since the last sample (the process total has it all).
struct CpuSampler {
    start: BTreeMap<u32, u64>,
    last: BTreeMap<u32, (String, u64)>,
    process_start: f64,
    machine_start: MachineCpu,
}

/// Machine-wide CPU seconds since boot (first line of /proc/stat), and those of Tansu brokers.
#[derive(Clone, Copy, Default)]
struct MachineCpu {
    busy: f64,
    steal: f64,
    tansu: f64,
    /// Seconds during which some task waited for I/O (pressure stall information), fsyncs of
    /// this process's commits included.
    io_stall: f64,
}

impl MachineCpu {
    /// The machine's CPU seconds since boot: (busy, steal).
    fn busy_and_steal() -> (f64, f64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let f: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / TICKS_PER_SEC;
        // user nice system idle iowait irq softirq steal
        (at(0) + at(1) + at(2) + at(5) + at(6), at(7))
    }

    fn now() -> Self {
        let (busy, steal) = MachineCpu::busy_and_steal();
        let mut tansu = 0.0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            if let Some((name, ticks)) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
            {
                if name == "tansu" {
                    tansu += ticks as f64 / TICKS_PER_SEC;
                }
            }
        }
        let io_stall = std::fs::read_to_string("/proc/pressure/io")
            .ok()
            .and_then(|p| {
                let some = p.lines().find(|l| l.starts_with("some"))?;
                some.rsplit("total=").next()?.trim().parse::<f64>().ok()
            })
            .map_or(0.0, |us| us / 1e6);
        MachineCpu {
            busy,
            steal,
            tansu,
            io_stall,
        }
    }

    fn since(self, start: MachineCpu) -> MachineCpu {
        MachineCpu {
            busy: self.busy - start.busy,
            steal: self.steal - start.steal,
            tansu: self.tansu - start.tansu,
            io_stall: self.io_stall - start.io_stall,
        }
    }
}

impl CpuSampler {
    fn start() -> Self {
        let mut s = CpuSampler {
            start: BTreeMap::new(),
            last: BTreeMap::new(),
            process_start: process_cpu_secs(),
            machine_start: MachineCpu::now(),
        };
        s.sample();
        s.start = s.last.iter().map(|(tid, (_, t))| (*tid, *t)).collect();
        s
    }

    fn sample(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
            {
                self.last.insert(tid, stat);
            }
        }
    }

    /// Process CPU seconds since the start, and seconds per thread name (digits dropped, so
    /// that the workers of one pool add up), largest first.
    fn report(mut self) -> (f64, Vec<(String, f64)>, MachineCpu) {
        self.sample();
        let total = process_cpu_secs() - self.process_start;
        let machine = MachineCpu::now().since(self.machine_start);
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        let main_tid = std::process::id();
        for (tid, (name, ticks)) in &self.last {
            let used = ticks - self.start.get(tid).copied().unwrap_or(0);
            let name = if *tid == main_tid {
                "bench main thread".to_owned()
            } else {
                thread_label(name)
            };
            *by_name.entry(name).or_default() += used;
        }
        let mut v: Vec<(String, f64)> = by_name
            .into_iter()
            .map(|(k, t)| (k, t as f64 / TICKS_PER_SEC))
            .filter(|(_, secs)| *secs > 0.0)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let sampled: f64 = v.iter().map(|(_, secs)| secs).sum();
        if total - sampled >= 0.01 {
            v.push(("exited threads".to_owned(), total - sampled));
        }
        (total, v, machine)
    }
}

/// The collector thread's name as the kernel keeps it (15 bytes).
const COLLECTOR_THREAD: &str = "hoptrail-collec";
/// The collector counts as working on records once it ran this share of a window this long
/// (idle, it blocks in `poll` and uses next to nothing).
const BUSY_WINDOW: Duration = Duration::from_millis(20);
const BUSY_SHARE: f64 = 0.4;

/// The `/proc/self/task/<tid>` directory of this process's thread named `name`.
fn find_thread(name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            (parse_stat(&stat)?.0 == name).then(|| entry.path())
        })
}

/// A thread's time on CPU so far, in nanoseconds (first field of its schedstat).
fn run_time_ns(task: &Path) -> Option<u64> {
    std::fs::read_to_string(task.join("schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How often the background sampler looks at every thread. Looking costs CPU in the measured
/// process (a `/proc` read per thread), so not too often; tantivy's indexing workers end at each
/// commit, and what a thread used after the last look before it ended shows as "exited threads"
/// (the process total stays exact).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A [`CpuSampler`] sampling on its own thread ("bench-sampler", which shows its own cost).
struct BackgroundSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<CpuSampler>,
}

impl BackgroundSampler {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn(move || {
                let mut s = CpuSampler::start();
                while !flag.load(std::sync::atomic::Ordering::Acquire) {
                    std::thread::sleep(SAMPLE_EVERY);
                    s.sample();
                }
                s
            })
            .expect("spawning the CPU sampler thread");
        BackgroundSampler { stop, thread }
    }

    fn finish(self) -> CpuSampler {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.thread.join().expect("the CPU sampler thread panicked")
    }
}

/// A readable name for a thread (the kernel keeps only 15 bytes of it).
fn thread_label(name: &str) -> String {
    const LABELS: [(&str, &str); 8] = [
        ("hoptrail-collec", "collector"),
        ("thrd-tantivy-in", "tantivy indexing"),
        ("merge_thread", "tantivy merge"),
        ("docstore-compre", "tantivy docstore"),
        ("segment_update", "tantivy segment updater"),
        ("rdk:broker", "librdkafka broker"),
        ("rdk:main", "librdkafka main"),
        ("rdk:mock", "mock broker"),
    ];
    LABELS
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or_else(
            || name.chars().filter(|c| !c.is_ascii_digit()).collect(),
            |(_, label)| (*label).to_owned(),
        )
}

/// Prints where the CPU went; returns the core-seconds other processes and the hypervisor took.
fn print_cpu(what: &str, wall: f64, sampler: CpuSampler) -> f64 {
    let (total, threads, machine) = sampler.report();
    let mut line = format!(
        "  CPU {what}: {total:.2} core-s in {wall:.2} s = {:.2} of {} cores;",
        total / wall,
        cores()
    );
    for (name, secs) in threads {
        let _ = write!(line, " {name} {secs:.2},");
    }
    line.pop();
    println!("{line}");
    let others = (machine.busy - total - machine.tansu).max(0.0);
    println!(
        "  meanwhile: tansu {:.2} core-s, other processes {:.2} core-s, hypervisor steal {:.2} core-s, I/O stall {:.2} s{}",
        machine.tansu,
        others,
        machine.steal,
        machine.io_stall,
        if busy(others + machine.steal, wall) {
            " (a busy machine: figures are low)"
        } else {
            ""
        }
    );
    others + machine.steal
}

/// True when something else took more than a tenth of the machine during a phase.
fn busy(foreign_core_secs: f64, wall: f64) -> bool {
    foreign_core_secs > 0.1 * wall * cores() as f64
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Phase 1: raw tantivy (child process).

/// The document type the raw baseline hands tantivy: tantivy's own, or the pipeline's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RawDoc {
    Tantivy,
    Event,
}

impl RawDoc {
    fn arg(self) -> &'static str {
        match self {
            RawDoc::Tantivy => "--doc=tantivy",
            RawDoc::Event => "--doc=event",
        }
    }

    fn name(self) -> &'static str {
        match self {
            RawDoc::Tantivy => "TantivyDocument",
            RawDoc::Event => "EventDocument",
        }
    }
}

struct RawResult {
    bytes: u64,
    decode_secs: f64,
    prepare_secs: f64,
    index_secs: f64,
    rss_before_kb: u64,
    hwm_kb: u64,
    /// Core-seconds taken by other processes and the hypervisor while indexing.
    foreign: f64,
}

fn run_raw_child(n: usize, doc: RawDoc, time_preparation: bool) -> Result<RawResult> {
    let exe = std::env::current_exe().context("locating the benchmark binary")?;
    let out = Command::new(exe)
        .arg(RAW_CHILD_ARG)
        .arg(doc.arg())
        .args(time_preparation.then_some(TIME_PREPARATION_ARG))
        .env(EVENTS_ENV, n.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the raw tantivy child process")?;
    let mut result = None;
    for line in out.stdout.lines() {
        let line = line?;
        match line.strip_prefix(RAW_RESULT_PREFIX) {
            Some(rest) => {
                let kv: BTreeMap<&str, &str> = rest
                    .split_whitespace()
                    .filter_map(|f| f.split_once('='))
                    .collect();
                let num = |k: &str| -> Result<f64> {
                    kv.get(k)
                        .and_then(|v| v.parse().ok())
                        .with_context(|| format!("raw child result lacks {k}: {rest}"))
                };
                result = Some(RawResult {
                    bytes: num("bytes")? as u64,
                    decode_secs: num("decode_secs")?,
                    prepare_secs: num("prepare_secs")?,
                    index_secs: num("index_secs")?,
                    rss_before_kb: num("rss_before_kb")? as u64,
                    hwm_kb: num("hwm_kb")? as u64,
                    foreign: num("foreign")?,
                });
            }
            None => println!("{line}"),
        }
    }
    ensure!(
        out.status.success(),
        "raw tantivy child failed: {}",
        out.status
    );
    result.context("raw tantivy child printed no result")
}

fn raw_child(n: usize, doc: RawDoc, time_preparation: bool) -> Result<()> {
    let payloads: Vec<String> = (0..n).map(|i| generate(i).payload).collect();
    let bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    let decoder = Decoder::new();
    let (mut decode_secs, mut prepare_secs) = (0.0, 0.0);
    let mut docs: Vec<EventDocument> = Vec::with_capacity(n);
    if time_preparation {
        println!("  sample event: {}", payloads[0]);
        println!(
            "  generated {n} events, {:.1} MB, {:.0} bytes average",
            bytes as f64 / 1e6,
            bytes as f64 / n as f64
        );
        // The collector thread's own per-event work, one thread: decode = parse + validate +
        // redact.
        let started = Instant::now();
        let mut redactions = 0u64;
        let mut slot = None;
        for p in &payloads {
            let (event, counts) = decoder
                .decode_reusing(p.as_bytes(), &mut slot)
                .map_err(|e| anyhow::anyhow!("generated event rejected: {}: {p}", e.message))?;
            redactions += u64::from(counts.total());
            std::hint::black_box(event);
        }
        decode_secs = started.elapsed().as_secs_f64();
        println!(
            "  decode only (1 thread): {:.2} s, {:.0} events/s, {:.1} µs/event; {redactions} secrets redacted",
            decode_secs,
            n as f64 / decode_secs,
            decode_secs * 1e6 / n as f64
        );
        // Everything EventWriter::add does before handing the document on, timed the same way.
        let started = Instant::now();
        let mut slot = None;
        for p in &payloads {
            docs.push(prepare(&decoder, &mut slot, p)?);
        }
        prepare_secs = started.elapsed().as_secs_f64();
        println!(
            "  decode + encode + document (1 thread): {:.2} s, {:.0} events/s, {:.1} µs/event",
            prepare_secs,
            n as f64 / prepare_secs,
            prepare_secs * 1e6 / n as f64
        );
    } else {
        let mut slot = None;
        for p in &payloads {
            docs.push(prepare(&decoder, &mut slot, p)?);
        }
    }
    drop(payloads);
    let timing = match doc {
        RawDoc::Event => index_raw(docs)?,
        RawDoc::Tantivy => {
            // The same documents, copied field by field into tantivy's own document type.
            let converted: Vec<TantivyDocument> = docs
                .drain(..)
                .map(|d| {
                    let mut t = TantivyDocument::new();
                    for (field, value) in d.iter_fields_and_values() {
                        t.add_field_value(field, value);
                    }
                    t
                })
                .collect();
            drop(docs);
            index_raw(converted)?
        }
    };
    let index_secs = timing.secs;
    println!(
        "  {} x {n} + {} commits ({} threads, {} MiB budget): {:.2} s, {:.0} events/s, {:.1} MB/s",
        doc.name(),
        timing.commits,
        cores(),
        WriterConfig::default().memory_budget_bytes >> 20,
        index_secs,
        n as f64 / index_secs,
        bytes as f64 / 1e6 / index_secs
    );
    let foreign = print_cpu("while indexing", index_secs, timing.cpu);
    println!(
        "  RSS {} MiB before indexing (all documents prebuilt), peak {} MiB{}",
        timing.rss_before_kb / 1024,
        timing.hwm_kb / 1024,
        if timing.reset {
            " during indexing"
        } else {
            " (whole child; peak reset unsupported)"
        }
    );
    println!(
        "{RAW_RESULT_PREFIX} bytes={bytes} decode_secs={decode_secs} prepare_secs={prepare_secs} index_secs={index_secs} rss_before_kb={} hwm_kb={} foreign={foreign}",
        timing.rss_before_kb, timing.hwm_kb
    );
    Ok(())
}

struct RawTiming {
    secs: f64,
    commits: usize,
    cpu: CpuSampler,
    rss_before_kb: u64,
    hwm_kb: u64,
    reset: bool,
}

/// Indexes prebuilt documents the way the pipeline hands them over, timing only tantivy.
fn index_raw<D: tantivy::schema::Document>(docs: Vec<D>) -> Result<RawTiming> {
    let n = docs.len();
    let config = WriterConfig::default();
    let threads = cores();
    let dir = tempfile::tempdir()?;
    let index = Index::create_in_dir(dir.path(), EventSchema::new().schema)?;
    let mut writer: IndexWriter<D> =
        index.writer_with_num_threads(threads, config.memory_budget_bytes)?;
    let reset = reset_peak_rss();
    let rss_before_kb = proc_status_kb("VmRSS");
    let cpu = BackgroundSampler::start();
    let started = Instant::now();
    // The pipeline's commit policy (`WriterConfig::default()`: every `commit_interval` from the
    // first uncommitted document, or every `commit_max_docs`), and its hand-off: batches of
    // BATCH_DOCS through `IndexWriter::run`.
    let mut commits = 0;
    let mut pending = 0;
    let mut first_pending: Option<Instant> = None;
    let mut docs = docs.into_iter().peekable();
    while docs.peek().is_some() {
        let room = BATCH_DOCS.min(config.commit_max_docs - pending);
        let batch: Vec<_> = docs.by_ref().take(room).map(UserOperation::Add).collect();
        pending += batch.len();
        first_pending.get_or_insert_with(Instant::now);
        writer.run(batch)?;
        if pending >= config.commit_max_docs
            || first_pending.is_some_and(|t| t.elapsed() >= config.commit_interval)
        {
            writer.commit()?;
            commits += 1;
            (pending, first_pending) = (0, None);
        }
    }
    if pending > 0 {
        writer.commit()?;
        commits += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    let hwm_kb = proc_status_kb("VmHWM");
    writer.wait_merging_threads()?;
    let indexed = index.reader()?.searcher().num_docs();
    ensure!(
        indexed == n as u64,
        "raw index holds {indexed} of {n} documents"
    );
    Ok(RawTiming {
        secs,
        commits,
        cpu,
        rss_before_kb,
        hwm_kb,
        reset,
    })
}

/// The collector's per-event work, without Kafka or indexing, 3 passes over N events; prints
/// µs per event for decode alone and for decode + encode + document (documents dropped).
/// What the collector and `EventWriter::add` do to one record before handing the document to
/// tantivy, decoding over the event in `slot` as the collector does.
fn prepare(
    decoder: &Decoder,
    slot: &mut Option<hoptrail_core::Event>,
    payload: &str,
) -> Result<EventDocument> {
    let (event, _) = decoder
        .decode_reusing(payload.as_bytes(), slot)
        .map_err(|e| anyhow::anyhow!("generated event rejected: {}", e.message))?;
    let hash = id_hash(&event.tenant, &event.event_id);
    Ok(EventDocument::new(event, hash, payload.len() * 2))
}

fn prepare_loop(n: usize) -> Result<()> {
    let payloads: Vec<String> = (0..n).map(|i| generate(i).payload).collect();
    let decoder = Decoder::new();
    let mut slot = None;
    for pass in 0..3 {
        let started = Instant::now();
        for p in &payloads {
            let decoded = decoder
                .decode_reusing(p.as_bytes(), &mut slot)
                .map_err(|e| anyhow::anyhow!("generated event rejected: {}", e.message))?;
            std::hint::black_box(decoded);
        }
        let decode = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for p in &payloads {
            std::hint::black_box(prepare(&decoder, &mut slot, p)?);
        }
        let prepare = started.elapsed().as_secs_f64();
        println!(
            "pass {pass}: decode {:.2} µs/event, decode + encode + document {:.2} µs/event",
            decode * 1e6 / n as f64,
            prepare * 1e6 / n as f64
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phase 2: end to end.

/// Per topic, per partition: the offset after the last record.
type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// Remembers, per partition, the offset after the last delivered record.
#[derive(Default)]
struct Deliveries {
    state: Mutex<DeliveryState>,
}

#[derive(Default)]
struct DeliveryState {
    next_offsets: Offsets,
    delivered: u64,
    failed: u64,
    last_error: String,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(m) => {
                s.delivered += 1;
                let next = m.offset() + 1;
                match s.next_offsets.get_mut(m.topic()) {
                    Some(parts) => {
                        let slot = parts.entry(m.partition()).or_insert(next);
                        *slot = (*slot).max(next);
                    }
                    None => {
                        s.next_offsets.insert(
                            m.topic().to_owned(),
                            BTreeMap::from([(m.partition(), next)]),
                        );
                    }
                }
            }
            Err((e, _)) => {
                s.failed += 1;
                s.last_error = e.to_string();
            }
        }
    }
}

struct E2eResult {
    broker: String,
    mock: bool,
    bytes: u64,
    first_record_secs: f64,
    /// From the first record to the last one handed to tantivy.
    handling_secs: f64,
    total_secs: f64,
    steady_events: u64,
    steady_secs: f64,
    rss_before_kb: u64,
    hwm_kb: u64,
    foreign: f64,
}

/// The broker a bench phase runs against, with its topics named for this run (so that runs never
/// share a log): a real one named by `HOPTRAIL_BENCH_BROKERS` or `HOPTRAIL_TEST_BROKERS`, else
/// librdkafka's in-process mock cluster.
struct BenchBroker {
    mock: Option<MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
    description: String,
    kafka: KafkaConfig,
    /// The input topics, tool use first.
    topics: Vec<String>,
    /// The input topics and their dead-letter topics.
    all_topics: Vec<String>,
}

impl BenchBroker {
    fn start() -> Result<Self> {
        let run_id = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        );
        let topics: Vec<String> = DEFAULT_TOPICS
            .iter()
            .map(|t| format!("bench-{run_id}.{t}"))
            .collect();
        let real_broker = BROKER_ENVS.iter().find_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*k, v))
        });
        let (mock, brokers, broker) = match &real_broker {
            Some((var, brokers)) => (
                None,
                brokers.clone(),
                format!("real broker {brokers} (from {var})"),
            ),
            None => {
                let mock = MockCluster::new(1).context("starting librdkafka's mock cluster")?;
                let brokers = mock.bootstrap_servers();
                (
                    Some(mock),
                    brokers,
                    "librdkafka mock cluster (in-process, 1 broker)".to_owned(),
                )
            }
        };

        let mut file = KafkaConfigFile {
            topics: Some(topics.clone()),
            group_id: Some(format!("hoptrail-bench-{run_id}")),
            ..Default::default()
        };
        if mock.is_none() {
            // Tansu is slow to complete a group join with librdkafka's default timeouts.
            for key in ["session.timeout.ms", "max.poll.interval.ms"] {
                file.consumer_properties.insert(key.into(), "6000".into());
            }
        }
        file.consumer_properties
            .extend(env_properties(CONSUMER_PROPERTIES_ENV)?);
        let kafka = KafkaConfig::from_file(file, Some(brokers.clone()), &BTreeMap::new())?
            .context("no brokers")?;
        let mut all_topics = topics.clone();
        all_topics.extend(
            topics
                .iter()
                .map(|t| dead_letter_topic(t, &kafka.dead_letter_suffix)),
        );
        Ok(BenchBroker {
            mock,
            description: broker,
            kafka,
            topics,
            all_topics,
        })
    }

    /// Creates the topics with `partitions` each (on the mock, at least enough that no partition
    /// outgrows what the mock keeps of its log).
    fn create_topics(&self, partitions: i32) -> Result<i32> {
        match &self.mock {
            Some(mock) => {
                for t in &self.all_topics {
                    mock.create_topic(t, partitions, 1)?;
                }
            }
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(create_topics(&self.kafka, &self.all_topics, partitions))?,
        }
        Ok(partitions)
    }
}

/// The pipeline's writer settings: the defaults, less what the environment overrides; printed.
fn writer_config() -> Result<WriterConfig> {
    let mut writer_config = WriterConfig::default();
    if let Some(ms) = env_number(COMMIT_INTERVAL_ENV)? {
        writer_config.commit_interval = Duration::from_millis(ms as u64);
    }
    if let Some(threads) = env_number(INDEX_THREADS_ENV)? {
        writer_config.num_threads = threads.max(1);
    }
    println!(
        "  writer: {} threads, {} MiB, commit every {:?} or {} events",
        writer_config.num_threads,
        writer_config.memory_budget_bytes >> 20,
        writer_config.commit_interval,
        writer_config.commit_max_docs
    );
    Ok(writer_config)
}

/// The machine's busy cores in windows of SPLIT_WINDOW, split by what the collector thread did
/// in each: waiting (on a commit, once records flow) or working. CPU left idle while it waits
/// is all that overlapping commits with decoding could win.
#[derive(Default)]
struct CommitWaitSplit {
    /// Start of the current window: when, the collector's run time (ns), machine busy seconds.
    window: Option<(Duration, u64, f64)>,
    /// (wall seconds, machine busy core-seconds) of the windows in which the collector waited.
    waiting: (f64, f64),
    /// The same for the windows in which it worked.
    working: (f64, f64),
}

const SPLIT_WINDOW: Duration = Duration::from_millis(50);
/// A window in which the collector ran less than this share of the time: it waited.
const WAIT_SHARE: f64 = 0.1;

impl CommitWaitSplit {
    /// Called on every look; `counting` once records flow.
    fn look(&mut self, now: Duration, collector_ns: u64, counting: bool) {
        let Some((at, ns, busy)) = self.window else {
            self.window = Some((now, collector_ns, MachineCpu::busy_and_steal().0));
            return;
        };
        let wall = (now - at).as_secs_f64();
        if now - at < SPLIT_WINDOW {
            return;
        }
        let machine_busy = MachineCpu::busy_and_steal().0;
        let share = collector_ns.saturating_sub(ns) as f64 / 1e9 / wall;
        if counting {
            let class = if share < WAIT_SHARE {
                Some(&mut self.waiting)
            } else if share >= BUSY_SHARE {
                Some(&mut self.working)
            } else {
                None
            };
            if let Some((w, b)) = class {
                *w += wall;
                *b += machine_busy - busy;
            }
        }
        self.window = Some((now, collector_ns, machine_busy));
    }

    fn print(&self) {
        let busy_cores = |(wall, busy): (f64, f64)| busy / wall.max(1e-9);
        if self.waiting.0 == 0.0 {
            println!(
                "  machine busy while the collector worked: {:.2} of {} cores over {:.2} s (it never waited a whole window)",
                busy_cores(self.working),
                cores(),
                self.working.0
            );
            return;
        }
        println!(
            "  machine busy while the collector waited (on commits, once records flow): {:.2} of {} cores over {:.2} s; while it worked: {:.2} cores over {:.2} s",
            busy_cores(self.waiting),
            cores(),
            self.waiting.0,
            busy_cores(self.working),
            self.working.0
        );
    }
}

fn end_to_end(n: usize) -> Result<E2eResult> {
    let bench = BenchBroker::start()?;
    println!("  broker: {}", bench.description);
    let (kafka, topics) = (&bench.kafka, &bench.topics);
    let partitions = if bench.mock.is_some() {
        let mut topic_bytes = [0u64; DEFAULT_TOPICS.len()];
        for i in 0..n {
            let g = generate(i);
            topic_bytes[g.topic] += g.payload.len() as u64;
        }
        let largest = topic_bytes.iter().copied().max().unwrap_or(0);
        PARTITIONS.max(largest.div_ceil(MOCK_PARTITION_BYTES) as i32)
    } else {
        PARTITIONS
    };
    bench.create_topics(partitions)?;

    let (bytes, produce_secs, expected) = produce(kafka, topics, partitions, n)?;
    println!(
        "  produced {n} events ({:.1} MB) to {} topics x {partitions} partitions in {:.2} s, before starting the pipeline",
        bytes as f64 / 1e6,
        topics.len(),
        produce_secs
    );
    check_logs_complete(kafka, topics, partitions, &expected)?;

    let writer_config = writer_config()?;
    let dir = tempfile::tempdir()?;
    let index = EventIndex::open_or_create(&dir.path().join("index"))?;
    let metrics = Arc::new(Metrics::default());
    let reset = reset_peak_rss();
    let rss_before_kb = proc_status_kb("VmRSS");

    let cpu = BackgroundSampler::start();
    let started = Instant::now();
    let writer = index.writer(writer_config.clone())?;
    let mut handle = Pipeline::new(kafka, writer, metrics.clone())?.spawn()?;
    let mut first_commit: Option<(Duration, u64)> = None;
    let mut first_record: Option<Duration> = None;
    let mut last_busy: Option<Duration> = None;
    // The collector thread's /proc directory, and (when, run time in ns) at recent looks.
    let mut collector: Option<(std::path::PathBuf, VecDeque<(Duration, u64)>)> = None;
    let mut split = CommitWaitSplit::default();
    // Watching costs this thread little: the document count is in memory and changes with each
    // commit, the checkpoint is read from disk only after a change (or every half second).
    let (mut polls, mut last_docs) = (0u32, 0u64);
    let finished = loop {
        std::thread::sleep(Duration::from_millis(5));
        polls += 1;
        // When the collector works on records, seen from its thread's CPU time: through the
        // group join it idles in `poll` (next to no CPU), then it needs ~5-10 µs of CPU per
        // record. The first record arrived at the start of the first window of BUSY_WINDOW or
        // more in which it ran at least BUSY_SHARE of the time; the last one was handed to
        // tantivy by the end of the last such window (what follows is waiting for the commit).
        let now = started.elapsed();
        match &mut collector {
            None => collector = find_thread(COLLECTOR_THREAD).map(|p| (p, VecDeque::new())),
            Some((path, looks)) => {
                if let Some(ns) = run_time_ns(path) {
                    looks.push_back((now, ns));
                    while looks.len() > 2 && now - looks[1].0 >= BUSY_WINDOW {
                        looks.pop_front();
                    }
                    let (at, then) = looks[0];
                    let wall = (now - at).as_secs_f64();
                    let ran = ns.saturating_sub(then) as f64 / 1e9;
                    if now - at >= BUSY_WINDOW && ran >= BUSY_SHARE * wall {
                        first_record.get_or_insert(at);
                        last_busy = Some(now);
                    }
                    split.look(now, ns, first_record.is_some());
                }
            }
        }
        let docs = index.num_docs();
        if first_commit.is_none() && docs > 0 {
            first_commit = Some((started.elapsed(), docs));
        }
        if (docs != last_docs || polls >= 100) && covers(&index, &expected)? {
            break started.elapsed();
        }
        if docs != last_docs || polls >= 100 {
            (polls, last_docs) = (0, docs);
        }
        if handle.is_finished() {
            handle.join()?;
            bail!("the pipeline stopped on its own after {docs} of {n} events");
        }
        if started.elapsed() > E2E_DEADLINE {
            handle.stop()?;
            bail!("only {docs} of {n} events committed after {E2E_DEADLINE:?}");
        }
    };
    let hwm_kb = proc_status_kb("VmHWM");
    let cpu_wall = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    // The counters as of the measured commit (stopping adds a final, empty one). The collector
    // adds a commit's counts just after the commit is durable, when this thread may already have
    // seen it: wait (untimed) for them to catch up, or the last commit's would be missing.
    let counted = index.num_docs();
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = metrics.render(counted);
        if metric_sum(&m, names::EVENTS_INDEXED) as u64 >= counted || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    handle.stop()?;
    let indexed = index.num_docs();
    let (first_at, first_docs) = first_commit.unwrap_or((finished, 0));
    let first_record = first_record.unwrap_or(first_at);
    let last_handled = last_busy.unwrap_or(finished).min(finished);

    let metric = |name: &str| metric_sum(&m, name);
    ensure!(
        indexed == n as u64,
        "the index holds {indexed} events of the {n} produced: {} duplicates, {} rejected",
        metric(names::EVENTS_DUPLICATE),
        metric(names::EVENTS_REJECTED)
    );
    let steady_events = n as u64 - first_docs;
    let steady_secs = (finished - first_at).as_secs_f64();
    println!(
        "  pipeline start -> first record: {:.2} s (group join and partition assignment)",
        first_record.as_secs_f64()
    );
    let from_record_secs = (finished - first_record).as_secs_f64();
    println!(
        "  first record -> all {n} committed: {:.2} s, {:.0} events/s",
        from_record_secs,
        n as f64 / from_record_secs.max(1e-3)
    );
    let handling_secs = (last_handled - first_record).as_secs_f64();
    println!(
        "  first record -> last record handed to tantivy: {:.2} s, {:.0} events/s (the remaining {:.2} s: waiting for the commit interval, and the commit)",
        handling_secs,
        n as f64 / handling_secs.max(1e-3),
        (finished - last_handled).as_secs_f64()
    );
    println!(
        "  pipeline start -> first commit visible: {:.2} s ({first_docs} events in it)",
        first_at.as_secs_f64()
    );
    println!(
        "  first commit -> all {n} committed: {:.2} s, {:.0} events/s",
        steady_secs,
        steady_events as f64 / steady_secs.max(1e-3)
    );
    println!(
        "  pipeline start -> all committed: {:.2} s, {:.0} events/s",
        finished.as_secs_f64(),
        n as f64 / finished.as_secs_f64()
    );
    println!(
        "  {} commits, {:.2} s spent committing; {} secrets redacted; {} rejected",
        metric(names::COMMITS),
        metric(names::COMMIT_SECONDS_SUM),
        metric(names::REDACTIONS),
        metric(names::EVENTS_REJECTED)
    );
    // The sampler ran from the pipeline's start, but the group join costs next to no CPU: the
    // share of the cores is that of the time records flowed.
    let foreign = print_cpu(
        "from first record to all committed",
        cpu_wall - first_record.as_secs_f64(),
        cpu,
    );
    split.print();
    println!(
        "  RSS {} MiB at pipeline start{}, peak {} MiB{}",
        rss_before_kb / 1024,
        if bench.mock.is_some() {
            " (the mock broker's log is in this process)"
        } else {
            ""
        },
        hwm_kb / 1024,
        if reset {
            " while the pipeline ran"
        } else {
            " (whole process; peak reset unsupported)"
        }
    );
    let mock = bench.mock.is_some();
    let broker = bench.description.clone();
    // Dropped only now: the mock broker's log stays in memory to the end, as it was measured.
    drop(bench);
    Ok(E2eResult {
        broker,
        mock,
        bytes,
        first_record_secs: first_record.as_secs_f64(),
        handling_secs,
        total_secs: finished.as_secs_f64(),
        steady_events,
        steady_secs,
        rss_before_kb,
        hwm_kb,
        foreign,
    })
}

/// `key=value,key=value` from the environment variable `name`, announced when set.
fn env_properties(name: &str) -> Result<Vec<(String, String)>> {
    let Ok(list) = std::env::var(name) else {
        return Ok(Vec::new());
    };
    println!("  {name}: {list}");
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("{name}: {pair:?} is not key=value"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Produces events `0..n`, routed by schema and keyed by agent id; returns the bytes produced, the
/// time it took, and per topic and partition the offset after the last record.
fn produce(
    kafka: &KafkaConfig,
    topics: &[String],
    partitions: i32,
    n: usize,
) -> Result<(u64, f64, Offsets)> {
    let started = Instant::now();
    let mut config = kafka.client_config();
    config
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000");
    for (k, v) in env_properties(PRODUCER_PROPERTIES_ENV)? {
        config.set(k, v);
    }
    let producer: BaseProducer<Deliveries> = config.create_with_context(Deliveries::default())?;
    let mut bytes = 0u64;
    let mut unpolled = 0;
    for i in 0..n {
        let g = generate(i);
        bytes += g.payload.len() as u64;
        // Partitioned by agent, as the key says, but explicitly: the spread over partitions is
        // then even and known.
        let mut record = BaseRecord::to(&topics[g.topic])
            .key(&g.key)
            .partition((g.agent % partitions as usize) as i32)
            .payload(&g.payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e).context("producing a benchmark event"),
            }
        }
        // Serve delivery callbacks now and then; `flush` serves the rest.
        unpolled += 1;
        if unpolled == 1024 {
            producer.poll(Duration::ZERO);
            unpolled = 0;
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = started.elapsed().as_secs_f64();
    let s = std::mem::take(
        &mut *producer
            .context()
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    ensure!(
        s.failed == 0 && s.delivered == n as u64,
        "{} of {n} events delivered, {} failed (last error: {})",
        s.delivered,
        s.failed,
        s.last_error
    );
    Ok((bytes, secs, s.next_offsets))
}

/// Fails unless the broker still holds every produced record (its log starts at offset 0).
fn check_logs_complete(
    kafka: &KafkaConfig,
    topics: &[String],
    partitions: i32,
    expected: &Offsets,
) -> Result<()> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "hoptrail-bench-watermarks")
        .create()?;
    for topic in topics {
        for p in 0..partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            let want = expected
                .get(topic)
                .and_then(|parts| parts.get(&p))
                .copied()
                .unwrap_or(0);
            ensure!(
                low == 0,
                "{topic}/{p} starts at offset {low}: the broker dropped records (of 0..{want})"
            );
            if high != want {
                println!("  note: {topic}/{p} reports high watermark {high}, deliveries reached offset {want}");
            }
        }
    }
    Ok(())
}

/// The sum of a metric's samples (all label sets) in Prometheus text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// True when the index's last durable commit covers every produced offset.
fn covers(index: &EventIndex, expected: &Offsets) -> Result<bool> {
    let checkpoint = index.committed_payload()?.checkpoint;
    Ok(expected.iter().all(|(topic, parts)| {
        parts.iter().all(|(p, next)| {
            checkpoint
                .next_offset(topic, *p)
                .is_some_and(|c| c >= *next)
        })
    }))
}
