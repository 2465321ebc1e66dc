//! `boundary.first_external`: an agent's first hop into the `external` zone. Keyed by tenant +
//! agent: "has gone external" only becomes true. The alert is escalated (`escalated_severity`)
//! when a successful call on an `internal` system preceded the hop within `window_ms` — read
//! inside, then taken outside. The escalation and the evidence reflect the events that had
//! arrived when the alert was raised; the id does not depend on them.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{share, AgentFacts, Ev, Read, Sink, MAX_READS};
use crate::event::{EventBody, Outcome};

use super::when;

/// The zone names the rule knows (as reported in `zone`).
const INTERNAL: &str = "internal";
const EXTERNAL: &str = "external";

pub(in crate::detect) fn observe(facts: &mut AgentFacts, ev: &Ev, sink: &mut Sink) {
    if !sink.cfg.on(RuleId::FirstExternal) || facts.went_external {
        return;
    }
    let Some((system, ok)) = ev.movement() else {
        return;
    };
    let t = ev.t();
    match ev.e.zone() {
        Some(INTERNAL) => {
            let read = matches!(&ev.e.body, EventBody::ToolUse(u) if u.outcome == Outcome::Success);
            let seen = facts
                .reads
                .iter()
                .any(|r| r.time_us == t && *r.event_id == *ev.e.event_id);
            if read && !seen {
                let last = facts.reads.last();
                let read = Read {
                    time_us: t,
                    system: ev
                        .system_name()
                        .cloned()
                        .unwrap_or_else(|| share(last.map(|r| &r.system), system)),
                    event_id: ev.id(),
                    session: share(last.map(|r| &r.session), &ev.e.session_id),
                };
                facts.reads.push(read);
                if facts.reads.len() > MAX_READS {
                    // Keep the newest: the hop that escalates is most likely still to come.
                    let oldest = (0..facts.reads.len())
                        .min_by_key(|&i| facts.reads[i].time_us)
                        .expect("non-empty");
                    facts.reads.swap_remove(oldest);
                }
            }
        }
        Some(EXTERNAL) if ok => {
            facts.went_external = true;
            let window = sink.cfg.external_window_us;
            let read = facts
                .reads
                .iter()
                .filter(|r| r.time_us <= t && t - r.time_us <= window)
                .max_by(|a, b| (a.time_us, &a.event_id).cmp(&(b.time_us, &b.event_id)))
                .cloned();
            facts.reads = Vec::new();
            let e = ev.e;
            let escalated = sink.cfg.escalated;
            sink.fire(RuleId::FirstExternal, &[&e.agent.id], t, |a| {
                a.agent_id = e.agent.id.clone();
                a.agent_name = e.agent.name.clone();
                a.workload = e.agent.workload.clone();
                a.session_id = e.session_id.clone();
                a.credential_id = e.credential_id().map(str::to_owned);
                a.title = format!("Agent {} reached external system {system}", e.agent.id);
                let agent = (NodeKind::Agent, e.agent.id.as_str());
                match &read {
                    Some(r) => {
                        a.severity = a.severity.max(escalated);
                        a.systems = vec![r.system.to_string(), system.to_owned()];
                        a.event_ids = vec![r.event_id.to_string(), e.event_id.clone()];
                        a.description = format!(
                            "Agent {} made its first call into the external zone, on {system} \
                             at {}, {} s after a call on internal system {} (session {}).",
                            e.agent.id,
                            when(t),
                            (t - r.time_us) / 1_000_000,
                            r.system,
                            r.session,
                        );
                        a.graph.link(
                            agent,
                            "accessed",
                            (NodeKind::System, &r.system),
                            Some(&r.event_id),
                        );
                        a.graph.link(
                            (NodeKind::System, &r.system),
                            "hop",
                            (NodeKind::System, system),
                            Some(&e.event_id),
                        );
                    }
                    None => {
                        a.systems = vec![system.to_owned()];
                        a.event_ids = vec![e.event_id.clone()];
                        a.description = format!(
                            "Agent {} made its first call into the external zone, on {system} \
                             at {}.",
                            e.agent.id,
                            when(t),
                        );
                    }
                }
                a.graph.link(
                    agent,
                    "accessed",
                    (NodeKind::System, system),
                    Some(&e.event_id),
                );
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::{RuleId, Severity};

    #[test]
    fn the_first_external_hop_after_an_internal_read_fires_escalated() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira"),
            tool("2", 60_000, "a", "s", "pastebin").zone("external"),
            tool("3", 70_000, "a", "s", "gist").zone("external"),
        ]);
        let a = only(&alerts, RuleId::FirstExternal);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.systems, vec!["jira", "pastebin"]);
        assert_eq!(a.event_ids, vec!["1", "2"]);
    }

    #[test]
    fn an_external_hop_long_after_any_internal_read_fires_at_the_rule_severity() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira"),
            tool("2", 3_600_000, "a", "s", "pastebin").zone("external"),
        ]);
        let a = only(&alerts, RuleId::FirstExternal);
        assert_eq!(a.severity, RuleId::FirstExternal.default_severity());
    }

    #[test]
    fn an_agent_staying_internal_or_refused_outside_stays_silent() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira"),
            tool("2", 1, "a", "s", "pastebin").zone("external").denied(),
        ]);
        assert!(none_of(&alerts, RuleId::FirstExternal), "{alerts:?}");
    }
}
