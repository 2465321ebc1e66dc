//! Session replay throughput: one 100,000-event session streamed as NDJSON over a real socket
//! from the real router (auth gate included), read to the end by a real HTTP client.
//!
//!   cargo bench --bench replay
//!   HOPTRAIL_BENCH_SESSION_EVENTS=300000 cargo bench --bench replay
//!
//! Also prints the loader alone (`EventSearcher::session_replay`: index reads, ordering, hop
//! marks) so a regression can be placed. The goal (issue 4) is at least 100,000 events/s.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoptrail_core::{Agent, Credential, Event, EventBody, Outcome, Tool, ToolUse};
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{EventIndex, WriterConfig};
use hoptrail_query_api::auth::{Auth, KeyFile, KeyStore, RateLimit, RateLimiter, Role};
use hoptrail_query_api::{AppState, Readiness};
use serde_json::{Map, Value};

const SYSTEMS: u64 = 25;
const BACKGROUND_EVENTS: u64 = 100_000;
const RUNS: usize = 7;

fn event(i: u64, session: &str, time_us: i64) -> Event {
    let mut attributes = Map::new();
    attributes.insert(
        "request".into(),
        Value::String(format!("GET /items/{i}?page=2")),
    );
    Event {
        event_id: format!("ev-{i:09}"),
        time_us,
        tenant: "bench".into(),
        agent: Agent {
            id: format!("agent-{session}"),
            workload: Some(format!("spiffe://bench/{session}")),
            ..Default::default()
        },
        session_id: session.into(),
        task: None,
        trace: None,
        attributes,
        extra: Map::new(),
        body: EventBody::ToolUse(ToolUse {
            system: format!("system-{:02}", (i * 7 + i / 3) % SYSTEMS),
            zone: Some("internal".into()),
            tool: Tool {
                name: format!("tool-{}", i % 17),
                server: Some("mcp".into()),
                operation: None,
            },
            resource: Some(format!("https://system/items/{i}")),
            credential: Some(Credential {
                id: format!("cred-{}", i % 40),
                kind: None,
            }),
            outcome: if i % 23 == 0 {
                Outcome::Denied
            } else {
                Outcome::Success
            },
            delegated_by: None,
        }),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benches; only `cargo bench` runs them.
    }
    let session_events: u64 = std::env::var("HOPTRAIL_BENCH_SESSION_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let built = Instant::now();
    {
        let config = WriterConfig {
            commit_max_docs: 100_000,
            commit_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        };
        let mut writer = index.writer(config).unwrap();
        let t0 = 1_764_489_600_000_000i64;
        let total = session_events + BACKGROUND_EVENTS;
        let (mut in_session, mut background) = (0u64, 0u64);
        for i in 0..total {
            // Interleaved with other sessions' events, as a busy index would hold it.
            let session =
                if (i % 2 == 0 || background == BACKGROUND_EVENTS) && in_session < session_events {
                    in_session += 1;
                    "target"
                } else {
                    background += 1;
                    "background"
                };
            writer
                .add(&event(i, session, t0 + i as i64 * 1_000))
                .unwrap();
            if writer.should_commit(Instant::now()) {
                writer.commit().unwrap();
            }
        }
        writer.close().unwrap();
    }
    let index = EventIndex::open_or_create(dir.path()).unwrap();
    let searcher = index.searcher();
    let n = searcher
        .session_replay("bench", "target", usize::MAX)
        .unwrap()
        .unwrap()
        .steps
        .len();
    eprintln!(
        "index: {} events, session \"target\" {n} events, built in {:.1} s",
        index.num_docs(),
        built.elapsed().as_secs_f64()
    );

    let mut keys = KeyFile::load(dir.path()).unwrap();
    let (_, key) = keys
        .create("bench", Role::Analyst, "bench", None, chrono::Utc::now())
        .unwrap();
    keys.save().unwrap();
    let state = AppState {
        auth: Arc::new(Auth {
            keys: KeyStore::open(dir.path()).unwrap(),
            limiter: RateLimiter::new(RateLimit::default()),
            audit: None,
        }),
        replay_max_gap: Duration::from_secs(5),
        alerts: hoptrail_indexer::AlertStore::open_in_data_dir(dir.path())
            .unwrap()
            .reader(),
        searcher: searcher.clone(),
        metrics: Arc::new(Metrics::default()),
        readiness: Readiness::default(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(hoptrail_query_api::serve(
        listener,
        state,
        None,
        std::future::pending(),
    ));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let url = format!("http://{addr}/v1/sessions/target/replay");

    let mut http = Vec::new();
    let mut load = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..RUNS {
        let t = Instant::now();
        let replay = searcher
            .session_replay("bench", "target", usize::MAX)
            .unwrap()
            .unwrap();
        load.push(t.elapsed().as_secs_f64());
        drop(replay);

        let t = Instant::now();
        let mut response = client.get(&url).bearer_auth(&key).send().unwrap();
        assert!(response.status().is_success());
        let mut body = Vec::with_capacity(64 << 20);
        response.read_to_end(&mut body).unwrap();
        http.push(t.elapsed().as_secs_f64());
        let lines = body.iter().filter(|b| **b == b'\n').count();
        assert_eq!(lines, n, "every event streamed");
        bytes = body.len();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, l) = (median(&mut http), median(&mut load));
    println!(
        "replay/{n}_events  http: median {:.0} ms = {:.0} events/s ({:.0} MiB/s, {:.1} MiB); loader alone: {:.0} ms = {:.0} events/s; runs {RUNS}",
        h * 1e3,
        n as f64 / h,
        bytes as f64 / h / (1 << 20) as f64,
        bytes as f64 / (1 << 20) as f64,
        l * 1e3,
        n as f64 / l,
    );
    println!(
        "goal: >= 100000 events/s over HTTP: {}",
        if n as f64 / h >= 100_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
