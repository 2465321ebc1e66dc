//! What detection costs ingest, in one run: `cargo bench --bench detect`. Figures and their
//! reading are in BENCHMARKS.md ("Detection").
//!
//! The same N seeded events (NDJSON in memory) go through `hoptrail ingest`'s path —
//! `ingest_ndjson`: decode → [detect →] `EventWriter::add`, commits by `WriterConfig::default()`,
//! then the final commits — into a fresh on-disk index, alternately with every rule on (the
//! defaults, alerts stored in the alert store) and with every rule off (no detect stage at all:
//! the ingest without rules). Rounds are interleaved and the order flips each round, so drift
//! of the machine hits both sides alike; the ratio of the medians is the headline.
//!
//! The NDJSON path runs the same per-event work on one thread as the Kafka pipeline, minus
//! librdkafka's polling, so detection's share measured here is, if anything, larger than in
//! `hoptrail serve`.
//!
//! Also timed: the detector alone over pre-decoded events (µs per event), and the startup
//! rebuild (`Detection::rebuild`) over the index the last "on" round wrote.
//!
//! Environment: `HOPTRAIL_BENCH_EVENTS` (default 200 000), `HOPTRAIL_BENCH_ROUNDS` (default 5).
//! Under `cargo test` (no `--bench` argument): 2 000 events, 1 round, no claims.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use hoptrail_collector::{ingest_ndjson, Detection, IngestReport};
use hoptrail_core::detect::{DetectSettings, Detector, RuleId};
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{AlertStore, EventIndex, WriterConfig};
use hoptrail_schemas::{format_time_us, Decoder};
use serde_json::{json, Value};

const DEFAULT_EVENTS: usize = 200_000;
const DEFAULT_ROUNDS: usize = 5;

fn env_usize(name: &str) -> Result<Option<usize>> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().with_context(|| format!("{name}: not a number")))
        .transpose()
}

/// xorshift64*, seeded per run: the same events every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

const TENANTS: [&str; 3] = ["default", "acme", "globex"];
const AGENTS: usize = 200;
const SYSTEMS: usize = 40;

/// N events from 200 agents in 3 tenants, ~85 % tool calls and ~15 % token events, one event per
/// ~1 ms of event time with up to 2 s of disorder. Each agent works on a handful of systems
/// (5 % of systems external), has its own token (issued to its workload), and now and then a
/// denied call, a delegation, a foreign presenter or a hop outside: a few alerts per thousand
/// events.
fn generate(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t0: i64 = 1_796_032_800_000_000; // 2026-11-30T10:00:00Z
    let systems: Vec<(String, &str)> = (0..SYSTEMS)
        .map(|i| {
            if i % 20 == 19 {
                (format!("saas-{i}.example.com"), "external")
            } else {
                (format!("svc-{i}.corp"), "internal")
            }
        })
        .collect();
    let mut out = Vec::with_capacity(n * 450);
    for i in 0..n {
        let a = rng.below(AGENTS);
        let tenant = TENANTS[a % 3];
        let agent = format!("agent-{a}");
        let workload = format!("spiffe://{tenant}.corp/agents/{a}");
        let session = format!("sess-{a}-{}", i / 5000);
        let jitter = rng.below(2_000_000) as i64;
        let time = format_time_us(t0 + i as i64 * 1000 + jitter);
        let token = format!("tok-{a}-{}", i / 20_000);
        let v: Value = if rng.chance(150) {
            let action = match rng.below(10) {
                0 => "issued",
                1 => "refreshed",
                2 if rng.chance(50) => "revoked",
                3 => "denied",
                _ => "presented",
            };
            let presenter = if rng.chance(5) {
                format!("spiffe://{tenant}.corp/agents/{}", rng.below(AGENTS))
            } else {
                workload.clone()
            };
            let mut v = json!({
                "schema": "hoptrail.token_use.v1", "event_id": format!("ev-{i:08}"),
                "time": time, "tenant": tenant,
                "agent": {"id": agent, "workload": workload},
                "session_id": session, "action": action,
                "token": {"id": token, "subject": workload, "scopes": ["read", "write"]},
                "presenter": presenter,
            });
            if action != "revoked" {
                v["system"] = json!("sts.corp");
                v["zone"] = json!("internal");
            }
            if action == "refreshed" {
                v["token"]["parent_id"] = json!(format!("tok-{a}-root"));
            }
            v
        } else {
            // Mostly the agent's own few systems; rarely anywhere.
            let s = if rng.chance(20) {
                rng.below(SYSTEMS)
            } else {
                (a * 7 + rng.below(5)) % SYSTEMS
            };
            let (system, zone) = &systems[s];
            let outcome = if rng.chance(30) { "denied" } else { "success" };
            let mut v = json!({
                "schema": "hoptrail.tool_use.v1", "event_id": format!("ev-{i:08}"),
                "time": time, "tenant": tenant,
                "agent": {"id": agent, "workload": workload, "on_behalf_of": "alice@acme.corp"},
                "session_id": session, "system": system, "zone": zone,
                "tool": {"name": format!("tool.{}", rng.below(12)), "server": "mcp"},
                "credential": {"id": token}, "outcome": outcome,
                "attributes": {"results": rng.below(100), "note": "routine call"},
            });
            if rng.chance(20) {
                let by = (a + 3) % AGENTS;
                v["delegated_by"] = json!({"agent_id": format!("agent-{by}"), "session_id": format!("sess-{by}-{}", i / 5000)});
            }
            v
        };
        serde_json::to_writer(&mut out, &v).expect("json");
        out.push(b'\n');
    }
    out
}

struct Run {
    secs: f64,
    events: u64,
    alerts: u64,
    /// CPU time of the ingesting thread (decode, detect, hand-off to tantivy), seconds.
    thread_cpu: f64,
    /// CPU time of the whole process (tantivy's indexing threads included), seconds.
    process_cpu: f64,
}

/// This thread's CPU time in seconds (`/proc/thread-self/schedstat`: nanoseconds on CPU).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// The process's CPU time in seconds (utime + stime of `/proc/self/stat`, in clock ticks).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // stat fields 14 (utime) and 15 (stime); after the `)`, field 3 (state) is index 0.
    (ticks(11) + ticks(12)) / 100.0
}

fn ingest(data: &[u8], detect: bool, keep: Option<&std::path::Path>) -> Result<Run> {
    let tmp = tempfile::tempdir()?;
    let dir = keep.unwrap_or(tmp.path());
    let index = EventIndex::open_or_create(dir)?;
    let (cpu0, pcpu0) = (thread_cpu(), process_cpu());
    let started = Instant::now();
    let mut writer = index.writer(WriterConfig::default())?;
    let mut settings = on_settings()?;
    if !detect {
        for r in RuleId::ALL {
            settings.set_enabled(r, false);
        }
    }
    let mut detection = Detection::new(
        settings,
        index.searcher(),
        AlertStore::open_in_data_dir(dir)?.writer()?,
        Arc::new(Metrics::default()),
    );
    let mut report = IngestReport::default();
    ingest_ndjson(
        "bench",
        Cursor::new(data),
        &mut writer,
        detection.as_mut(),
        &Decoder::new(),
        &mut report,
        &mut |_| {},
    )?;
    writer.close()?;
    let alerts = match detection.as_mut() {
        Some(d) => {
            d.commit()?;
            d.alerts_stored()
        }
        None => 0,
    };
    let secs = started.elapsed().as_secs_f64();
    // Everything is durable; dropping the detector's state (which `serve` never does while it
    // runs) stays off the clock.
    drop(detection);
    let (thread_cpu, process_cpu) = (thread_cpu() - cpu0, process_cpu() - pcpu0);
    anyhow::ensure!(
        report.rejected == 0,
        "bench events rejected: {:?}",
        report.first_errors
    );
    Ok(Run {
        secs,
        events: report.accepted,
        alerts,
        thread_cpu,
        process_cpu,
    })
}

/// The "on" side: the defaults, minus the rules named in `HOPTRAIL_BENCH_RULES_OFF`
/// (comma-separated rule ids), to see what each rule costs.
fn on_settings() -> Result<DetectSettings> {
    let mut s = DetectSettings::default();
    if let Ok(list) = std::env::var("HOPTRAIL_BENCH_RULES_OFF") {
        for id in list.split(',').filter(|x| !x.is_empty()) {
            let r = RuleId::parse(id).with_context(|| format!("unknown rule id {id}"))?;
            s.set_enabled(r, false);
        }
    }
    Ok(s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[derive(Default)]
struct Side {
    rate: Vec<f64>,
    thread_us: Vec<f64>,
    process_us: Vec<f64>,
}

// The same allocator, tuned as there, as the `hoptrail` binary, for both sides of the comparison.
#[path = "../src/allocator.rs"]
mod allocator;

fn main() -> Result<()> {
    allocator::tune();
    let bench = std::env::args().any(|a| a == "--bench");
    let n =
        env_usize("HOPTRAIL_BENCH_EVENTS")?.unwrap_or(if bench { DEFAULT_EVENTS } else { 2_000 });
    let rounds =
        env_usize("HOPTRAIL_BENCH_ROUNDS")?.unwrap_or(if bench { DEFAULT_ROUNDS } else { 1 });
    let data = generate(n);
    println!(
        "detect: {n} events ({:.1} MB NDJSON), {rounds} rounds, rules on (defaults) vs. all off",
        data.len() as f64 / 1e6
    );

    let (mut on, mut off) = (Side::default(), Side::default());
    let mut alerts = 0;
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for detect in order {
            let r = ingest(&data, detect, None)?;
            let rate = r.events as f64 / r.secs;
            let per = |secs: f64| secs * 1e6 / r.events as f64;
            println!(
                "  round {round} rules {:>3}: {:>7.0} events/s ({:.2} s); CPU per event: ingest thread {:.2} µs, process {:.2} µs{}",
                if detect { "on" } else { "off" },
                rate,
                r.secs,
                per(r.thread_cpu),
                per(r.process_cpu),
                if detect {
                    format!("; {} alerts", r.alerts)
                } else {
                    String::new()
                }
            );
            let side = if detect {
                alerts = r.alerts;
                &mut on
            } else {
                &mut off
            };
            side.rate.push(rate);
            side.thread_us.push(per(r.thread_cpu));
            side.process_us.push(per(r.process_cpu));
        }
    }
    let (m_on, m_off) = (median(on.rate), median(off.rate));
    println!(
        "detect/ingest: rules on {m_on:.0} events/s, off {m_off:.0} events/s: ratio {:.3} (cost {:.1} %), {alerts} alerts",
        m_on / m_off,
        (1.0 - m_on / m_off) * 100.0
    );
    let (t_on, t_off) = (median(on.thread_us), median(off.thread_us));
    let (p_on, p_off) = (median(on.process_us), median(off.process_us));
    println!(
        "detect/ingest CPU per event (medians): ingest thread {t_on:.2} vs {t_off:.2} µs (+{:.1} %), process {p_on:.2} vs {p_off:.2} µs (+{:.1} %)",
        (t_on / t_off - 1.0) * 100.0,
        (p_on / p_off - 1.0) * 100.0
    );

    // The detector alone, on one thread, over pre-decoded events.
    let decoder = Decoder::new();
    let events: Vec<_> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| decoder.decode(l).map(|d| d.event))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut best = f64::MAX;
    for _ in 0..rounds.max(1) {
        let mut d = Detector::new(on_settings()?);
        let mut out = Vec::new();
        let started = Instant::now();
        for e in &events {
            d.observe(e, &mut out);
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "detector alone: {:.2} µs/event (best of {}), {:.0} events/s",
        best * 1e6 / events.len() as f64,
        rounds.max(1),
        events.len() as f64 / best
    );

    // The startup rebuild over what an "on" round wrote.
    let dir = tempfile::tempdir()?;
    ingest(&data, true, Some(dir.path()))?;
    let index = EventIndex::open_or_create(dir.path())?;
    let mut d = Detection::new(
        on_settings()?,
        index.searcher(),
        AlertStore::open_in_data_dir(dir.path())?.writer()?,
        Arc::new(Metrics::default()),
    )
    .context("detection on")?;
    let started = Instant::now();
    let stats = d.rebuild()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rebuild at start: {} events in {:.2} s ({:.0} events/s), {} alerts recovered (0 expected)",
        stats.events,
        secs,
        stats.events as f64 / secs,
        stats.recovered_alerts
    );
    Ok(())
}
