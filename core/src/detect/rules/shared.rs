//! `credential.shared`: one credential used by `min_agents` or more distinct agents. Keyed by
//! tenant + credential: the set of users only grows, so the threshold is crossed whatever the
//! order. Up to 16 distinct users are remembered per credential.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{CredentialChange, CredentialState, Sink, TenantState};
use crate::path::Name;

use super::agent_name;

pub(in crate::detect) fn check(
    st: &TenantState,
    sink: &mut Sink,
    c: &CredentialState,
    ch: CredentialChange,
) {
    let cred = &c.name;
    if !ch.user_added {
        return;
    }
    let mut agents: Vec<&Name> = Vec::new();
    for u in &c.users {
        if !agents.contains(&&u.agent) {
            agents.push(&u.agent);
        }
    }
    if agents.len() < sink.cfg.min_agents {
        return;
    }
    // The user seen last completes the condition; describe the alert from its side.
    let last = c
        .users
        .iter()
        .max_by(|a, b| (a.time_us, &a.event_id).cmp(&(b.time_us, &b.event_id)))
        .expect("at least two users");
    sink.fire(RuleId::SharedCredential, &[cred], last.time_us, |a| {
        a.agent_id = last.agent.to_string();
        a.agent_name = agent_name(st, &last.agent);
        a.workload = last.workload.as_deref().map(str::to_owned);
        a.session_id = last.session.to_string();
        for u in &c.users {
            if let Some(s) = &u.system {
                if !a.systems.iter().any(|x| x == &**s) {
                    a.systems.push(s.to_string());
                }
            }
            a.event_ids.push(u.event_id.to_string());
            a.graph.link(
                (NodeKind::Agent, &u.agent),
                "used",
                (NodeKind::Credential, cred),
                Some(&u.event_id),
            );
        }
        a.credential_id = Some(cred.to_string());
        let names: Vec<&str> = agents.iter().map(|n| &***n).collect();
        a.title = format!("Credential {cred} shared by {} agents", names.len());
        a.description = format!(
            "Credential {cred} was used by {} distinct agents: {}.",
            names.len(),
            names.join(", ")
        );
    });
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    #[test]
    fn one_credential_used_by_two_agents_fires() {
        let alerts = run(vec![
            tool("1", 1, "a", "s1", "jira").cred("key"),
            tool("2", 2, "b", "s2", "github").cred("key"),
        ]);
        let a = only(&alerts, RuleId::SharedCredential);
        assert_eq!(a.systems, vec!["jira", "github"]);
        assert!(a.description.contains("a, b"), "{}", a.description);
    }

    #[test]
    fn one_agent_using_its_credential_in_many_sessions_stays_silent() {
        let alerts = run(vec![
            tool("1", 1, "a", "s1", "jira").cred("key"),
            tool("2", 2, "a", "s2", "github").cred("key"),
        ]);
        assert!(none_of(&alerts, RuleId::SharedCredential), "{alerts:?}");
    }
}
