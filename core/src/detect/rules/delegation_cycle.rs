//! `delegation.cycle`: work handed from agent A through other agents back to A (two-way
//! delegation). Keyed by tenant + agent, one alert per agent found on a cycle: "A reaches A"
//! only becomes true as links accumulate. A new link a → b puts on a new cycle exactly the
//! agents reachable from b that also reach a; both walks are bounded. A session handing work to
//! another session of the same agent is a fork, not a cycle.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{agent_node, AgentLink, Ev, Sink, TenantState, MAX_LINKS, MAX_WALK};
use crate::path::Name;

pub(in crate::detect) fn observe(st: &mut TenantState, ev: &Ev, sink: &mut Sink) {
    if !sink.cfg.on(RuleId::DelegationCycle) {
        return;
    }
    let Some(((pa, _), (ca, _))) = ev.delegation() else {
        return;
    };
    if pa == ca {
        return;
    }
    let t = ev.t();
    let ca_n = agent_node(&mut st.agents, ca, t).facts.id.clone();
    let pa_n = {
        let a = agent_node(&mut st.agents, pa, t);
        if a.facts.delegates.iter().any(|l| *l.agent == *ca) || a.facts.delegates.len() >= MAX_LINKS
        {
            return;
        }
        a.facts.delegates.push(AgentLink {
            agent: ca_n.clone(),
            event_id: ev.id(),
        });
        a.facts.id.clone()
    };
    {
        let c = agent_node(&mut st.agents, ca, t);
        if c.facts.delegators.len() < MAX_LINKS && !c.facts.delegators.contains(&pa_n) {
            c.facts.delegators.push(pa_n.clone());
        }
    }

    // Forward from b, remembering how each agent was reached: (agent, previous index, event).
    let mut fwd: Vec<(Name, usize, Name)> = vec![(ca_n.clone(), usize::MAX, ev.id())];
    let mut i = 0;
    while i < fwd.len() && fwd.len() < MAX_WALK {
        if let Some(a) = st.agents.get(&fwd[i].0) {
            for l in &a.facts.delegates {
                if !fwd.iter().any(|(x, _, _)| *x == l.agent) {
                    fwd.push((l.agent.clone(), i, l.event_id.clone()));
                }
            }
        }
        i += 1;
    }
    let Some(back_to_a) = fwd.iter().position(|(x, _, _)| *x == pa_n) else {
        return;
    };
    let mut bwd: Vec<Name> = vec![pa_n.clone()];
    let mut i = 0;
    while i < bwd.len() && bwd.len() < MAX_WALK {
        if let Some(a) = st.agents.get(&bwd[i]) {
            for d in &a.facts.delegators {
                if !bwd.contains(d) {
                    bwd.push(d.clone());
                }
            }
        }
        i += 1;
    }
    // The cycle through the new link: a → b → … → a, each step with its event.
    let mut cycle: Vec<(Name, Name)> = Vec::new();
    let mut j = back_to_a;
    while j != usize::MAX {
        let (agent, prev, event) = &fwd[j];
        cycle.push((agent.clone(), event.clone()));
        j = *prev;
    }
    cycle.reverse();
    let mut on_cycle: Vec<&Name> = fwd
        .iter()
        .map(|(x, _, _)| x)
        .filter(|x| bwd.contains(x))
        .collect();
    on_cycle.sort();
    let path: Vec<&str> = std::iter::once(&*pa_n)
        .chain(cycle.iter().map(|(x, _)| &**x))
        .collect();
    for x in on_cycle {
        let facts = st.agents.get(x).map(|a| &a.facts);
        sink.fire(RuleId::DelegationCycle, &[x], t, |a| {
            a.agent_id = x.to_string();
            a.agent_name = facts.and_then(|f| f.name.as_deref()).map(str::to_owned);
            a.workload = facts.and_then(|f| f.workload.as_deref()).map(str::to_owned);
            a.session_id = ev.e.session_id.clone();
            let mut from: &str = &pa_n;
            for (to, event) in &cycle {
                a.graph.link(
                    (NodeKind::Agent, from),
                    "delegated_to",
                    (NodeKind::Agent, to),
                    Some(event),
                );
                if !a.event_ids.iter().any(|e| e == &**event) {
                    a.event_ids.push(event.to_string());
                }
                from = to;
            }
            a.title = format!("Agent {x} is on a delegation cycle");
            a.description = format!(
                "Work handed on by agent {x} comes back to it: {}.",
                path.join(" → ")
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    #[test]
    fn a_to_b_to_a_fires_once_per_agent_on_the_cycle() {
        let alerts = run(vec![
            tool("1", 1, "b", "sb", "jira").delegated_by("a", "sa"),
            tool("2", 2, "a", "sa2", "jira").delegated_by("b", "sb"),
        ]);
        let mut agents: Vec<_> = alerts
            .iter()
            .filter(|a| a.rule == RuleId::DelegationCycle)
            .map(|a| a.agent_id.clone())
            .collect();
        agents.sort();
        assert_eq!(agents, vec!["a", "b"]);
        assert!(
            alerts[0].description.contains(" → "),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn a_chain_that_never_returns_and_a_fork_of_one_agent_stay_silent() {
        let alerts = run(vec![
            tool("1", 1, "b", "sb", "jira").delegated_by("a", "sa"),
            tool("2", 2, "c", "sc", "jira").delegated_by("b", "sb"),
            tool("3", 3, "a", "sa2", "jira").delegated_by("a", "sa"),
        ]);
        assert!(none_of(&alerts, RuleId::DelegationCycle), "{alerts:?}");
    }
}
