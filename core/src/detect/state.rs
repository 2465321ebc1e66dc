//! What the detector remembers per tenant, and how it forgets. Invariant: every fact is a
//! join-semilattice value (a set, a minimum or a maximum) so merging the same events in any
//! order or any number of times leaves the same state; eviction only drops what no event within
//! the lateness can still combine with.

use std::cell::OnceCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::hash_map::EntryRef;
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};

use super::alert::{alert_digest, Alert, AttackGraph};
use super::config::{DetectSettings, RuleSettings};
use super::rule_id::{RuleId, Severity};
use crate::event::{Event, EventBody, Outcome, TokenAction};
use crate::path::Name;

/// A map keyed by names that finds an entry by `&str` with one probe and allocates the key only
/// when it inserts one: the per-event lookups (tenant, agent, session, credential) never
/// allocate for a known name.
pub(super) type NameMap<V> = hashbrown::HashMap<Name, V, FxBuildHasher>;

/// The entry for `id`; on first sight inserted as `V::default()` and handed to `init` with the
/// key as the map holds it.
pub(super) fn node<'m, V: Default>(
    map: &'m mut NameMap<V>,
    id: &str,
    init: impl FnOnce(&Name, &mut V),
) -> &'m mut V {
    match map.entry_ref(id) {
        EntryRef::Occupied(o) => o.into_mut(),
        EntryRef::Vacant(v) => {
            let mut o = v.insert_entry(V::default());
            let key = o.key().clone();
            init(&key, o.get_mut());
            o.into_mut()
        }
    }
}

/// One shared copy of each name a tenant's state stores in many places (systems, tools): a
/// known name costs a lookup instead of an allocation, and equal names held in different
/// places share one cache line. A name nothing else holds any more is dropped at the sweep.
#[derive(Debug, Default)]
pub(super) struct Interner(hashbrown::HashSet<Name, FxBuildHasher>);

impl Interner {
    pub fn get(&mut self, name: &str) -> Name {
        self.0
            .get_or_insert_with(name, |n: &str| Name::from(n))
            .clone()
    }

    /// Drops the names only the interner holds.
    pub fn sweep(&mut self) {
        self.0.retain(|n| std::sync::Arc::strong_count(n) > 1);
    }
}

/// Subjects remembered per credential: more than one is already a conflict worth flagging.
pub(super) const MAX_SUBJECTS: usize = 4;
/// Parent links remembered per token.
pub(super) const MAX_PARENTS: usize = 4;
/// Children remembered per token (refreshes and exchanges of one token).
pub(super) const MAX_CHILDREN: usize = 64;
/// Distinct (agent, workload) users remembered per credential.
pub(super) const MAX_USERS: usize = 16;
/// Internal reads remembered per agent for `boundary.first_external`.
pub(super) const MAX_READS: usize = 8;
/// Delegation links remembered per agent and per session, each way.
pub(super) const MAX_LINKS: usize = 64;
/// Declared items, and undecided scope verdicts, remembered per session.
pub(super) const MAX_SCOPE_ITEMS: usize = 1024;
/// Times remembered per session list of the windowed rules (denied calls, successes).
pub(super) const MAX_TIMES: usize = 4096;
/// Nodes one graph walk (lineage, delegation) visits at most.
pub(super) const MAX_WALK: usize = 256;

/// Rule settings in microseconds, computed once.
#[derive(Debug, Clone)]
pub(super) struct Cfg {
    pub rules: [RuleSettings; RuleId::COUNT],
    pub lateness_us: i64,
    pub ttl_us: i64,
    pub expiry_grace_us: i64,
    pub revocation_grace_us: i64,
    pub min_agents: usize,
    pub tool_grace_us: i64,
    pub system_grace_us: i64,
    pub external_window_us: i64,
    pub escalated: Severity,
    pub fanout_min: usize,
    pub fanout_window_us: i64,
    pub max_depth: u32,
    pub burst_min: usize,
    pub burst_window_us: i64,
}

fn us(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

impl Cfg {
    pub fn new(s: &DetectSettings) -> Self {
        let t = &s.thresholds;
        Cfg {
            rules: RuleId::ALL.map(|r| s.rule(r)),
            lateness_us: us(s.lateness),
            ttl_us: us(s.state_ttl),
            expiry_grace_us: us(t.expiry_grace),
            revocation_grace_us: us(t.revocation_grace),
            min_agents: t.shared_min_agents,
            tool_grace_us: us(t.tool_scope_grace),
            system_grace_us: us(t.system_scope_grace),
            external_window_us: us(t.external_window),
            escalated: t.external_escalated_severity,
            fanout_min: t.fanout_min_systems,
            fanout_window_us: us(t.fanout_window),
            max_depth: t.max_delegation_depth,
            burst_min: t.burst_min_denied,
            burst_window_us: us(t.burst_window),
        }
    }

    pub fn on(&self, r: RuleId) -> bool {
        self.rules[r.index()].enabled
    }

    pub fn any(&self, rules: &[RuleId]) -> bool {
        rules.iter().any(|r| self.on(*r))
    }
}

/// The event being observed, with its id shared lazily (only rules that store evidence pay
/// for the allocation) and its system interned.
pub(super) struct Ev<'a> {
    pub e: &'a Event,
    id: OnceCell<Name>,
    system: Option<Name>,
}

impl<'a> Ev<'a> {
    pub fn new(e: &'a Event, names: &mut Interner) -> Self {
        Ev {
            e,
            id: OnceCell::new(),
            system: e.system().map(|s| names.get(s)),
        }
    }

    /// [`Event::system`], as the tenant's [`Interner`] holds it.
    pub fn system_name(&self) -> Option<&Name> {
        self.system.as_ref()
    }

    pub fn id(&self) -> Name {
        self.id
            .get_or_init(|| self.e.event_id.as_str().into())
            .clone()
    }

    pub fn t(&self) -> i64 {
        self.e.time_us
    }

    /// The system the agent acted on, when the event puts it there (a tool call, or a token
    /// presented to a resource server), with whether it got through.
    pub fn movement(&self) -> Option<(&'a str, bool)> {
        match &self.e.body {
            EventBody::ToolUse(t) => Some((t.system.as_str(), t.outcome != Outcome::Denied)),
            EventBody::TokenUse(t) if t.action == TokenAction::Presented => {
                t.system.as_deref().map(|s| (s, true))
            }
            EventBody::TokenUse(_) => None,
        }
    }

    /// A credential use: `(credential, presenting workload, got through)`.
    pub fn credential_use(&self) -> Option<(&'a str, Option<&'a str>, bool)> {
        let e = self.e;
        match &e.body {
            EventBody::ToolUse(t) => t.credential.as_ref().map(|c| {
                (
                    c.id.as_str(),
                    e.agent.workload.as_deref(),
                    t.outcome != Outcome::Denied,
                )
            }),
            EventBody::TokenUse(t) => {
                let ok = match t.action {
                    TokenAction::Presented => true,
                    TokenAction::Denied => false,
                    _ => return None,
                };
                let workload = t.presenter.as_deref().or(e.agent.workload.as_deref());
                Some((t.token.id.as_str(), workload, ok))
            }
        }
    }

    /// A delegation hand-off `(from agent, from session) → (to agent, to session)`.
    pub fn delegation(&self) -> Option<(SessionPair<'a>, SessionPair<'a>)> {
        let e = self.e;
        let me = (e.agent.id.as_str(), e.session_id.as_str());
        let link = match &e.body {
            EventBody::ToolUse(t) => t
                .delegated_by
                .as_ref()
                .map(|by| ((by.agent_id.as_str(), by.session_id.as_str()), me)),
            EventBody::TokenUse(t) if t.action == TokenAction::Exchanged => t
                .actor
                .as_ref()
                .map(|a| (me, (a.agent_id.as_str(), a.session_id.as_str()))),
            EventBody::TokenUse(_) => None,
        };
        link.filter(|(from, to)| from != to)
    }
}

/// `(agent, session)`.
pub(super) type SessionPair<'a> = (&'a str, &'a str);

/// Where alerts go, with the ids already raised.
pub(super) struct Sink<'a> {
    pub cfg: &'a Cfg,
    pub tenant: &'a str,
    pub fired: &'a mut HashMap<[u8; 16], i64>,
    pub out: &'a mut Vec<Alert>,
}

impl Sink<'_> {
    /// Raises the alert of `rule` for `key` unless it was raised already; `fill` completes it.
    pub fn fire(
        &mut self,
        rule: RuleId,
        key: &[&str],
        time_us: i64,
        fill: impl FnOnce(&mut Alert),
    ) -> bool {
        if !self.cfg.on(rule) {
            return false;
        }
        let digest = alert_digest(rule, self.tenant, key);
        let short = short_digest(&digest);
        if self.fired.contains_key(&short) {
            return false;
        }
        self.fired.insert(short, time_us);
        let mut a = Alert {
            id: super::alert::hex(&digest),
            rule,
            severity: self.cfg.rules[rule.index()].severity,
            time_us,
            tenant: self.tenant.to_owned(),
            agent_id: String::new(),
            agent_name: None,
            workload: None,
            session_id: String::new(),
            systems: Vec::new(),
            credential_id: None,
            event_ids: Vec::new(),
            title: rule.name().to_owned(),
            description: String::new(),
            mappings: rule.mappings(),
            graph: AttackGraph::default(),
        };
        fill(&mut a);
        self.out.push(a);
        true
    }

    /// The key under which the alert of `rule` for `key` is remembered once raised.
    pub fn alert_key(&self, rule: RuleId, key: &[&str]) -> [u8; 16] {
        short_digest(&alert_digest(rule, self.tenant, key))
    }

    /// Whether [`Sink::fire`] would be a no-op for the alert remembered under `alert_key`: its
    /// rule is off or it was raised already. Lets a rule that re-checks the same key on every
    /// event skip hashing it each time.
    pub fn raised(&self, rule: RuleId, alert_key: &[u8; 16]) -> bool {
        !self.cfg.on(rule) || self.fired.contains_key(alert_key)
    }
}

fn short_digest(digest: &[u8; 32]) -> [u8; 16] {
    let mut short = [0u8; 16];
    short.copy_from_slice(&digest[..16]);
    short
}

/// One use of a credential by one (agent, workload): the first seen.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub agent: Name,
    pub workload: Option<Name>,
    pub session: Name,
    pub system: Option<Name>,
    pub time_us: i64,
    pub event_id: Name,
}

/// A dated piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub time_us: i64,
    pub event_id: Name,
}

impl Stamp {
    /// Keeps the least `(time, id)`: a minimum, so order never matters.
    pub fn keep_min(slot: &mut Option<Stamp>, time_us: i64, ev: &Ev) -> bool {
        match slot {
            Some(s) if (s.time_us, &*s.event_id) <= (time_us, ev.e.event_id.as_str()) => false,
            _ => {
                *slot = Some(Stamp {
                    time_us,
                    event_id: ev.id(),
                });
                true
            }
        }
    }
}

/// The latest successful use of a credential (a maximum).
#[derive(Debug, Clone)]
pub(super) struct LastUse {
    pub user: User,
}

/// Long-lived facts about one credential.
#[derive(Debug, Default)]
pub(super) struct CredentialState {
    /// The map's key, shared.
    pub name: Name,
    /// [`Sink::alert_key`] of this credential's `credential.after_expiry` and
    /// `credential.after_revocation` alerts, computed once: once a token has expired or been
    /// revoked, every further use re-checks it.
    pub expiry_alert: OnceCell<[u8; 16]>,
    pub revocation_alert: OnceCell<[u8; 16]>,
    pub last_seen_us: i64,
    /// `(subject, evidence)`.
    pub subjects: Vec<(Name, Stamp)>,
    /// Least reported expiry, with the event that reported it.
    pub expires: Option<(i64, Name)>,
    /// Earliest revocation.
    pub revoked: Option<Stamp>,
    pub parents: Vec<Name>,
    pub children: Vec<Name>,
    /// Delegates a token exchange issued this token to: `(agent, earliest exchange)`.
    pub actors: Vec<(Name, i64)>,
    /// Earliest use per (agent, workload).
    pub users: Vec<User>,
    pub last_use: Option<LastUse>,
}

/// What one event changed about a credential.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct CredentialChange {
    pub subject_added: bool,
    pub expiry_lowered: bool,
    pub revoked: bool,
    pub link_added: bool,
    pub user_added: bool,
    pub use_advanced: bool,
}

impl CredentialChange {
    /// Whether any credential rule has something to re-check.
    pub fn any(&self) -> bool {
        self.subject_added
            || self.expiry_lowered
            || self.revoked
            || self.link_added
            || self.user_added
            || self.use_advanced
    }
}

/// A successful call on an internal system.
#[derive(Debug, Clone)]
pub(super) struct Read {
    pub time_us: i64,
    pub system: Name,
    pub event_id: Name,
    pub session: Name,
}

/// A delegation link between agents.
#[derive(Debug, Clone)]
pub(super) struct AgentLink {
    pub agent: Name,
    pub event_id: Name,
}

/// Agent-wide facts.
#[derive(Debug, Default)]
pub(super) struct AgentFacts {
    pub id: Name,
    pub last_seen_us: i64,
    pub name: Option<Name>,
    pub workload: Option<Name>,
    pub went_external: bool,
    pub reads: Vec<Read>,
    pub delegates: Vec<AgentLink>,
    pub delegators: Vec<Name>,
}

/// A declared scope: item → earliest declaration.
#[derive(Debug, Default)]
pub(super) struct Declared {
    pub first_us: Option<i64>,
    pub items: HashMap<Name, i64>,
}

/// The undecided (or decided-unscoped) verdict on one tool or system of a session.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    /// Waiting for the lateness to pass the earliest use.
    Pending {
        time_us: i64,
        event_id: Name,
        system: Name,
        credential: Option<Name>,
    },
    /// Decided without an alert because the session had declared nothing yet; later uses of
    /// the same item are judged by that earliest one.
    Decided,
}

/// One session's delegation node.
#[derive(Debug, Clone)]
pub(super) struct SessionLink {
    pub agent: Name,
    pub session: Name,
    pub event_id: Name,
}

/// Per-session state.
#[derive(Debug, Default)]
pub(super) struct SessionState {
    pub id: Name,
    pub last_seen_us: i64,
    pub workload: Option<Name>,
    // blast_radius.fanout: per system, thinned times (see rules/fanout.rs).
    pub fanout_done: bool,
    pub fanout: HashMap<Name, Vec<Stamp>>,
    // probe.denied_burst: sorted by (time, id), unique.
    pub burst_done: bool,
    pub denied: Vec<(Stamp, Name)>,
    pub successes: Vec<(Stamp, Name)>,
    // scope.*
    pub tools: Declared,
    pub systems: Declared,
    pub tool_verdicts: NameMap<Verdict>,
    pub system_verdicts: NameMap<Verdict>,
    // delegation.depth
    pub depth: u32,
    pub parents: Vec<SessionLink>,
    pub children: Vec<(Name, Name)>,
}

/// An agent and its sessions.
#[derive(Debug, Default)]
pub(super) struct AgentState {
    pub facts: AgentFacts,
    pub sessions: NameMap<SessionState>,
}

/// What a deferred verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum DueKind {
    /// `scope.undeclared_tool`: (agent, session, tool).
    Tool,
    /// `scope.undeclared_system`: (agent, session, system).
    System,
    /// `credential.foreign_presenter`: (credential, workload, agent).
    Presenter,
}

/// A verdict that falls due at a deadline (event time): `(deadline, kind, three names)`.
pub(super) type Due = Reverse<(i64, DueKind, Name, Name, Name)>;

/// Everything one tenant's detection remembers.
#[derive(Debug, Default)]
pub(super) struct TenantState {
    /// Newest event time seen (`None` before the first event).
    pub max_time_us: Option<i64>,
    pub next_sweep_us: i64,
    pub credentials: NameMap<CredentialState>,
    pub agents: NameMap<AgentState>,
    pub due: BinaryHeap<Due>,
    /// Reused by the windowed rules so that a check allocates nothing.
    pub scratch: Vec<(i64, u32)>,
    pub counts: Vec<u32>,
    pub names: Interner,
}

impl TenantState {
    /// Events older than this (for a rule with window `window_us`) can no longer be judged as
    /// if they had arrived in order.
    pub fn horizon(&self, cfg: &Cfg, window_us: i64) -> i64 {
        self.max_time_us
            .map_or(i64::MIN, |m| m - cfg.lateness_us - window_us)
    }

    pub fn watermark(&self, cfg: &Cfg) -> i64 {
        self.max_time_us.map_or(i64::MIN, |m| m - cfg.lateness_us)
    }

    /// The credential `id`, created on first sight, with its name as the map holds it.
    pub fn credential(&mut self, id: &str, time_us: i64) -> (Name, &mut CredentialState) {
        let c = node(&mut self.credentials, id, |k, c| c.name = k.clone());
        let name = c.name.clone();
        c.last_seen_us = c.last_seen_us.max(time_us);
        (name, c)
    }

    /// Records what a token or tool event says about credentials.
    pub fn record_credentials(&mut self, cfg: &Cfg, ev: &Ev) -> Option<(Name, CredentialChange)> {
        let e = ev.e;
        let t = e.time_us;
        let want_subjects = cfg.on(RuleId::ForeignPresenter);
        let want_expiry = cfg.on(RuleId::AfterExpiry);
        let want_revocation = cfg.on(RuleId::AfterRevocation);
        let want_users = cfg.any(&[RuleId::ForeignPresenter, RuleId::SharedCredential]);
        let want_last_use = want_expiry || want_revocation;
        if !(want_subjects || want_expiry || want_revocation || want_users) {
            return None;
        }
        let id = e.credential_id()?;
        let mut ch = CredentialChange::default();
        let mut parent_to_link: Option<&str> = None;
        let name = {
            let (name, c) = self.credential(id, t);
            if let EventBody::TokenUse(tu) = &e.body {
                let tok = &tu.token;
                if let (true, Some(s)) = (want_subjects, tok.subject.as_deref()) {
                    let full = c.subjects.len() >= MAX_SUBJECTS;
                    match c.subjects.iter_mut().find(|(n, _)| &**n == s) {
                        Some((_, stamp)) => {
                            let mut slot = Some(stamp.clone());
                            if Stamp::keep_min(&mut slot, t, ev) {
                                *stamp = slot.expect("set");
                            }
                        }
                        None if !full => {
                            c.subjects.push((
                                s.into(),
                                Stamp {
                                    time_us: t,
                                    event_id: ev.id(),
                                },
                            ));
                            ch.subject_added = true;
                        }
                        None => {}
                    }
                }
                if let (true, Some(x)) = (want_expiry, tok.expires_at_us) {
                    if c.expires.as_ref().is_none_or(|(old, _)| x < *old) {
                        c.expires = Some((x, ev.id()));
                        ch.expiry_lowered = true;
                    }
                }
                if let (true, TokenAction::Exchanged, Some(actor)) =
                    (want_subjects, tu.action, tu.actor.as_ref())
                {
                    let full = c.actors.len() >= MAX_USERS;
                    match c.actors.iter_mut().find(|(a, _)| **a == *actor.agent_id) {
                        Some((_, at)) => *at = (*at).min(t),
                        None if !full => c.actors.push((actor.agent_id.as_str().into(), t)),
                        None => {}
                    }
                }
                if want_revocation && tu.action == TokenAction::Revoked {
                    ch.revoked = Stamp::keep_min(&mut c.revoked, t, ev);
                }
                if let (true, Some(p)) = (want_revocation, tok.parent_id.as_deref()) {
                    if p != id
                        && !c.parents.iter().any(|x| &**x == p)
                        && c.parents.len() < MAX_PARENTS
                    {
                        c.parents.push(p.into());
                        ch.link_added = true;
                        parent_to_link = Some(p);
                    }
                }
            }
            if let Some((_, workload, ok)) = ev.credential_use() {
                if want_users {
                    let full = c.users.len() >= MAX_USERS;
                    let known = c
                        .users
                        .iter_mut()
                        .find(|u| *u.agent == *e.agent.id && u.workload.as_deref() == workload);
                    match known {
                        // The earliest use is the one judged: a minimum, whatever the order.
                        Some(u) if (t, e.event_id.as_str()) < (u.time_us, &*u.event_id) => {
                            reuse(&mut u.session, &e.session_id);
                            u.system = ev.system.clone();
                            u.time_us = t;
                            u.event_id = ev.id();
                        }
                        Some(_) => {}
                        None if !full => {
                            c.users.push(user(ev, workload));
                            ch.user_added = true;
                        }
                        None => {}
                    }
                }
                if want_last_use && ok {
                    let newer = c.last_use.as_ref().is_none_or(|l| {
                        (l.user.time_us, &*l.user.event_id) < (t, e.event_id.as_str())
                    });
                    if newer {
                        match &mut c.last_use {
                            // In-order streams advance this on nearly every use: keep the
                            // names already held instead of allocating them again.
                            Some(l) => {
                                let u = &mut l.user;
                                reuse(&mut u.agent, &e.agent.id);
                                reuse_opt(&mut u.workload, workload);
                                reuse(&mut u.session, &e.session_id);
                                u.system = ev.system.clone();
                                u.time_us = t;
                                u.event_id = ev.id();
                            }
                            None => {
                                c.last_use = Some(LastUse {
                                    user: user(ev, workload),
                                })
                            }
                        }
                        ch.use_advanced = true;
                    }
                }
            }
            name
        };
        if let Some(p) = parent_to_link {
            let (_, pc) = self.credential(p, t);
            if pc.children.len() < MAX_CHILDREN && !pc.children.iter().any(|x| &**x == id) {
                pc.children.push(id.into());
            }
        }
        Some((name, ch))
    }

    /// Drops windowed entries no in-lateness event can combine with, and facts older than the
    /// TTL. Cost is linear in the state, so it runs once per minute of event time.
    pub fn sweep(&mut self, cfg: &Cfg, fired: &mut HashMap<[u8; 16], i64>) {
        let Some(max) = self.max_time_us else { return };
        let wm = max - cfg.lateness_us;
        let ttl_cut = wm - cfg.ttl_us;
        self.credentials.retain(|_, c| c.last_seen_us >= ttl_cut);
        fired.retain(|_, t| *t >= ttl_cut);
        let fanout_cut = wm - cfg.fanout_window_us;
        let burst_cut = wm - cfg.burst_window_us;
        let read_cut = wm - cfg.external_window_us;
        self.agents.retain(|_, a| {
            a.sessions.retain(|_, s| {
                for times in s.fanout.values_mut() {
                    times.retain(|st| st.time_us >= fanout_cut);
                }
                s.fanout.retain(|_, v| !v.is_empty());
                s.denied.retain(|(st, _)| st.time_us >= burst_cut);
                // A success only pairs with denied calls before it: one below the watermark
                // can meet no future in-lateness denied call.
                s.successes.retain(|(st, _)| st.time_us >= wm);
                s.last_seen_us >= ttl_cut
            });
            a.facts.reads.retain(|r| r.time_us >= read_cut);
            a.facts.last_seen_us >= ttl_cut || !a.sessions.is_empty()
        });
        // Last: only now do the counts say which names the state still holds.
        self.names.sweep();
        self.next_sweep_us = wm + SWEEP_EVERY_US;
    }
}

/// Sets `slot` to `value`, allocating only when it differs.
pub(super) fn reuse(slot: &mut Name, value: &str) {
    if &**slot != value {
        *slot = value.into();
    }
}

/// [`reuse`] for optional names.
pub(super) fn reuse_opt(slot: &mut Option<Name>, value: Option<&str>) {
    if slot.as_deref() != value {
        *slot = value.map(Name::from);
    }
}

/// A shared name for `value`: a clone of `recent` when equal, else a new allocation.
pub(super) fn share(recent: Option<&Name>, value: &str) -> Name {
    match recent {
        Some(r) if &**r == value => r.clone(),
        _ => value.into(),
    }
}

/// Event time between sweeps.
pub(super) const SWEEP_EVERY_US: i64 = 60_000_000;

fn user(ev: &Ev, workload: Option<&str>) -> User {
    let e = ev.e;
    User {
        agent: e.agent.id.as_str().into(),
        workload: workload.map(Name::from),
        session: e.session_id.as_str().into(),
        system: ev.system.clone(),
        time_us: e.time_us,
        event_id: ev.id(),
    }
}

/// The agent of the event, created on first sight.
pub(super) fn agent<'a>(agents: &'a mut NameMap<AgentState>, ev: &Ev) -> &'a mut AgentState {
    let e = ev.e;
    let a = agent_node(agents, &e.agent.id, e.time_us);
    let f = &mut a.facts;
    if f.name.as_deref() != e.agent.name.as_deref() && e.agent.name.is_some() {
        f.name = e.agent.name.as_deref().map(Name::from);
    }
    if f.workload.as_deref() != e.agent.workload.as_deref() && e.agent.workload.is_some() {
        f.workload = e.agent.workload.as_deref().map(Name::from);
    }
    a
}

/// The agent `id`, created on first sight, touched at `time_us`.
pub(super) fn agent_node<'a>(
    agents: &'a mut NameMap<AgentState>,
    id: &str,
    time_us: i64,
) -> &'a mut AgentState {
    let a = node(agents, id, |k, a| a.facts.id = k.clone());
    a.facts.last_seen_us = a.facts.last_seen_us.max(time_us);
    a
}

/// The session `id` of `agent`, created on first sight, touched at `time_us`.
pub(super) fn session_node<'a>(
    sessions: &'a mut NameMap<SessionState>,
    id: &str,
    time_us: i64,
) -> &'a mut SessionState {
    let s = node(sessions, id, |k, s| s.id = k.clone());
    s.last_seen_us = s.last_seen_us.max(time_us);
    s
}

/// The session of the event, created on first sight.
pub(super) fn session<'a>(
    sessions: &'a mut NameMap<SessionState>,
    ev: &Ev,
) -> &'a mut SessionState {
    let e = ev.e;
    let s = session_node(sessions, &e.session_id, e.time_us);
    if s.workload.is_none() {
        s.workload = e.agent.workload.as_deref().map(Name::from);
    }
    s
}

/// Inserts into a list sorted by `(time, id)` unless present; returns the position if inserted.
pub(super) fn insert_sorted<T>(
    list: &mut Vec<(Stamp, T)>,
    time_us: i64,
    ev: &Ev,
    extra: impl FnOnce() -> T,
) -> Option<usize> {
    let key = (time_us, ev.e.event_id.as_str());
    let pos = list.partition_point(|(s, _)| (s.time_us, &*s.event_id) < key);
    if list
        .get(pos)
        .is_some_and(|(s, _)| (s.time_us, &*s.event_id) == key)
    {
        return None;
    }
    if list.len() >= MAX_TIMES {
        // The memory cap: drop the oldest, the entry least likely to meet a future event.
        if pos == 0 {
            return None;
        }
        list.remove(0);
        list.insert(
            pos - 1,
            (
                Stamp {
                    time_us,
                    event_id: ev.id(),
                },
                extra(),
            ),
        );
        return Some(pos - 1);
    }
    list.insert(
        pos,
        (
            Stamp {
                time_us,
                event_id: ev.id(),
            },
            extra(),
        ),
    );
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_interner_shares_names_and_drops_those_nothing_else_holds() {
        let mut names = Interner::default();
        let held = names.get("svc-1.corp");
        assert!(Arc::ptr_eq(&held, &names.get("svc-1.corp")));
        drop(names.get("svc-2.corp"));
        names.sweep();
        assert_eq!(
            names.0.len(),
            1,
            "svc-2.corp is held by nothing but the interner"
        );
        assert!(Arc::ptr_eq(&held, &names.get("svc-1.corp")));
        drop(held);
        names.sweep();
        assert!(names.0.is_empty());
    }
}
