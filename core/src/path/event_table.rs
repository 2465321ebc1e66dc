//! The events of one stitch with every name interned to a small integer. Thousands of events
//! repeat a handful of systems, tools and credentials: as integers they compare, hash and move
//! cheaply, and no reference count is touched until the path is built. Invariant: two symbols of
//! one table are equal exactly when their names are; symbol numbers depend on arrival order, so
//! anything ordered by names compares the names, never the numbers.

use std::cmp::Ordering;
use std::num::NonZeroU32;
use std::sync::Arc;

use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use super::path_event::{Name, PathEvent, PathEventKind};

/// An interned name: an index into a [`Names`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(NonZeroU32);

impl Sym {
    fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// Interned names. Names are looked up by allocation first: the names a column reader hands out
/// share one allocation per distinct value, so most lookups hash a pointer, not a string. The
/// table keeps every name it interned alive, so no address it remembers can be reused.
#[derive(Debug, Default, Clone)]
pub struct Names {
    names: Vec<Name>,
    by_address: HashMap<usize, Sym>,
    /// Text hash → the first name interned with it. Keyed by the hash, not the name: growing
    /// the map then never reads a name again, and no name is cloned into it.
    by_hash: HashMap<u64, Sym>,
    /// Names whose hash an earlier, different name has.
    collided: HashMap<Name, Sym>,
    /// Further allocations of names already interned: kept alive so that their addresses stay
    /// theirs.
    aliases: Vec<Name>,
}

impl Names {
    /// The symbol of `name`, interning it if new.
    pub fn intern(&mut self, name: &Name) -> Sym {
        let address = Arc::as_ptr(name) as *const u8 as usize;
        if let Some(&s) = self.by_address.get(&address) {
            return s;
        }
        let s = self.intern_text(name);
        if !Arc::ptr_eq(&self.names[s.index()], name) {
            self.aliases.push(name.clone());
        }
        self.by_address.insert(address, s);
        s
    }

    /// The symbol of `name`, interning it if new, looked up by its text only: for callers that
    /// remember the symbols of allocations themselves (a column reader, by term ordinal), or
    /// whose names are mostly distinct (event ids), where the address lookup would only miss.
    pub fn intern_text(&mut self, name: &Name) -> Sym {
        let next = self.next_sym();
        match self.by_hash.entry(text_hash(name)) {
            Entry::Vacant(v) => {
                v.insert(next);
                self.names.push(name.clone());
                next
            }
            Entry::Occupied(o) if self.names[o.get().index()] == *name => *o.get(),
            Entry::Occupied(_) => match self.collided.entry(name.clone()) {
                Entry::Occupied(o) => *o.get(),
                Entry::Vacant(v) => {
                    v.insert(next);
                    self.names.push(name.clone());
                    next
                }
            },
        }
    }

    /// Room for `additional` more names without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.names.reserve(additional);
        self.by_hash.reserve(additional);
    }

    /// How many distinct names: every symbol's index is below it (see [`SymSet`]).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no name is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The symbol of `name` if it is known, without interning it.
    pub fn lookup(&self, name: &str) -> Option<Sym> {
        match self.by_hash.get(&text_hash(name)) {
            Some(&s) if &**self.name(s) == name => Some(s),
            Some(_) => self.collided.get(name).copied(),
            None => None,
        }
    }

    /// The name of a symbol of this table.
    pub fn name(&self, s: Sym) -> &Name {
        &self.names[s.index()]
    }

    /// Two optional names, compared by their text.
    pub fn cmp_opt(&self, a: Option<Sym>, b: Option<Sym>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => self.cmp(a, b),
            _ => a.is_some().cmp(&b.is_some()),
        }
    }

    /// Two names, compared by their text.
    pub fn cmp(&self, a: Sym, b: Sym) -> Ordering {
        if a == b {
            Ordering::Equal
        } else {
            self.name(a).cmp(self.name(b))
        }
    }

    /// The symbol the next new name gets.
    fn next_sym(&self) -> Sym {
        let n = u32::try_from(self.names.len() + 1).expect("fewer than 2^32 names");
        Sym(NonZeroU32::new(n).expect("one more than a length is positive"))
    }

    /// A [`PathEvent`] as a [`TableEvent`] of this table.
    pub fn event(&mut self, e: &PathEvent) -> TableEvent {
        let mut opt = |n: &Option<Name>| n.as_ref().map(|n| self.intern(n));
        let workload = opt(&e.workload);
        let system = opt(&e.system);
        let zone = opt(&e.zone);
        let tool = opt(&e.tool);
        let credential_id = opt(&e.credential_id);
        let token_parent_id = opt(&e.token_parent_id);
        let token_subject = opt(&e.token_subject);
        let presenter = opt(&e.presenter);
        let span_id = opt(&e.span_id);
        let parent_span_id = opt(&e.parent_span_id);
        let mut pair =
            |p: &Option<(Name, Name)>| p.as_ref().map(|(a, s)| (self.intern(a), self.intern(s)));
        let delegated_by = pair(&e.delegated_by);
        let actor = pair(&e.actor);
        TableEvent {
            time_us: e.time_us,
            event_id: self.intern(&e.event_id),
            agent_id: self.intern(&e.agent_id),
            session_id: self.intern(&e.session_id),
            workload,
            kind: e.kind,
            system,
            zone,
            tool,
            credential_id,
            token_parent_id,
            token_subject,
            presenter,
            delegated_by,
            actor,
            span_id,
            parent_span_id,
        }
    }

    /// A [`TableEvent`] of this table as a [`PathEvent`].
    pub fn path_event(&self, e: &TableEvent) -> PathEvent {
        let opt = |s: Option<Sym>| s.map(|s| self.name(s).clone());
        let pair =
            |p: Option<(Sym, Sym)>| p.map(|(a, s)| (self.name(a).clone(), self.name(s).clone()));
        PathEvent {
            event_id: self.name(e.event_id).clone(),
            time_us: e.time_us,
            agent_id: self.name(e.agent_id).clone(),
            session_id: self.name(e.session_id).clone(),
            workload: opt(e.workload),
            kind: e.kind,
            system: opt(e.system),
            zone: opt(e.zone),
            tool: opt(e.tool),
            credential_id: opt(e.credential_id),
            token_parent_id: opt(e.token_parent_id),
            token_subject: opt(e.token_subject),
            presenter: opt(e.presenter),
            delegated_by: pair(e.delegated_by),
            actor: pair(e.actor),
            span_id: opt(e.span_id),
            parent_span_id: opt(e.parent_span_id),
        }
    }

    /// The order of [`PathEvent`]'s derived `Ord`, on table events: by the names' text.
    fn cmp_content(&self, a: &TableEvent, b: &TableEvent) -> Ordering {
        let pair = |x: Option<(Sym, Sym)>, y: Option<(Sym, Sym)>| match (x, y) {
            (Some(x), Some(y)) => self.cmp(x.0, y.0).then_with(|| self.cmp(x.1, y.1)),
            _ => x.is_some().cmp(&y.is_some()),
        };
        self.cmp(a.event_id, b.event_id)
            .then_with(|| a.time_us.cmp(&b.time_us))
            .then_with(|| self.cmp(a.agent_id, b.agent_id))
            .then_with(|| self.cmp(a.session_id, b.session_id))
            .then_with(|| self.cmp_opt(a.workload, b.workload))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| self.cmp_opt(a.system, b.system))
            .then_with(|| self.cmp_opt(a.zone, b.zone))
            .then_with(|| self.cmp_opt(a.tool, b.tool))
            .then_with(|| self.cmp_opt(a.credential_id, b.credential_id))
            .then_with(|| self.cmp_opt(a.token_parent_id, b.token_parent_id))
            .then_with(|| self.cmp_opt(a.token_subject, b.token_subject))
            .then_with(|| self.cmp_opt(a.presenter, b.presenter))
            .then_with(|| pair(a.delegated_by, b.delegated_by))
            .then_with(|| pair(a.actor, b.actor))
            .then_with(|| self.cmp_opt(a.span_id, b.span_id))
            .then_with(|| self.cmp_opt(a.parent_span_id, b.parent_span_id))
    }

    /// Clock order, ties broken by id and then by content: a total order on contents alone.
    fn by_clock(&self, a: &TableEvent, b: &TableEvent) -> Ordering {
        a.time_us
            .cmp(&b.time_us)
            .then_with(|| self.cmp(a.event_id, b.event_id))
            .then_with(|| self.cmp_content(a, b))
    }

    /// Causal order of `events` with duplicate ids dropped, as indices into `events`: the rule
    /// of [`order_events`](super::order_events), which is defined by this function.
    pub fn order(&self, events: &[TableEvent], skew_us: i64) -> Vec<u32> {
        let mut order: Vec<u32> =
            (0..u32::try_from(events.len()).expect("fewer than 2^32 events")).collect();
        // Sorted with the times at hand: the time decides almost always, and the events
        // themselves (and their names) are looked at only on a tie. A stable sort, for its
        // speed on runs: a reader hands events over as a few runs already in time order (one
        // per segment). Equal keys are equal events, so stability changes nothing else.
        let mut keyed: Vec<(i64, u32)> = order
            .iter()
            .map(|&i| (events[i as usize].time_us, i))
            .collect();
        keyed.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.by_clock(&events[a.1 as usize], &events[b.1 as usize]))
        });
        order.clear();
        order.extend(keyed.into_iter().map(|(_, i)| i));
        // Of events sharing an id the first in that order is kept, whatever the arrival order.
        let mut seen = SymSet::for_names(self);
        order.retain(|&i| seen.insert(events[i as usize].event_id));
        if order
            .iter()
            .all(|&i| events[i as usize].parent_span_id.is_none())
        {
            return order;
        }

        // Effective ordering time: a child is never placed before its (slightly later) parent.
        let mut by_span: HashMap<(Sym, Sym), usize> = HashMap::default();
        for (k, &i) in order.iter().enumerate() {
            let e = &events[i as usize];
            if let Some(span) = e.span_id {
                by_span.entry((e.agent_id, span)).or_insert(k);
            }
        }
        let n = order.len();
        let mut effective: Vec<Option<(i64, u32)>> = vec![None; n];
        struct Walk<'a> {
            events: &'a [TableEvent],
            order: &'a [u32],
            by_span: &'a HashMap<(Sym, Sym), usize>,
            effective: &'a mut [Option<(i64, u32)>],
            skew_us: i64,
        }
        fn resolve(w: &mut Walk<'_>, k: usize, guard: u32) -> (i64, u32) {
            if let Some(v) = w.effective[k] {
                return v;
            }
            let e = &w.events[w.order[k] as usize];
            let own = (e.time_us, 0);
            // `guard` bounds the walk: a span cycle in hostile input cannot recurse forever.
            let v = match e
                .parent_span_id
                .and_then(|p| w.by_span.get(&(e.agent_id, p)))
            {
                Some(&parent) if parent != k && guard < 64 => {
                    let (pt, pd) = resolve(w, parent, guard + 1);
                    let lead = pt - e.time_us;
                    if (0..=w.skew_us).contains(&lead) {
                        (pt, pd + 1)
                    } else {
                        own
                    }
                }
                _ => own,
            };
            w.effective[k] = Some(v);
            v
        }
        let mut walk = Walk {
            events,
            order: &order,
            by_span: &by_span,
            effective: &mut effective,
            skew_us,
        };
        for k in 0..n {
            resolve(&mut walk, k, 0);
        }
        let mut keyed: Vec<((i64, u32), u32)> = effective
            .into_iter()
            .map(|k| k.expect("resolved"))
            .zip(order.iter().copied())
            .collect();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.by_clock(&events[a.1 as usize], &events[b.1 as usize]))
        });
        keyed.into_iter().map(|(_, i)| i).collect()
    }
}

fn text_hash(name: &str) -> u64 {
    let h = FxBuildHasher.hash_one(name);
    // In tests, hashes collide often, so that every test also runs the collision path.
    if cfg!(test) {
        h % 8
    } else {
        h
    }
}

/// A set of symbols of one table: a bit per symbol, as symbols are dense small integers.
#[derive(Debug, Default, Clone)]
pub struct SymSet {
    bits: Vec<u64>,
}

impl SymSet {
    /// An empty set with room for the symbols of `names`.
    pub fn for_names(names: &Names) -> Self {
        SymSet {
            bits: vec![0; names.len().div_ceil(64)],
        }
    }

    /// Adds `s`; true when it was not in the set.
    pub fn insert(&mut self, s: Sym) -> bool {
        let (word, bit) = (s.index() / 64, 1u64 << (s.index() % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        new
    }
}

/// One event as path stitching sees it, its names interned in a [`Names`] table: the
/// fields of [`PathEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEvent {
    /// Event id (duplicates by id count once).
    pub event_id: Sym,
    /// Event time, microseconds since the epoch.
    pub time_us: i64,
    /// Acting agent.
    pub agent_id: Sym,
    /// Its session.
    pub session_id: Sym,
    /// The agent's workload (SPIFFE ID).
    pub workload: Option<Sym>,
    /// Tool call or token step.
    pub kind: PathEventKind,
    /// System acted on.
    pub system: Option<Sym>,
    /// Zone of that system.
    pub zone: Option<Sym>,
    /// Tool name.
    pub tool: Option<Sym>,
    /// Credential used (tool call) or token concerned (token event).
    pub credential_id: Option<Sym>,
    /// For token events: the token the credential came from.
    pub token_parent_id: Option<Sym>,
    /// For token events: the workload it was issued to.
    pub token_subject: Option<Sym>,
    /// For token events: the workload that presented it.
    pub presenter: Option<Sym>,
    /// Set when this tool call runs on another agent's delegation.
    pub delegated_by: Option<(Sym, Sym)>,
    /// For `exchanged`: the delegate that receives the new token.
    pub actor: Option<(Sym, Sym)>,
    /// W3C span id of this event.
    pub span_id: Option<Sym>,
    /// W3C parent span id.
    pub parent_span_id: Option<Sym>,
}

/// Events with their names: what [`build_path_from_table`](super::build_path_from_table)
/// stitches.
#[derive(Debug, Default, Clone)]
pub struct EventTable {
    /// The names the events refer to (and possibly more).
    pub names: Names,
    /// The events, in any order, duplicates allowed.
    pub events: Vec<TableEvent>,
}

impl EventTable {
    /// Interns `events`.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a PathEvent>) -> Self {
        let mut t = EventTable::default();
        for e in events {
            let e = t.names.event(e);
            t.events.push(e);
        }
        t
    }
}
