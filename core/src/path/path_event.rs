//! The slice of an event that path stitching needs, and the causal order of events. Invariant:
//! the order depends only on the events' contents, never on their arrival order.

use std::sync::Arc;

use super::event_table::EventTable;

use crate::event::{Event, EventBody, Outcome, SessionRef, TokenAction};

/// What kind of event, for stitching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathEventKind {
    /// A tool call, with its outcome.
    Tool(OutcomeKey),
    /// A token lifecycle step.
    Token(ActionKey),
}

/// [`Outcome`] with a total order (for deterministic tie-breaks).
pub type OutcomeKey = u8;
/// [`TokenAction`] with a total order.
pub type ActionKey = u8;

impl PathEventKind {
    /// From a tool call's outcome.
    pub fn tool(outcome: Outcome) -> Self {
        PathEventKind::Tool(outcome as u8)
    }

    /// From a token action.
    pub fn token(action: TokenAction) -> Self {
        PathEventKind::Token(action as u8)
    }

    /// The tool call's outcome, if this is one.
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            PathEventKind::Tool(o) => Some(match o {
                0 => Outcome::Success,
                1 => Outcome::Denied,
                _ => Outcome::Error,
            }),
            PathEventKind::Token(_) => None,
        }
    }

    /// The token action, if this is a token event.
    pub fn action(self) -> Option<TokenAction> {
        match self {
            PathEventKind::Token(a) => TokenAction::ALL.get(a as usize).copied(),
            PathEventKind::Tool(_) => None,
        }
    }

    /// True for a refused call or a refused token.
    pub fn is_denied(self) -> bool {
        self.outcome() == Some(Outcome::Denied) || self.action() == Some(TokenAction::Denied)
    }

    /// True when the event puts the agent on its system: a tool call, or a token presented there.
    pub fn moves_agent(self) -> bool {
        matches!(self, PathEventKind::Tool(_)) || self.action() == Some(TokenAction::Presented)
    }
}

/// A shared, immutable string: ids and names repeat across thousands of events, so they are
/// shared rather than copied.
pub type Name = Arc<str>;

/// One event as path stitching sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathEvent {
    /// Event id (duplicates by id count once).
    pub event_id: Name,
    /// Event time, microseconds since the epoch.
    pub time_us: i64,
    /// Acting agent.
    pub agent_id: Name,
    /// Its session.
    pub session_id: Name,
    /// The agent's workload (SPIFFE ID).
    pub workload: Option<Name>,
    /// Tool call or token step.
    pub kind: PathEventKind,
    /// System acted on.
    pub system: Option<Name>,
    /// Zone of that system.
    pub zone: Option<Name>,
    /// Tool name.
    pub tool: Option<Name>,
    /// Credential used (tool call) or token concerned (token event).
    pub credential_id: Option<Name>,
    /// For token events: the token the credential came from.
    pub token_parent_id: Option<Name>,
    /// For token events: the workload it was issued to.
    pub token_subject: Option<Name>,
    /// For token events: the workload that presented it.
    pub presenter: Option<Name>,
    /// Set when this tool call runs on another agent's delegation.
    pub delegated_by: Option<(Name, Name)>,
    /// For `exchanged`: the delegate that receives the new token.
    pub actor: Option<(Name, Name)>,
    /// W3C span id of this event.
    pub span_id: Option<Name>,
    /// W3C parent span id.
    pub parent_span_id: Option<Name>,
}

fn pair(r: &Option<SessionRef>) -> Option<(Name, Name)> {
    r.as_ref()
        .map(|r| (r.agent_id.as_str().into(), r.session_id.as_str().into()))
}

fn name(s: Option<&str>) -> Option<Name> {
    s.map(Name::from)
}

impl From<&Event> for PathEvent {
    fn from(e: &Event) -> Self {
        let trace = e.trace.as_ref();
        let mut p = PathEvent {
            event_id: e.event_id.as_str().into(),
            time_us: e.time_us,
            agent_id: e.agent.id.as_str().into(),
            session_id: e.session_id.as_str().into(),
            workload: name(e.agent.workload.as_deref()),
            kind: PathEventKind::tool(Outcome::Success),
            system: name(e.system()),
            zone: name(e.zone()),
            tool: None,
            credential_id: name(e.credential_id()),
            token_parent_id: None,
            token_subject: None,
            presenter: None,
            delegated_by: None,
            actor: None,
            span_id: name(trace.and_then(|t| t.span_id.as_deref())),
            parent_span_id: name(trace.and_then(|t| t.parent_span_id.as_deref())),
        };
        match &e.body {
            EventBody::ToolUse(t) => {
                p.kind = PathEventKind::tool(t.outcome);
                p.tool = Some(t.tool.name.as_str().into());
                p.delegated_by = pair(&t.delegated_by);
            }
            EventBody::TokenUse(t) => {
                p.kind = PathEventKind::token(t.action);
                p.token_parent_id = name(t.token.parent_id.as_deref());
                p.token_subject = name(t.token.subject.as_deref());
                p.presenter = name(t.presenter.as_deref());
                p.actor = pair(&t.actor);
            }
        }
        p
    }
}

/// Sorts events into causal order and drops duplicate ids.
///
/// Events are ordered by time; where an event's `parent_span_id` names the span of another event
/// of the same agent whose clock is at most `skew_us` later, the parent still comes first (its
/// children inherit its time for ordering). Beyond the tolerance the clocks win. Ties are broken
/// by id and content, so arrival order never matters. Of events sharing an id, the earliest
/// (then the least by content) is kept.
pub fn order_events(events: Vec<PathEvent>, skew_us: i64) -> Vec<PathEvent> {
    let table = EventTable::from_events(&events);
    let order = table.names.order(&table.events, skew_us);
    let mut slots: Vec<Option<PathEvent>> = events.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots[i as usize].take())
        .collect()
}
