//! Path query latency: `EventSearcher::path` for one agent in a large index, measured over many
//! repetitions (median and p99), at several agent sizes and index sizes.
//!
//!   cargo bench --bench agent_path                    # 1M-event index
//!   HOPTRAIL_BENCH_INDEX_EVENTS=10000000 cargo bench --bench agent_path
//!
//! The index is built on disk with the real writer (tantivy, commits every 100k events), then
//! reopened for querying, as `serve` would after a restart.

use std::time::{Duration, Instant};

use hoptrail_core::path::{PathOptions, PathRoot};
use hoptrail_core::{Agent, Credential, Event, EventBody, Outcome, Tool, ToolUse};
use hoptrail_indexer::{EventIndex, Window, WriterConfig};
use serde_json::Map;

// The same allocator, tuned as there, as the `hoptrail` binary that serves these queries.
#[path = "../src/allocator.rs"]
mod allocator;

const SYSTEMS: usize = 40;
const BACKGROUND_AGENTS: usize = 2000;

/// Target agents: id and event count. Each event picks a system that differs from the previous
/// one nine times in ten, so a 10k-event agent makes about 9,000 hops.
const TARGETS: [(&str, usize); 3] = [
    ("target-1k", 1_000),
    ("target-10k", 10_000),
    ("target-50k", 50_000),
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn event(i: u64, agent: &str, session: &str, system: usize, time_us: i64, rng: &mut Rng) -> Event {
    Event {
        event_id: format!("ev-{i:09}"),
        time_us,
        tenant: "bench".into(),
        agent: Agent {
            id: agent.into(),
            workload: Some(format!("spiffe://bench/{agent}")),
            ..Default::default()
        },
        session_id: session.into(),
        task: None,
        trace: None,
        attributes: Map::new(),
        extra: Map::new(),
        body: EventBody::ToolUse(ToolUse {
            system: format!("system-{system:02}"),
            zone: Some(
                if system % 10 == 0 {
                    "external"
                } else {
                    "internal"
                }
                .into(),
            ),
            tool: Tool {
                name: format!("tool-{}", rng.next() % 30),
                server: None,
                operation: None,
            },
            resource: None,
            credential: Some(Credential {
                id: format!("cred-{}", rng.next() % 500),
                kind: None,
            }),
            outcome: if rng.next() % 20 == 0 {
                Outcome::Denied
            } else {
                Outcome::Success
            },
            delegated_by: None,
        }),
    }
}

fn build(dir: &std::path::Path, total: usize) -> Duration {
    let started = Instant::now();
    let index = EventIndex::open_or_create(dir).unwrap();
    let config = WriterConfig {
        commit_max_docs: 100_000,
        commit_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    };
    let mut writer = index.writer(config).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let target_total: usize = TARGETS.iter().map(|t| t.1).sum();
    let mut last_system = vec![0usize; TARGETS.len()];
    let base = 1_764_000_000_000_000i64;
    for i in 0..total as u64 {
        // Targets' events are spread evenly through the stream, as a busy agent's would be.
        let slot = (rng.next() % total as u64) as usize;
        let e = if slot < target_total {
            let mut k = 0;
            let mut acc = 0;
            while slot >= acc + TARGETS[k].1 {
                acc += TARGETS[k].1;
                k += 1;
            }
            let sys = if rng.next() % 10 == 0 {
                last_system[k]
            } else {
                (last_system[k] + 1 + (rng.next() as usize % (SYSTEMS - 1))) % SYSTEMS
            };
            last_system[k] = sys;
            event(
                i,
                TARGETS[k].0,
                &format!("{}-s{}", TARGETS[k].0, i % 7),
                sys,
                base + i as i64 * 1_000,
                &mut rng,
            )
        } else {
            let a = rng.next() as usize % BACKGROUND_AGENTS;
            event(
                i,
                &format!("agent-{a}"),
                &format!("agent-{a}-s{}", i % 5),
                rng.next() as usize % SYSTEMS,
                base + i as i64 * 1_000,
                &mut rng,
            )
        };
        writer.add(&e).unwrap();
        if writer.should_commit(Instant::now()) {
            writer.commit().unwrap();
        }
    }
    writer.close().unwrap();
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    allocator::tune();
    // `cargo test --all-targets` runs bench binaries too; only `cargo bench` (which passes
    // `--bench`) should spend minutes building a large index.
    if !std::env::args().any(|a| a == "--bench") {
        println!("agent_path: skipped (run `cargo bench --bench agent_path`)");
        return;
    }
    let total: usize = std::env::var("HOPTRAIL_BENCH_INDEX_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let built = build(dir.path(), total);
    println!(
        "index: {total} events built in {:.1}s ({:.0} events/s)",
        built.as_secs_f64(),
        total as f64 / built.as_secs_f64()
    );
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let searcher = index.searcher();
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "store")
        })
        .count();
    println!("segments: {segments}");
    for (agent, _) in TARGETS {
        let root = PathRoot::Agent(agent.into());
        let p = searcher
            .path("bench", &root, Window::default(), PathOptions::default())
            .unwrap()
            .unwrap();
        let events: usize = p.start.iter().map(|s| s.event_ids.len()).sum::<usize>()
            + p.hops.iter().map(|h| h.event_ids.len()).sum::<usize>();
        let runs = if events > 20_000 { 50 } else { 200 };
        let runs = std::env::var("HOPTRAIL_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(runs);
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let p = searcher
                .path("bench", &root, Window::default(), PathOptions::default())
                .unwrap()
                .unwrap();
            times.push(started.elapsed());
            std::hint::black_box(p);
        }
        times.sort();
        if std::env::var_os("HOPTRAIL_BENCH_BREAKDOWN").is_some() {
            let f = searcher.fields().agent_id;
            let t0 = Instant::now();
            let events = searcher
                .path_events("bench", f, &[agent.to_string()], Window::default())
                .unwrap();
            let load = t0.elapsed();
            let t1 = Instant::now();
            let p2 = hoptrail_core::path::build_path(
                &root,
                events,
                Default::default(),
                PathOptions::default(),
            );
            let stitch = t1.elapsed();
            std::hint::black_box(p2);
            if std::env::var_os("HOPTRAIL_BENCH_PROFILE_STITCH").is_some() && agent == "target-10k"
            {
                let events = searcher
                    .path_events("bench", f, &[agent.to_string()], Window::default())
                    .unwrap();
                for _ in 0..300 {
                    std::hint::black_box(hoptrail_core::path::build_path(
                        &root,
                        events.clone(),
                        Default::default(),
                        PathOptions::default(),
                    ));
                }
            }
            println!(
                "  breakdown: load {:.2} ms, stitch {:.2} ms",
                load.as_secs_f64() * 1e3,
                stitch.as_secs_f64() * 1e3
            );
        }
        println!(
            "agent_path/{agent}_of_{}: events {events}, hops {}, median {:.2} ms, p99 {:.2} ms ({runs} runs)",
            total,
            p.hops.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
        );
    }
}
