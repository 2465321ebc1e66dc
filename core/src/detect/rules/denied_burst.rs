//! `probe.denied_burst`: at least `min_denied` refused calls (on any systems) followed, within
//! `window_ms` of them, by a success — probing until something gives. Keyed by tenant + agent +
//! session. The condition "some success has `min_denied` refusals in the window before it" is
//! judged over sorted, de-duplicated time lists, re-checked from both sides (a late refusal
//! re-checks the successes after it), so any arrival order reaches it.

use super::when;
use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{insert_sorted, share, AgentFacts, Ev, SessionState, Sink};
use crate::event::{EventBody, Outcome, TokenAction};

pub(in crate::detect) fn observe(
    facts: &AgentFacts,
    sess: &mut SessionState,
    ev: &Ev,
    sink: &mut Sink,
    horizon: i64,
) {
    let cfg = sink.cfg;
    if !cfg.on(RuleId::DeniedBurst) || sess.burst_done {
        return;
    }
    let t = ev.t();
    if t < horizon {
        return;
    }
    let e = ev.e;
    let denied = match &e.body {
        EventBody::ToolUse(u) if u.outcome == Outcome::Denied => true,
        EventBody::ToolUse(u) if u.outcome == Outcome::Success => false,
        EventBody::TokenUse(u) if u.action == TokenAction::Denied => true,
        EventBody::TokenUse(u) if u.action == TokenAction::Presented => false,
        _ => return,
    };
    let sys = e.system().unwrap_or_default();
    // Consecutive calls mostly hit one system: share the name of the latest entry.
    let recent = if denied {
        sess.denied.last()
    } else {
        sess.successes.last()
    }
    .map(|(_, n)| n.clone());
    let system = || match ev.system_name() {
        Some(s) => s.clone(),
        None => share(recent.as_ref(), sys),
    };
    let w = cfg.burst_window_us;
    let success = if denied {
        if insert_sorted(&mut sess.denied, t, ev, system).is_none() {
            return;
        }
        let from = sess.successes.partition_point(|(s, _)| s.time_us <= t);
        sess.successes[from..]
            .iter()
            .take_while(|(s, _)| s.time_us <= t + w)
            .position(|(s, _)| window(&sess.denied, s.time_us, w).len() >= cfg.burst_min)
            .map(|i| from + i)
    } else {
        let Some(pos) = insert_sorted(&mut sess.successes, t, ev, system) else {
            return;
        };
        (window(&sess.denied, t, w).len() >= cfg.burst_min).then_some(pos)
    };
    let Some(si) = success else { return };
    let (ok, ok_system) = &sess.successes[si];
    let refused = window(&sess.denied, ok.time_us, w);
    sink.fire(
        RuleId::DeniedBurst,
        &[&e.agent.id, &e.session_id],
        ok.time_us,
        |a| {
            a.agent_id = e.agent.id.clone();
            a.agent_name = facts.name.as_deref().map(str::to_owned);
            a.workload = sess.workload.as_deref().map(str::to_owned);
            a.session_id = e.session_id.clone();
            let agent = (NodeKind::Agent, e.agent.id.as_str());
            for (d, sys) in refused.iter().chain(std::iter::once(&sess.successes[si])) {
                if !sys.is_empty() && !a.systems.iter().any(|s| s == &**sys) {
                    a.systems.push(sys.to_string());
                }
                a.event_ids.push(d.event_id.to_string());
                if !sys.is_empty() {
                    let relation = if d == ok { "accessed" } else { "denied" };
                    a.graph
                        .link(agent, relation, (NodeKind::System, sys), Some(&d.event_id));
                }
            }
            a.title = format!(
                "Agent {} got through after {} denied calls",
                e.agent.id,
                refused.len()
            );
            a.description = format!(
                "Agent {} (session {}) was denied {} times between {} and {} on {}, then \
                 succeeded on {} at {}.",
                e.agent.id,
                e.session_id,
                refused.len(),
                when(refused[0].0.time_us),
                when(refused[refused.len() - 1].0.time_us),
                a.systems.join(", "),
                ok_system,
                when(ok.time_us),
            );
        },
    );
    // Raised now or before (same id): either way this session is done.
    sess.burst_done = true;
    sess.denied = Vec::new();
    sess.successes = Vec::new();
}

/// The refusals in `[at - w, at)`.
fn window<T>(
    denied: &[(crate::detect::state::Stamp, T)],
    at: i64,
    w: i64,
) -> &[(crate::detect::state::Stamp, T)] {
    let lo = denied.partition_point(|(s, _)| s.time_us < at - w);
    let hi = denied.partition_point(|(s, _)| s.time_us < at);
    &denied[lo..hi.max(lo)]
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    fn probe(denied: usize) -> Vec<crate::Event> {
        let mut v: Vec<_> = (0..denied)
            .map(|i| {
                tool(
                    &format!("d{i}"),
                    i as i64 * 1000,
                    "a",
                    "s",
                    &format!("sys{}", i % 3),
                )
                .denied()
            })
            .collect();
        v.push(tool("ok", 10_000, "a", "s", "sys9"));
        v
    }

    #[test]
    fn five_denied_calls_then_a_success_fire() {
        let alerts = run(probe(5));
        let a = only(&alerts, RuleId::DeniedBurst);
        assert_eq!(a.event_ids.len(), 6);
        assert_eq!(a.event_ids.last().map(String::as_str), Some("ok"));
        assert_eq!(a.systems, vec!["sys0", "sys1", "sys2", "sys9"]);
    }

    #[test]
    fn four_denied_calls_then_a_success_stay_silent() {
        let alerts = run(probe(4));
        assert!(none_of(&alerts, RuleId::DeniedBurst), "{alerts:?}");
    }

    #[test]
    fn denied_calls_without_a_later_success_stay_silent() {
        let mut events = probe(6);
        events.pop();
        events.insert(0, tool("ok", -1, "a", "s", "sys9"));
        let alerts = run(events);
        assert!(none_of(&alerts, RuleId::DeniedBurst), "{alerts:?}");
    }
}
