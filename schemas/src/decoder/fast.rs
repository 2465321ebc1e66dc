//! The decoder's fast path: one forward scan of a record in the common form, straight into an
//! `Event`, with no intermediate JSON tree.
//!
//! It accepts a strict subset of what the full decoder accepts, and it never rejects: on
//! anything else (an escape in a string, an unknown or repeated key, a value of an unexpected
//! type, `extra`, a field that breaks a rule, a syntax error) it answers `None` and the full
//! decoder runs on the record from the start. So every error message has one source, and a
//! record the fast path takes decodes to exactly the event the full decoder makes of it (the
//! tests hold the two to that on every input they have).
//!
//! `attributes` is free-form JSON and goes to serde_json as it is, from where it starts.

use hoptrail_core::event::{
    Agent, Credential, Event, EventBody, Outcome, SessionRef, Task, Token, TokenAction, TokenUse,
    Tool, ToolUse, Trace, DEFAULT_TENANT, TOKEN_USE_V1, TOOL_USE_V1,
};
use serde_json::{Map, Value};

use crate::identifiers;
use crate::json_text::first_special;
use crate::rules::{self, MAX_EVENT_ID_CHARS, MAX_ID_CHARS};
use crate::time::parse_time;

/// The event in `text`, when the record is in the common form and valid.
pub(super) fn decode(text: &str) -> Option<Event> {
    let mut s = Scanner { text, pos: 0 };
    let raw = s.record()?;
    s.ws();
    if s.pos != text.len() {
        return None;
    }
    raw.build()
}

/// A string field: `None` when absent or `null` (which the format reads the same way).
type Str<'a> = Option<&'a str>;

#[derive(Default)]
struct Record<'a> {
    /// Bit `i` set: key number `i` (see [`record_key`]) was there, `null` or not.
    present: u32,
    schema: Str<'a>,
    event_id: Str<'a>,
    time: Str<'a>,
    tenant: Str<'a>,
    agent: Option<[Str<'a>; 4]>,
    session_id: Str<'a>,
    task: Option<RawTask<'a>>,
    trace: Option<[Str<'a>; 3]>,
    attributes: Option<Map<String, Value>>,
    system: Str<'a>,
    zone: Str<'a>,
    tool: Option<[Str<'a>; 3]>,
    resource: Str<'a>,
    credential: Option<[Str<'a>; 2]>,
    outcome: Str<'a>,
    delegated_by: Option<[Str<'a>; 2]>,
    action: Str<'a>,
    token: Option<RawToken<'a>>,
    presenter: Str<'a>,
    actor: Option<[Str<'a>; 2]>,
}

/// `agent`: id, workload, on_behalf_of, name.
const AGENT_KEYS: [&str; 4] = ["id", "workload", "on_behalf_of", "name"];
/// `trace`: trace_id, span_id, parent_span_id.
const TRACE_KEYS: [&str; 3] = ["trace_id", "span_id", "parent_span_id"];
/// `tool`: name, server, operation.
const TOOL_KEYS: [&str; 3] = ["name", "server", "operation"];
/// `credential`: id, kind.
const CREDENTIAL_KEYS: [&str; 2] = ["id", "kind"];
/// `delegated_by` and `actor`: agent_id, session_id.
const SESSION_REF_KEYS: [&str; 2] = ["agent_id", "session_id"];

#[derive(Default)]
struct RawTask<'a> {
    id: Str<'a>,
    declared_tools: Vec<String>,
    declared_systems: Vec<String>,
}

#[derive(Default)]
struct RawToken<'a> {
    id: Str<'a>,
    issuer: Str<'a>,
    subject: Str<'a>,
    audience: Vec<String>,
    scopes: Vec<String>,
    issued_at: Str<'a>,
    expires_at: Str<'a>,
    parent_id: Str<'a>,
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek()? != c {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// A string with nothing to unescape.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = first_special(self.bytes(), start)?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    fn null(&mut self) -> Option<()> {
        let rest = self.bytes().get(self.pos..)?;
        if !rest.starts_with(b"null") {
            return None;
        }
        self.pos += 4;
        Some(())
    }

    /// A string or `null`.
    fn opt_str(&mut self) -> Option<Str<'a>> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.null().map(|()| None),
            _ => None,
        }
    }

    /// An array of identifiers, `null` (empty), or with `one_allowed` a lone identifier.
    fn id_list(&mut self, one_allowed: bool) -> Option<Vec<String>> {
        self.ws();
        match self.peek()? {
            b'n' => return self.null().map(|()| Vec::new()),
            b'"' if one_allowed => return self.string().and_then(id).map(|s| vec![s]),
            b'[' => self.pos += 1,
            _ => return None,
        }
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(items);
        }
        loop {
            items.push(id(self.string()?)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    /// An object (or `null`, as `None`) whose keys `index` knows, each at most once; `field`
    /// reads the value of key number `i`.
    fn object<T: Default>(
        &mut self,
        index: impl Fn(&str) -> Option<u32>,
        mut field: impl FnMut(&mut Self, &mut T, u32) -> Option<()>,
    ) -> Option<Option<T>> {
        self.ws();
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        self.eat(b'{')?;
        let mut out = T::default();
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(Some(out));
        }
        let mut seen = 0u32;
        loop {
            let i = index(self.string()?)?;
            // A repeated key means "last one wins" to the full decoder; leave it to it.
            if seen & (1 << i) != 0 {
                return None;
            }
            seen |= 1 << i;
            self.eat(b':')?;
            field(self, &mut out, i)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(Some(out));
                }
                _ => return None,
            }
        }
    }

    /// `attributes`: parsed by serde_json from where the value starts, as the full decoder does.
    fn attributes(&mut self) -> Option<Option<Map<String, Value>>> {
        self.ws();
        match self.peek()? {
            b'n' => self.null().map(|()| None),
            b'{' => {
                let rest = self.text.get(self.pos..)?;
                let mut values =
                    serde_json::Deserializer::from_str(rest).into_iter::<Map<String, Value>>();
                let map = values.next()?.ok()?;
                self.pos += values.byte_offset();
                Some(Some(map))
            }
            _ => None,
        }
    }

    fn record(&mut self) -> Option<Record<'a>> {
        self.object(record_key, |s, r: &mut Record<'a>, i| {
            r.present |= 1 << i;
            match i {
                0 => r.schema = s.opt_str()?,
                1 => r.event_id = s.opt_str()?,
                2 => r.time = s.opt_str()?,
                3 => r.tenant = s.opt_str()?,
                4 => r.agent = s.strings(&AGENT_KEYS)?,
                5 => r.session_id = s.opt_str()?,
                6 => r.task = s.task()?,
                7 => r.trace = s.strings(&TRACE_KEYS)?,
                8 => r.attributes = s.attributes()?,
                9 => r.system = s.opt_str()?,
                10 => r.zone = s.opt_str()?,
                11 => r.tool = s.strings(&TOOL_KEYS)?,
                12 => r.resource = s.opt_str()?,
                13 => r.credential = s.strings(&CREDENTIAL_KEYS)?,
                14 => r.outcome = s.opt_str()?,
                15 => r.delegated_by = s.strings(&SESSION_REF_KEYS)?,
                16 => r.action = s.opt_str()?,
                17 => r.token = s.token()?,
                18 => r.presenter = s.opt_str()?,
                _ => r.actor = s.strings(&SESSION_REF_KEYS)?,
            }
            Some(())
        })?
    }

    /// An object (or `null`) whose fields are all strings, named by `keys`: `[v; N]` holds the
    /// value of `keys[i]` at `i`.
    fn strings<const N: usize>(&mut self, keys: &[&str; N]) -> Option<Option<[Str<'a>; N]>>
    where
        [Str<'a>; N]: Default,
    {
        self.object(
            |k| keys.iter().position(|&key| key == k).map(|i| i as u32),
            |s, out: &mut [Str<'a>; N], i| {
                out[i as usize] = s.opt_str()?;
                Some(())
            },
        )
    }

    fn task(&mut self) -> Option<Option<RawTask<'a>>> {
        self.object(
            |k| match k {
                "id" => Some(0),
                "declared_tools" => Some(1),
                "declared_systems" => Some(2),
                _ => None,
            },
            |s, t: &mut RawTask<'a>, i| {
                match i {
                    0 => t.id = s.opt_str()?,
                    1 => t.declared_tools = s.id_list(false)?,
                    _ => t.declared_systems = s.id_list(false)?,
                }
                Some(())
            },
        )
    }

    fn token(&mut self) -> Option<Option<RawToken<'a>>> {
        self.object(
            |k| match k {
                "id" => Some(0),
                "issuer" => Some(1),
                "subject" => Some(2),
                "audience" => Some(3),
                "scopes" => Some(4),
                "issued_at" => Some(5),
                "expires_at" => Some(6),
                "parent_id" => Some(7),
                _ => None,
            },
            |s, t: &mut RawToken<'a>, i| {
                match i {
                    0 => t.id = s.opt_str()?,
                    1 => t.issuer = s.opt_str()?,
                    2 => t.subject = s.opt_str()?,
                    3 => t.audience = s.id_list(true)?,
                    4 => t.scopes = s.id_list(false)?,
                    5 => t.issued_at = s.opt_str()?,
                    6 => t.expires_at = s.opt_str()?,
                    _ => t.parent_id = s.opt_str()?,
                }
                Some(())
            },
        )
    }
}

/// The keys of both schemas; `extra` (the stored form's unknown fields) and anything else go
/// to the full decoder.
fn record_key(k: &str) -> Option<u32> {
    Some(match k {
        "schema" => 0,
        "event_id" => 1,
        "time" => 2,
        "tenant" => 3,
        "agent" => 4,
        "session_id" => 5,
        "task" => 6,
        "trace" => 7,
        "attributes" => 8,
        "system" => 9,
        "zone" => 10,
        "tool" => 11,
        "resource" => 12,
        "credential" => 13,
        "outcome" => 14,
        "delegated_by" => 15,
        "action" => 16,
        "token" => 17,
        "presenter" => 18,
        "actor" => 19,
        _ => return None,
    })
}

/// `tool`, `resource`, `credential`, `outcome`, `delegated_by`.
const TOOL_USE_ONLY: u32 = 0b11111 << 11;
/// `action`, `token`, `presenter`, `actor`.
const TOKEN_USE_ONLY: u32 = 0b1111 << 16;

/// An identifier, owned, if it keeps the identifier rules.
fn id(s: &str) -> Option<String> {
    rules::identifier(s, MAX_ID_CHARS).ok()?;
    Some(s.to_owned())
}

/// An optional identifier: `Some(None)` when absent, `None` when it breaks the rules.
fn opt_id(s: Str<'_>) -> Option<Option<String>> {
    s.map(id).map_or(Some(None), |v| v.map(Some))
}

fn opt_time(s: Str<'_>) -> Option<Option<i64>> {
    let Some(s) = s else {
        return Some(None);
    };
    let us = parse_time(s)?;
    identifiers::time_in_range(us).ok()?;
    Some(Some(us))
}

fn opt_hex(s: Str<'_>, len: usize, nonzero: bool) -> Option<Option<String>> {
    match s {
        None => Some(None),
        Some(s) => rules::hex_id(s.to_owned(), len, nonzero).ok().map(Some),
    }
}

fn session_ref(r: Option<[Str<'_>; 2]>) -> Option<Option<SessionRef>> {
    let Some([agent_id, session_id]) = r else {
        return Some(None);
    };
    Some(Some(SessionRef {
        agent_id: id(agent_id?)?,
        session_id: id(session_id?)?,
    }))
}

impl Record<'_> {
    /// The same checks, in effect, as the full decoder's `build_event`; any failure defers.
    fn build(self) -> Option<Event> {
        let tool_use = match self.schema? {
            TOOL_USE_V1 => true,
            TOKEN_USE_V1 => false,
            _ => return None,
        };
        let event_id = self.event_id?;
        rules::identifier(event_id, MAX_EVENT_ID_CHARS).ok()?;
        let time_us = parse_time(self.time?)?;
        identifiers::time_in_range(time_us).ok()?;
        let tenant = match self.tenant {
            Some(t) => {
                rules::tenant(t).ok()?;
                t
            }
            None => DEFAULT_TENANT,
        };

        let [agent_id, workload, on_behalf_of, name] = self.agent?;
        let agent = Agent {
            id: id(agent_id?)?,
            workload: match workload {
                Some(w) => {
                    rules::spiffe_id(w).ok()?;
                    Some(w.to_owned())
                }
                None => None,
            },
            on_behalf_of: opt_id(on_behalf_of)?,
            name: match name {
                Some(n) => {
                    identifiers::display_text(n, Some(MAX_ID_CHARS)).ok()?;
                    Some(n.to_owned())
                }
                None => None,
            },
        };
        let session_id = id(self.session_id?)?;
        let task = match self.task {
            None => None,
            Some(t) => Some(Task {
                id: opt_id(t.id)?,
                declared_tools: t.declared_tools,
                declared_systems: t.declared_systems,
            }),
        };
        let trace = match self.trace {
            None => None,
            Some([trace_id, span_id, parent_span_id]) => Some(Trace {
                trace_id: opt_hex(trace_id, 32, true)?,
                span_id: opt_hex(span_id, 16, true)?,
                parent_span_id: opt_hex(parent_span_id, 16, false)?,
            }),
        };

        let body = if tool_use {
            // A field of the other schema, even `null`, is an unknown field kept in `extra`:
            // not this path.
            if self.present & TOKEN_USE_ONLY != 0 {
                return None;
            }
            let [tool_name, server, operation] = self.tool?;
            let resource = match self.resource {
                Some(r) => {
                    rules::visible(r).ok()?;
                    Some(r.to_owned())
                }
                None => None,
            };
            let credential = match self.credential {
                None => None,
                Some([cred_id, kind]) => Some(Credential {
                    id: id(cred_id?)?,
                    kind: opt_id(kind)?,
                }),
            };
            EventBody::ToolUse(ToolUse {
                system: id(self.system?)?,
                zone: opt_id(self.zone)?,
                tool: Tool {
                    name: id(tool_name?)?,
                    server: opt_id(server)?,
                    operation: operation.map(str::to_owned),
                },
                resource,
                credential,
                outcome: Outcome::parse(self.outcome?)?,
                delegated_by: session_ref(self.delegated_by)?,
            })
        } else {
            if self.present & TOOL_USE_ONLY != 0 {
                return None;
            }
            let action = TokenAction::parse(self.action?)?;
            let t = self.token?;
            let system = match (self.system, action) {
                (None, TokenAction::Revoked) => None,
                (s, _) => Some(id(s?)?),
            };
            EventBody::TokenUse(TokenUse {
                action,
                token: Token {
                    id: id(t.id?)?,
                    issuer: opt_id(t.issuer)?,
                    subject: opt_id(t.subject)?,
                    audience: t.audience,
                    scopes: t.scopes,
                    issued_at_us: opt_time(t.issued_at)?,
                    expires_at_us: opt_time(t.expires_at)?,
                    parent_id: opt_id(t.parent_id)?,
                },
                system,
                zone: opt_id(self.zone)?,
                presenter: opt_id(self.presenter)?,
                actor: session_ref(self.actor)?,
            })
        };

        Some(Event {
            event_id: event_id.to_owned(),
            time_us,
            tenant: tenant.to_owned(),
            agent,
            session_id,
            task,
            trace,
            attributes: self.attributes.unwrap_or_default(),
            extra: Map::new(),
            body,
        })
    }
}
