//! An event as tantivy indexes it. Invariant: an [`EventDocument`] yields exactly the fields
//! [`EventSchema`](crate::EventSchema) declares, in field-id order, with the values tantivy would
//! read from a `TantivyDocument` of the same event.
//!
//! Why not a `TantivyDocument`: building one was a fifth of the collector thread's instructions
//! per event (every value goes through its generic node encoding). Why not the `Event` itself:
//! the document is dropped on an indexing thread, and freeing an event's ~20 allocations there
//! (each a cross-thread free, its cache line pulled to the other core) measured slower, not
//! faster. So the document is one buffer, the event's texts back to back then its stored
//! encoding, plus spans and a flat array of the `attributes`/`extra` JSON nodes; the event stays
//! where it was decoded.

use hoptrail_core::{Event, EventBody, TokenAction};
use serde_json::{Map, Value as Json};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::{Document, Field};
use tantivy::DateTime;

/// Field ids, in the order `EventSchema::new` adds the fields (a test holds the two together).
pub(crate) mod slot {
    pub const TENANT: u32 = 0;
    pub const EVENT_ID: u32 = 1;
    pub const ID_HASH: u32 = 2;
    pub const SCHEMA: u32 = 3;
    pub const TIME: u32 = 4;
    pub const AGENT_ID: u32 = 5;
    pub const WORKLOAD: u32 = 6;
    pub const ON_BEHALF_OF: u32 = 7;
    pub const SESSION_ID: u32 = 8;
    pub const SYSTEM: u32 = 9;
    pub const ZONE: u32 = 10;
    pub const TOOL: u32 = 11;
    pub const TOOL_SERVER: u32 = 12;
    pub const OPERATION: u32 = 13;
    pub const RESOURCE: u32 = 14;
    pub const CREDENTIAL_ID: u32 = 15;
    pub const OUTCOME: u32 = 16;
    pub const ACTION: u32 = 17;
    pub const TOKEN_PARENT_ID: u32 = 18;
    pub const LINEAGE_TOKEN: u32 = 19;
    pub const TOKEN_SUBJECT: u32 = 20;
    pub const PRESENTER: u32 = 21;
    pub const DELEGATED_BY_AGENT: u32 = 22;
    pub const DELEGATED_BY_SESSION: u32 = 23;
    pub const ACTOR_AGENT: u32 = 24;
    pub const ACTOR_SESSION: u32 = 25;
    pub const TRACE_ID: u32 = 26;
    pub const SPAN_ID: u32 = 27;
    pub const PARENT_SPAN_ID: u32 = 28;
    pub const TASK_ID: u32 = 29;
    pub const ATTRIBUTES: u32 = 30;
    pub const EXTRA: u32 = 31;
    pub const STORED: u32 = 32;
    /// One past the last field id.
    pub const END: u32 = 33;
}

/// A range of a document's buffer, or of its JSON nodes.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const ABSENT: Span = Span {
        start: 0,
        len: u32::MAX,
    };

    fn is_absent(self) -> bool {
        self.len == u32::MAX
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// One event ready for tantivy: its [`Parts`], boxed. On its way to an indexing thread a
/// document is moved several times (into the writer's batch, into the `SmallVec` that tantivy's
/// `IndexWriter::run` grows by pushing, out of it again), and the parts are ~340 bytes: unboxed,
/// those moves were about 2 KB of copying per event on the collector thread. A move of the box
/// is 8 bytes, for one small allocation.
#[derive(Debug)]
pub struct EventDocument(Box<Parts>);

/// A document's contents.
#[derive(Debug)]
struct Parts {
    /// The event's texts back to back, then its stored encoding.
    buf: String,
    /// Per field id: the text (or stored encoding) in `buf`, or for `attributes` and `extra`
    /// the root node in `json` (`start`, with `len` 1).
    spans: [Span; slot::END as usize],
    /// `attributes` then `extra`, each node followed by its descendants.
    json: Vec<JsonNode>,
    id_hash: u64,
    time_us: i64,
}

/// A JSON value inside `attributes` or `extra`.
#[derive(Debug, Clone, Copy)]
struct JsonNode {
    /// The key in its parent object (empty for array items and roots), in `buf`.
    key: Span,
    kind: JsonKind,
    /// Nodes after this one that belong to it (for arrays and objects).
    descendants: u32,
}

#[derive(Debug, Clone, Copy)]
enum JsonKind {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// Nanoseconds since the epoch: a string tantivy reads as a date.
    Date(i64),
    Str(Span),
    Array,
    Object,
}

impl EventDocument {
    /// The document of `event`, whose [`id_hash`](crate::id_hash) is `id_hash`. `capacity` is
    /// a guess at the buffer's size (the previous document's is a good one).
    pub fn new(event: &Event, id_hash: u64, capacity: usize) -> Self {
        // Filled in the box: built on the stack and then boxed, the parts were copied twice.
        let mut parts = Box::new(Parts {
            buf: String::with_capacity(capacity),
            spans: [Span::ABSENT; slot::END as usize],
            json: Vec::new(),
            id_hash,
            time_us: event.time_us,
        });
        parts.fill(event);
        EventDocument(parts)
    }

    /// The buffer's size: the capacity to ask of the next document.
    pub fn buffer_len(&self) -> usize {
        self.0.buf.len()
    }
}

impl Parts {
    fn fill(&mut self, event: &Event) {
        self.texts(event);
        if !event.attributes.is_empty() {
            self.spans[slot::ATTRIBUTES as usize] = self.json_root(&event.attributes);
        }
        if !event.extra.is_empty() {
            self.spans[slot::EXTRA as usize] = self.json_root(&event.extra);
        }
        // The stored encoding goes last, written straight into the buffer.
        let start = self.buf.len();
        hoptrail_schemas::encode_event(event, &mut self.buf);
        self.spans[slot::STORED as usize] = self.span_since(start);
    }

    fn texts(&mut self, e: &Event) {
        self.set(slot::TENANT, &e.tenant);
        self.set(slot::EVENT_ID, &e.event_id);
        self.set(slot::AGENT_ID, &e.agent.id);
        self.opt(slot::WORKLOAD, &e.agent.workload);
        self.opt(slot::ON_BEHALF_OF, &e.agent.on_behalf_of);
        self.set(slot::SESSION_ID, &e.session_id);
        if let Some(task) = &e.task {
            self.opt(slot::TASK_ID, &task.id);
        }
        if let Some(trace) = &e.trace {
            self.opt(slot::TRACE_ID, &trace.trace_id);
            self.opt(slot::SPAN_ID, &trace.span_id);
            self.opt(slot::PARENT_SPAN_ID, &trace.parent_span_id);
        }
        match &e.body {
            EventBody::ToolUse(t) => {
                self.set(slot::SCHEMA, "tool_use");
                self.set(slot::SYSTEM, &t.system);
                self.opt(slot::ZONE, &t.zone);
                self.set(slot::TOOL, &t.tool.name);
                self.opt(slot::TOOL_SERVER, &t.tool.server);
                self.opt(slot::OPERATION, &t.tool.operation);
                self.opt(slot::RESOURCE, &t.resource);
                if let Some(c) = &t.credential {
                    self.set(slot::CREDENTIAL_ID, &c.id);
                }
                self.set(slot::OUTCOME, t.outcome.as_str());
                if let Some(by) = &t.delegated_by {
                    self.set(slot::DELEGATED_BY_AGENT, &by.agent_id);
                    self.set(slot::DELEGATED_BY_SESSION, &by.session_id);
                }
            }
            EventBody::TokenUse(t) => {
                self.set(slot::SCHEMA, "token_use");
                self.opt(slot::SYSTEM, &t.system);
                self.opt(slot::ZONE, &t.zone);
                self.set(slot::CREDENTIAL_ID, &t.token.id);
                self.set(slot::ACTION, t.action.as_str());
                // A denied token use counts as a denied outcome, so one filter finds every
                // refusal.
                if t.action == TokenAction::Denied {
                    self.set(slot::OUTCOME, "denied");
                }
                self.opt(slot::TOKEN_PARENT_ID, &t.token.parent_id);
                if t.token.parent_id.is_some() {
                    self.set(slot::LINEAGE_TOKEN, &t.token.id);
                }
                self.opt(slot::TOKEN_SUBJECT, &t.token.subject);
                self.opt(slot::PRESENTER, &t.presenter);
                if let Some(a) = &t.actor {
                    self.set(slot::ACTOR_AGENT, &a.agent_id);
                    self.set(slot::ACTOR_SESSION, &a.session_id);
                }
            }
        }
    }

    fn set(&mut self, field_id: u32, text: &str) {
        self.spans[field_id as usize] = self.push(text);
    }

    fn opt(&mut self, field_id: u32, text: &Option<String>) {
        if let Some(t) = text {
            self.set(field_id, t);
        }
    }

    fn push(&mut self, text: &str) -> Span {
        let start = self.buf.len();
        self.buf.push_str(text);
        self.span_since(start)
    }

    fn span_since(&self, start: usize) -> Span {
        // Events are at most 1 MiB, so their texts fit u32 spans many times over.
        Span {
            start: start as u32,
            len: (self.buf.len() - start) as u32,
        }
    }

    fn json_root(&mut self, map: &Map<String, Json>) -> Span {
        let root = self.json.len();
        // The root and one node per entry: exact for flat attributes, the common case.
        self.json.reserve(map.len() + 1);
        self.json.push(JsonNode {
            key: Span { start: 0, len: 0 },
            kind: JsonKind::Object,
            descendants: 0,
        });
        for (key, value) in map {
            let key = self.push(key);
            self.json_node(key, value);
        }
        self.json[root].descendants = (self.json.len() - root - 1) as u32;
        Span {
            start: root as u32,
            len: 1,
        }
    }

    fn json_node(&mut self, key: Span, value: &Json) {
        let at = self.json.len();
        let kind = match value {
            Json::Array(_) => JsonKind::Array,
            Json::Object(_) => JsonKind::Object,
            // Leaves are read as tantivy itself reads serde_json (numbers as their exact type,
            // RFC 3339 strings as dates), so the index is the one tantivy builds from the JSON.
            leaf => match Value::as_value(&leaf) {
                ReferenceValue::Leaf(ReferenceValueLeaf::Bool(b)) => JsonKind::Bool(b),
                ReferenceValue::Leaf(ReferenceValueLeaf::I64(n)) => JsonKind::I64(n),
                ReferenceValue::Leaf(ReferenceValueLeaf::U64(n)) => JsonKind::U64(n),
                ReferenceValue::Leaf(ReferenceValueLeaf::F64(n)) => JsonKind::F64(n),
                ReferenceValue::Leaf(ReferenceValueLeaf::Date(d)) => {
                    JsonKind::Date(d.into_timestamp_nanos())
                }
                ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)) => JsonKind::Str(self.push(s)),
                _ => JsonKind::Null,
            },
        };
        self.json.push(JsonNode {
            key,
            kind,
            descendants: 0,
        });
        match value {
            Json::Array(items) => {
                for item in items {
                    self.json_node(Span { start: 0, len: 0 }, item);
                }
            }
            Json::Object(map) => {
                for (k, v) in map {
                    let k = self.push(k);
                    self.json_node(k, v);
                }
            }
            _ => {}
        }
        self.json[at].descendants = (self.json.len() - at - 1) as u32;
    }

    fn text(&self, span: Span) -> &str {
        self.buf.get(span.range()).unwrap_or_default()
    }

    fn bytes(&self, span: Span) -> &[u8] {
        self.buf.as_bytes().get(span.range()).unwrap_or_default()
    }

    fn value(&self, field_id: u32) -> Option<FieldValue<'_>> {
        let span = *self.spans.get(field_id as usize)?;
        match field_id {
            slot::ID_HASH => Some(FieldValue::U64(self.id_hash)),
            slot::TIME => Some(FieldValue::Date(DateTime::from_timestamp_micros(
                self.time_us,
            ))),
            _ if span.is_absent() => None,
            slot::ATTRIBUTES | slot::EXTRA => Some(FieldValue::Json(JsonRef {
                doc: self,
                node: span.start,
            })),
            slot::STORED => Some(FieldValue::Bytes(self.bytes(span))),
            _ => Some(FieldValue::Str(self.text(span))),
        }
    }
}

impl Document for EventDocument {
    type Value<'a> = FieldValue<'a>;
    type FieldsValuesIter<'a> = Fields<'a>;

    fn iter_fields_and_values(&self) -> Fields<'_> {
        Fields {
            doc: &self.0,
            next: 0,
        }
    }
}

/// The fields of an [`EventDocument`] that have a value, in field-id order (so tantivy's
/// grouping by field finds them already sorted).
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    doc: &'a Parts,
    next: u32,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Field, FieldValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < slot::END {
            let id = self.next;
            self.next += 1;
            if let Some(value) = self.doc.value(id) {
                return Some((Field::from_field_id(id), value));
            }
        }
        None
    }
}

/// A value of an [`EventDocument`].
#[derive(Debug, Clone, Copy)]
pub enum FieldValue<'a> {
    /// A text field.
    Str(&'a str),
    /// The id hash.
    U64(u64),
    /// The event time.
    Date(DateTime),
    /// The stored encoding.
    Bytes(&'a [u8]),
    /// `attributes` or `extra`, or a value inside them.
    Json(JsonRef<'a>),
}

/// A JSON node of an [`EventDocument`].
#[derive(Clone, Copy)]
pub struct JsonRef<'a> {
    doc: &'a Parts,
    node: u32,
}

// A derived Debug would print the whole document for every node.
impl std::fmt::Debug for JsonRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonRef")
            .field("node", &self.node)
            .field(
                "kind",
                &self.doc.json.get(self.node as usize).map(|n| n.kind),
            )
            .finish()
    }
}

/// The children of an array or object node.
#[derive(Clone)]
pub struct JsonChildren<'a> {
    doc: &'a Parts,
    next: u32,
    end: u32,
}

impl std::fmt::Debug for JsonChildren<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonChildren")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}

impl<'a> JsonChildren<'a> {
    fn of(r: JsonRef<'a>, descendants: u32) -> Self {
        JsonChildren {
            doc: r.doc,
            next: r.node + 1,
            end: r.node + 1 + descendants,
        }
    }

    fn advance(&mut self) -> Option<(Span, JsonRef<'a>)> {
        if self.next >= self.end {
            return None;
        }
        let node = self.doc.json.get(self.next as usize)?;
        let child = JsonRef {
            doc: self.doc,
            node: self.next,
        };
        self.next += 1 + node.descendants;
        Some((node.key, child))
    }
}

/// The items of an array node.
#[derive(Debug, Clone)]
pub struct JsonItems<'a>(JsonChildren<'a>);

impl<'a> Iterator for JsonItems<'a> {
    type Item = FieldValue<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.advance().map(|(_, v)| FieldValue::Json(v))
    }
}

/// The entries of an object node.
#[derive(Debug, Clone)]
pub struct JsonEntries<'a>(JsonChildren<'a>);

impl<'a> Iterator for JsonEntries<'a> {
    type Item = (&'a str, FieldValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let doc = self.0.doc;
        self.0
            .advance()
            .map(|(key, v)| (doc.text(key), FieldValue::Json(v)))
    }
}

impl<'a> Value<'a> for FieldValue<'a> {
    type ArrayIter = JsonItems<'a>;
    type ObjectIter = JsonEntries<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        let leaf = match *self {
            FieldValue::Str(s) => ReferenceValueLeaf::Str(s),
            FieldValue::U64(n) => ReferenceValueLeaf::U64(n),
            FieldValue::Date(d) => ReferenceValueLeaf::Date(d),
            FieldValue::Bytes(b) => ReferenceValueLeaf::Bytes(b),
            FieldValue::Json(r) => {
                let Some(node) = r.doc.json.get(r.node as usize) else {
                    return ReferenceValue::Leaf(ReferenceValueLeaf::Null);
                };
                match node.kind {
                    JsonKind::Null => ReferenceValueLeaf::Null,
                    JsonKind::Bool(b) => ReferenceValueLeaf::Bool(b),
                    JsonKind::I64(n) => ReferenceValueLeaf::I64(n),
                    JsonKind::U64(n) => ReferenceValueLeaf::U64(n),
                    JsonKind::F64(n) => ReferenceValueLeaf::F64(n),
                    JsonKind::Date(ns) => {
                        ReferenceValueLeaf::Date(DateTime::from_timestamp_nanos(ns))
                    }
                    JsonKind::Str(span) => ReferenceValueLeaf::Str(r.doc.text(span)),
                    JsonKind::Array => {
                        return ReferenceValue::Array(JsonItems(JsonChildren::of(
                            r,
                            node.descendants,
                        )))
                    }
                    JsonKind::Object => {
                        return ReferenceValue::Object(JsonEntries(JsonChildren::of(
                            r,
                            node.descendants,
                        )))
                    }
                }
            }
        };
        ReferenceValue::Leaf(leaf)
    }
}

#[cfg(test)]
mod tests {
    use hoptrail_schemas::{encode_event, Decoder};
    use serde_json::json;
    use tantivy::schema::OwnedValue;

    use super::*;
    use crate::{id_hash, EventSchema};

    fn decoded(record: Json) -> Event {
        Decoder::new()
            .decode(record.to_string().as_bytes())
            .unwrap()
            .event
    }

    fn document(event: &Event) -> EventDocument {
        EventDocument::new(event, id_hash(&event.tenant, &event.event_id), 0)
    }

    /// What each field should hold, written out field by field from the schema's documentation.
    fn expected(f: &EventSchema, e: &Event) -> Vec<(Field, OwnedValue)> {
        let mut out: Vec<(Field, OwnedValue)> = Vec::new();
        let mut text = |field: Field, value: Option<&str>| {
            if let Some(v) = value {
                out.push((field, OwnedValue::Str(v.to_owned())));
            }
        };
        text(f.tenant, Some(&e.tenant));
        text(f.event_id, Some(&e.event_id));
        text(f.agent_id, Some(&e.agent.id));
        text(f.workload, e.agent.workload.as_deref());
        text(f.on_behalf_of, e.agent.on_behalf_of.as_deref());
        text(f.session_id, Some(&e.session_id));
        text(f.task_id, e.task.as_ref().and_then(|t| t.id.as_deref()));
        if let Some(t) = &e.trace {
            text(f.trace_id, t.trace_id.as_deref());
            text(f.span_id, t.span_id.as_deref());
            text(f.parent_span_id, t.parent_span_id.as_deref());
        }
        match &e.body {
            EventBody::ToolUse(t) => {
                text(f.schema_kind, Some("tool_use"));
                text(f.system, Some(&t.system));
                text(f.zone, t.zone.as_deref());
                text(f.tool, Some(&t.tool.name));
                text(f.tool_server, t.tool.server.as_deref());
                text(f.operation, t.tool.operation.as_deref());
                text(f.resource, t.resource.as_deref());
                text(
                    f.credential_id,
                    t.credential.as_ref().map(|c| c.id.as_str()),
                );
                text(f.outcome, Some(t.outcome.as_str()));
                if let Some(by) = &t.delegated_by {
                    text(f.delegated_by_agent, Some(&by.agent_id));
                    text(f.delegated_by_session, Some(&by.session_id));
                }
            }
            EventBody::TokenUse(t) => {
                text(f.schema_kind, Some("token_use"));
                text(f.system, t.system.as_deref());
                text(f.zone, t.zone.as_deref());
                text(f.credential_id, Some(&t.token.id));
                text(f.action, Some(t.action.as_str()));
                if t.action == TokenAction::Denied {
                    text(f.outcome, Some("denied"));
                }
                text(f.token_parent_id, t.token.parent_id.as_deref());
                if t.token.parent_id.is_some() {
                    text(f.lineage_token, Some(&t.token.id));
                }
                text(f.token_subject, t.token.subject.as_deref());
                text(f.presenter, t.presenter.as_deref());
                if let Some(a) = &t.actor {
                    text(f.actor_agent, Some(&a.agent_id));
                    text(f.actor_session, Some(&a.session_id));
                }
            }
        }
        out.push((f.id_hash, OwnedValue::U64(id_hash(&e.tenant, &e.event_id))));
        out.push((
            f.time,
            OwnedValue::Date(DateTime::from_timestamp_micros(e.time_us)),
        ));
        // JSON as tantivy itself reads serde_json.
        let json =
            |m: &Map<String, Json>| OwnedValue::from(Value::as_value(&&Json::Object(m.clone())));
        if !e.attributes.is_empty() {
            out.push((f.attributes, json(&e.attributes)));
        }
        if !e.extra.is_empty() {
            out.push((f.extra, json(&e.extra)));
        }
        let mut stored = String::new();
        encode_event(e, &mut stored);
        out.push((f.stored, OwnedValue::Bytes(stored.into_bytes())));
        out.sort_by_key(|(field, _)| *field);
        out
    }

    fn actual(doc: &EventDocument) -> Vec<(Field, OwnedValue)> {
        doc.iter_fields_and_values()
            .map(|(field, value)| (field, OwnedValue::from(value.as_value())))
            .collect()
    }

    #[test]
    fn field_ids_are_the_schemas() {
        let f = EventSchema::new();
        let named = [
            (f.tenant, slot::TENANT),
            (f.event_id, slot::EVENT_ID),
            (f.id_hash, slot::ID_HASH),
            (f.schema_kind, slot::SCHEMA),
            (f.time, slot::TIME),
            (f.agent_id, slot::AGENT_ID),
            (f.workload, slot::WORKLOAD),
            (f.on_behalf_of, slot::ON_BEHALF_OF),
            (f.session_id, slot::SESSION_ID),
            (f.system, slot::SYSTEM),
            (f.zone, slot::ZONE),
            (f.tool, slot::TOOL),
            (f.tool_server, slot::TOOL_SERVER),
            (f.operation, slot::OPERATION),
            (f.resource, slot::RESOURCE),
            (f.credential_id, slot::CREDENTIAL_ID),
            (f.outcome, slot::OUTCOME),
            (f.action, slot::ACTION),
            (f.token_parent_id, slot::TOKEN_PARENT_ID),
            (f.lineage_token, slot::LINEAGE_TOKEN),
            (f.token_subject, slot::TOKEN_SUBJECT),
            (f.presenter, slot::PRESENTER),
            (f.delegated_by_agent, slot::DELEGATED_BY_AGENT),
            (f.delegated_by_session, slot::DELEGATED_BY_SESSION),
            (f.actor_agent, slot::ACTOR_AGENT),
            (f.actor_session, slot::ACTOR_SESSION),
            (f.trace_id, slot::TRACE_ID),
            (f.span_id, slot::SPAN_ID),
            (f.parent_span_id, slot::PARENT_SPAN_ID),
            (f.task_id, slot::TASK_ID),
            (f.attributes, slot::ATTRIBUTES),
            (f.extra, slot::EXTRA),
            (f.stored, slot::STORED),
        ];
        for (field, id) in named {
            assert_eq!(field.field_id(), id, "{}", f.schema.get_field_name(field));
        }
        assert_eq!(f.schema.num_fields(), slot::END as usize);
    }

    #[test]
    fn a_tool_call_with_every_field_yields_each_one_in_field_order() {
        let event = decoded(json!({
            "schema": "hoptrail.tool_use.v1", "event_id": "e1",
            "time": "2026-01-01T00:00:00.123456+02:00", "tenant": "acme",
            "agent": {"id": "a1", "workload": "spiffe://acme.corp/a1", "on_behalf_of": "ann", "name": "bot"},
            "session_id": "s1",
            "task": {"id": "T-1", "declared_tools": ["x"], "declared_systems": ["y"]},
            "trace": {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "parent_span_id": "00f067aa0ba902b7"},
            "system": "github.com/acme", "zone": "external",
            "tool": {"name": "gh.push", "server": "mcp-gh", "operation": "push main"},
            "resource": "https://github.com/acme/x", "credential": {"id": "tok-1", "kind": "oauth"},
            "outcome": "success", "delegated_by": {"agent_id": "a0", "session_id": "s0"},
            "attributes": {
                "n": -3, "big": 18446744073709551615u64, "ratio": 0.5, "ok": true, "none": null,
                "when": "2026-01-01T00:00:00Z", "list": [1, "two", {"deep": ["x"]}],
            },
            "future_field": {"kept": 1, "empty": {}, "none": []},
        }));
        let f = EventSchema::new();
        let got = actual(&document(&event));
        assert_eq!(got, expected(&f, &event));
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(got.iter().any(|(field, _)| *field == f.extra));
    }

    #[test]
    fn token_events_yield_the_token_fields() {
        let f = EventSchema::new();
        for (action, parent, actor) in [
            ("exchanged", Some("tok-0"), true),
            ("denied", None, false),
            ("revoked", None, false),
        ] {
            let mut record = json!({
                "schema": "hoptrail.token_use.v1", "event_id": format!("t-{action}"),
                "time": "2026-01-01T00:00:00Z", "agent": {"id": "a1"}, "session_id": "s1",
                "action": action,
                "token": {"id": "tok-1", "subject": "spiffe://acme.corp/a1", "audience": ["x"], "scopes": ["read"]},
                "presenter": "spiffe://acme.corp/a1",
            });
            if action != "revoked" {
                record["system"] = json!("sts.corp");
                record["zone"] = json!("internal");
            }
            if let Some(p) = parent {
                record["token"]["parent_id"] = json!(p);
            }
            if actor {
                record["actor"] = json!({"agent_id": "a2", "session_id": "s2"});
            }
            let event = decoded(record);
            assert_eq!(actual(&document(&event)), expected(&f, &event), "{action}");
        }
    }

    #[test]
    fn a_minimal_event_yields_only_what_it_has() {
        let event = decoded(json!({
            "schema": "hoptrail.tool_use.v1", "event_id": "e1", "time": "2026-01-01T00:00:00Z",
            "agent": {"id": "a1"}, "session_id": "s1", "system": "jira.corp",
            "tool": {"name": "t"}, "outcome": "denied",
        }));
        let f = EventSchema::new();
        let got = actual(&document(&event));
        assert_eq!(got, expected(&f, &event));
        let names: Vec<&str> = got
            .iter()
            .map(|(field, _)| f.schema.get_field_name(*field))
            .collect();
        assert_eq!(
            names,
            [
                "tenant",
                "event_id",
                "id_hash",
                "schema",
                "time",
                "agent_id",
                "session_id",
                "system",
                "tool",
                "outcome",
                "event"
            ]
        );
    }

    fn json_leaf() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            (-1e12f64..1e12).prop_map(Json::from),
            "[a-z ]{0,12}".prop_map(Json::from),
            // Strings tantivy reads as dates, and near misses it keeps as text.
            Just(json!("2026-01-01T00:00:00Z")),
            Just(json!("2026-01-01T00:00:00.5+02:00")),
            Just(json!("2026-13-01T00:00:00Z")),
            "\\PC{0,8}".prop_map(Json::from),
        ]
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Logging a JSON node must not dump the event it belongs to.
    #[test]
    fn a_json_node_debugs_as_its_position_not_as_the_whole_document() {
        let event = decoded(json!({
            "schema": "hoptrail.tool_use.v1", "event_id": "e1",
            "time": "2026-01-01T00:00:00Z", "agent": {"id": "a1"}, "session_id": "s1",
            "system": "jira.corp", "tool": {"name": "t"}, "outcome": "success",
            "attributes": {"note": "a long text that belongs to the event"},
        }));
        let doc = document(&event);
        let Some(FieldValue::Json(node)) = doc.0.value(slot::ATTRIBUTES) else {
            panic!("attributes are a JSON node");
        };
        let shown = format!("{node:?}");
        assert!(shown.starts_with("JsonRef { node: 0"), "{shown}");
        assert!(
            !shown.contains("jira.corp") && !shown.contains("long text"),
            "{shown}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever `attributes` holds, tantivy reads from the document what it would read from
        /// the JSON itself.
        #[test]
        fn any_attributes_read_as_tantivy_reads_their_json(
            attributes in proptest::collection::btree_map("[a-z_]{1,6}", json_value(), 1..5),
        ) {
            let attributes: Map<String, Json> = attributes.into_iter().collect();
            let event = decoded(json!({
                "schema": "hoptrail.tool_use.v1", "event_id": "e1",
                "time": "2026-01-01T00:00:00Z", "agent": {"id": "a1"}, "session_id": "s1",
                "system": "jira.corp", "tool": {"name": "t"}, "outcome": "success",
                "attributes": attributes,
            }));
            proptest::prop_assert_eq!(actual(&document(&event)), expected(&EventSchema::new(), &event));
        }
    }
}
