//! The tantivy schema of an event. Invariant: every id or name an analyst filters or groups by is
//! a raw (untokenized) term with a fast column; only the redacted encoding is stored.

use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, JsonObjectOptions, Schema, TextFieldIndexing,
    TextOptions, FAST, STORED, STRING,
};

/// Fields a query string may name (besides `attributes.<path>`), as documented in the README.
pub const SEARCHABLE_FIELDS: &[&str] = &[
    "event_id",
    "schema",
    "agent_id",
    "workload",
    "on_behalf_of",
    "session_id",
    "system",
    "zone",
    "tool",
    "tool_server",
    "operation",
    "resource",
    "credential_id",
    "outcome",
    "action",
    "token_parent_id",
    "token_subject",
    "presenter",
    "delegated_by_agent",
    "delegated_by_session",
    "actor_agent",
    "actor_session",
    "trace_id",
    "span_id",
    "parent_span_id",
    "task_id",
    "attributes",
    "extra",
];

/// Handles on every field of the event schema.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// Tenant (raw, fast). Every search is confined by it.
    pub tenant: Field,
    /// Event id (raw, fast): duplicate confirmation, lookup by id, hop evidence.
    pub event_id: Field,
    /// 64-bit hash of (tenant, event_id) (fast): duplicate detection and a stable tie-break.
    pub id_hash: Field,
    /// `tool_use` or `token_use` (raw, fast).
    pub schema_kind: Field,
    /// Event time (fast, microseconds).
    pub time: Field,
    /// agent.id (raw, fast).
    pub agent_id: Field,
    /// agent.workload (raw, fast).
    pub workload: Field,
    /// agent.on_behalf_of (raw).
    pub on_behalf_of: Field,
    /// session_id (raw, fast).
    pub session_id: Field,
    /// system (raw, fast).
    pub system: Field,
    /// zone (raw, fast).
    pub zone: Field,
    /// tool.name (raw, fast).
    pub tool: Field,
    /// tool.server (raw).
    pub tool_server: Field,
    /// tool.operation (tokenized, redacted).
    pub operation: Field,
    /// resource (tokenized, redacted).
    pub resource: Field,
    /// credential.id of a tool call, or token.id of a token event (raw, fast).
    pub credential_id: Field,
    /// outcome (raw, fast).
    pub outcome: Field,
    /// token action (raw, fast).
    pub action: Field,
    /// token.parent_id (raw, fast).
    pub token_parent_id: Field,
    /// token.id of a token event that names a parent (raw): the lineage lookup reads only these,
    /// never the tool calls that share the credential id.
    pub lineage_token: Field,
    /// token.subject (raw).
    pub token_subject: Field,
    /// presenter (raw).
    pub presenter: Field,
    /// delegated_by.agent_id (raw, fast).
    pub delegated_by_agent: Field,
    /// delegated_by.session_id (raw, fast).
    pub delegated_by_session: Field,
    /// actor.agent_id (raw, fast).
    pub actor_agent: Field,
    /// actor.session_id (raw, fast).
    pub actor_session: Field,
    /// trace.trace_id (raw).
    pub trace_id: Field,
    /// trace.span_id (raw).
    pub span_id: Field,
    /// trace.parent_span_id (raw).
    pub parent_span_id: Field,
    /// task.id (raw).
    pub task_id: Field,
    /// attributes (JSON, tokenized, redacted).
    pub attributes: Field,
    /// unknown fields kept for forward compatibility (JSON, tokenized, redacted).
    pub extra: Field,
    /// The stored, redacted event as JSON bytes.
    pub stored: Field,
}

impl EventSchema {
    /// Builds the schema. Changing it is a breaking change for existing indexes.
    pub fn new() -> Self {
        let mut b = Schema::builder();
        let raw_fast = STRING | FAST;
        let tokenized = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
        );
        let json = JsonObjectOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
        );
        let tenant = b.add_text_field("tenant", raw_fast.clone());
        let event_id = b.add_text_field("event_id", raw_fast.clone());
        let id_hash = b.add_u64_field("id_hash", FAST);
        let schema_kind = b.add_text_field("schema", raw_fast.clone());
        // Fast, not indexed: range filters on a fast date are exact to the microsecond,
        // where the inverted index would round to seconds.
        let time = b.add_date_field(
            "time",
            DateOptions::from(FAST).set_precision(DateTimePrecision::Microseconds),
        );
        let agent_id = b.add_text_field("agent_id", raw_fast.clone());
        let workload = b.add_text_field("workload", raw_fast.clone());
        let on_behalf_of = b.add_text_field("on_behalf_of", STRING);
        let session_id = b.add_text_field("session_id", raw_fast.clone());
        let system = b.add_text_field("system", raw_fast.clone());
        let zone = b.add_text_field("zone", raw_fast.clone());
        let tool = b.add_text_field("tool", raw_fast.clone());
        let tool_server = b.add_text_field("tool_server", STRING);
        let operation = b.add_text_field("operation", tokenized.clone());
        let resource = b.add_text_field("resource", tokenized);
        let credential_id = b.add_text_field("credential_id", raw_fast.clone());
        let outcome = b.add_text_field("outcome", raw_fast.clone());
        let action = b.add_text_field("action", raw_fast.clone());
        let token_parent_id = b.add_text_field("token_parent_id", raw_fast.clone());
        let lineage_token = b.add_text_field("lineage_token", STRING);
        let token_subject = b.add_text_field("token_subject", raw_fast.clone());
        let presenter = b.add_text_field("presenter", raw_fast.clone());
        let delegated_by_agent = b.add_text_field("delegated_by_agent", raw_fast.clone());
        let delegated_by_session = b.add_text_field("delegated_by_session", raw_fast.clone());
        let actor_agent = b.add_text_field("actor_agent", raw_fast.clone());
        let actor_session = b.add_text_field("actor_session", raw_fast.clone());
        let trace_id = b.add_text_field("trace_id", STRING);
        let span_id = b.add_text_field("span_id", raw_fast.clone());
        let parent_span_id = b.add_text_field("parent_span_id", raw_fast);
        let task_id = b.add_text_field("task_id", STRING);
        let attributes = b.add_json_field("attributes", json.clone());
        let extra = b.add_json_field("extra", json);
        let stored = b.add_bytes_field("event", STORED);
        EventSchema {
            schema: b.build(),
            tenant,
            event_id,
            id_hash,
            schema_kind,
            time,
            agent_id,
            workload,
            on_behalf_of,
            session_id,
            system,
            zone,
            tool,
            tool_server,
            operation,
            resource,
            credential_id,
            outcome,
            action,
            token_parent_id,
            lineage_token,
            token_subject,
            presenter,
            delegated_by_agent,
            delegated_by_session,
            actor_agent,
            actor_session,
            trace_id,
            span_id,
            parent_span_id,
            task_id,
            attributes,
            extra,
            stored,
        }
    }

    /// The fields a bare query term searches when it names no field.
    pub fn default_search_fields(&self) -> Vec<Field> {
        vec![
            self.attributes,
            self.resource,
            self.operation,
            self.tool,
            self.system,
            self.agent_id,
            self.event_id,
        ]
    }
}

impl Default for EventSchema {
    fn default() -> Self {
        Self::new()
    }
}
