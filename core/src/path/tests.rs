//! The stitcher's specification.

use proptest::prelude::*;

use super::*;
use crate::event::{Outcome, TokenAction};

/// A successful tool call on `system`; the other fields empty. Shared by the path tests.
pub(super) fn tool(id: &str, t: i64, agent: &str, session: &str, system: &str) -> PathEvent {
    PathEvent {
        event_id: id.into(),
        time_us: t,
        agent_id: agent.into(),
        session_id: session.into(),
        workload: None,
        kind: PathEventKind::tool(Outcome::Success),
        system: Some(system.into()),
        zone: Some("internal".into()),
        tool: Some("t".into()),
        credential_id: None,
        token_parent_id: None,
        token_subject: None,
        presenter: None,
        delegated_by: None,
        actor: None,
        span_id: None,
        parent_span_id: None,
    }
}

fn token(
    id: &str,
    t: i64,
    agent: &str,
    session: &str,
    action: TokenAction,
    token: &str,
) -> PathEvent {
    PathEvent {
        kind: PathEventKind::token(action),
        tool: None,
        credential_id: Some(token.into()),
        system: Some("idp".into()),
        ..tool(id, t, agent, session, "idp")
    }
}

fn agent_path(agent: &str, events: Vec<PathEvent>) -> Path {
    build_path(
        &PathRoot::Agent(agent.into()),
        events,
        TokenLineage::default(),
        PathOptions::default(),
    )
}

fn route(p: &Path) -> Vec<String> {
    let mut r: Vec<String> = p.start.iter().map(|s| s.system.to_string()).collect();
    r.extend(p.hops.iter().map(|h| h.to.to_string()));
    r
}

#[test]
fn the_first_system_touched_is_the_start_not_a_hop() {
    let p = agent_path("a", vec![tool("1", 10, "a", "s", "jira")]);
    assert_eq!(&*p.start.as_ref().unwrap().system, "jira");
    assert!(p.hops.is_empty());
}

#[test]
fn hop_is_not_counted_for_repeated_calls_on_one_system() {
    let p = agent_path(
        "a",
        (0..5)
            .map(|i| tool(&i.to_string(), i, "a", "s", "jira"))
            .collect(),
    );
    assert!(p.hops.is_empty());
    assert_eq!(p.start.unwrap().event_ids.len(), 5);
}

#[test]
fn back_and_forth_is_three_positions_and_two_hops() {
    let p = agent_path(
        "a",
        vec![
            tool("1", 1, "a", "s", "A"),
            tool("2", 2, "a", "s", "B"),
            tool("3", 3, "a", "s", "A"),
        ],
    );
    assert_eq!(route(&p), ["A", "B", "A"]);
    assert_eq!(p.hops.len(), 2);
    assert_eq!((&*p.hops[0].from, &*p.hops[0].to), ("A", "B"));
}

#[test]
fn a_presented_token_moves_the_agent_and_an_issued_one_does_not() {
    let mut presented = token("2", 2, "a", "s", TokenAction::Presented, "tok");
    presented.system = Some("saas".into());
    let p = agent_path(
        "a",
        vec![
            tool("1", 1, "a", "s", "A"),
            token("0", 0, "a", "s", TokenAction::Issued, "tok"),
            presented,
        ],
    );
    assert_eq!(route(&p), ["A", "saas"]);
}

#[test]
fn a_hop_carries_its_credential_and_the_root_of_its_lineage() {
    let mut exchanged = token("x2", 2, "a", "s", TokenAction::Exchanged, "t2");
    exchanged.token_parent_id = Some("t1".into());
    let mut exchanged_again = token("x3", 3, "other", "o", TokenAction::Exchanged, "t3");
    exchanged_again.token_parent_id = Some("t2".into());
    let mut call = tool("c", 5, "a", "s", "B");
    call.credential_id = Some("t3".into());
    let p = agent_path(
        "a",
        vec![
            tool("c0", 4, "a", "s", "A"),
            call,
            exchanged,
            exchanged_again,
        ],
    );
    assert_eq!(p.hops[0].credential_id.as_deref(), Some("t3"));
    assert_eq!(p.hops[0].credential_root.as_deref(), Some("t1"));
}

#[test]
fn a_delegate_is_nested_under_the_hop_where_work_was_handed_over() {
    let mut d1 = tool("d1", 25, "b", "sb", "github");
    d1.delegated_by = Some(("a".into(), "sa".into()));
    let events = vec![
        tool("1", 10, "a", "sa", "jira"),
        tool("2", 20, "a", "sa", "wiki"),
        d1,
        tool("d2", 26, "b", "sb", "aws"),
        tool("3", 30, "a", "sa", "slack"),
    ];
    let p = agent_path("a", events);
    assert_eq!(route(&p), ["jira", "wiki", "slack"]);
    let at_wiki = &p.hops[0];
    assert_eq!(&*at_wiki.to, "wiki");
    assert_eq!(at_wiki.delegations.len(), 1);
    let d = &at_wiki.delegations[0];
    assert_eq!((d.via, &*d.agent_id), (DelegationVia::DelegatedBy, "b"));
    assert_eq!(route(d.path.as_ref().unwrap()), ["github", "aws"]);
    assert!(
        p.summary.systems.iter().any(|s| &**s == "aws"),
        "blast radius includes delegates"
    );
}

#[test]
fn a_token_exchange_naming_an_actor_is_a_delegation() {
    let mut x = token("x", 15, "a", "sa", TokenAction::Exchanged, "t2");
    x.actor = Some(("b".into(), "sb".into()));
    let p = agent_path(
        "a",
        vec![
            tool("1", 10, "a", "sa", "jira"),
            x,
            tool("d", 20, "b", "sb", "github"),
        ],
    );
    let d = &p.start.as_ref().unwrap().delegations[0];
    assert_eq!(d.via, DelegationVia::TokenExchange);
    assert_eq!(route(d.path.as_ref().unwrap()), ["github"]);
}

#[test]
fn a_delegation_chain_of_three_agents_nests_twice() {
    let mut b = tool("b", 20, "b", "sb", "B");
    b.delegated_by = Some(("a".into(), "sa".into()));
    let mut c = tool("c", 30, "c", "sc", "C");
    c.delegated_by = Some(("b".into(), "sb".into()));
    let p = agent_path("a", vec![tool("a", 10, "a", "sa", "A"), b, c]);
    let pb = p.start.as_ref().unwrap().delegations[0]
        .path
        .as_ref()
        .unwrap();
    let pc = pb.start.as_ref().unwrap().delegations[0]
        .path
        .as_ref()
        .unwrap();
    assert_eq!(&*pc.agent_id, "c");
    assert_eq!(p.summary.systems, [Name::from("A"), "B".into(), "C".into()]);
}

#[test]
fn a_delegation_cycle_is_cut_and_marked() {
    let mut b = tool("b", 20, "b", "sb", "B");
    b.delegated_by = Some(("a".into(), "sa".into()));
    let mut a2 = tool("a2", 30, "a", "sa", "A2");
    a2.delegated_by = Some(("b".into(), "sb".into()));
    let p = agent_path("a", vec![tool("a", 10, "a", "sa", "A"), b, a2]);
    let pb = p.start.as_ref().unwrap().delegations[0]
        .path
        .as_ref()
        .unwrap();
    let back = &pb.start.as_ref().unwrap().delegations[0];
    assert!(back.cycle);
    assert!(back.path.is_none());
}

#[test]
fn nesting_stops_at_max_depth_and_says_so() {
    let mut events = vec![tool("0", 0, "a0", "s0", "S0")];
    for i in 1..10 {
        let mut e = tool(
            &i.to_string(),
            i,
            &format!("a{i}"),
            &format!("s{i}"),
            &format!("S{i}"),
        );
        e.delegated_by = Some((format!("a{}", i - 1).into(), format!("s{}", i - 1).into()));
        events.push(e);
    }
    let opts = PathOptions {
        max_depth: 3,
        ..PathOptions::default()
    };
    let p = build_path(
        &PathRoot::Agent("a0".into()),
        events,
        TokenLineage::default(),
        opts,
    );
    assert_eq!(depth(&p), 3);
    let mut d = &p;
    for _ in 0..3 {
        d = d.start.as_ref().unwrap().delegations[0]
            .path
            .as_ref()
            .unwrap();
    }
    assert!(d.start.as_ref().unwrap().delegations[0].truncated);
}

#[test]
fn a_trace_parent_within_the_clock_skew_comes_first() {
    let mut parent = tool("p", 1_500_000, "a", "s", "B");
    parent.span_id = Some("aaaaaaaaaaaaaaaa".into());
    let mut child = tool("c", 1_000_000, "a", "s", "C");
    child.parent_span_id = Some("aaaaaaaaaaaaaaaa".into());
    let p = agent_path(
        "a",
        vec![tool("0", 0, "a", "s", "A"), child.clone(), parent.clone()],
    );
    assert_eq!(route(&p), ["A", "B", "C"]);

    // Beyond the tolerance the clocks win.
    parent.time_us = 1_000_000 + 2_000_001;
    let p = agent_path("a", vec![tool("0", 0, "a", "s", "A"), child, parent]);
    assert_eq!(route(&p), ["A", "C", "B"]);
}

#[test]
fn an_empty_window_gives_an_empty_path() {
    let p = agent_path("a", vec![]);
    assert!(p.start.is_none() && p.hops.is_empty());
    assert_eq!(p.summary, PathSummary::default());
}

fn depth(p: &Path) -> usize {
    let all = p
        .start
        .iter()
        .flat_map(|s| &s.delegations)
        .chain(p.hops.iter().flat_map(|h| &h.delegations));
    all.filter_map(|d| d.path.as_ref())
        .map(|c| 1 + depth(c))
        .max()
        .unwrap_or(0)
}

fn arb_events() -> impl Strategy<Value = Vec<PathEvent>> {
    let one = (
        0..4usize,
        0..3usize,
        0..5usize,
        0i64..50,
        0..4u8,
        any::<bool>(),
        0..3usize,
    );
    prop::collection::vec(one, 0..40).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(
                |(i, (agent, session, system, t, kind, delegated, parent))| {
                    let a = format!("a{agent}");
                    let s = format!("{a}-s{session}");
                    let mut e = tool(&format!("e{i}"), t * 1_000, &a, &s, &format!("sys{system}"));
                    match kind {
                        0 => e.kind = PathEventKind::tool(Outcome::Denied),
                        1 => e.kind = PathEventKind::token(TokenAction::Presented),
                        2 => {
                            e.kind = PathEventKind::token(TokenAction::Exchanged);
                            e.actor =
                                Some((format!("a{parent}").into(), format!("a{parent}-s0").into()));
                        }
                        _ => {}
                    }
                    if delegated {
                        e.delegated_by = Some((
                            format!("a{parent}").into(),
                            format!("a{parent}-s{}", session % 2).into(),
                        ));
                    }
                    e.span_id = Some(format!("{i:016x}").into());
                    if i > 0 && t % 3 == 0 {
                        e.parent_span_id = Some(format!("{:016x}", i - 1).into());
                    }
                    e
                },
            )
            .collect()
    })
}

/// `events` with every name in an allocation of its own (`share == false`), or with every
/// distinct name in one allocation (`share == true`): the two extremes a reader can hand out.
fn reallocated(events: &[PathEvent], share: bool) -> Vec<PathEvent> {
    let mut pool: std::collections::HashMap<String, Name> = Default::default();
    let mut n = |x: &Name| {
        if share {
            pool.entry(x.to_string())
                .or_insert_with(|| Name::from(x.to_string()))
                .clone()
        } else {
            Name::from(x.to_string())
        }
    };
    events
        .iter()
        .map(|e| PathEvent {
            event_id: n(&e.event_id),
            time_us: e.time_us,
            agent_id: n(&e.agent_id),
            session_id: n(&e.session_id),
            workload: e.workload.as_ref().map(&mut n),
            kind: e.kind,
            system: e.system.as_ref().map(&mut n),
            zone: e.zone.as_ref().map(&mut n),
            tool: e.tool.as_ref().map(&mut n),
            credential_id: e.credential_id.as_ref().map(&mut n),
            token_parent_id: e.token_parent_id.as_ref().map(&mut n),
            token_subject: e.token_subject.as_ref().map(&mut n),
            presenter: e.presenter.as_ref().map(&mut n),
            delegated_by: e.delegated_by.as_ref().map(|(a, s)| (n(a), n(s))),
            actor: e.actor.as_ref().map(|(a, s)| (n(a), n(s))),
            span_id: e.span_id.as_ref().map(&mut n),
            parent_span_id: e.parent_span_id.as_ref().map(&mut n),
        })
        .collect()
}

#[test]
fn interned_names_are_equal_exactly_when_their_text_is() {
    let mut names = Names::default();
    let (a1, a2, b): (Name, Name, Name) = ("a".into(), "a".into(), "b".into());
    let (s1, s2, sb) = (names.intern(&a1), names.intern(&a2), names.intern_text(&b));
    assert_eq!(s1, s2);
    assert_ne!(s1, sb);
    assert_eq!(names.intern_text(&Name::from("b")), sb);
    assert_eq!(names.lookup("a"), Some(s1));
    assert_eq!(names.lookup("c"), None);
    // Ordered by text, whatever order they were interned in.
    assert_eq!(names.cmp(sb, s1), std::cmp::Ordering::Greater);
    let e = names.event(&tool("1", 5, "a", "s", "b"));
    assert_eq!((e.agent_id, e.system), (s1, Some(sb)));
    assert_eq!(names.path_event(&e), tool("1", 5, "a", "s", "b"));
}

proptest! {
    #[test]
    fn how_names_are_allocated_never_changes_the_path(events in arb_events()) {
        let expected = agent_path("a0", events.clone());
        prop_assert_eq!(&agent_path("a0", reallocated(&events, false)), &expected);
        prop_assert_eq!(&agent_path("a0", reallocated(&events, true)), &expected);
        let ordered = order_events(events.clone(), PathOptions::default().skew_us);
        prop_assert_eq!(order_events(reallocated(&events, true), PathOptions::default().skew_us), ordered);
    }

    #[test]
    fn an_interned_table_stitches_like_its_events(events in arb_events(), session in any::<bool>()) {
        let root = if session { PathRoot::Session("a0-s1".into()) } else { PathRoot::Agent("a0".into()) };
        let table = EventTable::from_events(&events);
        let back: Vec<PathEvent> = table.events.iter().map(|e| table.names.path_event(e)).collect();
        prop_assert_eq!(&back, &events);
        let opts = PathOptions::default();
        prop_assert_eq!(
            build_path_from_table(&root, table, TokenLineage::default(), opts),
            build_path(&root, events, TokenLineage::default(), opts)
        );
    }

    #[test]
    fn any_permutation_with_duplicates_gives_the_same_path(
        events in arb_events(),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let expected = agent_path("a0", events.clone());
        let mut shuffled = events.clone();
        for d in &dups {
            if !events.is_empty() {
                shuffled.push(events[d.index(events.len())].clone());
            }
        }
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(agent_path("a0", shuffled), expected);
    }

    #[test]
    fn the_hop_count_equals_the_number_of_system_changes(events in arb_events()) {
        let ordered = order_events(events.clone(), PathOptions::default().skew_us);
        let mut systems: Vec<&str> = ordered
            .iter()
            .filter(|e| &*e.agent_id == "a0" && e.kind.moves_agent())
            .filter_map(|e| e.system.as_deref())
            .collect();
        systems.dedup();
        let p = agent_path("a0", events);
        prop_assert_eq!(p.hops.len(), systems.len().saturating_sub(1));
    }

    #[test]
    fn nested_delegation_depth_never_exceeds_max_depth(events in arb_events(), max_depth in 0usize..4) {
        let opts = PathOptions { max_depth, ..PathOptions::default() };
        let p = build_path(&PathRoot::Agent("a0".into()), events, TokenLineage::default(), opts);
        prop_assert!(depth(&p) <= max_depth);
    }
}
