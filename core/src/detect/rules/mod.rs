//! One file per rule. Each rule is a monotone condition over the set of events seen: once it
//! holds for a key, more events never make it false. Each file ends with a firing case and its
//! benign twin.

pub(super) mod after_expiry;
pub(super) mod after_revocation;
pub(super) mod delegation_cycle;
pub(super) mod delegation_depth;
pub(super) mod denied_burst;
pub(super) mod fanout;
pub(super) mod first_external;
pub(super) mod foreign_presenter;
pub(super) mod shared;
pub(super) mod undeclared_system;
pub(super) mod undeclared_tool;

use super::state::TenantState;
use crate::time::format_rfc3339_us;

/// An instant for a description.
pub(super) fn when(us: i64) -> String {
    format_rfc3339_us(us)
}

/// An agent's display name, if it reported one.
pub(super) fn agent_name(st: &TenantState, agent: &str) -> Option<String> {
    st.agents
        .get(agent)
        .and_then(|a| a.facts.name.as_deref())
        .map(str::to_owned)
}
