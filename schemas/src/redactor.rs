//! After redaction no recognized secret is left in a string; each one is replaced by a marker
//! `[REDACTED:<kind>:<12 hex of SHA-256(secret)>]` that is stable per secret (so uses still
//! correlate) and that no rule matches again (so redacting twice changes nothing).

use std::borrow::Cow;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::Anchored;
use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A kind of secret the redactor recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// A JSON Web Token (three base64url segments, header starting `eyJ`), bare or as a Bearer
    /// credential.
    Jwt,
    /// An AWS access key id (`AKIA…`, `ASIA…`, …).
    AwsAccessKeyId,
    /// An AWS secret access key, recognized only by its context (key name or inline assignment).
    AwsSecretAccessKey,
    /// A GitHub token (`ghp_…`, `github_pat_…`, …).
    GithubToken,
    /// A Slack token (`xoxb-…`, `xapp-…`, …).
    SlackToken,
    /// A PEM private key block.
    PrivateKey,
    /// The credential of a `Bearer` authorization value.
    BearerAuth,
    /// The credential of a `Basic` authorization value.
    BasicAuth,
    /// The whole string value of an object key named like a secret (`password`, `api_key`, …).
    SecretField,
}

impl SecretKind {
    /// Every kind, in declaration order.
    pub const ALL: [SecretKind; 9] = [
        SecretKind::Jwt,
        SecretKind::AwsAccessKeyId,
        SecretKind::AwsSecretAccessKey,
        SecretKind::GithubToken,
        SecretKind::SlackToken,
        SecretKind::PrivateKey,
        SecretKind::BearerAuth,
        SecretKind::BasicAuth,
        SecretKind::SecretField,
    ];

    /// The name used in markers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Jwt => "jwt",
            SecretKind::AwsAccessKeyId => "aws_access_key_id",
            SecretKind::AwsSecretAccessKey => "aws_secret_access_key",
            SecretKind::GithubToken => "github_token",
            SecretKind::SlackToken => "slack_token",
            SecretKind::PrivateKey => "private_key",
            SecretKind::BearerAuth => "bearer",
            SecretKind::BasicAuth => "basic",
            SecretKind::SecretField => "secret_field",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many secrets of each kind were redacted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedactionCounts {
    counts: [u32; SecretKind::ALL.len()],
}

impl RedactionCounts {
    /// Secrets of `kind` redacted.
    pub fn get(&self, kind: SecretKind) -> u32 {
        self.counts[kind.index()]
    }

    /// Secrets redacted, all kinds together (saturating).
    pub fn total(&self) -> u32 {
        self.counts.iter().fold(0u32, |a, &c| a.saturating_add(c))
    }

    /// Adds `other`'s counts to these (saturating).
    pub fn add(&mut self, other: RedactionCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
    }

    /// `(kind, count)` for every kind, zeros included, in [`SecretKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (SecretKind, u32)> + '_ {
        SecretKind::ALL.into_iter().map(|k| (k, self.get(k)))
    }

    fn bump(&mut self, kind: SecretKind) {
        let c = &mut self.counts[kind.index()];
        *c = c.saturating_add(1);
    }
}

/// The shortest text any pattern can match (a JWT `eyJxxxx.x.`); shorter strings skip the regex.
const MIN_SECRET_LEN: usize = 10;

/// Passes after the first one that found something; in practice the second finds nothing.
const MAX_EXTRA_PASSES: usize = 8;

const MARKER_PREFIX: &str = "[REDACTED:";
const HASH_HEX_LEN: usize = 12;

/// One pattern per kind; each has exactly one capturing group, the secret itself, so the text
/// around it (a `Bearer ` scheme, a `secret_access_key=` key) survives. Order matters only when
/// two patterns match at the same position: the first wins.
const PATTERNS: [(SecretKind, &str); 8] = [
    (
        SecretKind::PrivateKey,
        // A truncated key (no END line) is still secret up to the end of the string.
        r"(-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z))",
    ),
    (
        SecretKind::Jwt,
        r"(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)",
    ),
    (
        SecretKind::AwsAccessKeyId,
        r"(?-u:\b)((?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)",
    ),
    // The vendor prefixes below are distinctive enough to need no word boundary in front.
    (
        SecretKind::GithubToken,
        r"(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{82,})",
    ),
    (
        SecretKind::SlackToken,
        r"((?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,})",
    ),
    (
        SecretKind::AwsSecretAccessKey,
        // A bare 40-character string is as likely a git SHA or a hash as a key, so only an
        // assignment to a secret-access-key name counts; quotes may be JSON-escaped.
        r#"(?i:(?:aws_?)?secret_?access_?key|aws_?secret_?key)(?:\\?["'])?[ \t]*[:=][ \t]*(?:\\?["'])?([A-Za-z0-9/+=]{16,})"#,
    ),
    (
        SecretKind::BearerAuth,
        // RFC 6750 b64token. At least 8 characters so prose ("a Bearer token") is left alone.
        r"(?i:(?-u:\b)bearer)[ \t]+([-A-Za-z0-9_.~+/]{8,}=*)",
    ),
    (
        SecretKind::BasicAuth,
        // Also checked by `is_basic_credential`, as "basic" is an everyday English word.
        r"(?i:(?-u:\b)basic)[ \t]+([A-Za-z0-9+/]{8,}={0,2})",
    ),
];

/// Every match of [`PATTERNS`] contains one of these literals (matched here regardless of
/// ASCII case, a superset). A literal search runs with SIMD at a fraction of a nanosecond per
/// byte and without the regex engine's per-call setup, so text without secrets (nearly all of
/// it) never reaches the full patterns.
const TRIGGERS: [&str; 25] = [
    "bearer",
    "basic",
    "secret",
    "-----BEGIN",
    "eyJ",
    "AKIA",
    "ASIA",
    "AGPA",
    "AIDA",
    "AROA",
    "AIPA",
    "ANPA",
    "ANVA",
    "APKA",
    "ABIA",
    "ACCA",
    "A3T",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "xapp-",
];

/// Whether a string holds any of [`TRIGGERS`] (ASCII case ignored): the redactor's first look
/// at every string it is given.
///
/// It walks aho-corasick's DFA itself, a table lookup per byte: `AhoCorasick::is_match` goes
/// through its generic search loop, about 16 instructions per byte here, and most strings are
/// only 10 to 60 bytes long, so its setup weighs too.
#[derive(Debug, Clone)]
struct Trigger {
    dfa: DFA,
    start: StateID,
}

impl Trigger {
    fn new() -> Self {
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            // Without a prefilter the start state is not special, so the loop's one test is
            // rarely taken.
            .prefilter(false)
            .build(TRIGGERS)
            .expect("the built-in trigger literals compile");
        let start = dfa
            .start_state(Anchored::No)
            .expect("an unanchored DFA has an unanchored start state");
        Trigger { dfa, start }
    }

    fn is_match(&self, s: &str) -> bool {
        let mut sid = self.start;
        for &b in s.as_bytes() {
            sid = self.dfa.next_state(Anchored::No, sid, b);
            // An unanchored search never dies, so a special state here is a match.
            if self.dfa.is_special(sid) && self.dfa.is_match(sid) {
                return true;
            }
        }
        false
    }
}

/// Finds and replaces secrets. Built once (it compiles its regexes), then shared: `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Redactor {
    trigger: Trigger,
    /// All patterns as one alternation: one pass finds the leftmost secret of any kind.
    any: Regex,
    /// `PATTERNS[i]` alone, to tell which one matched and where its secret is. Running the
    /// small regex over the match is much cheaper than capture groups on the alternation.
    each: Vec<Regex>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl Redactor {
    /// Compiles the patterns.
    pub fn new() -> Self {
        let compile = |p: &str| Regex::new(p).expect("the built-in secret patterns compile");
        let combined = PATTERNS
            .iter()
            .map(|(_, p)| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|");
        Redactor {
            trigger: Trigger::new(),
            any: compile(&combined),
            each: PATTERNS.iter().map(|(_, p)| compile(p)).collect(),
        }
    }

    /// Returns `s` with every recognized secret replaced by its marker, borrowing when there is
    /// none, and counts what it replaced.
    pub fn redact_str<'a>(&self, s: &'a str, counts: &mut RedactionCounts) -> Cow<'a, str> {
        let Cow::Owned(mut out) = self.redact_pass(s, counts) else {
            return Cow::Borrowed(s);
        };
        // A replacement changes what its neighbours see: `AKIA…` glued to a JWT has no word
        // boundary until the JWT becomes a marker. Passing again until nothing changes makes the
        // result a fixed point, hence idempotent. Each pass turns at least ten bytes of secret
        // into a marker no rule matches, so this ends; the cap only bounds the cost.
        for _ in 0..MAX_EXTRA_PASSES {
            match self.redact_pass(&out, counts) {
                Cow::Borrowed(_) => break,
                Cow::Owned(next) => out = next,
            }
        }
        Cow::Owned(out)
    }

    fn redact_pass<'a>(&self, s: &'a str, counts: &mut RedactionCounts) -> Cow<'a, str> {
        if s.len() < MIN_SECRET_LEN || !self.trigger.is_match(s) {
            return Cow::Borrowed(s);
        }
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut at = 0;
        while at <= s.len() {
            let Some(m) = self.any.find_at(s, at) else {
                break;
            };
            let Some((kind, start, end)) = self.identify(s, m.start(), m.end()) else {
                at = next_boundary(s, m.start() + 1);
                continue;
            };
            let secret = &s[start..end];
            if kind == SecretKind::BasicAuth && !is_basic_credential(secret) {
                // Retry just past the match start so a secret inside the rejected span is found.
                at = next_boundary(s, m.start() + 1);
                continue;
            }
            let kind = if kind == SecretKind::BearerAuth {
                self.bearer_kind(secret)
            } else {
                kind
            };
            let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 32));
            o.push_str(&s[copied..start]);
            push_marker(o, kind, secret);
            counts.bump(kind);
            copied = end;
            at = if m.end() > m.start() {
                m.end()
            } else {
                next_boundary(s, m.end() + 1)
            };
        }
        match out {
            None => Cow::Borrowed(s),
            Some(mut o) => {
                o.push_str(&s[copied..]);
                Cow::Owned(o)
            }
        }
    }

    /// Which pattern produced the alternation's match `s[start..end]`, and the span of its secret.
    ///
    /// In a leftmost-first alternation the winner is the first alternative that matches at
    /// `start`; each is tried on `s[..end]` only, which keeps the work linear in the match length.
    /// (Cutting the text there cannot change the winner: its own match ends there anyway.)
    fn identify(&self, s: &str, start: usize, end: usize) -> Option<(SecretKind, usize, usize)> {
        let hay = s.get(..end)?;
        let rest = hay.as_bytes().get(start..)?;
        for (re, (kind, _)) in self.each.iter().zip(PATTERNS.iter()) {
            if !may_start(*kind, rest) {
                continue;
            }
            let mut locs = re.capture_locations();
            match re.captures_read_at(&mut locs, hay, start) {
                Some(m) if m.start() == start && m.end() == end => {
                    let (a, b) = locs.get(1)?;
                    return Some((*kind, a, b));
                }
                _ => {}
            }
        }
        None
    }

    /// Redacts every string in `v`, recursively: object keys as well as values, and the whole
    /// string value of a key named like a secret (see [`SecretKind::SecretField`]). Non-string
    /// values under such keys stay as they are.
    pub fn redact_value(&self, v: &mut Value, counts: &mut RedactionCounts) {
        match v {
            Value::String(s) => self.redact_string(s, counts),
            Value::Object(m) => self.redact_map(m, counts),
            Value::Array(_) => {
                let mut stack = vec![v];
                self.drain(&mut stack, counts);
            }
            _ => {}
        }
    }

    /// [`Redactor::redact_value`] for the entries of an object.
    pub(crate) fn redact_map(&self, m: &mut Map<String, Value>, counts: &mut RedactionCounts) {
        self.redact_map_by(m, |k| k, counts);
    }

    /// Like [`Redactor::redact_map`], but the secret-key rule looks at `name_of(key)`: `Event::extra`
    /// keys are dotted paths whose last segment is the field's own name.
    pub(crate) fn redact_map_by(
        &self,
        m: &mut Map<String, Value>,
        name_of: fn(&str) -> &str,
        counts: &mut RedactionCounts,
    ) {
        let mut stack = Vec::new();
        self.redact_entries(m, name_of, counts, &mut stack);
        self.drain(&mut stack, counts);
    }

    /// Visits containers iteratively: a public API may be handed a `Value` far deeper than the
    /// decoder's 32 levels, and recursion would overflow the stack on it.
    fn drain(&self, stack: &mut Vec<&mut Value>, counts: &mut RedactionCounts) {
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => self.redact_string(s, counts),
                Value::Array(a) => {
                    for item in a.iter_mut() {
                        match item {
                            Value::String(s) => self.redact_string(s, counts),
                            Value::Array(_) | Value::Object(_) => stack.push(item),
                            _ => {}
                        }
                    }
                }
                Value::Object(m) => self.redact_entries(m, |k| k, counts, stack),
                _ => {}
            }
        }
    }

    fn redact_entries<'v>(
        &self,
        m: &'v mut Map<String, Value>,
        name_of: fn(&str) -> &str,
        counts: &mut RedactionCounts,
        stack: &mut Vec<&'v mut Value>,
    ) {
        self.redact_keys(m, counts);
        for (k, v) in m.iter_mut() {
            match v {
                Value::String(s) => match secret_key_kind(name_of(k)) {
                    Some(kind) => redact_whole(s, kind, counts),
                    None => self.redact_string(s, counts),
                },
                Value::Array(_) | Value::Object(_) => stack.push(v),
                _ => {}
            }
        }
    }

    fn redact_keys(&self, m: &mut Map<String, Value>, counts: &mut RedactionCounts) {
        let dirty = m
            .keys()
            .any(|k| k.len() >= MIN_SECRET_LEN && self.trigger.is_match(k));
        if !dirty {
            return;
        }
        let old = std::mem::take(m);
        for (k, v) in old {
            let k = match self.redact_str(&k, counts) {
                Cow::Borrowed(_) => k,
                Cow::Owned(o) => o,
            };
            m.insert(k, v);
        }
    }

    fn redact_string(&self, s: &mut String, counts: &mut RedactionCounts) {
        if let Cow::Owned(o) = self.redact_str(s, counts) {
            *s = o;
        }
    }

    /// A Bearer credential that is itself a recognizable token is reported as that token, so it
    /// gets the same marker as the same token seen bare elsewhere.
    fn bearer_kind(&self, credential: &str) -> SecretKind {
        const TOKEN_KINDS: [SecretKind; 4] = [
            SecretKind::Jwt,
            SecretKind::GithubToken,
            SecretKind::SlackToken,
            SecretKind::AwsAccessKeyId,
        ];
        for (re, (kind, _)) in self.each.iter().zip(PATTERNS.iter()) {
            if !TOKEN_KINDS.contains(kind) || !may_start(*kind, credential.as_bytes()) {
                continue;
            }
            let mut locs = re.capture_locations();
            if re.captures_read(&mut locs, credential).is_some()
                && locs.get(1) == Some((0, credential.len()))
            {
                return *kind;
            }
        }
        SecretKind::BearerAuth
    }
}

/// Whether a match of `kind`'s pattern can begin at the start of `text`: a byte test that spares
/// running the regexes that cannot.
fn may_start(kind: SecretKind, text: &[u8]) -> bool {
    let first = text.first().copied().unwrap_or(0);
    match kind {
        SecretKind::PrivateKey => text.starts_with(b"-----BEGIN"),
        SecretKind::Jwt => text.starts_with(b"eyJ"),
        SecretKind::AwsAccessKeyId => first == b'A',
        SecretKind::GithubToken => text.starts_with(b"gh") || text.starts_with(b"github_pat_"),
        SecretKind::SlackToken => text.starts_with(b"xox") || text.starts_with(b"xapp-"),
        SecretKind::AwsSecretAccessKey => matches!(first, b'a' | b'A' | b's' | b'S'),
        SecretKind::BearerAuth | SecretKind::BasicAuth => matches!(first, b'b' | b'B'),
        SecretKind::SecretField => false,
    }
}

/// Replaces a whole secret-field value, unless it is empty (nothing to hide) or already a marker.
fn redact_whole(s: &mut String, kind: SecretKind, counts: &mut RedactionCounts) {
    if s.is_empty() || is_marker(s) {
        return;
    }
    let mut o = String::with_capacity(MARKER_PREFIX.len() + 40);
    push_marker(&mut o, kind, s);
    counts.bump(kind);
    *s = o;
}

fn push_marker(out: &mut String, kind: SecretKind, secret: &str) {
    let digest = Sha256::digest(secret.as_bytes());
    out.push_str(MARKER_PREFIX);
    out.push_str(kind.as_str());
    out.push(':');
    out.push_str(&hex::encode(&digest[..HASH_HEX_LEN / 2]));
    out.push(']');
}

/// Whether `s` is exactly one marker as [`push_marker`] writes it.
fn is_marker(s: &str) -> bool {
    let Some(inner) = s
        .strip_prefix(MARKER_PREFIX)
        .and_then(|r| r.strip_suffix(']'))
    else {
        return false;
    };
    let Some((kind, hash)) = inner.rsplit_once(':') else {
        return false;
    };
    hash.len() == HASH_HEX_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && SecretKind::ALL.iter().any(|k| k.as_str() == kind)
}

fn next_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A Basic credential is base64 of `user:password`: demanding that shape keeps "basic
/// functionality" in prose from being taken for one.
fn is_basic_credential(b64: &str) -> bool {
    let Some(bytes) = decode_base64(b64) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return false;
    };
    text.contains(':') && !text.chars().any(char::is_control)
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Which secret a key name announces, if any. Matching is on a normalized form: lowercase, `-`,
/// `.` and spaces as `_`, and camelCase split (`clientSecret` → `client_secret`).
fn secret_key_kind(key: &str) -> Option<SecretKind> {
    // Only a key's tail decides (every rule is a suffix), so long keys need no allocation.
    const TAIL: usize = 48;
    if key.len() < 3 {
        return None;
    }
    let bytes = key.as_bytes();
    let from = bytes.len().saturating_sub(TAIL);
    let mut buf = [0u8; TAIL * 2];
    let mut n = 0;
    let mut prev_lower = false;
    for &b in &bytes[from..] {
        if b.is_ascii_uppercase() {
            if prev_lower {
                buf[n] = b'_';
                n += 1;
            }
            buf[n] = b.to_ascii_lowercase();
            prev_lower = false;
        } else {
            buf[n] = match b {
                b'-' | b'.' | b' ' => b'_',
                _ => b,
            };
            prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        }
        n += 1;
    }
    let k = &buf[..n];

    if k.ends_with(b"secret_access_key")
        || k.ends_with(b"secretaccesskey")
        || k.ends_with(b"aws_secret_key")
    {
        return Some(SecretKind::AwsSecretAccessKey);
    }
    const SUFFIXES: [&[u8]; 10] = [
        b"password",
        b"passwd",
        b"passphrase",
        b"secret",
        b"api_key",
        b"apikey",
        b"private_key",
        b"secret_key",
        b"authorization",
        b"_token",
    ];
    // `token` alone, or `_token` as a suffix (access_token, id_token, csrf_token, …); `token_id`
    // and `secret_name` name a secret without being one.
    if k == b"token" || SUFFIXES.iter().any(|s| k.ends_with(s)) {
        return Some(SecretKind::SecretField);
    }
    None
}

#[cfg(test)]
mod tests;
