//! `Decoder::decode` turns exactly the records wire format v1 allows into a validated, redacted
//! `Event`, and everything else into a `RecordError`; no input makes it panic or recurse deeply.

use hoptrail_core::event::{
    Agent, Credential, Event, EventBody, Outcome, SessionRef, Task, Token, TokenAction, TokenUse,
    Tool, ToolUse, Trace, DEFAULT_TENANT, TOKEN_USE_V1, TOOL_USE_V1,
};
use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use crate::byte_classes::{self, Class};
use crate::identifiers;
use crate::record_error::{Reason, RecordError};
use crate::redactor::{RedactionCounts, Redactor};
use crate::rules::{self, MAX_EVENT_ID_CHARS, MAX_ID_CHARS};
use crate::slots::{Field, Seed, Shape, Slots};
use crate::time::parse_time;

/// The largest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The deepest nesting of arrays and objects accepted; the record's own object is level 1.
pub const MAX_DEPTH: usize = 32;
/// The largest `attributes` object accepted, serialized as compact JSON, in bytes.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 << 10;
/// The earliest `time` accepted: 1970-01-01T00:00:00Z, in microseconds.
pub const TIME_MIN_US: i64 = 0;
/// The first `time` no longer accepted: 2100-01-01T00:00:00Z, in microseconds.
pub const TIME_MAX_US: i64 = 4_102_444_800_000_000;

/// Compact re-serialization of parsed JSON is at most 4.5 times the length of its source text
/// (the worst case is a number like `1e15`, written back as `1000000000000000.0`; strings and
/// whitespace only shrink), so a record this short cannot hold attributes over the limit and
/// skips measuring them.
const ATTRIBUTES_UNMEASURED_RECORD_BYTES: usize = MAX_ATTRIBUTES_BYTES / 5;

/// Decodes records. Built once (it compiles the redactor's patterns) and shared: `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    redactor: Redactor,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The validated, redacted event.
    pub event: Event,
    /// What the redactor replaced in it.
    pub redactions: RedactionCounts,
}

impl Decoder {
    /// A decoder with the built-in redaction rules.
    pub fn new() -> Self {
        Decoder {
            redactor: Redactor::new(),
        }
    }

    /// Decodes, validates and redacts one record.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, RecordError> {
        self.decode_with(bytes, true)
    }

    /// [`Decoder::decode`], writing into the event `slot` holds from an earlier call so that
    /// its allocations are reused: what a loop decoding record after record wants. On success
    /// `slot` holds the new event (nothing of the previous one is left in it); on error it is
    /// emptied.
    pub fn decode_reusing<'s>(
        &self,
        bytes: &[u8],
        slot: &'s mut Option<Event>,
    ) -> Result<(&'s mut Event, RedactionCounts), RecordError> {
        match self.decode_in(bytes, true, slot.get_or_insert_with(fast::blank_event)) {
            // Already filled: this only hands out the borrow.
            Ok(redactions) => Ok((slot.get_or_insert_with(fast::blank_event), redactions)),
            Err(e) => {
                *slot = None;
                Err(e)
            }
        }
    }

    /// [`Decoder::decode`] without its fast path, for the tests and fuzz targets that hold the
    /// two to the same answer on every input.
    #[doc(hidden)]
    pub fn decode_without_fast_path(&self, bytes: &[u8]) -> Result<Decoded, RecordError> {
        self.decode_with(bytes, false)
    }

    fn decode_with(&self, bytes: &[u8], fast_path: bool) -> Result<Decoded, RecordError> {
        let mut event = fast::blank_event();
        let redactions = self.decode_in(bytes, fast_path, &mut event)?;
        Ok(Decoded { event, redactions })
    }

    /// Writes the record's event over `event`; after an error, `event` is unspecified.
    fn decode_in(
        &self,
        bytes: &[u8],
        fast_path: bool,
        event: &mut Event,
    ) -> Result<RedactionCounts, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::new(
                Reason::TooLarge,
                format!("record: larger than 1 MiB ({} bytes)", bytes.len()),
            ));
        }
        let text = utf8(bytes)?;
        check_depth(text.as_bytes())?;
        if !fast_path || fast::decode_into(text, event).is_none() {
            *event = decode_full(text)?;
        }
        if bytes.len() > ATTRIBUTES_UNMEASURED_RECORD_BYTES
            && !fits_in(&event.attributes, MAX_ATTRIBUTES_BYTES)
        {
            return Err(RecordError::field("attributes", "larger than 64 KiB"));
        }
        Ok(self.redact(event))
    }

    fn redact(&self, event: &mut Event) -> RedactionCounts {
        let mut counts = RedactionCounts::default();
        let r = &self.redactor;
        r.redact_map(&mut event.attributes, &mut counts);
        r.redact_map_by(&mut event.extra, last_segment, &mut counts);
        if let EventBody::ToolUse(t) = &mut event.body {
            for s in [t.resource.as_mut(), t.tool.operation.as_mut()]
                .into_iter()
                .flatten()
            {
                if let std::borrow::Cow::Owned(o) = r.redact_str(s, &mut counts) {
                    *s = o;
                }
            }
        }
        counts
    }
}

/// `bytes` as text. Valid UTF-8, the common case, is confirmed with SIMD; only an invalid
/// record pays for finding where it breaks.
fn utf8(bytes: &[u8]) -> Result<&str, RecordError> {
    simdutf8::basic::from_utf8(bytes).or_else(|_| {
        std::str::from_utf8(bytes).map_err(|e| {
            RecordError::new(
                Reason::InvalidUtf8,
                format!("record: invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })
    })
}

/// Every record the format allows, and the error of every other; [`fast::decode`] takes the
/// common ones first.
fn decode_full(text: &str) -> Result<Event, RecordError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Seed(&RECORD)
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| crate::numbers::parse_error(text, e))?;
    let slots = match parsed {
        Field::Object(slots) => slots,
        Field::Value(v) => {
            return Err(RecordError::field(
                "record",
                &format!("expected an object, got {}", type_name(&v)),
            ))
        }
    };
    let event = build_event(slots)?;
    if !event.extra.is_empty() {
        crate::extra_depth::check(&event.extra)?;
    }
    Ok(event)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Rejects nesting deeper than [`MAX_DEPTH`] with one bounded pass over the bytes, before the
/// parser (whose own limit is 128, reported as a generic syntax error) sees them.
fn check_depth(b: &[u8]) -> Result<(), RecordError> {
    // Depth cannot pass the number of opening brackets, wherever they are (in strings too):
    // a typical record has a handful, and counting them takes one SIMD pass.
    if byte_classes::count(b, Class::Opening) <= MAX_DEPTH {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                i += 1;
                // Jump from escape to escape: string bodies are most of a record's bytes.
                loop {
                    let Some(rest) = b.get(i..) else {
                        return Ok(());
                    };
                    match memchr::memchr2(b'"', b'\\', rest) {
                        None => return Ok(()),
                        Some(j) if rest[j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j;
                            break;
                        }
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(RecordError::new(
                        Reason::TooDeep,
                        "record: nested deeper than 32 levels".to_owned(),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether `m` serializes to at most `limit` bytes; stops counting once past it.
fn fits_in(m: &Map<String, Value>, limit: usize) -> bool {
    struct Counter {
        n: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter { n: 0, limit }, m).is_ok()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> RecordError {
    RecordError::field(
        path,
        &format!("expected {expected}, got {}", type_name(got)),
    )
}

const AGENT: Shape = Shape {
    keys: &[
        ("id", None),
        ("workload", None),
        ("on_behalf_of", None),
        ("name", None),
    ],
};
const TASK: Shape = Shape {
    keys: &[
        ("id", None),
        ("declared_tools", None),
        ("declared_systems", None),
    ],
};
const TRACE: Shape = Shape {
    keys: &[
        ("trace_id", None),
        ("span_id", None),
        ("parent_span_id", None),
    ],
};
const TOOL: Shape = Shape {
    keys: &[("name", None), ("server", None), ("operation", None)],
};
const CREDENTIAL: Shape = Shape {
    keys: &[("id", None), ("kind", None)],
};
const SESSION_REF: Shape = Shape {
    keys: &[("agent_id", None), ("session_id", None)],
};
const TOKEN: Shape = Shape {
    keys: &[
        ("id", None),
        ("issuer", None),
        ("subject", None),
        ("audience", None),
        ("scopes", None),
        ("issued_at", None),
        ("expires_at", None),
        ("parent_id", None),
    ],
};
/// Every top-level key of either schema; those of the other schema end up in `extra`.
const RECORD: Shape = Shape {
    keys: &[
        ("schema", None),
        ("event_id", None),
        ("time", None),
        ("tenant", None),
        ("agent", Some(&AGENT)),
        ("session_id", None),
        ("task", Some(&TASK)),
        ("trace", Some(&TRACE)),
        ("attributes", None),
        ("extra", None),
        ("system", None),
        ("zone", None),
        ("tool", Some(&TOOL)),
        ("resource", None),
        ("credential", Some(&CREDENTIAL)),
        ("outcome", None),
        ("delegated_by", Some(&SESSION_REF)),
        ("action", None),
        ("token", Some(&TOKEN)),
        ("presenter", None),
        ("actor", Some(&SESSION_REF)),
    ],
};

/// A JSON object being taken apart: known fields are taken as they are read, and whatever is
/// left over is unknown and goes to `Event::extra`.
struct Obj {
    slots: Slots,
    /// Dotted path of this object from the record root; empty for the root.
    path: &'static str,
}

impl Obj {
    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Removes `key`; `null` reads as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        match self.slots.take(key)? {
            Field::Value(Value::Null) => None,
            f => Some(f.into_value()),
        }
    }

    fn opt_str(&mut self, key: &str) -> Result<Option<String>, RecordError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(&self.path_of(key), "a string", &v)),
        }
    }

    fn req_str(&mut self, key: &str) -> Result<String, RecordError> {
        self.opt_str(key)?
            .ok_or_else(|| RecordError::field(&self.path_of(key), "missing"))
    }

    fn check(
        &self,
        key: &str,
        s: String,
        rule: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<String, RecordError> {
        match rule(&s) {
            Ok(()) => Ok(s),
            Err(why) => Err(RecordError::field(&self.path_of(key), &why)),
        }
    }

    fn req_id(&mut self, key: &str) -> Result<String, RecordError> {
        let s = self.req_str(key)?;
        self.check(key, s, |s| rules::identifier(s, MAX_ID_CHARS))
    }

    fn opt_id(&mut self, key: &str) -> Result<Option<String>, RecordError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => self
                .check(key, s, |s| rules::identifier(s, MAX_ID_CHARS))
                .map(Some),
        }
    }

    fn opt_time(&mut self, key: &str) -> Result<Option<i64>, RecordError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => parse_time(&s)
                .ok_or_else(|| "not RFC 3339".to_owned())
                .and_then(|us| identifiers::time_in_range(us).map(|()| Some(us)))
                .map_err(|why| RecordError::field(&self.path_of(key), &why)),
        }
    }

    fn opt_obj(&mut self, key: &'static str) -> Result<Option<Obj>, RecordError> {
        debug_assert!(self.path.is_empty(), "known objects sit at the root");
        match self.slots.take(key) {
            None | Some(Field::Value(Value::Null)) => Ok(None),
            Some(Field::Object(slots)) => Ok(Some(Obj { slots, path: key })),
            Some(Field::Value(v)) => Err(wrong_type(&self.path_of(key), "an object", &v)),
        }
    }

    fn req_obj(&mut self, key: &'static str) -> Result<Obj, RecordError> {
        self.opt_obj(key)?
            .ok_or_else(|| RecordError::field(&self.path_of(key), "missing"))
    }

    /// A list of identifiers; with `one_allowed`, a lone string is read as a one-element list
    /// (JWT `aud` may be either).
    fn id_list(&mut self, key: &str, one_allowed: bool) -> Result<Vec<String>, RecordError> {
        let items = match self.take(key) {
            None => return Ok(Vec::new()),
            Some(Value::String(s)) if one_allowed => vec![Value::String(s)],
            Some(Value::Array(items)) => items,
            Some(v) => {
                let expected = if one_allowed {
                    "a string or an array of strings"
                } else {
                    "an array of strings"
                };
                return Err(wrong_type(&self.path_of(key), expected, &v));
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let at = || format!("{}[{i}]", self.path_of(key));
            match item {
                Value::String(s) => match rules::identifier(&s, MAX_ID_CHARS) {
                    Ok(()) => out.push(s),
                    Err(why) => return Err(RecordError::field(&at(), &why)),
                },
                v => return Err(wrong_type(&at(), "a string", &v)),
            }
        }
        Ok(out)
    }

    /// Moves the fields nobody read into `extra`, keyed by their dotted path.
    fn finish(self, extra: &mut Map<String, Value>) {
        if self.slots.is_spent() {
            return;
        }
        for (k, v) in self.slots.into_entries() {
            let key = if self.path.is_empty() {
                k
            } else {
                format!("{}.{k}", self.path)
            };
            extra.insert(key, v);
        }
    }
}

enum Kind {
    ToolUse,
    TokenUse,
}

fn build_event(slots: Slots) -> Result<Event, RecordError> {
    let mut root = Obj { slots, path: "" };
    let mut extra = Map::new();
    // The stored form (see `encode_event`) keeps unknown fields under "extra"; reading that
    // object back as-is makes encode -> decode exact.
    let stored_extra = root.take("extra");

    let schema = root.req_str("schema")?;
    let kind = match schema.as_str() {
        TOOL_USE_V1 => Kind::ToolUse,
        TOKEN_USE_V1 => Kind::TokenUse,
        other => {
            return Err(RecordError::new(
                Reason::UnknownSchema,
                format!(
                    "schema: unknown {} (expected {TOOL_USE_V1} or {TOKEN_USE_V1})",
                    excerpt(other)
                ),
            ))
        }
    };

    let event_id = root.req_str("event_id")?;
    let event_id = root.check("event_id", event_id, |s| {
        rules::identifier(s, MAX_EVENT_ID_CHARS)
    })?;

    let time = root.req_str("time")?;
    let time_us = parse_time(&time).ok_or_else(|| RecordError::field("time", "not RFC 3339"))?;
    identifiers::time_in_range(time_us).map_err(|why| RecordError::field("time", &why))?;

    let tenant = match root.opt_str("tenant")? {
        Some(t) => root.check("tenant", t, rules::tenant)?,
        None => DEFAULT_TENANT.to_owned(),
    };

    let mut a = root.req_obj("agent")?;
    let agent = Agent {
        id: a.req_id("id")?,
        workload: match a.opt_str("workload")? {
            Some(w) => Some(a.check("workload", w, rules::spiffe_id)?),
            None => None,
        },
        on_behalf_of: a.opt_id("on_behalf_of")?,
        // A display name, not an id: any script, spaces allowed.
        name: match a.opt_str("name")? {
            Some(n) => Some(a.check("name", n, |s| {
                identifiers::display_text(s, Some(MAX_ID_CHARS))
            })?),
            None => None,
        },
    };
    a.finish(&mut extra);

    let session_id = root.req_id("session_id")?;

    let task = match root.opt_obj("task")? {
        None => None,
        Some(mut t) => {
            let task = Task {
                id: t.opt_id("id")?,
                declared_tools: t.id_list("declared_tools", false)?,
                declared_systems: t.id_list("declared_systems", false)?,
            };
            t.finish(&mut extra);
            Some(task)
        }
    };

    let trace = match root.opt_obj("trace")? {
        None => None,
        Some(mut t) => {
            let mut hex = |key: &str, len: usize, nonzero: bool| -> Result<_, RecordError> {
                match t.opt_str(key)? {
                    None => Ok(None),
                    Some(s) => rules::hex_id(s, len, nonzero)
                        .map(Some)
                        .map_err(|why| RecordError::field(&t.path_of(key), &why)),
                }
            };
            let trace = Trace {
                trace_id: hex("trace_id", 32, true)?,
                span_id: hex("span_id", 16, true)?,
                parent_span_id: hex("parent_span_id", 16, false)?,
            };
            t.finish(&mut extra);
            Some(trace)
        }
    };

    let attributes = match root.take("attributes") {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(v) => return Err(wrong_type("attributes", "an object", &v)),
    };

    let body = match kind {
        Kind::ToolUse => EventBody::ToolUse(tool_use(&mut root, &mut extra)?),
        Kind::TokenUse => EventBody::TokenUse(token_use(&mut root, &mut extra)?),
    };

    root.finish(&mut extra);
    match stored_extra {
        None => {}
        Some(Value::Object(stored)) => {
            for (k, v) in stored {
                // A field found in place wins over a stored copy of it.
                extra.entry(k).or_insert(v);
            }
        }
        Some(other) => {
            extra.entry("extra").or_insert(other);
        }
    }

    Ok(Event {
        event_id,
        time_us,
        tenant,
        agent,
        session_id,
        task,
        trace,
        attributes,
        extra,
        body,
    })
}

fn tool_use(root: &mut Obj, extra: &mut Map<String, Value>) -> Result<ToolUse, RecordError> {
    let system = root.req_id("system")?;
    let zone = root.opt_id("zone")?;

    let mut t = root.req_obj("tool")?;
    let tool = Tool {
        name: t.req_id("name")?,
        server: t.opt_id("server")?,
        // Free text (it may be a whole query); redacted, not restricted.
        operation: t.opt_str("operation")?,
    };
    t.finish(extra);

    let resource = match root.opt_str("resource")? {
        Some(r) => Some(root.check("resource", r, rules::visible)?),
        None => None,
    };

    let credential = match root.opt_obj("credential")? {
        None => None,
        Some(mut c) => {
            let credential = Credential {
                id: c.req_id("id")?,
                kind: c.opt_id("kind")?,
            };
            c.finish(extra);
            Some(credential)
        }
    };

    let outcome = root.req_str("outcome")?;
    let outcome = Outcome::parse(&outcome)
        .ok_or_else(|| RecordError::field("outcome", "expected one of success, denied, error"))?;

    let delegated_by = match root.opt_obj("delegated_by")? {
        None => None,
        Some(d) => Some(session_ref(d, extra)?),
    };

    Ok(ToolUse {
        system,
        zone,
        tool,
        resource,
        credential,
        outcome,
        delegated_by,
    })
}

fn token_use(root: &mut Obj, extra: &mut Map<String, Value>) -> Result<TokenUse, RecordError> {
    let action = root.req_str("action")?;
    let action = TokenAction::parse(&action).ok_or_else(|| {
        RecordError::field(
            "action",
            "expected one of issued, presented, exchanged, refreshed, revoked, denied",
        )
    })?;

    let mut t = root.req_obj("token")?;
    let token = Token {
        id: t.req_id("id")?,
        issuer: t.opt_id("issuer")?,
        subject: t.opt_id("subject")?,
        audience: t.id_list("audience", true)?,
        scopes: t.id_list("scopes", false)?,
        issued_at_us: t.opt_time("issued_at")?,
        expires_at_us: t.opt_time("expires_at")?,
        parent_id: t.opt_id("parent_id")?,
    };
    t.finish(extra);

    // A revocation can come from a token's owner, with no system in between.
    let system = if action == TokenAction::Revoked {
        root.opt_id("system")?
    } else {
        Some(root.req_id("system")?)
    };
    let zone = root.opt_id("zone")?;
    let presenter = root.opt_id("presenter")?;
    let actor = match root.opt_obj("actor")? {
        None => None,
        Some(a) => Some(session_ref(a, extra)?),
    };

    Ok(TokenUse {
        action,
        token,
        system,
        zone,
        presenter,
        actor,
    })
}

fn session_ref(obj: Obj, extra: &mut Map<String, Value>) -> Result<SessionRef, RecordError> {
    let mut obj = obj;
    let r = SessionRef {
        agent_id: obj.req_id("agent_id")?,
        session_id: obj.req_id("session_id")?,
    };
    obj.finish(extra);
    Ok(r)
}

/// The value quoted and escaped, cut to 64 characters, for use in an error message.
fn excerpt(s: &str) -> String {
    identifiers::excerpt(s)
}

mod fast;
#[cfg(test)]
mod tests;
