//! `credential.after_expiry`: a credential that got through after its `expires_at`. Keyed by
//! tenant + credential; the condition is "latest successful use > earliest reported expiry +
//! grace", a maximum against a minimum, so any arrival order reaches it. Refused uses don't
//! count: a refusal is the expiry being enforced.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{CredentialChange, CredentialState, Sink, TenantState};

use super::{agent_name, when};

pub(in crate::detect) fn check(
    st: &TenantState,
    sink: &mut Sink,
    c: &CredentialState,
    ch: CredentialChange,
) {
    let cred = &c.name;
    if !(ch.expiry_lowered || ch.use_advanced) {
        return;
    }
    let (Some((expires_us, expiry_event)), Some(last)) = (&c.expires, &c.last_use) else {
        return;
    };
    let u = &last.user;
    if u.time_us <= expires_us.saturating_add(sink.cfg.expiry_grace_us) {
        return;
    }
    let alert_key = c
        .expiry_alert
        .get_or_init(|| sink.alert_key(RuleId::AfterExpiry, &[cred]));
    if sink.raised(RuleId::AfterExpiry, alert_key) {
        return;
    }
    sink.fire(RuleId::AfterExpiry, &[cred], u.time_us, |a| {
        a.agent_id = u.agent.to_string();
        a.agent_name = agent_name(st, &u.agent);
        a.workload = u.workload.as_deref().map(str::to_owned);
        a.session_id = u.session.to_string();
        a.systems = u.system.iter().map(|s| s.to_string()).collect();
        a.credential_id = Some(cred.to_string());
        a.event_ids = vec![u.event_id.to_string(), expiry_event.to_string()];
        a.title = format!("Credential {cred} used after expiry by {}", u.agent);
        a.description = format!(
            "Agent {} used credential {cred}{} at {}, after it expired at {}.",
            u.agent,
            u.system
                .as_ref()
                .map(|s| format!(" on {s}"))
                .unwrap_or_default(),
            when(u.time_us),
            when(*expires_us),
        );
        a.graph.link(
            (NodeKind::Agent, &u.agent),
            "used_expired",
            (NodeKind::Credential, cred),
            Some(&u.event_id),
        );
        if let Some(s) = &u.system {
            a.graph.link(
                (NodeKind::Agent, &u.agent),
                "accessed",
                (NodeKind::System, s),
                Some(&u.event_id),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;
    use crate::event::TokenAction;

    fn issued(expires_ms: i64) -> crate::Event {
        token("iss", 0, "a", "s", TokenAction::Issued, "tok").expires(expires_ms)
    }

    #[test]
    fn a_use_after_expiry_fires() {
        let alerts = run(vec![
            issued(100),
            tool("1", 101, "a", "s", "jira").cred("tok"),
        ]);
        let a = only(&alerts, RuleId::AfterExpiry);
        assert_eq!(a.credential_id.as_deref(), Some("tok"));
        assert_eq!(a.time_us, 101_000);
    }

    #[test]
    fn a_use_before_expiry_stays_silent() {
        let alerts = run(vec![
            issued(100),
            tool("1", 99, "a", "s", "jira").cred("tok"),
        ]);
        assert!(none_of(&alerts, RuleId::AfterExpiry), "{alerts:?}");
    }

    #[test]
    fn a_refused_use_after_expiry_stays_silent() {
        let alerts = run(vec![
            issued(100),
            tool("1", 101, "a", "s", "jira").cred("tok").denied(),
        ]);
        assert!(none_of(&alerts, RuleId::AfterExpiry), "{alerts:?}");
    }

    #[test]
    fn an_expiry_reported_after_the_use_still_fires() {
        let alerts = run(vec![
            tool("1", 101, "a", "s", "jira").cred("tok"),
            issued(100),
        ]);
        only(&alerts, RuleId::AfterExpiry);
    }
}
