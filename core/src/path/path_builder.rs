//! Builds an agent's (or one session's) lateral path. Invariants: the hop count equals the number
//! of changes of position; a delegate's path is nested at most `max_depth` levels deep; a
//! delegation back into a session already on the chain is cut and marked, never followed.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::lineage::TokenLineage;
use super::path_event::Name;
use super::path_event::{order_events, PathEvent};
use crate::event::TokenAction;

/// A session of an agent: `(agent_id, session_id)`.
pub type SessionKey = (Name, Name);

/// Stitching parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOptions {
    /// Deepest nesting of delegate paths (the root path is depth 0).
    pub max_depth: usize,
    /// How much later a trace parent's clock may be than its child's and still come first.
    pub skew_us: i64,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            max_depth: 5,
            skew_us: 2_000_000,
        }
    }
}

/// How work was handed to a delegate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DelegationVia {
    /// A token exchange (RFC 8693) named the delegate as actor.
    TokenExchange,
    /// The delegate's tool calls named the delegating session.
    DelegatedBy,
}

impl DelegationVia {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DelegationVia::TokenExchange => "token_exchange",
            DelegationVia::DelegatedBy => "delegated_by",
        }
    }
}

/// Where a path begins: the first system touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStart {
    /// The system.
    pub system: Name,
    /// When.
    pub at_us: i64,
    /// Its zone.
    pub zone: Option<Name>,
    /// The events on it before the first hop.
    pub event_ids: Vec<Name>,
    /// Hand-offs made before the first hop.
    pub delegations: Vec<Delegation>,
}

/// A move of the agent from one system to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Previous position.
    pub from: Name,
    /// New position.
    pub to: Name,
    /// Time of the event that moved the agent.
    pub at_us: i64,
    /// The tool of that event.
    pub tool: Option<Name>,
    /// The credential it used.
    pub credential_id: Option<Name>,
    /// The root of that credential's lineage.
    pub credential_root: Option<Name>,
    /// Zone of `from`.
    pub zone_from: Option<Name>,
    /// Zone of `to`.
    pub zone_to: Option<Name>,
    /// The moving event, then every further event on `to` until the next hop.
    pub event_ids: Vec<Name>,
    /// Hand-offs made while at `to`.
    pub delegations: Vec<Delegation>,
}

/// A delegate's path, nested where the hand-off happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// How the work was handed over.
    pub via: DelegationVia,
    /// When (the earliest evidence).
    pub at_us: i64,
    /// The delegate.
    pub agent_id: Name,
    /// The delegate's session.
    pub session_id: Name,
    /// The delegation leads back into a session already on this chain; not followed.
    pub cycle: bool,
    /// Deeper than `max_depth`; not followed.
    pub truncated: bool,
    /// The delegate's path, unless cut.
    pub path: Option<Box<Path>>,
}

/// Blast radius in one object (the path's own events and every nested delegate's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathSummary {
    /// Systems reached, in the order first reached.
    pub systems: Vec<Name>,
    /// Systems in the `external` zone.
    pub external_systems: Vec<Name>,
    /// Distinct zone changes, `from->to`.
    pub zones_crossed: Vec<Name>,
    /// Credentials used.
    pub credentials: Vec<Name>,
    /// Denied calls and refused tokens.
    pub denied: u64,
    /// Earliest event.
    pub first_at_us: Option<i64>,
    /// Latest event.
    pub last_at_us: Option<i64>,
}

/// A lateral path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The agent.
    pub agent_id: Name,
    /// Its sessions on this path, in order of first event.
    pub sessions: Vec<Name>,
    /// First system touched, if any.
    pub start: Option<PathStart>,
    /// Moves between systems.
    pub hops: Vec<Hop>,
    /// Blast radius.
    pub summary: PathSummary,
}

/// Which events a path is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRoot {
    /// Every session of this agent.
    Agent(Name),
    /// One session (of whichever agent ran it).
    Session(Name),
}

/// Stitches the path of `root` out of `events`, which may also hold the delegates' events.
/// `lineage` adds token links known from events outside the path (other agents' exchanges,
/// refreshes before the window). Order and duplicates of `events` don't matter.
pub fn build_path(
    root: &PathRoot,
    events: Vec<PathEvent>,
    mut lineage: TokenLineage,
    options: PathOptions,
) -> Path {
    let events = order_events(events, options.skew_us);
    lineage.extend(&TokenLineage::from_events(&events));
    let graph = Graph::new(&events);
    let wanted = match root {
        PathRoot::Agent(a) => a,
        PathRoot::Session(s) => s,
    };
    let mut matches = SameName::new(wanted);
    let root_events: Vec<usize> = (0..events.len())
        .filter(|&i| match root {
            PathRoot::Agent(_) => matches.is(&events[i].agent_id),
            PathRoot::Session(_) => matches.is(&events[i].session_id),
        })
        .collect();
    let agent_id = match root {
        PathRoot::Agent(a) => a.clone(),
        PathRoot::Session(_) => root_events
            .first()
            .map(|&i| events[i].agent_id.clone())
            .unwrap_or_default(),
    };
    let builder = Builder {
        events: &events,
        lineage: &lineage,
        graph: &graph,
        options,
        roots: Default::default(),
    };
    builder.segment(agent_id, &root_events, &mut Vec::new(), 0)
}

/// Tells whether names equal one wanted name, remembering the allocations already seen equal:
/// names from one segment's column share an allocation, so most checks are a pointer compare.
struct SameName<'a> {
    wanted: &'a str,
    known: Vec<Name>,
}

impl<'a> SameName<'a> {
    fn new(wanted: &'a str) -> Self {
        SameName {
            wanted,
            known: Vec::new(),
        }
    }

    fn is(&mut self, name: &Name) -> bool {
        if self.known.iter().any(|k| std::sync::Arc::ptr_eq(k, name)) {
            return true;
        }
        let equal = &**name == self.wanted;
        if equal {
            self.known.push(name.clone());
        }
        equal
    }
}

/// Delegation links between sessions, and each session's events.
struct Graph {
    by_session: HashMap<SessionKey, Vec<usize>>,
    /// delegating session → delegate session → earliest (time, via).
    links: BTreeMap<SessionKey, BTreeMap<SessionKey, (i64, DelegationVia)>>,
}

impl Graph {
    fn new(events: &[PathEvent]) -> Self {
        let mut by_session: HashMap<SessionKey, Vec<usize>> = HashMap::default();
        let mut links: BTreeMap<SessionKey, BTreeMap<SessionKey, (i64, DelegationVia)>> =
            BTreeMap::new();
        let mut add = |from: SessionKey, to: SessionKey, at: i64, via: DelegationVia| {
            if from == to {
                return;
            }
            let slot = links
                .entry(from)
                .or_default()
                .entry(to)
                .or_insert((at, via));
            if (at, via) < *slot {
                *slot = (at, via);
            }
        };
        for e in events {
            let me = (e.agent_id.clone(), e.session_id.clone());
            if let Some(by) = &e.delegated_by {
                add(
                    by.clone(),
                    me.clone(),
                    e.time_us,
                    DelegationVia::DelegatedBy,
                );
            }
            if e.kind.action() == Some(TokenAction::Exchanged) {
                if let Some(actor) = &e.actor {
                    add(
                        me.clone(),
                        actor.clone(),
                        e.time_us,
                        DelegationVia::TokenExchange,
                    );
                }
            }
        }
        // Only delegates' sessions are ever looked up: the root's members are known already.
        let delegates: HashSet<&SessionKey> = links.values().flat_map(BTreeMap::keys).collect();
        if !delegates.is_empty() {
            for (i, e) in events.iter().enumerate() {
                let me = (e.agent_id.clone(), e.session_id.clone());
                if delegates.contains(&me) {
                    by_session.entry(me).or_default().push(i);
                }
            }
        }
        Graph { by_session, links }
    }
}

struct Builder<'a> {
    events: &'a [PathEvent],
    lineage: &'a TokenLineage,
    graph: &'a Graph,
    options: PathOptions,
    /// Credential → lineage root; thousands of hops share a handful of credentials.
    roots: std::cell::RefCell<HashMap<Name, Name>>,
}

impl Builder<'_> {
    fn root_of(&self, credential: &Name) -> Name {
        if let Some(r) = self.roots.borrow().get(credential) {
            return r.clone();
        }
        let root: Name = match self.lineage.root(credential) {
            r if r == &**credential => credential.clone(),
            r => r.into(),
        };
        self.roots
            .borrow_mut()
            .insert(credential.clone(), root.clone());
        root
    }

    fn segment(
        &self,
        agent_id: Name,
        members: &[usize],
        chain: &mut Vec<SessionKey>,
        depth: usize,
    ) -> Path {
        let mut sessions: Vec<Name> = Vec::new();
        let mut seen_sessions: HashSet<&str> = HashSet::default();
        for &i in members {
            let s = &self.events[i].session_id;
            if seen_sessions.insert(s) {
                sessions.push(s.clone());
            }
        }
        let keys: Vec<SessionKey> = sessions
            .iter()
            .map(|s| (agent_id.clone(), s.clone()))
            .collect();

        let mut start: Option<PathStart> = None;
        let mut hops: Vec<Hop> = Vec::new();
        let mut position: Option<(Name, Option<Name>)> = None;
        for &i in members {
            let e = &self.events[i];
            if !e.kind.moves_agent() {
                continue;
            }
            let Some(system) = e.system.as_ref() else {
                continue;
            };
            match &position {
                None => {
                    start = Some(PathStart {
                        system: system.clone(),
                        at_us: e.time_us,
                        zone: e.zone.clone(),
                        event_ids: vec![e.event_id.clone()],
                        delegations: Vec::new(),
                    });
                }
                // Names from one column share their allocation: compare pointers first.
                Some((current, _))
                    if std::sync::Arc::ptr_eq(current, system) || current == system =>
                {
                    match hops.last_mut() {
                        Some(h) => h.event_ids.push(e.event_id.clone()),
                        None => {
                            if let Some(s) = start.as_mut() {
                                s.event_ids.push(e.event_id.clone());
                            }
                        }
                    }
                    continue;
                }
                Some((current, zone)) => {
                    hops.push(Hop {
                        from: current.clone(),
                        to: system.clone(),
                        at_us: e.time_us,
                        tool: e.tool.clone(),
                        credential_id: e.credential_id.clone(),
                        credential_root: e.credential_id.as_ref().map(|c| self.root_of(c)),
                        zone_from: zone.clone(),
                        zone_to: e.zone.clone(),
                        event_ids: vec![e.event_id.clone()],
                        delegations: Vec::new(),
                    });
                }
            }
            position = Some((system.clone(), e.zone.clone()));
        }

        // Nest each delegate under the hop it was handed work at (the last hop at or before
        // the hand-off), or under the start when the agent had not moved yet.
        chain.extend(keys.iter().cloned());
        let mut nested_summaries = Vec::new();
        let mut handoffs: Vec<(i64, DelegationVia, SessionKey)> = keys
            .iter()
            .filter_map(|k| self.graph.links.get(k))
            .flat_map(|children| children.iter().map(|(c, &(at, via))| (at, via, c.clone())))
            .collect();
        handoffs.sort();
        handoffs.dedup_by(|later, kept| later.2 == kept.2);
        for (at_us, via, (d_agent, d_session)) in handoffs {
            let key = (d_agent.clone(), d_session.clone());
            let cycle = chain.contains(&key);
            let truncated = !cycle && depth + 1 > self.options.max_depth;
            let path = (!cycle && !truncated).then(|| {
                let members = self.graph.by_session.get(&key).cloned().unwrap_or_default();
                let p = self.segment(d_agent.clone(), &members, chain, depth + 1);
                nested_summaries.push(p.summary.clone());
                Box::new(p)
            });
            let delegation = Delegation {
                via,
                at_us,
                agent_id: d_agent,
                session_id: d_session,
                cycle,
                truncated,
                path,
            };
            match hops.iter_mut().rev().find(|h| h.at_us <= at_us) {
                Some(h) => h.delegations.push(delegation),
                None => match start.as_mut() {
                    Some(s) => s.delegations.push(delegation),
                    // An agent that handed work over before touching any system: keep the
                    // delegation visible on an empty start rather than drop it.
                    None => {
                        start = Some(PathStart {
                            system: "".into(),
                            at_us,
                            zone: None,
                            event_ids: Vec::new(),
                            delegations: vec![delegation],
                        })
                    }
                },
            }
        }
        chain.truncate(chain.len() - keys.len());

        let summary = self.summarize(members, &hops, start.as_ref(), nested_summaries);
        Path {
            agent_id,
            sessions,
            start,
            hops,
            summary,
        }
    }

    fn summarize(
        &self,
        members: &[usize],
        hops: &[Hop],
        start: Option<&PathStart>,
        nested: Vec<PathSummary>,
    ) -> PathSummary {
        let mut s = PathSummary::default();
        let mut systems = HashSet::default();
        let mut external = HashSet::default();
        let mut credentials = HashSet::default();
        let mut zones = BTreeSet::new();
        let mut push_system = |s: &mut PathSummary, name: &Name| {
            if systems.insert(name.clone()) {
                s.systems.push(name.clone());
            }
        };
        if let Some(st) = start.filter(|st| !st.system.is_empty()) {
            push_system(&mut s, &st.system);
        }
        for h in hops {
            push_system(&mut s, &h.to);
            if let (Some(a), Some(b)) = (&h.zone_from, &h.zone_to) {
                if a != b {
                    zones.insert(Name::from(format!("{a}->{b}")));
                }
            }
        }
        for &i in members {
            let e = &self.events[i];
            if e.kind.is_denied() {
                s.denied += 1;
            }
            if e.zone.as_deref() == Some("external") {
                if let Some(sys) = &e.system {
                    external.insert(sys.clone());
                }
            }
            if let Some(c) = &e.credential_id {
                if !credentials.contains(c) {
                    credentials.insert(c.clone());
                }
            }
            s.first_at_us = Some(s.first_at_us.map_or(e.time_us, |t| t.min(e.time_us)));
            s.last_at_us = Some(s.last_at_us.map_or(e.time_us, |t| t.max(e.time_us)));
        }
        for n in nested {
            for sys in &n.systems {
                push_system(&mut s, sys);
            }
            external.extend(n.external_systems);
            credentials.extend(n.credentials);
            zones.extend(n.zones_crossed);
            s.denied += n.denied;
            for t in [n.first_at_us, n.last_at_us].into_iter().flatten() {
                s.first_at_us = Some(s.first_at_us.map_or(t, |f| f.min(t)));
                s.last_at_us = Some(s.last_at_us.map_or(t, |l| l.max(t)));
            }
        }
        s.external_systems = external.into_iter().collect();
        s.external_systems.sort();
        s.credentials = credentials.into_iter().collect();
        s.credentials.sort();
        s.zones_crossed = zones.into_iter().collect();
        s
    }
}
