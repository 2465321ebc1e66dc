//! `scope.undeclared_tool`: a session called a tool its declared task scope does not list.
//! Keyed by tenant + agent + session + tool; the verdict rule is in `detect/scope.rs`.

use crate::detect::scope;
use crate::detect::state::{Cfg, Due, DueKind, Interner, SessionState};
use crate::detect::RuleId;
use crate::event::EventBody;

pub(in crate::detect) fn observe(
    due: &mut std::collections::BinaryHeap<Due>,
    cfg: &Cfg,
    names: &mut Interner,
    sess: &mut SessionState,
    u: &scope::Use,
) {
    if !cfg.on(RuleId::UndeclaredTool) {
        return;
    }
    if let EventBody::ToolUse(t) = &u.ev.e.body {
        let tool = t.tool.name.as_str();
        scope::judge(
            due,
            sess,
            DueKind::Tool,
            tool,
            || names.get(tool),
            u,
            cfg.tool_grace_us,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    #[test]
    fn a_tool_outside_the_declared_scope_fires() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira")
                .named("jira.read")
                .task(&["jira.read"], &[]),
            tool("2", 1, "a", "s", "jira").named("jira.delete"),
        ]);
        let a = only(&alerts, RuleId::UndeclaredTool);
        assert_eq!(a.event_ids, vec!["2"]);
        assert!(a.description.contains("jira.read"), "{}", a.description);
    }

    #[test]
    fn a_tool_declared_on_a_later_event_of_the_session_stays_silent() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira").named("jira.read"),
            tool("2", 30_000, "a", "s", "jira")
                .named("jira.read")
                .task(&["jira.read"], &[]),
        ]);
        assert!(none_of(&alerts, RuleId::UndeclaredTool), "{alerts:?}");
    }

    #[test]
    fn a_session_that_declares_no_scope_stays_silent() {
        let alerts = run(vec![tool("1", 0, "a", "s", "jira").named("anything")]);
        assert!(none_of(&alerts, RuleId::UndeclaredTool), "{alerts:?}");
    }

    #[test]
    fn repeated_calls_of_one_undeclared_tool_raise_one_alert() {
        let mut events = vec![tool("0", 0, "a", "s", "jira").task(&["t"], &[])];
        events.extend((1..5).map(|i| tool(&i.to_string(), i, "a", "s", "jira").named("x")));
        let alerts = run(events);
        only(&alerts, RuleId::UndeclaredTool);
    }
}
