//! The validated, redacted form of one wire event. Every `Event` that exists has passed schema
//! validation: constructors outside `hoptrail-schemas` are for tests only, by convention.

use serde_json::{Map, Value};

/// The tenant an event belongs to when the record names none.
pub const DEFAULT_TENANT: &str = "default";

/// Schema name of a tool-use event.
pub const TOOL_USE_V1: &str = "hoptrail.tool_use.v1";
/// Schema name of a token-use event.
pub const TOKEN_USE_V1: &str = "hoptrail.token_use.v1";

/// One audited action of a non-human identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id; a second event with the same id (in the same tenant) is the same event.
    pub event_id: String,
    /// When it happened, in microseconds since the Unix epoch, UTC.
    pub time_us: i64,
    /// Tenant the event belongs to.
    pub tenant: String,
    /// The agent that acted.
    pub agent: Agent,
    /// One run of the agent.
    pub session_id: String,
    /// The declared task scope, if the agent runtime reported one.
    pub task: Option<Task>,
    /// W3C trace context.
    pub trace: Option<Trace>,
    /// Free-form searchable attributes (already redacted).
    pub attributes: Map<String, Value>,
    /// Fields the schema version does not know, kept for forward compatibility (already redacted).
    /// Keys are dotted paths from the record root, e.g. `agent.colour`.
    pub extra: Map<String, Value>,
    /// What kind of event this is, with its kind-specific fields.
    pub body: EventBody,
}

/// The kind-specific part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// `hoptrail.tool_use.v1`
    ToolUse(ToolUse),
    /// `hoptrail.token_use.v1`
    TokenUse(TokenUse),
}

/// The acting agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Agent {
    /// Stable agent id.
    pub id: String,
    /// SPIFFE ID of the workload the agent runs as.
    pub workload: Option<String>,
    /// Human principal the agent acts for.
    pub on_behalf_of: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// The declared scope of the task an agent session runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Task {
    /// Task id.
    pub id: Option<String>,
    /// Tool names the task declared it would use.
    pub declared_tools: Vec<String>,
    /// Systems the task declared it would touch.
    pub declared_systems: Vec<String>,
}

/// W3C trace context of the event's span (lowercase hex).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// 32 hex digits.
    pub trace_id: Option<String>,
    /// 16 hex digits.
    pub span_id: Option<String>,
    /// 16 hex digits.
    pub parent_span_id: Option<String>,
}

/// A reference to another agent's session (delegation, token exchange actor).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionRef {
    /// The other agent.
    pub agent_id: String,
    /// Its session.
    pub session_id: String,
}

/// A tool call on a system.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// The system the tool acted on, e.g. `jira.corp`, `aws:prod-123`.
    pub system: String,
    /// Trust zone of that system: `internal`, `external` or a site-defined name.
    pub zone: Option<String>,
    /// The tool that was called.
    pub tool: Tool,
    /// URI of the object touched (already redacted).
    pub resource: Option<String>,
    /// The credential the call used (its id, never the secret).
    pub credential: Option<Credential>,
    /// How the call ended.
    pub outcome: Outcome,
    /// Set when this call runs on another agent's delegation.
    pub delegated_by: Option<SessionRef>,
}

/// The tool of a tool call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tool {
    /// Tool name.
    pub name: String,
    /// The server exposing the tool, e.g. the MCP server.
    pub server: Option<String>,
    /// Operation within the tool (already redacted).
    pub operation: Option<String>,
}

/// The credential a tool call used.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Credential {
    /// Token jti, key id or fingerprint — never the secret.
    pub id: String,
    /// Kind of credential, e.g. `oauth_token`, `api_key`.
    pub kind: Option<String>,
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The target system refused it.
    Denied,
    /// It failed for another reason.
    Error,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            "error" => Outcome::Error,
            _ => return None,
        })
    }
}

/// Something that happened to a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUse {
    /// What happened.
    pub action: TokenAction,
    /// The token.
    pub token: Token,
    /// Where it happened (issuer for `issued`, resource server for `presented`); absent only for
    /// `revoked`.
    pub system: Option<String>,
    /// Trust zone of `system`.
    pub zone: Option<String>,
    /// Workload that presented the token.
    pub presenter: Option<String>,
    /// For `exchanged`: the delegate that receives the new token.
    pub actor: Option<SessionRef>,
}

/// The lifecycle step of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAction {
    /// Issued by `system`.
    Issued,
    /// Presented to `system`.
    Presented,
    /// Exchanged for a new token (RFC 8693).
    Exchanged,
    /// Refreshed.
    Refreshed,
    /// Revoked.
    Revoked,
    /// Refused by `system`.
    Denied,
}

impl TokenAction {
    /// Every action, in wire order.
    pub const ALL: [TokenAction; 6] = [
        TokenAction::Issued,
        TokenAction::Presented,
        TokenAction::Exchanged,
        TokenAction::Refreshed,
        TokenAction::Revoked,
        TokenAction::Denied,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAction::Issued => "issued",
            TokenAction::Presented => "presented",
            TokenAction::Exchanged => "exchanged",
            TokenAction::Refreshed => "refreshed",
            TokenAction::Revoked => "revoked",
            TokenAction::Denied => "denied",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A token as reported by a token-use event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Token {
    /// Token id (jti or fingerprint), never the token itself.
    pub id: String,
    /// Issuer.
    pub issuer: Option<String>,
    /// Workload or agent it was issued to.
    pub subject: Option<String>,
    /// Audience.
    pub audience: Vec<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Issue time, microseconds since the epoch.
    pub issued_at_us: Option<i64>,
    /// Expiry time, microseconds since the epoch.
    pub expires_at_us: Option<i64>,
    /// The token it came from (refresh, exchange).
    pub parent_id: Option<String>,
}

impl Event {
    /// The schema name of this event's kind.
    pub fn schema(&self) -> &'static str {
        match self.body {
            EventBody::ToolUse(_) => TOOL_USE_V1,
            EventBody::TokenUse(_) => TOKEN_USE_V1,
        }
    }

    /// The system the event happened on, if any.
    pub fn system(&self) -> Option<&str> {
        match &self.body {
            EventBody::ToolUse(t) => Some(&t.system),
            EventBody::TokenUse(t) => t.system.as_deref(),
        }
    }

    /// The trust zone of [`Event::system`], if reported.
    pub fn zone(&self) -> Option<&str> {
        match &self.body {
            EventBody::ToolUse(t) => t.zone.as_deref(),
            EventBody::TokenUse(t) => t.zone.as_deref(),
        }
    }

    /// The credential involved: the tool call's credential, or the token of a token event.
    pub fn credential_id(&self) -> Option<&str> {
        match &self.body {
            EventBody::ToolUse(t) => t.credential.as_ref().map(|c| c.id.as_str()),
            EventBody::TokenUse(t) => Some(&t.token.id),
        }
    }

    /// The outcome as a wire string: a tool call's outcome, or `denied` for a refused token.
    pub fn outcome(&self) -> Option<&'static str> {
        match &self.body {
            EventBody::ToolUse(t) => Some(t.outcome.as_str()),
            EventBody::TokenUse(t) if t.action == TokenAction::Denied => Some("denied"),
            EventBody::TokenUse(_) => None,
        }
    }
}
