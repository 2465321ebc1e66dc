//! Test-only event builders: times are in milliseconds since the epoch.

use serde_json::Map;

use super::{Alert, DetectSettings, Detector, RuleId};
use crate::event::{
    Agent, Credential, Event, EventBody, Outcome, SessionRef, Task, Token, TokenAction, TokenUse,
    Tool, ToolUse,
};

/// A successful call of tool `t` on an `internal` system.
pub(super) fn tool(id: &str, t_ms: i64, agent: &str, session: &str, system: &str) -> Event {
    Event {
        event_id: id.into(),
        time_us: t_ms * 1000,
        tenant: "acme".into(),
        agent: Agent {
            id: agent.into(),
            ..Agent::default()
        },
        session_id: session.into(),
        task: None,
        trace: None,
        attributes: Map::new(),
        extra: Map::new(),
        body: EventBody::ToolUse(ToolUse {
            system: system.into(),
            zone: Some("internal".into()),
            tool: Tool {
                name: "t".into(),
                ..Tool::default()
            },
            resource: None,
            credential: None,
            outcome: Outcome::Success,
            delegated_by: None,
        }),
    }
}

/// A token event on system `idp`.
pub(super) fn token(
    id: &str,
    t_ms: i64,
    agent: &str,
    session: &str,
    action: TokenAction,
    token: &str,
) -> Event {
    Event {
        body: EventBody::TokenUse(TokenUse {
            action,
            token: Token {
                id: token.into(),
                ..Token::default()
            },
            system: (action != TokenAction::Revoked).then(|| "idp".into()),
            zone: Some("internal".into()),
            presenter: None,
            actor: None,
        }),
        ..tool(id, t_ms, agent, session, "idp")
    }
}

/// Chainable tweaks of a built event.
pub(super) trait EventExt: Sized {
    fn with(self, f: impl FnOnce(&mut Event)) -> Self;

    fn tool_use(self, f: impl FnOnce(&mut ToolUse)) -> Self {
        self.with(|e| match &mut e.body {
            EventBody::ToolUse(t) => f(t),
            EventBody::TokenUse(_) => panic!("not a tool call"),
        })
    }

    fn token_use(self, f: impl FnOnce(&mut TokenUse)) -> Self {
        self.with(|e| match &mut e.body {
            EventBody::TokenUse(t) => f(t),
            EventBody::ToolUse(_) => panic!("not a token event"),
        })
    }

    fn tenant(self, tenant: &str) -> Self {
        self.with(|e| e.tenant = tenant.into())
    }

    fn workload(self, w: &str) -> Self {
        self.with(|e| e.agent.workload = Some(w.into()))
    }

    fn task(self, tools: &[&str], systems: &[&str]) -> Self {
        self.with(|e| {
            e.task = Some(Task {
                id: None,
                declared_tools: tools.iter().map(|s| s.to_string()).collect(),
                declared_systems: systems.iter().map(|s| s.to_string()).collect(),
            })
        })
    }

    fn zone(self, z: &str) -> Self {
        self.with(|e| match &mut e.body {
            EventBody::ToolUse(t) => t.zone = Some(z.into()),
            EventBody::TokenUse(t) => t.zone = Some(z.into()),
        })
    }

    fn cred(self, c: &str) -> Self {
        self.tool_use(|t| {
            t.credential = Some(Credential {
                id: c.into(),
                kind: None,
            })
        })
    }

    fn named(self, name: &str) -> Self {
        self.tool_use(|t| t.tool.name = name.into())
    }

    fn denied(self) -> Self {
        self.with(|e| match &mut e.body {
            EventBody::ToolUse(t) => t.outcome = Outcome::Denied,
            EventBody::TokenUse(t) => t.action = TokenAction::Denied,
        })
    }

    fn delegated_by(self, agent: &str, session: &str) -> Self {
        self.tool_use(|t| {
            t.delegated_by = Some(SessionRef {
                agent_id: agent.into(),
                session_id: session.into(),
            })
        })
    }

    fn subject(self, s: &str) -> Self {
        self.token_use(|t| t.token.subject = Some(s.into()))
    }

    fn presenter(self, p: &str) -> Self {
        self.token_use(|t| t.presenter = Some(p.into()))
    }

    fn expires(self, t_ms: i64) -> Self {
        self.token_use(|t| t.token.expires_at_us = Some(t_ms * 1000))
    }

    fn parent(self, p: &str) -> Self {
        self.token_use(|t| t.token.parent_id = Some(p.into()))
    }

    fn actor(self, agent: &str, session: &str) -> Self {
        self.token_use(|t| {
            t.actor = Some(SessionRef {
                agent_id: agent.into(),
                session_id: session.into(),
            })
        })
    }
}

impl EventExt for Event {
    fn with(mut self, f: impl FnOnce(&mut Event)) -> Self {
        f(&mut self);
        self
    }
}

/// Every alert the default settings raise for `events`, in arrival order, then flushed.
pub(super) fn run(events: Vec<Event>) -> Vec<Alert> {
    run_with(DetectSettings::default(), &events)
}

/// Every alert `settings` raise for `events`, in arrival order, then flushed.
pub(super) fn run_with(settings: DetectSettings, events: &[Event]) -> Vec<Alert> {
    let mut d = Detector::new(settings);
    let mut out = Vec::new();
    for e in events {
        d.observe(e, &mut out);
    }
    d.flush(&mut out);
    out
}

/// The one alert of `rule`; panics unless there is exactly one.
pub(super) fn only(alerts: &[Alert], rule: RuleId) -> &Alert {
    let of: Vec<&Alert> = alerts.iter().filter(|a| a.rule == rule).collect();
    assert_eq!(of.len(), 1, "want one {rule} alert, got {alerts:#?}");
    of[0]
}

/// No alert of `rule`.
pub(super) fn none_of(alerts: &[Alert], rule: RuleId) -> bool {
    alerts.iter().all(|a| a.rule != rule)
}
