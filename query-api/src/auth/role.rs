//! Roles and what each may reach. Invariant: a route's requirement is decided by one table
//! (`Access::for_route`), so a new route is either listed there or refused to everyone but admin.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a key may do. Roles are not hierarchical except that `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Security analysts and incident reviewers: events, paths, replay.
    Analyst,
    /// A SIEM pulling alerts, and nothing else.
    Siem,
    /// Everything, including metrics.
    Admin,
}

impl Role {
    /// Every role, for `--help` texts and tests.
    pub const ALL: [Role; 3] = [Role::Analyst, Role::Siem, Role::Admin];

    /// Whether a key of this role may use a route needing `access`.
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Public | Access::AnyKey => true,
            Access::Analyst => matches!(self, Role::Analyst | Role::Admin),
            Access::Siem => matches!(self, Role::Siem | Role::Admin),
            Access::Admin => self == Role::Admin,
        }
    }

    /// The role's name as it appears in key files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Siem => "siem",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (expected analyst, siem or admin)"))
    }
}

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key at all: liveness and readiness probes only.
    Public,
    /// Any valid key (the API description).
    AnyKey,
    /// Events, paths and session replay.
    Analyst,
    /// Alerts.
    Siem,
    /// Metrics, and any route not listed.
    Admin,
}

impl Access {
    /// The requirement of a matched route template (`None`: no route matched).
    pub fn for_route(template: Option<&str>) -> Access {
        let Some(t) = template else {
            // Unknown paths still need a key, so the 404 tells an anonymous caller nothing.
            return Access::AnyKey;
        };
        match t {
            "/healthz" | "/readyz" => Access::Public,
            "/openapi.json" => Access::AnyKey,
            "/metrics" => Access::Admin,
            _ if t == "/v1/alerts" || t.starts_with("/v1/alerts/") => Access::Siem,
            _ if t.starts_with("/v1/events")
                || t.starts_with("/v1/agents/")
                || t.starts_with("/v1/sessions/")
                || t.starts_with("/v1/credentials/")
                || t.starts_with("/v1/systems/") =>
            {
                Access::Analyst
            }
            // Fail closed: a route nobody classified is admin-only until someone does.
            _ => Access::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_may_do_everything_and_the_others_only_their_part() {
        for access in [Access::AnyKey, Access::Analyst, Access::Siem, Access::Admin] {
            assert!(Role::Admin.allows(access));
        }
        assert!(Role::Analyst.allows(Access::Analyst));
        assert!(!Role::Analyst.allows(Access::Siem));
        assert!(!Role::Analyst.allows(Access::Admin));
        assert!(Role::Siem.allows(Access::Siem));
        assert!(!Role::Siem.allows(Access::Analyst));
        assert!(!Role::Siem.allows(Access::Admin));
    }

    #[test]
    fn an_unclassified_route_is_admin_only() {
        assert_eq!(Access::for_route(Some("/v2/new-thing")), Access::Admin);
        assert_eq!(Access::for_route(Some("/healthz")), Access::Public);
        assert_eq!(Access::for_route(None), Access::AnyKey);
        assert_eq!(Access::for_route(Some("/v1/alerts")), Access::Siem);
        assert_eq!(
            Access::for_route(Some("/v1/sessions/{session_id}/replay")),
            Access::Analyst
        );
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
