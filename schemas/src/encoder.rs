//! `encode_event` writes the stored form of an event: the same bytes for equal events, and bytes
//! that `Decoder::decode` reads back into an equal event.
//!
//! Layout: the wire fields in a fixed order, absent optional fields and empty lists left out,
//! `time` (and token times) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, `tenant` always present,
//! `attributes` and then `extra` (unknown fields, keyed by dotted path) last, object keys inside
//! them sorted.

use hoptrail_core::event::{Event, EventBody, SessionRef};
use serde_json::{Map, Value};

use crate::byte_classes::{self, Class};
use crate::time::write_time;

/// A member's key as written after another member, `,"name":`, built at compile time: the
/// first member of an object skips the comma, and writing a key is one copy instead of four.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Appends the stored JSON form of `event` to `out`.
///
/// The event is written as it is: redaction happened when it was decoded.
pub fn encode_event(event: &Event, out: &mut String) {
    let mut o = ObjWriter::open(out);
    o.str(key!("schema"), event.schema());
    o.str(key!("event_id"), &event.event_id);
    o.time(key!("time"), event.time_us);
    o.str(key!("tenant"), &event.tenant);
    o.obj(key!("agent"), |a| {
        a.str(key!("id"), &event.agent.id);
        a.opt_str(key!("workload"), event.agent.workload.as_deref());
        a.opt_str(key!("on_behalf_of"), event.agent.on_behalf_of.as_deref());
        a.opt_str(key!("name"), event.agent.name.as_deref());
    });
    o.str(key!("session_id"), &event.session_id);
    if let Some(task) = &event.task {
        o.obj(key!("task"), |t| {
            t.opt_str(key!("id"), task.id.as_deref());
            t.list(key!("declared_tools"), &task.declared_tools);
            t.list(key!("declared_systems"), &task.declared_systems);
        });
    }
    if let Some(trace) = &event.trace {
        o.obj(key!("trace"), |t| {
            t.opt_str(key!("trace_id"), trace.trace_id.as_deref());
            t.opt_str(key!("span_id"), trace.span_id.as_deref());
            t.opt_str(key!("parent_span_id"), trace.parent_span_id.as_deref());
        });
    }
    match &event.body {
        EventBody::ToolUse(u) => {
            o.str(key!("system"), &u.system);
            o.opt_str(key!("zone"), u.zone.as_deref());
            o.obj(key!("tool"), |t| {
                t.str(key!("name"), &u.tool.name);
                t.opt_str(key!("server"), u.tool.server.as_deref());
                t.opt_str(key!("operation"), u.tool.operation.as_deref());
            });
            o.opt_str(key!("resource"), u.resource.as_deref());
            if let Some(c) = &u.credential {
                o.obj(key!("credential"), |w| {
                    w.str(key!("id"), &c.id);
                    w.opt_str(key!("kind"), c.kind.as_deref());
                });
            }
            o.str(key!("outcome"), u.outcome.as_str());
            if let Some(d) = &u.delegated_by {
                o.session_ref(key!("delegated_by"), d);
            }
        }
        EventBody::TokenUse(u) => {
            o.str(key!("action"), u.action.as_str());
            o.obj(key!("token"), |t| {
                let k = &u.token;
                t.str(key!("id"), &k.id);
                t.opt_str(key!("issuer"), k.issuer.as_deref());
                t.opt_str(key!("subject"), k.subject.as_deref());
                t.list(key!("audience"), &k.audience);
                t.list(key!("scopes"), &k.scopes);
                if let Some(at) = k.issued_at_us {
                    t.time(key!("issued_at"), at);
                }
                if let Some(at) = k.expires_at_us {
                    t.time(key!("expires_at"), at);
                }
                t.opt_str(key!("parent_id"), k.parent_id.as_deref());
            });
            o.opt_str(key!("system"), u.system.as_deref());
            o.opt_str(key!("zone"), u.zone.as_deref());
            o.opt_str(key!("presenter"), u.presenter.as_deref());
            if let Some(a) = &u.actor {
                o.session_ref(key!("actor"), a);
            }
        }
    }
    if !event.attributes.is_empty() {
        o.map(key!("attributes"), &event.attributes);
    }
    if !event.extra.is_empty() {
        o.map(key!("extra"), &event.extra);
    }
    o.close();
}

/// Writes the members of one JSON object, inserting the commas.
struct ObjWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjWriter<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        ObjWriter { out, first: true }
    }

    fn close(self) {
        self.out.push('}');
    }

    /// `k` is a [`key!`]: one of the format's own field names, which never need escaping.
    fn key(&mut self, k: &'static str) {
        debug_assert!(k.starts_with(",\"") && k.ends_with("\":"));
        debug_assert!(!byte_classes::any(
            &k.as_bytes()[2..k.len() - 2],
            Class::JsonSpecial
        ));
        let k = if self.first { &k[1..] } else { k };
        self.first = false;
        self.out.push_str(k);
    }

    fn str(&mut self, k: &'static str, v: &str) {
        self.key(k);
        write_str(self.out, v);
    }

    fn opt_str(&mut self, k: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn time(&mut self, k: &'static str, us: i64) {
        self.key(k);
        self.out.push('"');
        write_time(us, self.out);
        self.out.push('"');
    }

    fn list(&mut self, k: &'static str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        self.key(k);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_str(self.out, item);
        }
        self.out.push(']');
    }

    fn obj(&mut self, k: &'static str, f: impl FnOnce(&mut ObjWriter<'_>)) {
        self.key(k);
        let mut inner = ObjWriter::open(self.out);
        f(&mut inner);
        inner.close();
    }

    fn session_ref(&mut self, k: &'static str, r: &SessionRef) {
        self.obj(k, |w| {
            w.str(key!("agent_id"), &r.agent_id);
            w.str(key!("session_id"), &r.session_id);
        });
    }

    fn map(&mut self, k: &'static str, m: &Map<String, Value>) {
        self.key(k);
        write_map(self.out, m);
    }
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // serde_json's Display for a number is its JSON serialization.
        Value::Number(n) => {
            use std::fmt::Write as _;
            // Writing into a String cannot fail.
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => write_map(out, m),
    }
}

/// Keys sorted, whatever order the map keeps: with serde_json's `preserve_order` feature (which
/// any crate in the build may turn on) equal maps can iterate differently.
fn write_map(out: &mut String, m: &Map<String, Value>) {
    out.push('{');
    let mut write_entry = |i: usize, k: &str, v: &Value| {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    };
    if m.keys().is_sorted() {
        for (i, (k, v)) in m.iter().enumerate() {
            write_entry(i, k, v);
        }
    } else {
        let mut entries: Vec<_> = m.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (i, (k, v)) in entries.into_iter().enumerate() {
            write_entry(i, k, v);
        }
    }
    out.push('}');
}

/// A JSON string literal, escaped the way serde_json escapes.
fn write_str(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Nearly every string needs no escaping: test it whole, then copy it in one piece.
    if !byte_classes::any(bytes, Class::JsonSpecial) {
        out.reserve(bytes.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    write_escaped(out, s);
}

fn write_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 8);
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte's position and `run` just past one: both character boundaries.
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_escape_like_serde_json() {
        let s = "a\"b\\c\nd\u{1}e\u{7f}é\u{2028}\t\r\u{8}\u{c}";
        let mut out = String::new();
        write_str(&mut out, s);
        assert_eq!(out, serde_json::to_string(s).unwrap());
    }

    #[test]
    fn maps_are_written_with_sorted_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,2.5,null],"c":true}}"#).unwrap();
        let mut out = String::new();
        write_value(&mut out, &v);
        assert_eq!(out, r#"{"a":{"c":true,"d":[1,2.5,null]},"b":1}"#);
    }

    proptest! {
        #[test]
        fn ascii_with_escapes_encodes_as_serde_json_would(s in "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é]{0,40}") {
            let mut out = String::new();
            write_str(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_string_encodes_as_serde_json_would(s in any::<String>()) {
            let mut out = String::new();
            write_str(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_string(&s).unwrap());
        }
    }
}
