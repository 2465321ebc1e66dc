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
    /// Commit durations, a histogram (`_bucket{le}`, `_sum`, `_count`).
    pub const COMMIT_SECONDS: &str = "hoptrail_index_commit_duration_seconds";
    /// Cumulative commit time (the histogram's `_sum`).
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

/// Upper bounds of the commit-duration histogram: a healthy commit takes tens to hundreds of
/// milliseconds; seconds mean the indexer is falling behind or the disk is slow.
const COMMIT_BUCKETS_SECONDS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

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
    /// Commits per bucket of [`COMMIT_BUCKETS_SECONDS`], not cumulative (summed when rendered).
    commit_buckets: [AtomicU64; COMMIT_BUCKETS_SECONDS.len()],
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
        let secs = duration.as_secs_f64();
        if let Some(i) = COMMIT_BUCKETS_SECONDS.iter().position(|le| secs <= *le) {
            self.commit_buckets[i].fetch_add(1, Relaxed);
        }
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
            "# HELP {0} Index commit durations (prepare, fsync, reader reload).\n# TYPE {0} histogram",
            names::COMMIT_SECONDS
        );
        let mut cumulative = 0;
        for (le, n) in COMMIT_BUCKETS_SECONDS.iter().zip(&self.commit_buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(
                out,
                "{}_bucket{{le=\"{le}\"}} {cumulative}",
                names::COMMIT_SECONDS
            );
        }
        let commits = self.commits.load(Relaxed);
        let _ = writeln!(
            out,
            "{0}_bucket{{le=\"+Inf\"}} {1}\n{2} {3}\n{0}_count {1}",
            names::COMMIT_SECONDS,
            commits,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hoptrail_schemas::Redactor;

    use super::*;

    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
    }

    #[test]
    fn every_series_the_operators_dashboards_need_is_rendered_with_its_value() {
        let metrics = Metrics::default();
        let mut batch = BatchCounts {
            added: 7,
            duplicate: 2,
            dlq_records: 3,
            ..BatchCounts::default()
        };
        batch.reject(Reason::ALL[0]);
        batch.reject(Reason::ALL[0]);
        batch.reject(Reason::ALL[1]);
        Redactor::new().redact_str(
            "Authorization: Bearer abcdefghijklmnop",
            &mut batch.redactions,
        );
        metrics.record_committed_batch(&batch);
        metrics.record_commit(Duration::from_millis(30));
        metrics.record_commit(Duration::from_millis(700));
        metrics.set_lag(BTreeMap::from([(("agent.tool-use.v1".to_owned(), 3), 42)]));

        let text = metrics.render(1234);
        assert_eq!(sample(&text, names::EVENTS_INDEXED), 7.0);
        assert_eq!(sample(&text, names::EVENTS_DUPLICATE), 2.0);
        assert_eq!(sample(&text, names::DLQ_RECORDS), 3.0);
        let rejected =
            |r: Reason| format!("{}{{reason=\"{}\"}}", names::EVENTS_REJECTED, r.as_str());
        assert_eq!(sample(&text, &rejected(Reason::ALL[0])), 2.0);
        assert_eq!(sample(&text, &rejected(Reason::ALL[1])), 1.0);
        let redacted = |k: SecretKind| format!("{}{{kind=\"{}\"}}", names::REDACTIONS, k.as_str());
        assert_eq!(sample(&text, &redacted(SecretKind::BearerAuth)), 1.0);
        assert_eq!(sample(&text, &redacted(SecretKind::Jwt)), 0.0);
        assert_eq!(sample(&text, names::INDEX_DOCS), 1234.0);
        assert_eq!(
            sample(
                &text,
                "hoptrail_consumer_lag{topic=\"agent.tool-use.v1\",partition=\"3\"}"
            ),
            42.0
        );
        assert_eq!(sample(&text, names::COMMITS), 2.0);
        assert!((sample(&text, names::COMMIT_SECONDS_SUM) - 0.73).abs() < 1e-9);
        assert_eq!(sample(&text, names::COMMIT_SECONDS_LAST), 0.7);
    }

    #[test]
    fn commit_durations_form_a_cumulative_histogram() {
        let metrics = Metrics::default();
        for ms in [5, 30, 700, 60_000] {
            metrics.record_commit(Duration::from_millis(ms));
        }
        let text = metrics.render(0);
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("{}_bucket{{le=\"{le}\"}}", names::COMMIT_SECONDS),
            )
        };
        assert_eq!(bucket("0.01"), 1.0);
        assert_eq!(bucket("0.05"), 2.0);
        assert_eq!(bucket("0.5"), 2.0);
        assert_eq!(bucket("1"), 3.0);
        assert_eq!(
            bucket("10"),
            3.0,
            "a minute-long commit is above every bound"
        );
        assert_eq!(bucket("+Inf"), 4.0);
        assert_eq!(
            sample(&text, &format!("{}_count", names::COMMIT_SECONDS)),
            4.0
        );
        assert!(text.contains(&format!("# TYPE {} histogram", names::COMMIT_SECONDS)));
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.set_lag(BTreeMap::from([(("odd\"topic\\\n".to_owned(), 0), 1)]));
        assert!(metrics
            .render(0)
            .contains(r#"hoptrail_consumer_lag{topic="odd\"topic\\\n",partition="0"} 1"#));
    }
}
