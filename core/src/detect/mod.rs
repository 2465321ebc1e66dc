//! Detection: rules over the stream of accepted events, raising [`Alert`]s that render as OCSF
//! Detection Findings.
//!
//! # Invariant
//! The set of alert ids raised by a [`Detector`] depends only on the set of events it observed —
//! not on their arrival order (within the lateness), not on duplicates, not on restarts.
//!
//! # Why arrival order does not matter
//! Every rule is a monotone condition over the events seen (a set of users that grows, a
//! minimum expiry against a maximum use time, a delegation depth that only rises, "some window
//! holds N systems"), and every fact is merged as a set, a minimum or a maximum, so the state
//! after a set of events is the same in any order. Each event re-checks exactly the keys whose
//! condition it can change — a late revocation re-checks every descendant token, a late denied
//! call re-checks the successes after it — so a condition that holds for the full set holds at
//! the latest when its last piece of evidence arrives. An alert's id is a SHA-256 of the rule,
//! the tenant and a key naming *what* is wrong rather than *which event* showed it first:
//!
//! | rule | id key (after rule and tenant) |
//! |---|---|
//! | `credential.foreign_presenter` | credential, presenting workload |
//! | `credential.after_expiry`, `credential.after_revocation`, `credential.shared` | credential |
//! | `scope.undeclared_tool` / `scope.undeclared_system` | agent, session, tool / system |
//! | `boundary.first_external` | agent |
//! | `blast_radius.fanout`, `probe.denied_burst` | agent, session |
//! | `delegation.depth` | agent and session of the too-deep delegate |
//! | `delegation.cycle` | each agent on the cycle |
//!
//! So whichever event completes the condition, the id is the same. The alert's *content*
//! (time, evidence list, `boundary.first_external`'s escalation) describes the evidence present
//! when it fired and may differ between arrival orders; the id never does. Once raised, an id
//! is remembered (for the state TTL) and never raised again, so evidence arriving later does not
//! produce a second alert.
//!
//! Two conditions are not monotone: the scope rules (a later event may declare the tool) and
//! the token-exchange exemption of `credential.foreign_presenter` (a later event may name the
//! presenter as the exchange's actor). Their verdict on the earliest use waits until the
//! watermark (newest event time of the tenant − lateness) passes that use (+ grace for scope),
//! when every event it depends on has arrived, and only counts declarations and exchanges dated
//! no later than that; see `scope.rs` and `rules/foreign_presenter.rs`. [`Detector::flush`]
//! takes the waiting verdicts at the end of a finite input.
//!
//! Observing an event twice is a no-op: every fact merge is idempotent and time lists are
//! de-duplicated by `(time, event id)`. No table of seen event ids is kept, which would cost
//! memory per event.
//!
//! # Memory bound
//! Per tenant, driven by event time only (no clock):
//! - windowed state (fan-out times, denied calls and successes, internal reads) covers at most
//!   `lateness + window` of event time per session; fan-out keeps about two times per system
//!   per window; a time list is capped at 4096 entries per session;
//! - long-lived facts (token subjects, expiries, revocations, parent links, which agents used a
//!   credential, agents that went external, declared scopes, delegation links, raised alert
//!   ids) are dropped once the watermark is `state_ttl_ms` past the last event that touched
//!   them; each is capped per entry (16 users per credential, 64 links per node, …). So memory
//!   is O(distinct credentials + agents + sessions active within `state_ttl_ms`), and
//!   `state_ttl_ms` is the knob.
//!
//! Eviction runs once per minute of event time. Events older than the watermark minus a rule's
//! window are too late for that rule and ignored by it; the long-lived facts still take them.
//! Since time comes only from events, one event stamped far in the future advances its tenant's
//! watermark and ages out that tenant's state; the decoder's bounds on `time` are the guard,
//! and other tenants are unaffected.
//!
//! # Restart
//! Re-feed the stored events of the last [`DetectSettings::replay_horizon`] in time order into
//! a fresh detector and drop alerts whose id the store already holds. Do not call
//! [`Detector::flush`] before going live.

mod alert;
mod config;
mod detector;
mod ocsf;
mod rule_id;
mod rules;
mod scope;
mod state;

pub use alert::{alert_id, Alert, AttackGraph, GraphEdge, GraphNode, NodeKind};
pub use config::{
    ConfigError, DetectConfig, DetectSettings, RuleConfig, RuleSettings, Thresholds,
    DEFAULT_CREDENTIAL_GRACE_MS, DEFAULT_FANOUT_MIN_SYSTEMS, DEFAULT_LATENESS_MS,
    DEFAULT_MAX_DEPTH, DEFAULT_MIN_AGENTS, DEFAULT_MIN_DENIED, DEFAULT_SCOPE_GRACE_MS,
    DEFAULT_STATE_TTL_MS, DEFAULT_WINDOW_MS,
};
pub use detector::Detector;
pub use ocsf::{to_ocsf_finding, OCSF_VERSION};
pub use rule_id::{Mappings, RuleId, Severity};

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
