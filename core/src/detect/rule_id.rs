//! The catalogue of rules: stable ids, default severities and the risk taxonomies each cites.
//! Invariant: a rule's id never changes once released, because alert ids are derived from it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Severity of an alert, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording, not worth a look on its own.
    Informational,
    /// Worth a look when correlated with something else.
    Low,
    /// Worth a look.
    Medium,
    /// Worth a look today.
    High,
    /// Worth waking someone up.
    Critical,
}

impl Severity {
    /// OCSF `severity_id` (1 Informational … 5 Critical).
    pub fn ocsf_id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    /// OCSF `severity` caption.
    pub fn ocsf_name(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// Where a rule sits in the risk taxonomies (ids, e.g. `ASI03`, `NHI9`, `AML.T0053`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mappings {
    /// OWASP Top 10 for Agentic Applications (2026).
    pub owasp_agentic: Option<String>,
    /// OWASP Non-Human Identities Top 10 (2025).
    pub owasp_nhi: Option<String>,
    /// MITRE ATLAS technique.
    pub mitre_atlas: Option<String>,
}

/// A detection rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    /// `credential.foreign_presenter`
    ForeignPresenter,
    /// `credential.after_expiry`
    AfterExpiry,
    /// `credential.after_revocation`
    AfterRevocation,
    /// `credential.shared`
    SharedCredential,
    /// `scope.undeclared_tool`
    UndeclaredTool,
    /// `scope.undeclared_system`
    UndeclaredSystem,
    /// `boundary.first_external`
    FirstExternal,
    /// `blast_radius.fanout`
    Fanout,
    /// `delegation.depth`
    DelegationDepth,
    /// `delegation.cycle`
    DelegationCycle,
    /// `probe.denied_burst`
    DeniedBurst,
}

impl RuleId {
    /// Number of rules.
    pub const COUNT: usize = 11;

    /// Every rule, in catalogue order.
    pub const ALL: [RuleId; RuleId::COUNT] = [
        RuleId::ForeignPresenter,
        RuleId::AfterExpiry,
        RuleId::AfterRevocation,
        RuleId::SharedCredential,
        RuleId::UndeclaredTool,
        RuleId::UndeclaredSystem,
        RuleId::FirstExternal,
        RuleId::Fanout,
        RuleId::DelegationDepth,
        RuleId::DelegationCycle,
        RuleId::DeniedBurst,
    ];

    /// The stable id, as written in config files and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ForeignPresenter => "credential.foreign_presenter",
            RuleId::AfterExpiry => "credential.after_expiry",
            RuleId::AfterRevocation => "credential.after_revocation",
            RuleId::SharedCredential => "credential.shared",
            RuleId::UndeclaredTool => "scope.undeclared_tool",
            RuleId::UndeclaredSystem => "scope.undeclared_system",
            RuleId::FirstExternal => "boundary.first_external",
            RuleId::Fanout => "blast_radius.fanout",
            RuleId::DelegationDepth => "delegation.depth",
            RuleId::DelegationCycle => "delegation.cycle",
            RuleId::DeniedBurst => "probe.denied_burst",
        }
    }

    /// Parses a stable id.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Position in [`RuleId::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Severity when the config names none.
    pub fn default_severity(self) -> Severity {
        match self {
            RuleId::ForeignPresenter | RuleId::AfterRevocation | RuleId::DeniedBurst => {
                Severity::High
            }
            RuleId::DelegationDepth => Severity::Low,
            _ => Severity::Medium,
        }
    }

    /// A short, fixed title (the alert's own title names the entities).
    pub fn name(self) -> &'static str {
        match self {
            RuleId::ForeignPresenter => "Credential presented by a workload other than its subject",
            RuleId::AfterExpiry => "Credential used after expiry",
            RuleId::AfterRevocation => "Credential used after revocation",
            RuleId::SharedCredential => "Credential shared between agents",
            RuleId::UndeclaredTool => "Tool outside the declared task scope",
            RuleId::UndeclaredSystem => "System outside the declared task scope",
            RuleId::FirstExternal => "First hop into an external zone",
            RuleId::Fanout => "Fan-out across many systems",
            RuleId::DelegationDepth => "Delegation chain too deep",
            RuleId::DelegationCycle => "Delegation cycle",
            RuleId::DeniedBurst => "Burst of denied calls followed by a success",
        }
    }

    /// Taxonomy entries that fit the behaviour (none where no entry fits well).
    pub fn mappings(self) -> Mappings {
        let (agentic, nhi, atlas) = match self {
            // A token replayed by another workload: stolen application access token.
            RuleId::ForeignPresenter => (Some("ASI03"), Some("NHI2"), Some("AML.T0091.000")),
            // An expiry that does not stop use makes a short-lived secret long-lived.
            RuleId::AfterExpiry => (Some("ASI03"), Some("NHI7"), Some("AML.T0091.000")),
            RuleId::AfterRevocation => (Some("ASI03"), Some("NHI1"), Some("AML.T0091.000")),
            RuleId::SharedCredential => (Some("ASI03"), Some("NHI9"), None),
            RuleId::UndeclaredTool => (Some("ASI02"), Some("NHI5"), Some("AML.T0053")),
            RuleId::UndeclaredSystem => (Some("ASI02"), Some("NHI5"), Some("AML.T0053")),
            RuleId::FirstExternal => (Some("ASI02"), None, Some("AML.T0086")),
            RuleId::Fanout => (Some("ASI03"), Some("NHI5"), Some("AML.T0053")),
            RuleId::DelegationDepth => (Some("ASI07"), None, None),
            RuleId::DelegationCycle => (Some("ASI07"), None, None),
            RuleId::DeniedBurst => (Some("ASI03"), Some("NHI5"), None),
        };
        Mappings {
            owasp_agentic: agentic.map(str::to_owned),
            owasp_nhi: nhi.map(str::to_owned),
            mitre_atlas: atlas.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RuleId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown rule id `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_round_trips_and_indexes_its_position() {
        for (i, r) in RuleId::ALL.into_iter().enumerate() {
            assert_eq!(RuleId::parse(r.as_str()), Some(r));
            assert_eq!(r.index(), i);
        }
        assert_eq!(RuleId::parse("credential.nope"), None);
    }

    #[test]
    fn severity_ids_follow_ocsf() {
        assert_eq!(Severity::Informational.ocsf_id(), 1);
        assert_eq!(Severity::Critical.ocsf_id(), 5);
        assert!(Severity::High > Severity::Medium);
    }
}
