//! The verdict machinery shared by `scope.undeclared_tool` and `scope.undeclared_system`.
//!
//! A session's declared scope is the union of the task scopes its events report, each item
//! dated by its earliest declaration. The use of item X at time t is covered when X was declared
//! by t + grace. Coverage only grows with t, so among a session's uses of X the earliest decides:
//! the rule fires for (session, X) iff the earliest use is uncovered while the session had
//! declared some scope of that kind by then. That verdict waits until the watermark passes
//! t + grace — by then every event it depends on has arrived — which makes it independent of
//! arrival order. A use already covered on arrival is settled at once and keeps no state.

use std::cmp::Reverse;

use hashbrown::hash_map::EntryRef;

use super::alert::NodeKind;
use super::rule_id::RuleId;
use super::rules::{foreign_presenter, when};
use super::state::{
    Declared, DueKind, Ev, SessionState, Sink, TenantState, Verdict, MAX_SCOPE_ITEMS,
};
use crate::path::Name;

/// Merges the task scope an event reports into its session's.
pub(super) fn declare(sess: &mut SessionState, ev: &Ev) {
    let Some(task) = &ev.e.task else { return };
    let t = ev.t();
    merge(&mut sess.tools, &task.declared_tools, t);
    merge(&mut sess.systems, &task.declared_systems, t);
}

fn merge(d: &mut Declared, items: &[String], t: i64) {
    if items.is_empty() {
        return;
    }
    d.first_us = Some(d.first_us.map_or(t, |f| f.min(t)));
    for item in items {
        let full = d.items.len() >= MAX_SCOPE_ITEMS;
        match d.items.get_mut(item.as_str()) {
            Some(at) => *at = (*at).min(t),
            None if !full => {
                d.items.insert(item.as_str().into(), t);
            }
            None => {}
        }
    }
}

/// The use being judged: the event, its agent and its credential as the state names them.
pub(super) struct Use<'a> {
    pub agent: &'a Name,
    pub credential: Option<&'a Name>,
    pub ev: &'a Ev<'a>,
}

/// Judges one use of `item`: settled now when covered, otherwise remembered until due.
/// `name` gives `item` as a shared name, called only when a verdict is remembered.
pub(super) fn judge(
    st_due: &mut std::collections::BinaryHeap<super::state::Due>,
    sess: &mut SessionState,
    kind: DueKind,
    item: &str,
    name: impl FnOnce() -> Name,
    u: &Use,
    grace_us: i64,
) {
    let Use { agent, ev, .. } = *u;
    let t = ev.t();
    let (declared, verdicts) = match kind {
        DueKind::Tool => (&sess.tools, &mut sess.tool_verdicts),
        DueKind::System => (&sess.systems, &mut sess.system_verdicts),
        DueKind::Presenter => return,
    };
    if declared
        .items
        .get(item)
        .is_some_and(|&d| d <= t.saturating_add(grace_us))
    {
        return;
    }
    let pending = || Verdict::Pending {
        time_us: t,
        event_id: ev.id(),
        system: match ev.system_name() {
            Some(s) => s.clone(),
            None => Name::from(""),
        },
        credential: ev
            .e
            .credential_id()
            .map(|c| super::state::share(u.credential, c)),
    };
    let full = verdicts.len() >= MAX_SCOPE_ITEMS;
    let key = match verdicts.entry_ref(item) {
        EntryRef::Occupied(mut o) => {
            match o.get() {
                Verdict::Decided => return,
                Verdict::Pending {
                    time_us, event_id, ..
                } => {
                    if (t, ev.e.event_id.as_str()) >= (*time_us, &**event_id) {
                        return;
                    }
                }
            }
            o.insert(pending());
            o.key().clone()
        }
        EntryRef::Vacant(_) if !full => {
            // Keyed by the shared name, which the due entry holds too.
            let key = name();
            verdicts.insert(key.clone(), pending());
            key
        }
        EntryRef::Vacant(_) => return,
    };
    st_due.push(Reverse((
        t.saturating_add(grace_us),
        kind,
        agent.clone(),
        sess.id.clone(),
        key,
    )));
}

/// Decides every verdict due before `until` (exclusive).
pub(super) fn decide_due(st: &mut TenantState, sink: &mut Sink, until: i64) {
    while let Some(Reverse((deadline, ..))) = st.due.peek() {
        if *deadline >= until {
            break;
        }
        let Reverse((deadline, kind, a, b, c)) = st.due.pop().expect("peeked");
        match kind {
            DueKind::Presenter => foreign_presenter::decide(st, sink, &a, &b, &c),
            DueKind::Tool | DueKind::System => decide(st, sink, deadline, kind, &a, &b, &c),
        }
    }
}

fn decide(
    st: &mut TenantState,
    sink: &mut Sink,
    deadline: i64,
    kind: DueKind,
    agent: &Name,
    session: &Name,
    item: &Name,
) {
    let grace = match kind {
        DueKind::Tool => sink.cfg.tool_grace_us,
        DueKind::System => sink.cfg.system_grace_us,
        DueKind::Presenter => return,
    };
    let Some(a) = st.agents.get_mut(&**agent) else {
        return;
    };
    let facts = &a.facts;
    let Some(sess) = a.sessions.get_mut(&**session) else {
        return;
    };
    let (declared, verdicts, rule, what) = match kind {
        DueKind::Tool => (
            &sess.tools,
            &mut sess.tool_verdicts,
            RuleId::UndeclaredTool,
            "tool",
        ),
        DueKind::System => (
            &sess.systems,
            &mut sess.system_verdicts,
            RuleId::UndeclaredSystem,
            "system",
        ),
        DueKind::Presenter => return,
    };
    let Some(verdict) = verdicts.get_mut(&**item) else {
        return;
    };
    let Verdict::Pending { time_us, .. } = verdict else {
        return;
    };
    // A stale entry: an earlier use replaced this one and was pushed with an earlier deadline.
    if time_us.saturating_add(grace) != deadline {
        return;
    }
    if declared.items.get(&**item).is_some_and(|&d| d <= deadline) {
        verdicts.remove(&**item);
        return;
    }
    let Verdict::Pending {
        time_us,
        event_id,
        system,
        credential,
    } = std::mem::replace(verdict, Verdict::Decided)
    else {
        unreachable!("matched above")
    };
    if declared.first_us.is_none_or(|f| f > deadline) {
        return;
    }
    let mut scope: Vec<&str> = declared
        .items
        .iter()
        .filter(|(_, &d)| d <= deadline)
        .map(|(k, _)| &**k)
        .collect();
    scope.sort_unstable();
    let shown = scope.len().min(10);
    let more = if scope.len() > shown {
        format!(" and {} more", scope.len() - shown)
    } else {
        String::new()
    };
    let name = facts.name.as_deref().map(str::to_owned);
    let workload = sess.workload.clone();
    sink.fire(rule, &[agent, session, item], time_us, |a| {
        a.agent_id = agent.to_string();
        a.agent_name = name;
        a.workload = workload.as_deref().map(str::to_owned);
        a.session_id = session.to_string();
        if !system.is_empty() {
            a.systems = vec![system.to_string()];
        }
        a.credential_id = credential.as_deref().map(str::to_owned);
        a.event_ids = vec![event_id.to_string()];
        a.title = format!("Agent {agent} used undeclared {what} {item}");
        a.description = format!(
            "Agent {agent} (session {session}) used {what} {item} at {}, outside its declared \
             {what}s: {}{more}.",
            when(time_us),
            scope[..shown].join(", "),
        );
        if !system.is_empty() {
            a.graph.link(
                (NodeKind::Agent, agent),
                "accessed",
                (NodeKind::System, &system),
                Some(&event_id),
            );
        }
        if let Some(c) = &credential {
            a.graph.link(
                (NodeKind::Agent, agent),
                "used",
                (NodeKind::Credential, c),
                Some(&event_id),
            );
        }
    });
}
