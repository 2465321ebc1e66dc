//! Process-wide ingest counters, rendered as Prometheus text. Invariant: counters only grow, and
//! the hot path touches them once per batch, never once per event.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use hoptrail_core::detect::RuleId;
use hoptrail_schemas::{Reason, RedactionCounts, SecretKind};

/// Metric names, in one place so dashboards and docs agree with the code.
pub mod names {
    /// Events made durable in the index.
    pub const EVENTS_INDEXED: &str = "hoptrail_events_indexed_total";
    /// Events dropped because an event with the same id was already indexed.
    pub const EVENTS_DUPLICATE: &str = "hoptrail_events_duplicate_total";
    /// Records rejected (dead-lettered), by reason.
    pub const EVENTS_REJECTED: &str = "hoptrail_events_rejected_total";
    /// Secrets redacted, by kind.
    pub const REDACTIONS: &str = "hoptrail_redactions_total";
    /// Index commits.
    pub const COMMITS: &str = "hoptrail_index_commits_total";
    /// Cumulative commit time.
    pub const COMMIT_SECONDS_SUM: &str = "hoptrail_index_commit_duration_seconds_sum";
    /// Duration of the latest commit.
    pub const COMMIT_SECONDS_LAST: &str = "hoptrail_index_commit_duration_seconds_last";
    /// Records written to a dead-letter topic.
    pub const DLQ_RECORDS: &str = "hoptrail_dlq_records_total";
    /// Consumer lag by topic and partition.
    pub const CONSUMER_LAG: &str = "hoptrail_consumer_lag";
    /// Events in the index.
    pub const INDEX_DOCS: &str = "hoptrail_index_docs";
    /// Alerts made durable in the alert store, by rule.
    pub const ALERTS_RAISED: &str = "hoptrail_alerts_raised_total";
}

/// Shared counters of one hoptrail process.
#[derive(Default)]
pub struct Metrics {
    indexed: AtomicU64,
    duplicate: AtomicU64,
    rejected: [AtomicU64; Reason::ALL.len()],
    redactions: [AtomicU64; SecretKind::ALL.len()],
    commits: AtomicU64,
    commit_micros_sum: AtomicU64,
    commit_micros_last: AtomicU64,
    dlq_records: AtomicU64,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    alerts: [AtomicU64; RuleId::COUNT],
}

/// Counts gathered over a batch by the pipeline, then added to [`Metrics`] at once.
#[derive(Debug, Default, Clone)]
pub struct BatchCounts {
    /// Events added (not yet durable).
    pub added: u64,
    /// Duplicates dropped.
    pub duplicate: u64,
    /// Rejections by reason (indexed like [`Reason::ALL`]).
    pub rejected: [u64; Reason::ALL.len()],
    /// Redactions.
    pub redactions: RedactionCounts,
    /// Dead-letter records sent.
    pub dlq_records: u64,
}

impl BatchCounts {
    /// Counts one rejection.
    pub fn reject(&mut self, reason: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.rejected[i] += 1;
        }
    }

    /// Total rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

impl Metrics {
    /// Adds a batch's counts; `added` counts as indexed because it is called after the commit.
    pub fn record_committed_batch(&self, batch: &BatchCounts) {
        self.indexed.fetch_add(batch.added, Relaxed);
        self.duplicate.fetch_add(batch.duplicate, Relaxed);
        self.dlq_records.fetch_add(batch.dlq_records, Relaxed);
        for (slot, n) in self.rejected.iter().zip(batch.rejected) {
            slot.fetch_add(n, Relaxed);
        }
        for (i, kind) in SecretKind::ALL.iter().enumerate() {
            self.redactions[i].fetch_add(u64::from(batch.redactions.get(*kind)), Relaxed);
        }
    }

    /// Records a commit's duration.
    pub fn record_commit(&self, duration: std::time::Duration) {
        let micros = duration.as_micros() as u64;
        self.commits.fetch_add(1, Relaxed);
        self.commit_micros_sum.fetch_add(micros, Relaxed);
        self.commit_micros_last.store(micros, Relaxed);
    }

    /// Replaces the consumer lag figures (from librdkafka statistics).
    pub fn set_lag(&self, lag: BTreeMap<(String, i32), i64>) {
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }

    /// Adds alerts made durable, counted by rule (indexed like [`RuleId::ALL`]).
    pub fn record_committed_alerts(&self, by_rule: &[u64; RuleId::COUNT]) {
        for (slot, n) in self.alerts.iter().zip(by_rule) {
            slot.fetch_add(*n, Relaxed);
        }
    }

    /// Events indexed so far by this process.
    pub fn indexed(&self) -> u64 {
        self.indexed.load(Relaxed)
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self, index_docs: u64) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            names::EVENTS_INDEXED,
            "Events made durable in the index.",
            self.indexed.load(Relaxed),
        );
        counter(
            names::EVENTS_DUPLICATE,
            "Events dropped as duplicates of an indexed event id.",
            self.duplicate.load(Relaxed),
        );
        counter(
            names::DLQ_RECORDS,
            "Records written to a dead-letter topic.",
            self.dlq_records.load(Relaxed),
        );
        counter(names::COMMITS, "Index commits.", self.commits.load(Relaxed));
        let _ = writeln!(
            out,
            "# HELP {} Records rejected, by reason.\n# TYPE {} counter",
            names::EVENTS_REJECTED,
            names::EVENTS_REJECTED
        );
        for (reason, n) in Reason::ALL.iter().zip(&self.rejected) {
            let _ = writeln!(
                out,
                "{}{{reason=\"{}\"}} {}",
                names::EVENTS_REJECTED,
                reason.as_str(),
                n.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP {} Secrets redacted before storage, by kind.\n# TYPE {} counter",
            names::REDACTIONS,
            names::REDACTIONS
        );
        for (kind, n) in SecretKind::ALL.iter().zip(&self.redactions) {
            let _ = writeln!(
                out,
                "{}{{kind=\"{}\"}} {}",
                names::REDACTIONS,
                kind.as_str(),
                n.load(Relaxed)
            );
        }
        let secs = |micros: u64| micros as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP {0} Total time spent committing the index.\n# TYPE {0} counter\n{0} {1}",
            names::COMMIT_SECONDS_SUM,
            secs(self.commit_micros_sum.load(Relaxed))
        );
        let _ = writeln!(
            out,
            "# HELP {0} Duration of the latest index commit.\n# TYPE {0} gauge\n{0} {1}",
            names::COMMIT_SECONDS_LAST,
            secs(self.commit_micros_last.load(Relaxed))
        );
        let _ = writeln!(
            out,
            "# HELP {0} Events in the index.\n# TYPE {0} gauge\n{0} {1}",
            names::INDEX_DOCS,
            index_docs
        );
        let _ = writeln!(
            out,
            "# HELP {0} Records in the partition not yet consumed.\n# TYPE {0} gauge",
            names::CONSUMER_LAG
        );
        for ((topic, partition), lag) in self.lag.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "{}{{topic=\"{}\",partition=\"{}\"}} {}",
                names::CONSUMER_LAG,
                escape_label(topic),
                partition,
                lag
            );
        }
        let _ = writeln!(
            out,
            "# HELP {0} Alerts raised and stored, by rule.\n# TYPE {0} counter",
            names::ALERTS_RAISED
        );
        for (rule, n) in RuleId::ALL.iter().zip(&self.alerts) {
            let _ = writeln!(
                out,
                "{}{{rule=\"{}\"}} {}",
                names::ALERTS_RAISED,
                rule.as_str(),
                n.load(Relaxed)
            );
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
