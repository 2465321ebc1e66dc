//! Builds an agent's (or one session's) lateral path. Invariants: the hop count equals the number
//! of changes of position; a delegate's path is nested at most `max_depth` levels deep; a
//! delegation back into a session already on the chain is cut and marked, never followed.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::event_table::{EventTable, Names, Sym, SymSet, TableEvent};
use super::lineage::TokenLineage;
use super::path_event::{Name, PathEvent};
use crate::event::TokenAction;

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
    lineage: TokenLineage,
    options: PathOptions,
) -> Path {
    build_path_from_table(root, EventTable::from_events(&events), lineage, options)
}

/// [`build_path`] over events whose names are interned already (as a column reader can hand
/// them out without building a [`PathEvent`] each).
pub fn build_path_from_table(
    root: &PathRoot,
    table: EventTable,
    mut lineage: TokenLineage,
    options: PathOptions,
) -> Path {
    let EventTable { names, events } = table;
    let order = names.order(&events, options.skew_us);
    let events: Vec<TableEvent> = order.iter().map(|&i| events[i as usize]).collect();
    for e in &events {
        if let (Some(t), Some(p)) = (e.credential_id, e.token_parent_id) {
            lineage.link(names.name(t), names.name(p));
        }
    }
    let graph = Graph::new(&events);
    let (wanted, by_agent) = match root {
        PathRoot::Agent(a) => (names.lookup(a), true),
        PathRoot::Session(s) => (names.lookup(s), false),
    };
    let root_events: Vec<usize> = match wanted {
        None => Vec::new(),
        Some(w) => (0..events.len())
            .filter(|&i| {
                let e = &events[i];
                w == if by_agent { e.agent_id } else { e.session_id }
            })
            .collect(),
    };
    let agent = root_events.first().map(|&i| events[i].agent_id);
    let agent_id = match root {
        PathRoot::Agent(a) => a.clone(),
        PathRoot::Session(_) => agent.map(|a| names.name(a).clone()).unwrap_or_default(),
    };
    let builder = Builder {
        names: &names,
        events: &events,
        lineage: &lineage,
        graph: &graph,
        options,
        external: names.lookup("external"),
        roots: Default::default(),
    };
    builder
        .segment(agent_id, agent, &root_events, &mut Vec::new(), 0)
        .0
}

/// A session as symbols: `(agent_id, session_id)`.
type Key = (Sym, Sym);

/// Delegation links between sessions, and each session's events.
struct Graph {
    by_session: HashMap<Key, Vec<usize>>,
    /// delegating session → delegate session → earliest (time, via).
    links: HashMap<Key, HashMap<Key, (i64, DelegationVia)>>,
}

impl Graph {
    fn new(events: &[TableEvent]) -> Self {
        let mut by_session: HashMap<Key, Vec<usize>> = HashMap::default();
        let mut links: HashMap<Key, HashMap<Key, (i64, DelegationVia)>> = HashMap::default();
        let mut add = |from: Key, to: Key, at: i64, via: DelegationVia| {
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
            let me = (e.agent_id, e.session_id);
            if let Some(by) = e.delegated_by {
                add(by, me, e.time_us, DelegationVia::DelegatedBy);
            }
            if e.kind.action() == Some(TokenAction::Exchanged) {
                if let Some(actor) = e.actor {
                    add(me, actor, e.time_us, DelegationVia::TokenExchange);
                }
            }
        }
        // Only delegates' sessions are ever looked up: the root's members are known already.
        let delegates: HashSet<Key> = links.values().flat_map(HashMap::keys).copied().collect();
        if !delegates.is_empty() {
            for (i, e) in events.iter().enumerate() {
                let me = (e.agent_id, e.session_id);
                if delegates.contains(&me) {
                    by_session.entry(me).or_default().push(i);
                }
            }
        }
        Graph { by_session, links }
    }
}

/// Distinct symbols in the order first added.
#[derive(Default)]
struct SymList {
    seen: SymSet,
    list: Vec<Sym>,
}

impl SymList {
    fn push(&mut self, s: Sym) {
        if self.seen.insert(s) {
            self.list.push(s);
        }
    }

    fn extend(&mut self, other: &SymList) {
        for &s in &other.list {
            self.push(s);
        }
    }

    /// The names, sorted by text.
    fn sorted_names(&self, names: &Names) -> Vec<Name> {
        let mut v: Vec<Name> = self.list.iter().map(|&s| names.name(s).clone()).collect();
        v.sort();
        v
    }
}

/// A blast radius in symbols, turned into a [`PathSummary`] once per path.
#[derive(Default)]
struct Reach {
    /// In the order first reached.
    systems: SymList,
    external: SymList,
    zones: HashSet<(Sym, Sym)>,
    credentials: SymList,
    denied: u64,
    first_at_us: Option<i64>,
    last_at_us: Option<i64>,
}

impl Reach {
    fn saw_time(&mut self, t: i64) {
        self.first_at_us = Some(self.first_at_us.map_or(t, |f| f.min(t)));
        self.last_at_us = Some(self.last_at_us.map_or(t, |l| l.max(t)));
    }

    fn absorb(&mut self, nested: &Reach) {
        self.systems.extend(&nested.systems);
        self.external.extend(&nested.external);
        self.credentials.extend(&nested.credentials);
        self.zones.extend(&nested.zones);
        self.denied += nested.denied;
        for t in [nested.first_at_us, nested.last_at_us]
            .into_iter()
            .flatten()
        {
            self.saw_time(t);
        }
    }

    fn summary(&self, names: &Names) -> PathSummary {
        // Formatted, then deduplicated: two zone pairs could spell the same `a->b`.
        let zones: BTreeSet<Name> = self
            .zones
            .iter()
            .map(|&(a, b)| Name::from(format!("{}->{}", names.name(a), names.name(b))))
            .collect();
        PathSummary {
            systems: self
                .systems
                .list
                .iter()
                .map(|&s| names.name(s).clone())
                .collect(),
            external_systems: self.external.sorted_names(names),
            zones_crossed: zones.into_iter().collect(),
            credentials: self.credentials.sorted_names(names),
            denied: self.denied,
            first_at_us: self.first_at_us,
            last_at_us: self.last_at_us,
        }
    }
}

struct Builder<'a> {
    names: &'a Names,
    events: &'a [TableEvent],
    lineage: &'a TokenLineage,
    graph: &'a Graph,
    options: PathOptions,
    /// The `external` zone, if any event names it.
    external: Option<Sym>,
    /// Credential → lineage root; thousands of hops share a handful of credentials.
    roots: std::cell::RefCell<HashMap<Sym, Name>>,
}

impl Builder<'_> {
    fn name(&self, s: Sym) -> Name {
        self.names.name(s).clone()
    }

    fn root_of(&self, credential: Sym) -> Name {
        if let Some(r) = self.roots.borrow().get(&credential) {
            return r.clone();
        }
        let name = self.names.name(credential);
        let root: Name = match self.lineage.root(name) {
            r if r == &**name => name.clone(),
            r => r.into(),
        };
        self.roots.borrow_mut().insert(credential, root.clone());
        root
    }

    /// How many hops `members` make: how often a moving event changes the position.
    fn hop_count(&self, members: &[usize]) -> usize {
        let mut position = None;
        let mut hops = 0;
        for &i in members {
            let e = &self.events[i];
            if let (true, Some(system)) = (e.kind.moves_agent(), e.system) {
                hops += usize::from(position.is_some_and(|p| p != system));
                position = Some(system);
            }
        }
        hops
    }

    /// The path of `members` (events of `agent`, named `agent_id`, in causal order) and its
    /// blast radius.
    fn segment(
        &self,
        agent_id: Name,
        agent: Option<Sym>,
        members: &[usize],
        chain: &mut Vec<Key>,
        depth: usize,
    ) -> (Path, Reach) {
        let mut sessions: Vec<Name> = Vec::new();
        let mut keys: Vec<Key> = Vec::new();
        let mut seen_sessions = SymSet::default();
        let mut reach = Reach::default();
        let mut start: Option<PathStart> = None;
        // Counted first: thousands of hops of 170 bytes would otherwise be copied at each growth.
        let mut hops: Vec<Hop> = Vec::with_capacity(self.hop_count(members));
        let mut position: Option<(Sym, Option<Sym>)> = None;
        for &i in members {
            let e = &self.events[i];
            if seen_sessions.insert(e.session_id) {
                sessions.push(self.name(e.session_id));
                if let Some(agent) = agent {
                    keys.push((agent, e.session_id));
                }
            }
            if e.kind.is_denied() {
                reach.denied += 1;
            }
            if let (Some(zone), Some(system)) = (e.zone, e.system) {
                if Some(zone) == self.external {
                    reach.external.push(system);
                }
            }
            if let Some(c) = e.credential_id {
                reach.credentials.push(c);
            }
            reach.saw_time(e.time_us);

            if !e.kind.moves_agent() {
                continue;
            }
            let Some(system) = e.system else {
                continue;
            };
            match position {
                None => {
                    if !self.names.name(system).is_empty() {
                        reach.systems.push(system);
                    }
                    start = Some(PathStart {
                        system: self.name(system),
                        at_us: e.time_us,
                        zone: e.zone.map(|z| self.name(z)),
                        event_ids: vec![self.name(e.event_id)],
                        delegations: Vec::new(),
                    });
                }
                Some((current, _)) if current == system => {
                    let id = self.name(e.event_id);
                    match hops.last_mut() {
                        Some(h) => h.event_ids.push(id),
                        None => {
                            if let Some(s) = start.as_mut() {
                                s.event_ids.push(id);
                            }
                        }
                    }
                    continue;
                }
                Some((current, zone)) => {
                    reach.systems.push(system);
                    if let (Some(a), Some(b)) = (zone, e.zone) {
                        if a != b {
                            reach.zones.insert((a, b));
                        }
                    }
                    hops.push(Hop {
                        from: self.name(current),
                        to: self.name(system),
                        at_us: e.time_us,
                        tool: e.tool.map(|t| self.name(t)),
                        credential_id: e.credential_id.map(|c| self.name(c)),
                        credential_root: e.credential_id.map(|c| self.root_of(c)),
                        zone_from: zone.map(|z| self.name(z)),
                        zone_to: e.zone.map(|z| self.name(z)),
                        event_ids: vec![self.name(e.event_id)],
                        delegations: Vec::new(),
                    });
                }
            }
            position = Some((system, e.zone));
        }

        // Nest each delegate under the hop it was handed work at (the last hop at or before
        // the hand-off), or under the start when the agent had not moved yet.
        chain.extend(keys.iter().copied());
        let mut handoffs: Vec<(i64, DelegationVia, Key)> = keys
            .iter()
            .filter_map(|k| self.graph.links.get(k))
            .flat_map(|children| children.iter().map(|(&c, &(at, via))| (at, via, c)))
            .collect();
        // By the names, not the symbols: the order must not depend on arrival order.
        handoffs.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| self.names.cmp(a.2 .0, b.2 .0))
                .then_with(|| self.names.cmp(a.2 .1, b.2 .1))
        });
        handoffs.dedup_by(|later, kept| later.2 == kept.2);
        for (at_us, via, key) in handoffs {
            let (d_agent, d_session) = key;
            let cycle = chain.contains(&key);
            let truncated = !cycle && depth + 1 > self.options.max_depth;
            let path = (!cycle && !truncated).then(|| {
                let members = self.graph.by_session.get(&key).cloned().unwrap_or_default();
                let (p, nested) = self.segment(
                    self.name(d_agent),
                    Some(d_agent),
                    &members,
                    chain,
                    depth + 1,
                );
                reach.absorb(&nested);
                Box::new(p)
            });
            let delegation = Delegation {
                via,
                at_us,
                agent_id: self.name(d_agent),
                session_id: self.name(d_session),
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

        let path = Path {
            agent_id,
            sessions,
            start,
            hops,
            summary: reach.summary(self.names),
        };
        (path, reach)
    }
}
