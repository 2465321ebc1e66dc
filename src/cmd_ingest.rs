//! `hoptrail ingest FILE...`: NDJSON into the index without Kafka.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hoptrail_collector::{ingest_ndjson, Detection, IngestReport};
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{AlertStore, EventIndex};
use hoptrail_schemas::Decoder;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{settings, IndexArgs};

pub fn run(index: IndexArgs, files: Vec<PathBuf>) -> Result<ExitCode> {
    let file = settings::load(index.config.as_deref())?;
    let data_dir = settings::data_dir(index.data_dir, &file);
    let index = EventIndex::open_or_create(&data_dir)
        .with_context(|| format!("opening the index in {}", data_dir.display()))?;
    let mut writer = index
        .writer(settings::writer(&file.index)?)
        .context("opening the index writer (is `hoptrail serve` running on this data dir?)")?;
    let alerts = AlertStore::open_in_data_dir(&data_dir)
        .and_then(|s| s.writer())
        .context("opening the alert store writer")?;
    let mut detection = Detection::new(
        settings::detect(&file)?,
        index.searcher(),
        alerts,
        Arc::new(Metrics::default()),
    );
    if let Some(d) = detection.as_mut() {
        d.rebuild()
            .context("rebuilding the detector from the index")?;
    }
    let decoder = Decoder::new();
    let mut report = IngestReport::default();
    let started = Instant::now();
    for path in &files {
        let name = path.display().to_string();
        let (input, len): (Box<dyn BufRead>, Option<u64>) = if name == "-" {
            (
                Box::new(BufReader::with_capacity(1 << 20, std::io::stdin().lock())),
                None,
            )
        } else {
            let f = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(BufReader::with_capacity(1 << 20, f)), len)
        };
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} read, {bytes_per_sec}")
                    .expect("valid template"),
            ),
        };
        bar.set_message(name.clone());
        let base = report.bytes;
        // indicatif draws nothing when stderr is not a terminal (a service's log, CI): there,
        // progress goes to the log every LOG_EVERY instead.
        let mut log = (!std::io::stderr().is_terminal()).then(|| ProgressLog::new(&name, len));
        ingest_ndjson(
            &name,
            input,
            &mut writer,
            detection.as_mut(),
            &decoder,
            &mut report,
            &mut |bytes| {
                bar.set_position(bytes - base);
                if let Some(log) = log.as_mut() {
                    log.update(bytes - base);
                }
            },
        )?;
        bar.finish_and_clear();
    }
    writer.close().context("committing the index")?;
    let alerts = match detection {
        Some(d) => d.close().context("committing the alerts")?,
        None => 0,
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingested {} records from {} file(s) in {:.2}s ({:.0} records/s): {} accepted, {} duplicate, {} rejected, {} secrets redacted, {} new alerts",
        report.lines,
        files.len(),
        secs,
        report.lines as f64 / secs.max(1e-9),
        report.accepted,
        report.duplicates,
        report.rejected,
        report.redactions.total(),
        alerts,
    );
    for e in &report.first_errors {
        println!("  {}:{}: {}", e.source, e.line, e.message);
    }
    if report.rejected as usize > report.first_errors.len() {
        println!(
            "  … and {} more rejected",
            report.rejected as usize - report.first_errors.len()
        );
    }
    Ok(if report.rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// How often a long ingest says how far it is, when no progress bar can be drawn.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Bytes between two looks at the clock.
const LOOK_EVERY_BYTES: u64 = 4 << 20;

/// Progress as log lines, for an ingest whose stderr is not a terminal.
struct ProgressLog<'a> {
    name: &'a str,
    total: Option<u64>,
    started: Instant,
    last_log: Instant,
    next_look: u64,
}

impl<'a> ProgressLog<'a> {
    fn new(name: &'a str, total: Option<u64>) -> Self {
        let now = Instant::now();
        ProgressLog {
            name,
            total,
            started: now,
            last_log: now,
            next_look: LOOK_EVERY_BYTES,
        }
    }

    fn update(&mut self, bytes: u64) {
        if bytes < self.next_look {
            return;
        }
        self.next_look = bytes + LOOK_EVERY_BYTES;
        if self.last_log.elapsed() < LOG_EVERY {
            return;
        }
        self.last_log = Instant::now();
        let mb_per_s = bytes as f64 / 1e6 / self.started.elapsed().as_secs_f64().max(1e-9);
        match self.total {
            Some(total) => tracing::info!(
                file = self.name,
                read_mb = bytes / 1_000_000,
                of_mb = total / 1_000_000,
                percent = (bytes * 100 / total.max(1)),
                mb_per_s = format!("{mb_per_s:.1}"),
                "ingesting"
            ),
            None => tracing::info!(
                file = self.name,
                read_mb = bytes / 1_000_000,
                mb_per_s = format!("{mb_per_s:.1}"),
                "ingesting"
            ),
        }
    }
}
