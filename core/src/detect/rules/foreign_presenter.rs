//! `credential.foreign_presenter`: a token presented by a workload other than the one it was
//! issued to. The subject comes from any token event that names it (usually `issued`, possibly
//! arriving after the use), the presenter from a token event's `presenter` or the acting agent's
//! workload. Keyed by tenant + credential + presenting workload: one alert per stolen copy, not
//! one per call. A use without a known workload is never judged. When token events disagree
//! about a token's subject, a presenter differing from any of them fires: the conflict itself
//! is suspect, and a rule that picked one subject would depend on arrival order.
//!
//! A token exchange (RFC 8693) keeps the subject and names the delegate as actor, so the
//! actor's own uses are legitimate. That exemption is the one fact here that can turn a verdict
//! off, so it counts only when the exchange happened no later than the earliest use judged, and
//! the verdict waits until the watermark has passed that use: by then every exchange that can
//! count has arrived, whatever the order.

use std::cmp::Reverse;

use crate::detect::alert::NodeKind;
use crate::detect::rule_id::RuleId;
use crate::detect::state::{
    CredentialChange, CredentialState, Due, DueKind, Sink, Stamp, TenantState, User,
};
use crate::path::Name;

use super::agent_name;

/// Judges the credential's users whose use the watermark has passed; returns the verdicts
/// that must wait.
pub(in crate::detect) fn check(
    st: &TenantState,
    sink: &mut Sink,
    c: &CredentialState,
    ch: CredentialChange,
    watermark: i64,
) -> Vec<Due> {
    let cred = &c.name;
    let mut deferred = Vec::new();
    if !(ch.subject_added || ch.user_added) || !sink.cfg.on(RuleId::ForeignPresenter) {
        return deferred;
    }
    for u in &c.users {
        let (Some(w), Some(_)) = (&u.workload, foreign_subject(c, u)) else {
            continue;
        };
        if u.time_us < watermark {
            judge(st, sink, cred, c, u);
        } else {
            deferred.push(Reverse((
                u.time_us,
                DueKind::Presenter,
                cred.clone(),
                w.clone(),
                u.agent.clone(),
            )));
        }
    }
    deferred
}

/// A deferred verdict fell due.
pub(in crate::detect) fn decide(
    st: &TenantState,
    sink: &mut Sink,
    cred: &Name,
    workload: &Name,
    agent: &Name,
) {
    let Some(c) = st.credentials.get(cred) else {
        return;
    };
    if let Some(u) = c
        .users
        .iter()
        .find(|u| u.agent == *agent && u.workload.as_ref() == Some(workload))
    {
        judge(st, sink, cred, c, u);
    }
}

/// A subject claim the user's identity does not match.
fn foreign_subject<'c>(c: &'c CredentialState, u: &User) -> Option<&'c (Name, Stamp)> {
    let w = u.workload.as_ref()?;
    c.subjects
        .iter()
        .find(|(subject, _)| subject != w && *subject != u.agent)
}

fn judge(st: &TenantState, sink: &mut Sink, cred: &Name, c: &CredentialState, u: &User) {
    let (Some(w), Some((subject, stamp))) = (&u.workload, foreign_subject(c, u)) else {
        return;
    };
    if c.actors
        .iter()
        .any(|(a, at)| *a == u.agent && *at <= u.time_us)
    {
        return;
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
            "Agent {} presented credential {cred}{} as workload {w}, but the token was issued \
             to {subject}.",
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
    fn the_delegate_named_by_a_token_exchange_presents_it_silently_in_any_order() {
        let exchange = token("x", 1, "a", "s1", TokenAction::Exchanged, "tok2")
            .subject("spiffe://corp/a")
            .actor("b", "s2");
        let use_ = tool("2", 2, "b", "s2", "jira")
            .cred("tok2")
            .workload("spiffe://corp/b");
        for events in [
            vec![exchange.clone(), use_.clone()],
            vec![use_.clone(), exchange.clone()],
        ] {
            let alerts = run(events);
            assert!(none_of(&alerts, RuleId::ForeignPresenter), "{alerts:?}");
        }
        // A third agent presenting the exchanged token is still foreign.
        let alerts = run(vec![
            exchange,
            tool("3", 3, "c", "s3", "jira")
                .cred("tok2")
                .workload("spiffe://corp/c"),
        ]);
        assert_eq!(only(&alerts, RuleId::ForeignPresenter).agent_id, "c");
    }

    #[test]
    fn a_verdict_waits_for_the_lateness_then_fires_without_a_flush() {
        let mut d = crate::detect::Detector::new(crate::detect::DetectSettings::default());
        let mut out = Vec::new();
        d.observe(&issued_to("spiffe://corp/a"), &mut out);
        let use_ = tool("1", 1, "b", "s1", "jira")
            .cred("tok")
            .workload("spiffe://corp/b");
        d.observe(&use_, &mut out);
        assert!(out.is_empty(), "an exchange naming b may still arrive");
        d.observe(&tool("9", 700_000, "z", "s", "jira"), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
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
