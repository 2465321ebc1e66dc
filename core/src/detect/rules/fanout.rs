//! `blast_radius.fanout`: a session reached `min_systems` distinct systems within `window_ms`.
//! Keyed by tenant + agent + session (one alert per session however long it runs).
//!
//! Per system the session keeps a thinned list of call times: of three times within one window,
//! the middle one is dropped, since any window containing it also contains one of the other two.
//! So a chatty session keeps about two times per system per window, and the check is exact:
//! the condition "some window holds N systems" is judged over the same windows in any order.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{AgentFacts, Ev, SessionState, Sink, Stamp};
use crate::path::Name;

use super::when;

pub(in crate::detect) fn observe(
    facts: &AgentFacts,
    sess: &mut SessionState,
    ev: &Ev,
    sink: &mut Sink,
    horizon: i64,
    scratch: &mut Vec<(i64, u32)>,
    counts: &mut Vec<u32>,
) {
    let cfg = sink.cfg;
    if !cfg.on(RuleId::Fanout) || sess.fanout_done {
        return;
    }
    let Some((system, true)) = ev.movement() else {
        return;
    };
    let t = ev.t();
    if t < horizon {
        return;
    }
    let w = cfg.fanout_window_us;
    let times = match sess.fanout.get_mut(system) {
        Some(v) => v,
        None => {
            let name = ev.system_name().cloned().unwrap_or_else(|| system.into());
            sess.fanout.entry(name).or_default()
        }
    };
    let key = (t, ev.e.event_id.as_str());
    let pos = times.partition_point(|s| (s.time_us, &*s.event_id) < key);
    if times
        .get(pos)
        .is_some_and(|s| (s.time_us, &*s.event_id) == key)
    {
        return;
    }
    times.insert(
        pos,
        Stamp {
            time_us: t,
            event_id: ev.id(),
        },
    );
    let mut i = 1;
    while i + 1 < times.len() {
        if times[i + 1].time_us - times[i - 1].time_us <= w {
            times.remove(i);
        } else {
            i += 1;
        }
    }
    if sess.fanout.len() < cfg.fanout_min {
        return;
    }

    // Every window holding `t` lies within [t - w, t + w].
    scratch.clear();
    let names: Vec<&Name> = sess.fanout.keys().collect();
    for (i, times) in sess.fanout.values().enumerate() {
        for s in times {
            if s.time_us >= t - w && s.time_us <= t + w {
                scratch.push((s.time_us, i as u32));
            }
        }
    }
    scratch.sort_unstable();
    counts.clear();
    counts.resize(names.len(), 0);
    let mut distinct = 0;
    let mut left = 0;
    let mut found = None;
    for right in 0..scratch.len() {
        let (tr, sr) = scratch[right];
        if counts[sr as usize] == 0 {
            distinct += 1;
        }
        counts[sr as usize] += 1;
        while tr - scratch[left].0 > w {
            let sl = scratch[left].1 as usize;
            counts[sl] -= 1;
            if counts[sl] == 0 {
                distinct -= 1;
            }
            left += 1;
        }
        if distinct >= cfg.fanout_min {
            found = Some((left, right));
            break;
        }
    }
    let Some((left, right)) = found else {
        return;
    };
    let (from_us, to_us) = (scratch[left].0, scratch[right].0);
    // First call on each system within the window, in time order.
    let mut hits: Vec<(i64, &Name, &Name)> = Vec::new();
    for &(ts, si) in &scratch[left..=right] {
        let sys = names[si as usize];
        if hits.iter().any(|(_, s, _)| *s == sys) {
            continue;
        }
        let stamp = sess.fanout[sys]
            .iter()
            .find(|s| s.time_us == ts)
            .expect("gathered from it");
        hits.push((ts, sys, &stamp.event_id));
    }
    let e = ev.e;
    sink.fire(RuleId::Fanout, &[&e.agent.id, &e.session_id], to_us, |a| {
        a.agent_id = e.agent.id.clone();
        a.agent_name = facts.name.as_deref().map(str::to_owned);
        a.workload = sess.workload.as_deref().map(str::to_owned);
        a.session_id = e.session_id.clone();
        let mut prev: Option<&Name> = None;
        for (_, sys, id) in &hits {
            a.systems.push(sys.to_string());
            a.event_ids.push(id.to_string());
            a.graph.link(
                (NodeKind::Agent, &e.agent.id),
                "accessed",
                (NodeKind::System, sys),
                Some(id),
            );
            if let Some(p) = prev {
                let from = a.graph.node(NodeKind::System, p);
                let to = a.graph.node(NodeKind::System, sys);
                a.graph.edge(from, to, "hop", Some(id));
            }
            prev = Some(sys);
        }
        a.title = format!(
            "Agent {} reached {} systems in {} s",
            e.agent.id,
            hits.len(),
            (to_us - from_us) / 1_000_000
        );
        a.description = format!(
            "Agent {} (session {}) reached {} distinct systems between {} and {}: {}.",
            e.agent.id,
            e.session_id,
            hits.len(),
            when(from_us),
            when(to_us),
            a.systems.join(", ")
        );
    });
    // Raised now or before (same id): either way this session is done.
    sess.fanout_done = true;
    sess.fanout = Default::default();
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    fn calls(systems: usize, step_ms: i64) -> Vec<crate::Event> {
        (0..systems)
            .map(|i| {
                tool(
                    &i.to_string(),
                    i as i64 * step_ms,
                    "a",
                    "s",
                    &format!("sys{i}"),
                )
            })
            .collect()
    }

    #[test]
    fn eight_systems_within_ten_minutes_fire() {
        let alerts = run(calls(8, 60_000));
        let a = only(&alerts, RuleId::Fanout);
        assert_eq!(a.systems.len(), 8);
        assert_eq!(a.event_ids.len(), 8);
        assert_eq!(
            a.graph.edges.iter().filter(|e| e.relation == "hop").count(),
            7
        );
    }

    #[test]
    fn eight_systems_spread_over_more_than_ten_minutes_stay_silent() {
        let alerts = run(calls(8, 90_000));
        assert!(none_of(&alerts, RuleId::Fanout), "{alerts:?}");
    }

    #[test]
    fn many_calls_on_few_systems_stay_silent() {
        let alerts = run((0..100)
            .map(|i| tool(&i.to_string(), i, "a", "s", &format!("sys{}", i % 7)))
            .collect());
        assert!(none_of(&alerts, RuleId::Fanout), "{alerts:?}");
    }
}
