//! `delegation.depth`: a session handed work through more than `max_depth` hand-offs
//! (`delegated_by` on a tool call, or a token exchange naming an actor). Keyed by tenant + the
//! too-deep session's agent and session.
//!
//! Each session carries its depth capped at `max_depth + 1`: the least fixpoint of
//! `depth(c) = max over parents p of min(depth(p) + 1, max_depth + 1)`. The links only
//! accumulate and the equation is monotone, so the worklist below reaches the same fixpoint in
//! any arrival order; the cap also ends propagation around a loop of sessions.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{
    agent_node, session_node, Ev, SessionLink, Sink, TenantState, MAX_LINKS, MAX_WALK,
};
use crate::path::Name;

pub(in crate::detect) fn observe(st: &mut TenantState, ev: &Ev, sink: &mut Sink) {
    if !sink.cfg.on(RuleId::DelegationDepth) {
        return;
    }
    let Some(((pa, ps), (ca, cs))) = ev.delegation() else {
        return;
    };
    let t = ev.t();
    let (pa_n, ps_n) = {
        let a = agent_node(&mut st.agents, pa, t);
        let id = a.facts.id.clone();
        let s = session_node(&mut a.sessions, ps, t);
        let fresh = !s.children.iter().any(|(x, y)| &**x == ca && &**y == cs);
        if fresh && s.children.len() < MAX_LINKS {
            s.children.push((ca.into(), cs.into()));
        }
        (id, s.id.clone())
    };
    let child = {
        let a = agent_node(&mut st.agents, ca, t);
        let id = a.facts.id.clone();
        let s = session_node(&mut a.sessions, cs, t);
        if s.parents
            .iter()
            .any(|l| *l.agent == *pa && *l.session == *ps)
            || s.parents.len() >= MAX_LINKS
        {
            return;
        }
        s.parents.push(SessionLink {
            agent: pa_n,
            session: ps_n,
            event_id: ev.id(),
        });
        (id, s.id.clone())
    };
    let cap = sink.cfg.max_depth + 1;
    let mut work = vec![child];
    let mut steps = 0;
    while let Some((agent, session)) = work.pop() {
        steps += 1;
        if steps > MAX_WALK {
            break;
        }
        let Some(node) = st.agents.get(&agent).and_then(|a| a.sessions.get(&session)) else {
            continue;
        };
        let depth = node
            .parents
            .iter()
            .map(|p| (depth_of(st, &p.agent, &p.session) + 1).min(cap))
            .max()
            .unwrap_or(0);
        if depth <= node.depth {
            continue;
        }
        let children = node.children.clone();
        let node = st
            .agents
            .get_mut(&agent)
            .and_then(|a| a.sessions.get_mut(&session))
            .expect("looked up above");
        node.depth = depth;
        if depth == cap {
            raise(st, sink, &agent, &session, t);
        }
        work.extend(children);
    }
}

fn depth_of(st: &TenantState, agent: &str, session: &str) -> u32 {
    st.agents
        .get(agent)
        .and_then(|a| a.sessions.get(session))
        .map_or(0, |s| s.depth)
}

fn raise(st: &TenantState, sink: &mut Sink, agent: &Name, session: &Name, t: i64) {
    // Walk back along parents one level shallower each step: one chain that explains the depth.
    let mut chain: Vec<(Name, Name, Option<Name>)> = vec![(agent.clone(), session.clone(), None)];
    let mut cur = (agent.clone(), session.clone());
    for _ in 0..=sink.cfg.max_depth {
        let d = depth_of(st, &cur.0, &cur.1);
        let Some(node) = st.agents.get(&cur.0).and_then(|a| a.sessions.get(&cur.1)) else {
            break;
        };
        let Some(p) = node
            .parents
            .iter()
            .filter(|p| depth_of(st, &p.agent, &p.session) + 1 >= d)
            .min_by(|a, b| (&a.agent, &a.session).cmp(&(&b.agent, &b.session)))
        else {
            break;
        };
        if let Some(last) = chain.last_mut() {
            last.2 = Some(p.event_id.clone());
        }
        chain.push((p.agent.clone(), p.session.clone(), None));
        cur = (p.agent.clone(), p.session.clone());
        if chain.len() > MAX_WALK {
            break;
        }
    }
    chain.reverse();
    let facts = st.agents.get(agent).map(|a| &a.facts);
    let workload = st
        .agents
        .get(agent)
        .and_then(|a| a.sessions.get(session))
        .and_then(|s| s.workload.clone());
    let max_depth = sink.cfg.max_depth;
    sink.fire(RuleId::DelegationDepth, &[agent, session], t, |a| {
        a.agent_id = agent.to_string();
        a.agent_name = facts.and_then(|f| f.name.as_deref()).map(str::to_owned);
        a.workload = workload.as_deref().map(str::to_owned);
        a.session_id = session.to_string();
        let names: Vec<String> = chain
            .iter()
            .map(|(ag, se, _)| format!("{ag}/{se}"))
            .collect();
        for pair in chain.windows(2) {
            let (from, to) = (&pair[0], &pair[1]);
            let id = to.2.as_deref().or(from.2.as_deref());
            a.graph.link(
                (NodeKind::Agent, &from.0),
                "delegated_to",
                (NodeKind::Agent, &to.0),
                id,
            );
            if let Some(id) = id {
                if !a.event_ids.iter().any(|x| x == id) {
                    a.event_ids.push(id.to_owned());
                }
            }
        }
        a.title = format!(
            "Agent {agent} received work through {} hand-offs",
            chain.len().saturating_sub(1)
        );
        a.description = format!(
            "Session {session} of agent {agent} was handed work through more than {} \
             delegations: {}.",
            max_depth,
            names.join(" → ")
        );
    });
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    /// a0 → a1 → … → a<n>, each hand-off a `delegated_by` call of the delegate.
    fn chain(n: usize) -> Vec<crate::Event> {
        (1..=n)
            .map(|i| {
                tool(
                    &format!("e{i}"),
                    i as i64,
                    &format!("a{i}"),
                    &format!("s{i}"),
                    "jira",
                )
                .delegated_by(&format!("a{}", i - 1), &format!("s{}", i - 1))
            })
            .collect()
    }

    #[test]
    fn a_fourth_hand_off_fires_for_the_delegate_at_depth_four() {
        let mut events = chain(4);
        events.reverse();
        let alerts = run(events);
        let a = only(&alerts, RuleId::DelegationDepth);
        assert_eq!(a.agent_id, "a4");
        assert!(
            a.description
                .contains("a0/s0 → a1/s1 → a2/s2 → a3/s3 → a4/s4"),
            "{}",
            a.description
        );
        assert_eq!(a.event_ids.len(), 4);
    }

    #[test]
    fn three_hand_offs_stay_silent() {
        let alerts = run(chain(3));
        assert!(none_of(&alerts, RuleId::DelegationDepth), "{alerts:?}");
    }

    #[test]
    fn a_token_exchange_naming_an_actor_counts_as_a_hand_off() {
        use crate::event::TokenAction;
        let mut events = chain(3);
        events.push(token("x", 9, "a3", "s3", TokenAction::Exchanged, "t").actor("a4", "s4"));
        only(&run(events), RuleId::DelegationDepth);
    }
}
