//! The detect stage: every accepted event goes through the [`Detector`]; the alerts it raises go
//! to the alert store. Invariants: alerts are committed only right after the event commit that
//! made their events durable, so an alert is never visible before its evidence; and after a
//! restart the detector is rebuilt from the committed events of the last
//! [`DetectSettings::replay_horizon`], which also re-raises (and stores) any alert lost between
//! an event commit and its alert commit — the store drops every id it already holds.

use std::sync::Arc;
use std::time::Instant;

use hoptrail_core::detect::{Alert, DetectSettings, Detector, RuleId, Severity};
use hoptrail_core::Event;
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{AlertWriter, EventSearcher};
use hoptrail_schemas::Decoder;

use crate::Result;

/// What the startup rebuild did.
#[derive(Debug, Clone, Copy, Default)]
pub struct RebuildStats {
    /// Committed events re-fed to the detector.
    pub events: u64,
    /// Alerts the store did not hold yet (lost by a crash before their commit).
    pub recovered_alerts: u64,
    /// Wall time of the rebuild, milliseconds.
    pub duration_ms: u64,
}

/// One stored alert, for its log line once durable.
struct Raised {
    rule: RuleId,
    severity: Severity,
    id: String,
    agent_id: String,
}

/// Detector + alert store writer.
pub struct Detection {
    detector: Detector,
    alerts: AlertWriter,
    events: EventSearcher,
    metrics: Arc<Metrics>,
    out: Vec<Alert>,
    raised: Vec<Raised>,
    stored: u64,
}

impl Detection {
    /// Returns `None` when every rule is switched off: then there is no stage at all.
    pub fn new(
        settings: DetectSettings,
        events: EventSearcher,
        alerts: AlertWriter,
        metrics: Arc<Metrics>,
    ) -> Option<Self> {
        if !RuleId::ALL.iter().any(|r| settings.rule(*r).enabled) {
            tracing::info!("detection off: every rule is disabled");
            return None;
        }
        Some(Detection {
            detector: Detector::new(settings),
            alerts,
            events,
            metrics,
            out: Vec::new(),
            raised: Vec::new(),
            stored: 0,
        })
    }

    /// Re-feeds the committed events of the last replay horizon (counted back from the newest
    /// committed event), oldest first, and commits the alerts the store did not hold. Call once,
    /// before the first live event.
    pub fn rebuild(&mut self) -> Result<RebuildStats> {
        let started = Instant::now();
        let Some(newest) = self.events.newest_time_us()? else {
            return Ok(RebuildStats::default());
        };
        let horizon = self.detector.settings().replay_horizon();
        let from = newest.saturating_sub(i64::try_from(horizon.as_micros()).unwrap_or(i64::MAX));
        let decoder = Decoder::new();
        let searcher = self.events.clone();
        let mut undecodable = 0u64;
        let events = searcher.replay_since(from, |bytes| -> Result<()> {
            match decoder.decode(bytes) {
                Ok(decoded) => self.observe(&decoded.event),
                Err(_) => {
                    undecodable += 1;
                    Ok(())
                }
            }
        })?;
        if undecodable > 0 {
            tracing::warn!(
                undecodable,
                "stored events the decoder refused were left out of the detector rebuild"
            );
        }
        let recovered = self.alerts.pending() as u64;
        self.commit()?;
        let stats = RebuildStats {
            events,
            recovered_alerts: recovered,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            events = stats.events,
            recovered_alerts = stats.recovered_alerts,
            duration_ms = stats.duration_ms,
            horizon_s = horizon.as_secs(),
            "detector rebuilt from the index"
        );
        Ok(stats)
    }

    /// Runs the rules over one accepted event and stores the alerts it raises (visible after
    /// the next [`Detection::commit`]). Duplicates are harmless: the detector ignores them.
    pub fn observe(&mut self, event: &Event) -> Result<()> {
        self.detector.observe(event, &mut self.out);
        if self.out.is_empty() {
            return Ok(());
        }
        for alert in self.out.drain(..) {
            if self.alerts.add(&alert)? {
                self.raised.push(Raised {
                    rule: alert.rule,
                    severity: alert.severity,
                    id: alert.id,
                    agent_id: alert.agent_id,
                });
            }
        }
        Ok(())
    }

    /// Commits the pending alerts; call right after the event commit. Logs and counts each
    /// alert once it is durable.
    pub fn commit(&mut self) -> Result<usize> {
        let n = self.alerts.commit()?;
        self.stored += n as u64;
        if self.raised.is_empty() {
            return Ok(n);
        }
        let mut by_rule = [0u64; RuleId::COUNT];
        for r in self.raised.drain(..) {
            by_rule[r.rule.index()] += 1;
            tracing::info!(
                rule = r.rule.as_str(),
                alert_id = %r.id,
                agent = %r.agent_id,
                severity = r.severity.ocsf_name(),
                "alert raised"
            );
        }
        self.metrics.record_committed_alerts(&by_rule);
        Ok(n)
    }

    /// Alerts this stage stored so far (those recovered by the rebuild included).
    pub fn alerts_stored(&self) -> u64 {
        self.stored
    }

    /// Commits and closes the alert store writer, for a clean shutdown; returns
    /// [`Detection::alerts_stored`].
    pub fn close(mut self) -> Result<u64> {
        self.commit()?;
        self.alerts.close()?;
        Ok(self.stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoptrail_indexer::{AlertQuery, AlertStore, EventIndex, WriterConfig};

    fn event(id: &str, s: u32, agent: &str, system: &str, zone: &str, cred: &str) -> Event {
        let json = format!(
            r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","time":"2026-11-30T09:00:{s:02}Z","agent":{{"id":"{agent}"}},"session_id":"s-{agent}","system":"{system}","zone":"{zone}","tool":{{"name":"t"}},"credential":{{"id":"{cred}"}},"outcome":"success"}}"#
        );
        Decoder::new().decode(json.as_bytes()).unwrap().event
    }

    fn scenario() -> Vec<Event> {
        vec![
            event("1", 0, "a", "jira", "internal", "key"),
            event("2", 1, "b", "jira", "internal", "key"), // credential.shared
            event("3", 2, "b", "paste", "external", "key-b"), // boundary.first_external
        ]
    }

    fn writer_config() -> WriterConfig {
        WriterConfig {
            num_threads: 1,
            memory_budget_bytes: 20 << 20,
            ..WriterConfig::default()
        }
    }

    fn stage(index: &EventIndex, alerts: &AlertStore) -> Detection {
        Detection::new(
            DetectSettings::default(),
            index.searcher(),
            alerts.writer().unwrap(),
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    #[test]
    fn alerts_lost_between_the_event_commit_and_the_alert_commit_are_recovered_by_the_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let index = EventIndex::open_or_create(dir.path()).unwrap();
        let alerts = AlertStore::open_in_data_dir(dir.path()).unwrap();
        {
            let mut writer = index.writer(writer_config()).unwrap();
            let mut d = stage(&index, &alerts);
            for e in scenario() {
                d.observe(&e).unwrap();
                writer.add(&e).unwrap();
            }
            writer.commit().unwrap();
            // Killed here: the alerts' commit never happens.
        }
        assert_eq!(alerts.reader().num_alerts(), 0);

        let mut d = stage(&index, &alerts);
        let stats = d.rebuild().unwrap();
        assert_eq!(stats.events, 3);
        assert_eq!(stats.recovered_alerts, 2);
        let page = alerts
            .reader()
            .page(&AlertQuery {
                tenant: "default".into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        let rules: Vec<RuleId> = page.alerts.iter().map(|a| a.rule).collect();
        assert_eq!(rules, [RuleId::SharedCredential, RuleId::FirstExternal]);
        drop(d);

        // A further restart, and the same events again, add nothing.
        let mut d = stage(&index, &alerts);
        assert_eq!(d.rebuild().unwrap().recovered_alerts, 0);
        for e in scenario() {
            d.observe(&e).unwrap();
        }
        assert_eq!(d.commit().unwrap(), 0);
        assert_eq!(alerts.reader().num_alerts(), 2);
    }

    #[test]
    fn with_every_rule_off_there_is_no_stage() {
        let dir = tempfile::tempdir().unwrap();
        let index = EventIndex::open_or_create(dir.path()).unwrap();
        let alerts = AlertStore::open_in_data_dir(dir.path()).unwrap();
        let mut settings = DetectSettings::default();
        for r in RuleId::ALL {
            settings.set_enabled(r, false);
        }
        let d = Detection::new(
            settings,
            index.searcher(),
            alerts.writer().unwrap(),
            Arc::new(Metrics::default()),
        );
        assert!(d.is_none());
    }
}
