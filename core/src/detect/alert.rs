//! What a rule raises. Invariant: an alert's id is a SHA-256 of its rule, tenant and an
//! evidence key that does not depend on arrival order, so the same condition always yields the
//! same id — across restarts, replays and processes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rule_id::{Mappings, RuleId, Severity};

/// Domain separator of alert ids: bump it only together with every rule's key.
const ALERT_ID_DOMAIN: &[u8] = b"hoptrail.alert.v1";

/// The id of the alert `rule` raises in `tenant` for the evidence key `key`: lowercase hex of
/// SHA-256 over length-prefixed parts (so no choice of names can make two keys collide by
/// concatenation).
pub fn alert_id(rule: RuleId, tenant: &str, key: &[&str]) -> String {
    hex(&alert_digest(rule, tenant, key))
}

/// Lowercase hex of a digest.
pub(super) fn hex(digest: &[u8; 32]) -> String {
    let mut out = String::with_capacity(64);
    for &b in digest {
        out.push(char::from(HEX[(b >> 4) as usize]));
        out.push(char::from(HEX[(b & 0xf) as usize]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(super) fn alert_digest(rule: RuleId, tenant: &str, key: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut part = |p: &[u8]| {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    };
    part(ALERT_ID_DOMAIN);
    part(rule.as_str().as_bytes());
    part(tenant.as_bytes());
    for k in key {
        part(k.as_bytes());
    }
    h.finalize().into()
}

/// A detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id (64 lowercase hex digits), see [`alert_id`].
    pub id: String,
    /// The rule that raised it.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// Event time of the evidence that completed the condition, microseconds since the epoch.
    pub time_us: i64,
    /// Tenant.
    pub tenant: String,
    /// The agent the alert is about.
    pub agent_id: String,
    /// Its display name, if reported.
    pub agent_name: Option<String>,
    /// Its workload (SPIFFE ID), if reported.
    pub workload: Option<String>,
    /// The session the evidence belongs to.
    pub session_id: String,
    /// Systems touched by the evidence, in evidence order.
    pub systems: Vec<String>,
    /// The credential involved, if any.
    pub credential_id: Option<String>,
    /// Ids of the events that make up the evidence.
    pub event_ids: Vec<String>,
    /// One line naming the entities.
    pub title: String,
    /// What happened, for a human.
    pub description: String,
    /// Taxonomy entries.
    pub mappings: Mappings,
    /// The fragment of the movement graph the evidence spans.
    pub graph: AttackGraph,
}

/// Nodes and edges for OCSF `finding_info.attack_graph`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttackGraph {
    /// Agents, systems and credentials.
    pub nodes: Vec<GraphNode>,
    /// Hops, uses and hand-offs.
    pub edges: Vec<GraphEdge>,
}

/// What a graph node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// An agent.
    Agent,
    /// A system.
    System,
    /// A credential.
    Credential,
    /// A workload identity (SPIFFE ID), e.g. a token's subject.
    Workload,
}

impl NodeKind {
    /// The name used in node ids and OCSF `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Agent => "agent",
            NodeKind::System => "system",
            NodeKind::Credential => "credential",
            NodeKind::Workload => "workload",
        }
    }
}

/// A node: `uid` is `<kind>:<name>`, unique within the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    /// `<kind>:<name>`.
    pub uid: String,
    /// What it is.
    pub kind: NodeKind,
    /// The entity's id as reported.
    pub name: String,
}

/// A directed edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphEdge {
    /// Source node uid.
    pub source: String,
    /// Target node uid.
    pub target: String,
    /// `accessed`, `used`, `presented`, `issued_to`, `delegated_to`, ….
    pub relation: String,
    /// The events the edge stands for.
    pub event_ids: Vec<String>,
}

impl AttackGraph {
    /// Adds a node once; returns its uid.
    pub fn node(&mut self, kind: NodeKind, name: &str) -> String {
        let uid = format!("{}:{name}", kind.as_str());
        if !self.nodes.iter().any(|n| n.uid == uid) {
            self.nodes.push(GraphNode {
                uid: uid.clone(),
                kind,
                name: name.to_owned(),
            });
        }
        uid
    }

    /// Adds an edge (merging the event ids of an edge already present).
    pub fn edge(&mut self, source: String, target: String, relation: &str, event_id: Option<&str>) {
        let ids: Vec<String> = event_id.map(str::to_owned).into_iter().collect();
        match self
            .edges
            .iter_mut()
            .find(|e| e.source == source && e.target == target && e.relation == relation)
        {
            Some(e) => {
                for id in ids {
                    if !e.event_ids.contains(&id) {
                        e.event_ids.push(id);
                    }
                }
            }
            None => self.edges.push(GraphEdge {
                source,
                target,
                relation: relation.to_owned(),
                event_ids: ids,
            }),
        }
    }

    /// `agent -[relation]-> <kind>:name`, the common case.
    pub fn link(
        &mut self,
        from: (NodeKind, &str),
        relation: &str,
        to: (NodeKind, &str),
        event_id: Option<&str>,
    ) {
        let a = self.node(from.0, from.1);
        let b = self.node(to.0, to.1);
        self.edge(a, b, relation, event_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_id_is_stable_hex_and_separates_its_parts() {
        let a = alert_id(RuleId::SharedCredential, "t", &["ab", "c"]);
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(a, alert_id(RuleId::SharedCredential, "t", &["ab", "c"]));
        assert_ne!(a, alert_id(RuleId::SharedCredential, "t", &["a", "bc"]));
        assert_ne!(a, alert_id(RuleId::SharedCredential, "u", &["ab", "c"]));
        assert_ne!(a, alert_id(RuleId::AfterExpiry, "t", &["ab", "c"]));
    }

    #[test]
    fn a_graph_keeps_one_node_per_entity_and_merges_edge_evidence() {
        let mut g = AttackGraph::default();
        g.link(
            (NodeKind::Agent, "a"),
            "accessed",
            (NodeKind::System, "s"),
            Some("1"),
        );
        g.link(
            (NodeKind::Agent, "a"),
            "accessed",
            (NodeKind::System, "s"),
            Some("2"),
        );
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.edges[0].event_ids, vec!["1", "2"]);
    }
}
