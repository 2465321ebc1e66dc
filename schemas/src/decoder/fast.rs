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

use crate::byte_classes::{self, Class};
use crate::identifiers;
use crate::rules::{self, MAX_EVENT_ID_CHARS, MAX_ID_CHARS};
use crate::time::parse_time;

/// Writes the event in `text` over `e`, when the record is in the common form and valid. On
/// `None`, `e` holds a mix of old and new fields and must be overwritten.
pub(super) fn decode_into(text: &str, e: &mut Event) -> Option<()> {
    let mut s = Scanner { text, pos: 0 };
    // Filled and read in place: a `Record` is ~700 bytes, and moving it (out of the object
    // reader, into `build_into`) copied it three times per record.
    let mut raw = Record::default();
    s.record(&mut raw)?;
    s.ws();
    if s.pos != text.len() {
        return None;
    }
    raw.build_into(e)
}

/// What [`Scanner::attributes`] reads itself of an `attributes` value, if all of `text` is one.
#[cfg(test)]
pub(super) fn flat_attributes(text: &str) -> Option<Map<String, Value>> {
    let mut s = Scanner { text, pos: 0 };
    let map = s.flat_map()?;
    s.ws();
    (s.pos == text.len()).then_some(map)
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
        let end = byte_classes::first(self.bytes(), start, Class::JsonSpecial)?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    fn null(&mut self) -> Option<()> {
        self.word(b"null")
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        let rest = self.bytes().get(self.pos..)?;
        if !rest.starts_with(w) {
            return None;
        }
        self.pos += w.len();
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
            b'"' if one_allowed => return self.string().and_then(owned_id).map(|s| vec![s]),
            b'[' => self.pos += 1,
            _ => return None,
        }
        let mut items = Vec::new();
        self.members(b']', |s| {
            items.push(owned_id(s.string()?)?);
            Some(())
        })?;
        Some(items)
    }

    /// The members of a container whose opening bracket was just read, through its `close`
    /// bracket: `member` reads one (a value, or a key and its value); commas separate them.
    fn members(
        &mut self,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.ws();
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            member(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                c if c == close => {
                    self.pos += 1;
                    return Some(());
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
        field: impl FnMut(&mut Self, &mut T, u32) -> Option<()>,
    ) -> Option<Option<T>> {
        self.ws();
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        let mut out = T::default();
        self.fields_into(&mut out, index, field)?;
        Some(Some(out))
    }

    /// An object whose keys `index` knows, each at most once, read into `out`; `field` reads
    /// the value of key number `i`.
    fn fields_into<T>(
        &mut self,
        out: &mut T,
        index: impl Fn(&str) -> Option<u32>,
        mut field: impl FnMut(&mut Self, &mut T, u32) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        let mut seen = 0u32;
        self.members(b'}', |s| {
            let i = index(s.string()?)?;
            // A repeated key means "last one wins" to the full decoder; leave it to it.
            if seen & (1 << i) != 0 {
                return None;
            }
            seen |= 1 << i;
            s.eat(b':')?;
            field(s, out, i)
        })
    }

    /// `attributes`: read here when flat (keys to plain strings, small non-negative integers,
    /// booleans and nulls, the common shape), else parsed by serde_json from where the value
    /// starts, as the full decoder does. Either way the map is the one serde_json would make.
    fn attributes(&mut self) -> Option<Option<Map<String, Value>>> {
        self.ws();
        match self.peek()? {
            b'n' => self.null().map(|()| None),
            b'{' => {
                let start = self.pos;
                if let Some(map) = self.flat_map() {
                    return Some(Some(map));
                }
                self.pos = start;
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

    /// A flat object (see [`Scanner::attributes`]), or `None` for serde_json to read.
    fn flat_map(&mut self) -> Option<Map<String, Value>> {
        self.eat(b'{')?;
        let mut map = Map::new();
        self.members(b'}', |s| {
            let key = s.string()?;
            s.eat(b':')?;
            s.ws();
            let value = match s.peek()? {
                b'"' => Value::String(s.string()?.to_owned()),
                b'0'..=b'9' => s.small_integer()?,
                b't' => s.word(b"true").map(|()| Value::Bool(true))?,
                b'f' => s.word(b"false").map(|()| Value::Bool(false))?,
                b'n' => s.null().map(|()| Value::Null)?,
                _ => return None,
            };
            // Last one wins, as in serde_json's own map visitor.
            map.insert(key.to_owned(), value);
            Some(())
        })?;
        Some(map)
    }

    /// `0` or up to 19 digits without a leading zero, which serde_json reads as a `u64` too; a
    /// fraction, an exponent or more digits go to serde_json.
    fn small_integer(&mut self) -> Option<Value> {
        let digits = self.bytes().get(self.pos..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len > 19 || (len > 1 && digits[0] == b'0') {
            return None;
        }
        if matches!(digits.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n = digits[..len]
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        self.pos += len;
        Some(Value::from(n))
    }

    fn record(&mut self, record: &mut Record<'a>) -> Option<()> {
        self.fields_into(record, record_key, |s, r: &mut Record<'a>, i| {
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
        })
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

/// An identifier, if it keeps the identifier rules.
fn id(s: &str) -> Option<&str> {
    rules::identifier(s, MAX_ID_CHARS).ok()?;
    Some(s)
}

/// An identifier, owned, if it keeps the identifier rules.
fn owned_id(s: &str) -> Option<String> {
    id(s).map(str::to_owned)
}

/// An optional identifier: `Some(None)` when absent, `None` when it breaks the rules.
fn opt_id(s: Str<'_>) -> Option<Str<'_>> {
    match s {
        None => Some(None),
        Some(s) => id(s).map(Some),
    }
}

fn opt_time(s: Str<'_>) -> Option<Option<i64>> {
    let Some(s) = s else {
        return Some(None);
    };
    let us = parse_time(s)?;
    identifiers::time_in_range(us).ok()?;
    Some(Some(us))
}

/// A trace id in lowercase, written over `dst`.
fn set_hex(dst: &mut Option<String>, s: Str<'_>, len: usize, nonzero: bool) -> Option<()> {
    let Some(s) = s else {
        *dst = None;
        return Some(());
    };
    rules::check_hex_id(s, len, nonzero).ok()?;
    let d = dst.get_or_insert_with(String::new);
    set(d, s);
    d.make_ascii_lowercase();
    Some(())
}

// Writing over the previous event's strings keeps their allocations: a collector decodes into
// the same event record after record, and most fields keep about the same length.

fn set(dst: &mut String, s: &str) {
    dst.clear();
    dst.push_str(s);
}

fn set_opt(dst: &mut Option<String>, s: Str<'_>) {
    match (dst.as_mut(), s) {
        (Some(d), Some(s)) => set(d, s),
        (_, s) => *dst = s.map(str::to_owned),
    }
}

fn set_session_ref(dst: &mut Option<SessionRef>, r: Option<[Str<'_>; 2]>) -> Option<()> {
    let Some([agent_id, session_id]) = r else {
        *dst = None;
        return Some(());
    };
    let (agent_id, session_id) = (id(agent_id?)?, id(session_id?)?);
    match dst {
        Some(d) => {
            set(&mut d.agent_id, agent_id);
            set(&mut d.session_id, session_id);
        }
        None => {
            *dst = Some(SessionRef {
                agent_id: agent_id.to_owned(),
                session_id: session_id.to_owned(),
            })
        }
    }
    Some(())
}

/// A tool call with every field empty, for [`Record::build_into`] to fill.
fn blank_tool_use() -> ToolUse {
    ToolUse {
        system: String::new(),
        zone: None,
        tool: Tool::default(),
        resource: None,
        credential: None,
        outcome: Outcome::Success,
        delegated_by: None,
    }
}

/// A token use with every field empty, for [`Record::build_into`] to fill.
fn blank_token_use() -> TokenUse {
    TokenUse {
        action: TokenAction::Presented,
        token: Token::default(),
        system: None,
        zone: None,
        presenter: None,
        actor: None,
    }
}

/// An event with every field empty: only ever a buffer to decode into, never handed out.
pub(crate) fn blank_event() -> Event {
    Event {
        event_id: String::new(),
        time_us: 0,
        tenant: String::new(),
        agent: Agent::default(),
        session_id: String::new(),
        task: None,
        trace: None,
        attributes: Map::new(),
        extra: Map::new(),
        body: EventBody::ToolUse(blank_tool_use()),
    }
}

impl Record<'_> {
    /// The same checks, in effect, as the full decoder's `build_event`; any failure defers.
    /// Every field of `e` is written (the previous event's values must not leak into this
    /// one); after a failure `e` is left half written, for the full decoder to overwrite.
    fn build_into(&mut self, e: &mut Event) -> Option<()> {
        let tool_use = match self.schema? {
            TOOL_USE_V1 => true,
            TOKEN_USE_V1 => false,
            _ => return None,
        };
        // A field of the other schema, even `null`, is an unknown field kept in `extra`: not
        // this path.
        let other_schema = if tool_use {
            TOKEN_USE_ONLY
        } else {
            TOOL_USE_ONLY
        };
        if self.present & other_schema != 0 {
            return None;
        }
        let event_id = self.event_id?;
        rules::identifier(event_id, MAX_EVENT_ID_CHARS).ok()?;
        set(&mut e.event_id, event_id);
        e.time_us = parse_time(self.time?)?;
        identifiers::time_in_range(e.time_us).ok()?;
        let tenant = match self.tenant {
            Some(t) => {
                rules::tenant(t).ok()?;
                t
            }
            None => DEFAULT_TENANT,
        };
        set(&mut e.tenant, tenant);

        let [agent_id, workload, on_behalf_of, name] = self.agent?;
        let agent = &mut e.agent;
        set(&mut agent.id, id(agent_id?)?);
        if let Some(w) = workload {
            rules::spiffe_id(w).ok()?;
        }
        set_opt(&mut agent.workload, workload);
        set_opt(&mut agent.on_behalf_of, opt_id(on_behalf_of)?);
        if let Some(n) = name {
            identifiers::display_text(n, Some(MAX_ID_CHARS)).ok()?;
        }
        set_opt(&mut agent.name, name);
        set(&mut e.session_id, id(self.session_id?)?);
        match self.task.take() {
            None => e.task = None,
            Some(t) => {
                let task = e.task.get_or_insert_with(Task::default);
                set_opt(&mut task.id, opt_id(t.id)?);
                task.declared_tools = t.declared_tools;
                task.declared_systems = t.declared_systems;
            }
        }
        match self.trace {
            None => e.trace = None,
            Some([trace_id, span_id, parent_span_id]) => {
                let trace = e.trace.get_or_insert_with(Trace::default);
                set_hex(&mut trace.trace_id, trace_id, 32, true)?;
                set_hex(&mut trace.span_id, span_id, 16, true)?;
                set_hex(&mut trace.parent_span_id, parent_span_id, 16, false)?;
            }
        }
        e.attributes = self.attributes.take().unwrap_or_default();
        e.extra.clear();

        if tool_use {
            let [tool_name, server, operation] = self.tool?;
            if !matches!(e.body, EventBody::ToolUse(_)) {
                e.body = EventBody::ToolUse(blank_tool_use());
            }
            let EventBody::ToolUse(u) = &mut e.body else {
                return None;
            };
            set(&mut u.system, id(self.system?)?);
            set_opt(&mut u.zone, opt_id(self.zone)?);
            set(&mut u.tool.name, id(tool_name?)?);
            set_opt(&mut u.tool.server, opt_id(server)?);
            set_opt(&mut u.tool.operation, operation);
            if let Some(r) = self.resource {
                rules::visible(r).ok()?;
            }
            set_opt(&mut u.resource, self.resource);
            match self.credential {
                None => u.credential = None,
                Some([cred_id, kind]) => {
                    let c = u.credential.get_or_insert_with(Credential::default);
                    set(&mut c.id, id(cred_id?)?);
                    set_opt(&mut c.kind, opt_id(kind)?);
                }
            }
            u.outcome = Outcome::parse(self.outcome?)?;
            set_session_ref(&mut u.delegated_by, self.delegated_by)?;
        } else {
            let action = TokenAction::parse(self.action?)?;
            let t = self.token.take()?;
            if !matches!(e.body, EventBody::TokenUse(_)) {
                e.body = EventBody::TokenUse(blank_token_use());
            }
            let EventBody::TokenUse(u) = &mut e.body else {
                return None;
            };
            u.action = action;
            let system = match (self.system, action) {
                (None, TokenAction::Revoked) => None,
                (s, _) => Some(id(s?)?),
            };
            set_opt(&mut u.system, system);
            set_opt(&mut u.zone, opt_id(self.zone)?);
            set_opt(&mut u.presenter, opt_id(self.presenter)?);
            set_session_ref(&mut u.actor, self.actor)?;
            let token = &mut u.token;
            set(&mut token.id, id(t.id?)?);
            set_opt(&mut token.issuer, opt_id(t.issuer)?);
            set_opt(&mut token.subject, opt_id(t.subject)?);
            token.audience = t.audience;
            token.scopes = t.scopes;
            token.issued_at_us = opt_time(t.issued_at)?;
            token.expires_at_us = opt_time(t.expires_at)?;
            set_opt(&mut token.parent_id, opt_id(t.parent_id)?);
        }
        Some(())
    }
}
