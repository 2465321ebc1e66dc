//! Freshness: how long an event takes from its producer to the API's searcher while events flow
//! at a steady rate below capacity, as they do in production. `cargo bench --bench ingest --
//! --freshness`.
//!
//! A producer thread sends the bench's generated events at `HOPTRAIL_BENCH_FRESHNESS_RATE`
//! events/s (default 20,000, about a fifth of what the pipeline sustains here) for
//! `HOPTRAIL_BENCH_FRESHNESS_SECS` seconds (default 30). Every `PROBE_EVERY` one of them is a
//! probe: the clock starts just before `send` (so it also counts the producer's linger and the
//! trip to the broker: an upper bound of "from reaching the broker") and stops when the searcher
//! the API uses (`EventIndex::searcher`) finds the event by id.

use super::*;

const RATE_ENV: &str = "HOPTRAIL_BENCH_FRESHNESS_RATE";
const SECS_ENV: &str = "HOPTRAIL_BENCH_FRESHNESS_SECS";
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How often the searcher is asked about the probes still pending.
const LOOK_EVERY: Duration = Duration::from_millis(2);
/// How long the last probes may take after the producer stopped before the run fails.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

/// A probe on its way: which event, and when it was sent.
struct Probe {
    tenant: String,
    event_id: String,
    sent: Instant,
}

pub(super) fn run(bench_mode: bool) -> Result<()> {
    let rate = env_number(RATE_ENV)?.unwrap_or(if bench_mode { 20_000 } else { 1_000 });
    let secs = env_number(SECS_ENV)?.unwrap_or(if bench_mode { 30 } else { 2 });
    ensure!(
        rate > 0 && secs > 0,
        "{RATE_ENV} and {SECS_ENV} must be positive"
    );
    let total = rate * secs;
    println!(
        "hoptrail freshness benchmark: {rate} events/s for {secs} s, a probe every {PROBE_EVERY:?}{}",
        if bench_mode {
            ""
        } else {
            " (smoke run under cargo test; figures are not meaningful)"
        }
    );

    let bench = BenchBroker::start()?;
    println!("  broker: {}", bench.description);
    bench.create_topics(PARTITIONS)?;
    let writer_config = writer_config()?;
    let dir = tempfile::tempdir()?;
    let index = EventIndex::open_or_create(&dir.path().join("index"))?;
    let searcher = index.searcher();
    let metrics = Arc::new(Metrics::default());
    let handle =
        Pipeline::new(&bench.kafka, index.writer(writer_config)?, metrics.clone())?.spawn()?;

    let producer: Arc<BaseProducer<Deliveries>> = Arc::new(
        bench
            .kafka
            .client_config()
            .set("queue.buffering.max.messages", "200000")
            .create_with_context(Deliveries::default())?,
    );
    // The group join (seconds) is not what is measured: wait for a first event to be searchable.
    let joined = Instant::now();
    let mut pending = VecDeque::from([send(&producer, &bench.topics, 0, true)?.expect("a probe")]);
    producer.flush(Duration::from_secs(30))?;
    while !pending.is_empty() {
        look(&searcher, &mut pending, &mut Vec::new())?;
        ensure!(
            joined.elapsed() < DRAIN_DEADLINE && !handle.is_finished(),
            "the first event never became searchable"
        );
        std::thread::sleep(LOOK_EVERY);
    }
    println!(
        "  pipeline start -> first event searchable: {:.2} s (group join)",
        joined.elapsed().as_secs_f64()
    );

    let (probes_tx, probes_rx) = std::sync::mpsc::channel::<Probe>();
    let mut sender = Some({
        let producer = producer.clone();
        let topics = bench.topics.clone();
        std::thread::Builder::new()
            .name("bench-producer".into())
            .spawn(move || -> Result<Duration> {
                let start = Instant::now();
                let mut next_probe = start;
                for i in 1..=total {
                    let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                    let now = Instant::now();
                    if due > now + Duration::from_millis(1) {
                        std::thread::sleep(due - now);
                    }
                    let is_probe = Instant::now() >= next_probe;
                    if let Some(probe) = send(&producer, &topics, i, is_probe)? {
                        next_probe += PROBE_EVERY;
                        let _ = probes_tx.send(probe);
                    }
                    if i % 1024 == 0 {
                        producer.poll(Duration::ZERO);
                    }
                }
                Ok(start.elapsed())
            })?
    });

    let mut latencies: Vec<Duration> = Vec::new();
    let mut produced_in = Duration::ZERO;
    let mut drained_since: Option<Instant> = None;
    loop {
        pending.extend(probes_rx.try_iter());
        look(&searcher, &mut pending, &mut latencies)?;
        if let Some(done) = sender.take_if(|s| s.is_finished()) {
            produced_in = done
                .join()
                .map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
            pending.extend(probes_rx.try_iter());
            drained_since = Some(Instant::now());
        }
        if sender.is_none() && pending.is_empty() {
            break;
        }
        if drained_since.is_some_and(|t| t.elapsed() > DRAIN_DEADLINE) {
            bail!(
                "{} probes not searchable {DRAIN_DEADLINE:?} after the last send",
                pending.len()
            );
        }
        if handle.is_finished() {
            bail!("the pipeline stopped on its own");
        }
        std::thread::sleep(LOOK_EVERY);
    }
    producer.flush(Duration::from_secs(30))?;
    handle.stop()?;
    let delivered = producer
        .context()
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .delivered;
    ensure!(
        delivered == total as u64 + 1,
        "{delivered} of {} events delivered",
        total + 1
    );

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let commits = metric_sum(&metrics.render(index.num_docs()), names::COMMITS);
    println!(
        "  produced {total} events in {:.2} s ({:.0} events/s); {commits} commits",
        produced_in.as_secs_f64(),
        total as f64 / produced_in.as_secs_f64()
    );
    println!(
        "\nsummary: send -> searchable over {} probes: min {:.0} ms, median {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        ms(latencies[0]),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*latencies.last().expect("at least one probe"))
    );
    Ok(())
}

/// Sends event `i`; returns it as a probe when asked to.
fn send(
    producer: &BaseProducer<Deliveries>,
    topics: &[String],
    i: usize,
    probe: bool,
) -> Result<Option<Probe>> {
    let g = generate(i);
    let probe = if probe {
        let v: serde_json::Value = serde_json::from_str(&g.payload)?;
        Some(Probe {
            tenant: v["tenant"].as_str().unwrap_or("default").to_owned(),
            event_id: v["event_id"]
                .as_str()
                .context("a generated event has an id")?
                .to_owned(),
            sent: Instant::now(),
        })
    } else {
        None
    };
    let mut record = BaseRecord::to(&topics[g.topic])
        .key(&g.key)
        .payload(&g.payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(probe),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e).context("producing a freshness event"),
        }
    }
}

/// Moves the probes the searcher now finds from `pending` to `found` (their latencies).
fn look(
    searcher: &hoptrail_indexer::EventSearcher,
    pending: &mut VecDeque<Probe>,
    found: &mut Vec<Duration>,
) -> Result<()> {
    let mut i = 0;
    while i < pending.len() {
        let p = &pending[i];
        if searcher.get(&p.tenant, &p.event_id)?.is_some() {
            found.push(p.sent.elapsed());
            pending.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(())
}
