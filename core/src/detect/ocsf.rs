//! An alert as an OCSF Detection Finding (class 2004, activity Create). Invariant: the output
//! uses only OCSF attribute names, with OCSF types; what OCSF has no place for (tenant,
//! taxonomy mappings) goes under `unmapped.hoptrail`.
//!
//! Field choices: the agent is `actor.user` (`uid` its id, `name` its display name, `type_id`
//! 99 "AI Agent" since OCSF has no agent user type) and the credential it used is that user's
//! `credential_uid`; the workload identity (SPIFFE ID) is `actor.app_uid`, the client service
//! that acted; the session is `actor.session.uid`. Systems are `resources`. `time` is epoch
//! milliseconds, as OCSF requires. `metadata.version` is the OCSF schema version and
//! `metadata.product.version` hoptrail's.

use serde_json::{json, Map, Value};

use super::alert::Alert;

/// The OCSF schema version the rendering follows.
pub const OCSF_VERSION: &str = "1.5.0";

/// Renders `alert` as an OCSF Detection Finding.
pub fn to_ocsf_finding(alert: &Alert) -> Value {
    let nodes: Vec<Value> = alert
        .graph
        .nodes
        .iter()
        .map(|n| json!({ "uid": n.uid, "name": n.name, "type": n.kind.as_str() }))
        .collect();
    let edges: Vec<Value> = alert
        .graph
        .edges
        .iter()
        .map(|e| {
            json!({
                "source": e.source,
                "target": e.target,
                "relation": e.relation,
                "name": e.relation,
                "is_directed": true,
                "data": { "event_uids": e.event_ids },
            })
        })
        .collect();
    let related: Vec<Value> = alert
        .event_ids
        .iter()
        .map(|id| json!({ "uid": id }))
        .collect();
    let resources: Vec<Value> = alert
        .systems
        .iter()
        .map(|s| json!({ "uid": s, "name": s, "type": "System" }))
        .collect();

    let mut user = Map::new();
    user.insert("uid".into(), json!(alert.agent_id));
    user.insert(
        "name".into(),
        json!(alert.agent_name.as_deref().unwrap_or(&alert.agent_id)),
    );
    user.insert("type_id".into(), json!(99));
    user.insert("type".into(), json!("AI Agent"));
    if let Some(c) = &alert.credential_id {
        user.insert("credential_uid".into(), json!(c));
    }
    let mut actor = Map::new();
    actor.insert("user".into(), Value::Object(user));
    if let Some(w) = &alert.workload {
        actor.insert("app_uid".into(), json!(w));
    }
    if !alert.session_id.is_empty() {
        actor.insert("session".into(), json!({ "uid": alert.session_id }));
    }

    let mut evidence = Map::new();
    evidence.insert("rule_uid".into(), json!(alert.rule.as_str()));
    evidence.insert("event_uids".into(), json!(alert.event_ids));
    evidence.insert("systems".into(), json!(alert.systems));
    if let Some(c) = &alert.credential_id {
        evidence.insert("credential_uid".into(), json!(c));
    }

    json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": alert.severity.ocsf_id(),
        "severity": alert.severity.ocsf_name(),
        "status_id": 1,
        "status": "New",
        "time": alert.time_us.div_euclid(1000),
        "message": alert.title,
        "metadata": {
            "uid": alert.id,
            "version": OCSF_VERSION,
            "tenant_uid": alert.tenant,
            "product": {
                "name": "hoptrail",
                "vendor_name": "hoptrail",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": alert.id,
            "title": alert.title,
            "desc": alert.description,
            "analytic": {
                "uid": alert.rule.as_str(),
                "name": alert.rule.name(),
                "type_id": 1,
                "type": "Rule",
            },
            "related_events": related,
            "attack_graph": {
                "uid": alert.id,
                "name": alert.rule.name(),
                "type": "hoptrail.movement",
                "is_directed": true,
                "nodes": nodes,
                "edges": edges,
            },
        },
        "actor": Value::Object(actor),
        "resources": resources,
        "evidences": [ { "data": Value::Object(evidence) } ],
        "unmapped": {
            "hoptrail": {
                "tenant": alert.tenant,
                "mappings": alert.mappings,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        Str,
        Int,
        Bool,
        Arr,
        Obj,
    }

    fn kind(v: &Value) -> Option<Kind> {
        Some(match v {
            Value::String(_) => Kind::Str,
            Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Int,
            Value::Bool(_) => Kind::Bool,
            Value::Array(_) => Kind::Arr,
            Value::Object(_) => Kind::Obj,
            _ => return None,
        })
    }

    /// Every OCSF path the rendering promises, with its JSON type.
    const PATHS: &[(&str, Kind)] = &[
        ("activity_id", Kind::Int),
        ("activity_name", Kind::Str),
        ("category_uid", Kind::Int),
        ("category_name", Kind::Str),
        ("class_uid", Kind::Int),
        ("class_name", Kind::Str),
        ("type_uid", Kind::Int),
        ("type_name", Kind::Str),
        ("severity_id", Kind::Int),
        ("severity", Kind::Str),
        ("status_id", Kind::Int),
        ("status", Kind::Str),
        ("time", Kind::Int),
        ("message", Kind::Str),
        ("metadata", Kind::Obj),
        ("metadata.uid", Kind::Str),
        ("metadata.version", Kind::Str),
        ("metadata.tenant_uid", Kind::Str),
        ("metadata.product.name", Kind::Str),
        ("metadata.product.vendor_name", Kind::Str),
        ("metadata.product.version", Kind::Str),
        ("finding_info.uid", Kind::Str),
        ("finding_info.title", Kind::Str),
        ("finding_info.desc", Kind::Str),
        ("finding_info.analytic.uid", Kind::Str),
        ("finding_info.analytic.name", Kind::Str),
        ("finding_info.analytic.type_id", Kind::Int),
        ("finding_info.analytic.type", Kind::Str),
        ("finding_info.related_events", Kind::Arr),
        ("finding_info.related_events.0.uid", Kind::Str),
        ("finding_info.attack_graph.uid", Kind::Str),
        ("finding_info.attack_graph.name", Kind::Str),
        ("finding_info.attack_graph.type", Kind::Str),
        ("finding_info.attack_graph.is_directed", Kind::Bool),
        ("finding_info.attack_graph.nodes.0.uid", Kind::Str),
        ("finding_info.attack_graph.nodes.0.name", Kind::Str),
        ("finding_info.attack_graph.nodes.0.type", Kind::Str),
        ("finding_info.attack_graph.edges.0.source", Kind::Str),
        ("finding_info.attack_graph.edges.0.target", Kind::Str),
        ("finding_info.attack_graph.edges.0.relation", Kind::Str),
        ("finding_info.attack_graph.edges.0.name", Kind::Str),
        ("finding_info.attack_graph.edges.0.is_directed", Kind::Bool),
        ("finding_info.attack_graph.edges.0.data", Kind::Obj),
        ("actor.user.uid", Kind::Str),
        ("actor.user.name", Kind::Str),
        ("actor.user.type_id", Kind::Int),
        ("actor.user.type", Kind::Str),
        ("actor.user.credential_uid", Kind::Str),
        ("actor.app_uid", Kind::Str),
        ("actor.session.uid", Kind::Str),
        ("resources.0.uid", Kind::Str),
        ("resources.0.name", Kind::Str),
        ("resources.0.type", Kind::Str),
        ("evidences.0.data", Kind::Obj),
        ("unmapped.hoptrail", Kind::Obj),
    ];

    fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
        path.split('.')
            .try_fold(v, |v, seg| match seg.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(seg),
            })
    }

    /// Leaf paths of a JSON value, array indices as numbers; `data` and `unmapped` are opaque.
    fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
        let opaque = prefix.ends_with(".data") || prefix == "unmapped.hoptrail";
        match v {
            Value::Object(m) if !opaque => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(v, &p, out);
                }
            }
            Value::Array(a) if !a.is_empty() && !opaque => {
                for (i, v) in a.iter().enumerate().take(1) {
                    let _ = i;
                    leaves(v, &format!("{prefix}.0"), out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    fn foreign_alert() -> crate::detect::Alert {
        use crate::event::TokenAction;
        let alerts = run(vec![
            token("iss", 0, "issuer", "s0", TokenAction::Issued, "tok").subject("spiffe://a"),
            tool("1", 1_700_000_000_123, "b", "s1", "jira")
                .cred("tok")
                .workload("spiffe://b"),
        ]);
        only(&alerts, RuleId::ForeignPresenter).clone()
    }

    #[test]
    fn the_finding_has_exactly_the_documented_ocsf_paths_and_types() {
        let v = to_ocsf_finding(&foreign_alert());
        for (path, want) in PATHS {
            let got = at(&v, path).and_then(kind);
            assert_eq!(got, Some(*want), "{path} in {v:#}");
        }
        let mut found = Vec::new();
        leaves(&v, "", &mut found);
        for leaf in found {
            assert!(
                PATHS.iter().any(|(p, _)| *p == leaf),
                "undocumented path {leaf}"
            );
        }
    }

    #[test]
    fn the_finding_carries_the_ocsf_constants_and_the_alert() {
        let a = foreign_alert();
        let v = to_ocsf_finding(&a);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["activity_id"], 1);
        assert_eq!(v["time"], 1_700_000_000_123i64);
        assert_eq!(v["severity_id"], a.severity.ocsf_id());
        assert_eq!(v["finding_info"]["uid"], a.id);
        assert_eq!(v["metadata"]["uid"], a.id);
        assert_eq!(
            v["finding_info"]["analytic"]["uid"],
            "credential.foreign_presenter"
        );
        assert_eq!(v["actor"]["user"]["credential_uid"], "tok");
        assert_eq!(v["actor"]["app_uid"], "spiffe://b");
        assert_eq!(v["finding_info"]["related_events"][0]["uid"], "1");
        assert_eq!(v["unmapped"]["hoptrail"]["mappings"]["owasp_nhi"], "NHI2");
    }
}
