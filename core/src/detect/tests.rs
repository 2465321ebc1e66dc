//! The detector's specification as properties: arrival order, duplicates and switched-off
//! rules never change which alert ids come out.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::testkit::*;
use super::{Alert, DetectConfig, DetectSettings, RuleConfig, RuleId};
use crate::event::{Event, TokenAction};

const AGENTS: [&str; 3] = ["a", "b", "c"];
const SYSTEMS: [&str; 9] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "ext"];
const TOKENS: [&str; 3] = ["t0", "t1", "t2"];

/// Small thresholds so that random sets of a few dozen events trip every rule now and then.
fn eager() -> DetectSettings {
    eager_with(None)
}

/// [`eager`] with every window and grace at `window_ms`: shorter than the events' spread, so
/// window boundaries (thinning, sliding, too-old reads) are exercised too.
fn tight(window_ms: u64) -> DetectSettings {
    eager_with(Some(window_ms))
}

fn eager_with(window_ms: Option<u64>) -> DetectSettings {
    let mut rules = std::collections::BTreeMap::new();
    let mut set = |id: &str, rc: RuleConfig| {
        rules.insert(id.to_owned(), rc);
    };
    set(
        "blast_radius.fanout",
        RuleConfig {
            min_systems: Some(3),
            window_ms,
            ..Default::default()
        },
    );
    set(
        "probe.denied_burst",
        RuleConfig {
            min_denied: Some(2),
            window_ms,
            ..Default::default()
        },
    );
    if let Some(w) = window_ms {
        set(
            "boundary.first_external",
            RuleConfig {
                window_ms: Some(w),
                ..Default::default()
            },
        );
        for id in [
            "scope.undeclared_tool",
            "scope.undeclared_system",
            "credential.after_expiry",
            "credential.after_revocation",
        ] {
            set(
                id,
                RuleConfig {
                    grace_ms: Some(w / 2),
                    ..Default::default()
                },
            );
        }
    }
    set(
        "delegation.depth",
        RuleConfig {
            max_depth: Some(1),
            ..Default::default()
        },
    );
    DetectConfig {
        rules,
        ..DetectConfig::default()
    }
    .validate()
    .unwrap()
}

/// One random event, all within a few minutes (well inside the default 10 min lateness).
fn event() -> impl Strategy<Value = Event> {
    (
        0u32..1000,
        0i64..300_000,
        0usize..3,
        0usize..2,
        0usize..9,
        0u8..10,
        0usize..3,
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(id, t, ag, se, sy, kind, tok, other, flag)| {
            let id = format!("e{id}");
            let agent = AGENTS[ag];
            let session = format!("{agent}{se}");
            let system = SYSTEMS[sy];
            let zone = if system == "ext" {
                "external"
            } else {
                "internal"
            };
            let w = format!("spiffe://corp/{}", AGENTS[if flag { ag } else { other }]);
            match kind {
                0..=2 => {
                    let mut e = tool(&id, t, agent, &session, system)
                        .zone(zone)
                        .workload(&format!("spiffe://corp/{agent}"))
                        .named(["read", "write", "delete"][other]);
                    if flag {
                        e = e.cred(TOKENS[tok]);
                    }
                    if kind == 1 {
                        e = e.denied();
                    }
                    if kind == 2 && flag {
                        e = e.task(&["read"], &["s0", "s1"]);
                    }
                    e
                }
                3 => token(&id, t, agent, &session, TokenAction::Issued, TOKENS[tok])
                    .subject(&w)
                    .expires(t + 60_000 * other as i64),
                4 => token(&id, t, "idp", "idp", TokenAction::Revoked, TOKENS[tok]),
                5 => token(&id, t, agent, &session, TokenAction::Refreshed, TOKENS[tok])
                    .parent(TOKENS[other]),
                6 => token(&id, t, agent, &session, TokenAction::Presented, TOKENS[tok])
                    .presenter(&w),
                7 => tool(&id, t, agent, &session, system)
                    .delegated_by(AGENTS[other], &format!("{}{}", AGENTS[other], tok % 2)),
                8 => token(&id, t, agent, &session, TokenAction::Exchanged, TOKENS[tok])
                    .actor(AGENTS[other], &format!("{}{}", AGENTS[other], tok % 2)),
                _ => tool(&id, t, agent, &session, system).zone(zone).denied(),
            }
        })
}

/// Distinct ids per event set: the generator may repeat an id with different contents, which
/// would make "the same event" ambiguous.
fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(event(), 1..40).prop_map(|mut v| {
        let mut seen = BTreeSet::new();
        v.retain(|e| seen.insert(e.event_id.clone()));
        v
    })
}

fn ids(alerts: &[Alert]) -> BTreeSet<String> {
    alerts.iter().map(|a| a.id.clone()).collect()
}

fn in_time_order(events: &[Event]) -> Vec<Event> {
    let mut v = events.to_vec();
    v.sort_by(|a, b| (a.time_us, &a.event_id).cmp(&(b.time_us, &b.event_id)));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_arrival_order_within_the_lateness_raises_the_same_alert_ids(
        (events, perm) in events().prop_flat_map(|v| {
            let n = v.len();
            (Just(v), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let ordered = in_time_order(&events);
        let shuffled: Vec<Event> = perm.iter().map(|&i| events[i].clone()).collect();
        for settings in [eager(), tight(60_000), tight(7_000)] {
            let a = run_with(settings.clone(), &ordered);
            let b = run_with(settings, &shuffled);
            prop_assert_eq!(ids(&a), ids(&b));
            // An id is raised at most once per run.
            prop_assert_eq!(ids(&a).len(), a.len());
            prop_assert_eq!(ids(&b).len(), b.len());
        }
    }

    #[test]
    fn duplicated_events_never_add_alerts(
        (events, dups) in events().prop_flat_map(|v| {
            let n = v.len();
            (Just(v), prop::collection::vec(0..n, 0..20))
        })
    ) {
        let ordered = in_time_order(&events);
        let mut doubled = ordered.clone();
        for &i in &dups {
            let at = (i * 7) % (doubled.len() + 1);
            doubled.insert(at, ordered[i].clone());
        }
        doubled.extend(ordered.iter().cloned());
        for settings in [eager(), tight(30_000)] {
            let a = run_with(settings.clone(), &ordered);
            let b = run_with(settings, &doubled);
            prop_assert_eq!(ids(&a), ids(&b));
            prop_assert_eq!(a.len(), b.len());
        }
    }

    #[test]
    fn switched_off_rules_never_fire(
        events in events(),
        off in prop::collection::vec(0..RuleId::COUNT, 1..6),
    ) {
        let mut settings = eager();
        for &i in &off {
            settings.set_enabled(RuleId::ALL[i], false);
        }
        let alerts = run_with(settings, &in_time_order(&events));
        for a in &alerts {
            prop_assert!(!off.contains(&a.rule.index()), "{} fired while off", a.rule);
        }
        // The rules still on raise what they raise with everything on.
        let all = ids(&run_with(eager(), &in_time_order(&events)));
        prop_assert!(ids(&alerts).is_subset(&all));
    }
}

#[test]
fn the_random_events_trip_every_rule_somewhere() {
    // Guards the properties above against a generator that never fires a rule.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..400 {
        let events = events().new_tree(&mut runner).unwrap().current();
        for a in run_with(eager(), &in_time_order(&events)) {
            seen.insert(a.rule);
        }
    }
    let missing: Vec<_> = RuleId::ALL.iter().filter(|r| !seen.contains(r)).collect();
    assert!(missing.is_empty(), "never fired: {missing:?}");
}

#[test]
fn tenants_do_not_share_state() {
    let alerts = run(vec![
        tool("1", 1, "a", "s1", "jira").cred("key"),
        tool("2", 2, "b", "s2", "jira").cred("key").tenant("other"),
    ]);
    assert!(none_of(&alerts, RuleId::SharedCredential), "{alerts:?}");
}

#[test]
fn an_event_far_beyond_the_lateness_still_updates_long_lived_facts() {
    // The revocation arrives 30 min (event time) after the use: too late for the windowed
    // rules, but a revocation is a long-lived fact and still raises `after_revocation`.
    let alerts = run(vec![
        tool("1", 2_000_000, "a", "s", "jira").cred("tok"),
        tool("2", 3_800_000, "z", "s", "jira"),
        token("rev", 1_000_000, "idp", "s0", TokenAction::Revoked, "tok"),
    ]);
    only(&alerts, RuleId::AfterRevocation);
}

#[test]
fn state_older_than_the_ttl_is_forgotten() {
    let day_ms = 86_400_000;
    let alerts = run(vec![
        tool("1", 0, "a", "s1", "jira").cred("key"),
        // Two days later, driven by another agent's event: "key" and "a" are evicted.
        tool("2", 2 * day_ms, "z", "s", "jira"),
        tool("3", 2 * day_ms + 1, "b", "s2", "jira").cred("key"),
    ]);
    assert!(none_of(&alerts, RuleId::SharedCredential), "{alerts:?}");
}

#[test]
fn scope_verdicts_are_taken_once_the_watermark_passes_without_a_flush() {
    let mut d = super::Detector::new(DetectSettings::default());
    let mut out = Vec::new();
    d.observe(
        &tool("1", 0, "a", "s", "jira")
            .named("read")
            .task(&["read"], &[]),
        &mut out,
    );
    d.observe(&tool("2", 1, "a", "s", "jira").named("delete"), &mut out);
    assert!(out.is_empty());
    // Lateness (10 min) + grace (1 min) later, the verdict is final.
    d.observe(
        &tool("3", 700_000, "a", "s", "jira").named("read"),
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].rule, RuleId::UndeclaredTool);
}
