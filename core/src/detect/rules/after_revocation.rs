//! `credential.after_revocation`: a credential that got through after it, or any token it
//! descends from (`parent_id` links: refresh, exchange), was revoked. Keyed by tenant + the
//! credential used. Each credential's latest successful use is compared with the earliest
//! revocation on its chain; a revocation or a new link re-checks every descendant, so a
//! revocation that arrives after the use still fires. Lineage walks are bounded.

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{CredentialChange, CredentialState, Sink, Stamp, TenantState, MAX_WALK};
use crate::path::Name;

use super::{agent_name, when};

pub(in crate::detect) fn check(
    st: &TenantState,
    sink: &mut Sink,
    c: &CredentialState,
    ch: CredentialChange,
) {
    if ch.revoked || ch.link_added {
        for d in descendants(st, &c.name) {
            if let Some(dc) = st.credentials.get(&d) {
                check_one(st, sink, dc);
            }
        }
    } else if ch.use_advanced {
        check_one(st, sink, c);
    }
}

/// `cred` and every token descending from it.
fn descendants(st: &TenantState, cred: &Name) -> Vec<Name> {
    let mut out = vec![cred.clone()];
    let mut i = 0;
    while i < out.len() && out.len() < MAX_WALK {
        if let Some(c) = st.credentials.get(&out[i]) {
            for child in &c.children {
                if !out.contains(child) {
                    out.push(child.clone());
                }
            }
        }
        i += 1;
    }
    out
}

/// The earliest revocation on `c`'s chain: `(revoked token, revocation)`.
fn earliest_revocation<'s>(
    st: &'s TenantState,
    c: &'s CredentialState,
) -> Option<(&'s Name, &'s Stamp)> {
    // Nearly every use is of a token without parents: its own revocation is the whole chain,
    // and the walk below would allocate for nothing.
    if c.parents.is_empty() {
        return c.revoked.as_ref().map(|r| (&c.name, r));
    }
    let mut chain: Vec<&Name> = vec![&c.name];
    let mut best: Option<(&Name, &Stamp)> = None;
    let mut i = 0;
    while i < chain.len() && chain.len() < MAX_WALK {
        if let Some(c) = st.credentials.get(chain[i]) {
            if let Some(r) = &c.revoked {
                let better =
                    best.is_none_or(|(_, b)| (r.time_us, &r.event_id) < (b.time_us, &b.event_id));
                if better {
                    best = Some((chain[i], r));
                }
            }
            for p in &c.parents {
                if !chain.contains(&p) {
                    chain.push(p);
                }
            }
        }
        i += 1;
    }
    best
}

fn check_one(st: &TenantState, sink: &mut Sink, c: &CredentialState) {
    let cred = &c.name;
    let Some(last) = &c.last_use else {
        return;
    };
    let Some((revoked, r)) = earliest_revocation(st, c) else {
        return;
    };
    let u = &last.user;
    if u.time_us <= r.time_us.saturating_add(sink.cfg.revocation_grace_us) {
        return;
    }
    let alert_key = c
        .revocation_alert
        .get_or_init(|| sink.alert_key(RuleId::AfterRevocation, &[cred]));
    if sink.raised(RuleId::AfterRevocation, alert_key) {
        return;
    }
    sink.fire(RuleId::AfterRevocation, &[cred], u.time_us, |a| {
        a.agent_id = u.agent.to_string();
        a.agent_name = agent_name(st, &u.agent);
        a.workload = u.workload.as_deref().map(str::to_owned);
        a.session_id = u.session.to_string();
        a.systems = u.system.iter().map(|s| s.to_string()).collect();
        a.credential_id = Some(cred.to_string());
        a.event_ids = vec![u.event_id.to_string(), r.event_id.to_string()];
        a.title = format!("Credential {cred} used after revocation by {}", u.agent);
        let via = if revoked == cred {
            String::new()
        } else {
            format!(" (it descends from {revoked})")
        };
        a.description = format!(
            "Agent {} used credential {cred}{} at {}, after {revoked} was revoked at {}{via}.",
            u.agent,
            u.system
                .as_ref()
                .map(|s| format!(" on {s}"))
                .unwrap_or_default(),
            when(u.time_us),
            when(r.time_us),
        );
        a.graph.link(
            (NodeKind::Agent, &u.agent),
            "used_revoked",
            (NodeKind::Credential, cred),
            Some(&u.event_id),
        );
        if revoked != cred {
            a.graph.link(
                (NodeKind::Credential, cred),
                "derived_from",
                (NodeKind::Credential, revoked),
                None,
            );
        }
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

    fn revoked(t: i64, tok: &str) -> crate::Event {
        token("rev", t, "idp", "s0", TokenAction::Revoked, tok)
    }

    #[test]
    fn a_use_after_revocation_fires() {
        let alerts = run(vec![
            revoked(10, "tok"),
            tool("1", 11, "a", "s", "jira").cred("tok"),
        ]);
        let a = only(&alerts, RuleId::AfterRevocation);
        assert_eq!(a.event_ids, vec!["1", "rev"]);
    }

    #[test]
    fn a_use_before_revocation_stays_silent() {
        let alerts = run(vec![
            tool("1", 9, "a", "s", "jira").cred("tok"),
            revoked(10, "tok"),
        ]);
        assert!(none_of(&alerts, RuleId::AfterRevocation), "{alerts:?}");
    }

    #[test]
    fn a_revocation_arriving_after_the_use_still_fires() {
        let alerts = run(vec![
            tool("1", 11, "a", "s", "jira").cred("tok"),
            revoked(10, "tok"),
        ]);
        only(&alerts, RuleId::AfterRevocation);
    }

    #[test]
    fn revoking_the_root_of_a_chain_covers_its_descendants_in_any_order() {
        let refresh = token("r", 5, "a", "s", TokenAction::Refreshed, "t2").parent("t1");
        let exchange = token("x", 6, "a", "s", TokenAction::Exchanged, "t3").parent("t2");
        let use_ = tool("1", 20, "b", "s2", "jira").cred("t3");
        for events in [
            vec![
                refresh.clone(),
                exchange.clone(),
                revoked(10, "t1"),
                use_.clone(),
            ],
            vec![
                use_.clone(),
                revoked(10, "t1"),
                exchange.clone(),
                refresh.clone(),
            ],
        ] {
            let alerts = run(events);
            let a = only(&alerts, RuleId::AfterRevocation);
            assert_eq!(a.credential_id.as_deref(), Some("t3"));
            assert!(
                a.description.contains("descends from t1"),
                "{}",
                a.description
            );
        }
    }

    #[test]
    fn revoking_a_child_leaves_its_parent_usable() {
        let alerts = run(vec![
            token("r", 5, "a", "s", TokenAction::Refreshed, "t2").parent("t1"),
            revoked(10, "t2"),
            tool("1", 20, "a", "s", "jira").cred("t1"),
        ]);
        assert!(none_of(&alerts, RuleId::AfterRevocation), "{alerts:?}");
    }
}
