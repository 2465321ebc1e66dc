//! `credential.foreign_presenter`: a token presented by a workload other than the one it was
//! issued to. The subject comes from any token event that names it (usually `issued`, possibly
//! arriving after the use), the presenter from a token event's `presenter` or the acting agent's
//! workload. Keyed by tenant + credential + presenting workload: one alert per stolen copy, not
//! one per call. A use without a known workload is never judged. When token events disagree
//! about a token's subject, a presenter differing from any of them fires: the conflict itself
//! is suspect, and a rule that picked one subject would depend on arrival order.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{CredentialChange, Sink, TenantState};
use crate::path::Name;

use super::agent_name;

pub(in crate::detect) fn check(
    st: &TenantState,
    sink: &mut Sink,
    cred: &Name,
    ch: CredentialChange,
) {
    if !(ch.subject_added || ch.user_added) {
        return;
    }
    let Some(c) = st.credentials.get(cred) else {
        return;
    };
    for u in &c.users {
        let Some(w) = &u.workload else { continue };
        for (subject, stamp) in &c.subjects {
            if subject == w || subject == &u.agent {
                continue;
            }
            sink.fire(RuleId::ForeignPresenter, &[cred, w], u.time_us, |a| {
                a.agent_id = u.agent.to_string();
                a.agent_name = agent_name(st, &u.agent);
                a.workload = Some(w.to_string());
                a.session_id = u.session.to_string();
                a.systems = u.system.iter().map(|s| s.to_string()).collect();
                a.credential_id = Some(cred.to_string());
                a.event_ids = vec![u.event_id.to_string(), stamp.event_id.to_string()];
                a.title = format!("Token {cred} of {subject} presented by {w}");
                a.description = format!(
                    "Agent {} presented credential {cred}{} as workload {w}, but the token \
                     was issued to {subject}.",
                    u.agent,
                    u.system
                        .as_ref()
                        .map(|s| format!(" to {s}"))
                        .unwrap_or_default(),
                );
                let g = &mut a.graph;
                g.link(
                    (NodeKind::Agent, &u.agent),
                    "presented",
                    (NodeKind::Credential, cred),
                    Some(&u.event_id),
                );
                g.link(
                    (NodeKind::Credential, cred),
                    "issued_to",
                    (NodeKind::Workload, subject),
                    Some(&stamp.event_id),
                );
                if let Some(s) = &u.system {
                    g.link(
                        (NodeKind::Agent, &u.agent),
                        "accessed",
                        (NodeKind::System, s),
                        Some(&u.event_id),
                    );
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;
    use crate::event::TokenAction;

    fn issued_to(subject: &str) -> crate::Event {
        token("iss", 0, "issuer", "s0", TokenAction::Issued, "tok").subject(subject)
    }

    #[test]
    fn a_token_presented_by_a_workload_other_than_its_subject_fires() {
        let alerts = run(vec![
            issued_to("spiffe://corp/a"),
            tool("1", 1, "b", "s1", "jira")
                .cred("tok")
                .workload("spiffe://corp/b"),
        ]);
        let a = only(&alerts, RuleId::ForeignPresenter);
        assert_eq!(a.agent_id, "b");
        assert_eq!(a.workload.as_deref(), Some("spiffe://corp/b"));
        assert_eq!(a.event_ids, vec!["1", "iss"]);
        assert!(
            a.description.contains("spiffe://corp/a"),
            "{}",
            a.description
        );
    }

    #[test]
    fn the_subject_presenting_its_own_token_stays_silent() {
        let alerts = run(vec![
            issued_to("spiffe://corp/a"),
            tool("1", 1, "a", "s1", "jira")
                .cred("tok")
                .workload("spiffe://corp/a"),
            token("2", 2, "a", "s1", TokenAction::Presented, "tok")
                .subject("spiffe://corp/a")
                .presenter("spiffe://corp/a"),
        ]);
        assert!(none_of(&alerts, RuleId::ForeignPresenter), "{alerts:?}");
    }

    #[test]
    fn a_presented_event_naming_both_subject_and_presenter_fires_on_its_own() {
        let alerts = run(vec![token("1", 1, "b", "s", TokenAction::Presented, "tok")
            .subject("spiffe://corp/a")
            .presenter("spiffe://corp/b")]);
        only(&alerts, RuleId::ForeignPresenter);
    }

    #[test]
    fn an_issued_event_arriving_after_the_use_still_fires() {
        let alerts = run(vec![
            tool("1", 5, "b", "s1", "jira")
                .cred("tok")
                .workload("spiffe://corp/b"),
            issued_to("spiffe://corp/a"),
        ]);
        only(&alerts, RuleId::ForeignPresenter);
    }
}
