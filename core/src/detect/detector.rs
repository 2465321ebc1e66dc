//! The engine: feeds each event to every enabled rule and keeps per-tenant state bounded by
//! event time. Invariant: tenants share nothing — one tenant's clock can neither evict nor
//! delay another's state.

use rustc_hash::FxHashMap as HashMap;

use super::alert::Alert;
use super::config::DetectSettings;
use super::rules;
use super::scope;
use super::state::{self, Cfg, Ev, NameMap, Sink, TenantState, SWEEP_EVERY_US};
use super::RuleId;
use crate::event::Event;
use crate::path::Name;

/// Runs the detection rules over a stream of accepted events.
///
/// Feed events with [`Detector::observe`] in arrival order; alerts come out as soon as their
/// evidence is complete, except those of the scope rules and `credential.foreign_presenter`,
/// which wait until the lateness has passed the use they judge (see the module documentation).
#[derive(Debug)]
pub struct Detector {
    settings: DetectSettings,
    cfg: Cfg,
    tenants: NameMap<Tenant>,
}

#[derive(Debug, Default)]
struct Tenant {
    st: TenantState,
    fired: HashMap<[u8; 16], i64>,
}

const SESSION_RULES: [RuleId; 5] = [
    RuleId::UndeclaredTool,
    RuleId::UndeclaredSystem,
    RuleId::FirstExternal,
    RuleId::Fanout,
    RuleId::DeniedBurst,
];

impl Detector {
    /// A detector with no state.
    pub fn new(settings: DetectSettings) -> Self {
        Detector {
            cfg: Cfg::new(&settings),
            settings,
            tenants: NameMap::default(),
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &DetectSettings {
        &self.settings
    }

    /// Evaluates one accepted event and pushes the alerts it completes onto `out` (none when the
    /// alert was raised before). Observing an event again, or in another order within the
    /// lateness, raises no other alert ids.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Alert>) {
        let tenant = state::node(&mut self.tenants, &event.tenant, |_, _| {});
        let cfg = &self.cfg;
        let Tenant { st, fired } = tenant;
        let mut sink = Sink {
            cfg,
            tenant: &event.tenant,
            fired,
            out,
        };
        let ev = Ev::new(event, &mut st.names);
        let t = event.time_us;
        if st.max_time_us.is_none_or(|m| t > m) {
            st.max_time_us = Some(t);
        }

        let cred = st.record_credentials(cfg, &ev);
        if let Some((name, ch)) = cred.as_ref().filter(|(_, ch)| ch.any()) {
            let watermark = st.watermark(cfg);
            let c = st.credentials.get(name).expect("just recorded");
            let deferred = rules::foreign_presenter::check(st, &mut sink, c, *ch, watermark);
            rules::after_expiry::check(st, &mut sink, c, *ch);
            rules::after_revocation::check(st, &mut sink, c, *ch);
            rules::shared::check(st, &mut sink, c, *ch);
            st.due.extend(deferred);
        }

        if cfg.any(&SESSION_RULES) {
            let fanout_horizon = st.horizon(cfg, cfg.fanout_window_us);
            let burst_horizon = st.horizon(cfg, cfg.burst_window_us);
            let TenantState {
                agents,
                due,
                scratch,
                counts,
                names,
                ..
            } = st;
            let agent = state::agent(agents, &ev);
            let agent_id = agent.facts.id.clone();
            let state::AgentState { facts, sessions } = agent;
            rules::first_external::observe(facts, &ev, &mut sink);
            let sess = state::session(sessions, &ev);
            if cfg.any(&[RuleId::UndeclaredTool, RuleId::UndeclaredSystem]) {
                scope::declare(sess, &ev);
                let scope = scope::Use {
                    agent: &agent_id,
                    credential: cred.as_ref().map(|(name, _)| name),
                    ev: &ev,
                };
                rules::undeclared_tool::observe(due, cfg, names, sess, &scope);
                rules::undeclared_system::observe(due, cfg, sess, &scope);
            }
            rules::fanout::observe(facts, sess, &ev, &mut sink, fanout_horizon, scratch, counts);
            rules::denied_burst::observe(facts, sess, &ev, &mut sink, burst_horizon);
        }

        rules::delegation_depth::observe(st, &ev, &mut sink);
        rules::delegation_cycle::observe(st, &ev, &mut sink);

        let watermark = st.watermark(cfg);
        scope::decide_due(st, &mut sink, watermark);
        if watermark >= st.next_sweep_us {
            st.sweep(cfg, sink.fired);
            st.next_sweep_us = watermark.saturating_add(SWEEP_EVERY_US);
        }
    }

    /// Decides every verdict still waiting for the lateness to pass, as if no event could
    /// arrive any more, and pushes the resulting alerts. For the end of a finite input (a test,
    /// a batch re-scan); a live stream never needs it, and a replay before going live must not
    /// call it, or verdicts would be taken before their late events could arrive.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        let cfg = &self.cfg;
        let mut names: Vec<&Name> = self.tenants.keys().collect();
        names.sort();
        let names: Vec<Name> = names.into_iter().cloned().collect();
        for name in names {
            let Tenant { st, fired } = self.tenants.get_mut(&name).expect("listed");
            let mut sink = Sink {
                cfg,
                tenant: &name,
                fired,
                out,
            };
            scope::decide_due(st, &mut sink, i64::MAX);
        }
    }
}
