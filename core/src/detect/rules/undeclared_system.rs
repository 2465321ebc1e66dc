//! `scope.undeclared_system`: a session acted on (or presented a token to) a system its
//! declared task scope does not list. Keyed by tenant + agent + session + system; the verdict
//! rule is in `detect/scope.rs`.

use crate::detect::scope;
use crate::detect::state::{Cfg, Due, DueKind, SessionState};
use crate::detect::RuleId;
use crate::path::Name;

pub(in crate::detect) fn observe(
    due: &mut std::collections::BinaryHeap<Due>,
    cfg: &Cfg,
    sess: &mut SessionState,
    u: &scope::Use,
) {
    if !cfg.on(RuleId::UndeclaredSystem) {
        return;
    }
    if let Some((system, _)) = u.ev.movement() {
        // The moved-to system is the event's system, interned already.
        let name = || {
            u.ev.system_name()
                .cloned()
                .unwrap_or_else(|| Name::from(system))
        };
        scope::judge(
            due,
            sess,
            DueKind::System,
            system,
            name,
            u,
            cfg.system_grace_us,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testkit::*;
    use crate::detect::RuleId;

    #[test]
    fn a_system_outside_the_declared_scope_fires() {
        let alerts = run(vec![
            tool("1", 0, "a", "s", "jira").task(&[], &["jira"]),
            tool("2", 1, "a", "s", "aws:prod"),
        ]);
        let a = only(&alerts, RuleId::UndeclaredSystem);
        assert_eq!(a.systems, vec!["aws:prod"]);
    }

    #[test]
    fn a_declared_system_stays_silent_even_when_the_scope_arrives_last() {
        let alerts = run(vec![
            tool("2", 1, "a", "s", "jira"),
            tool("1", 0, "a", "s", "jira").task(&[], &["jira"]),
        ]);
        assert!(none_of(&alerts, RuleId::UndeclaredSystem), "{alerts:?}");
    }
}
