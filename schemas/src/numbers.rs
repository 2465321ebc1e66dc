//! A number JSON can write but a 64-bit float cannot hold (`1e400`, a 400-digit integer) is
//! valid JSON grammar, so it is not reported as "not JSON": the rejection names the field that
//! holds it, found by rescanning the record up to where the parser stopped. That rescan runs only
//! on this error path, never for an accepted record.

use crate::record_error::{Reason, RecordError};

/// The rejection for a parse error of `text`: an out-of-range number names its field, anything
/// else is [`Reason::NotJson`] with the parser's message.
pub(crate) fn parse_error(text: &str, e: serde_json::Error) -> RecordError {
    let message = e.to_string();
    if message.starts_with("number out of range") {
        let at = byte_offset(text, e.line(), e.column());
        return RecordError::field(
            &path_at(text.as_bytes(), at),
            "number out of range (beyond a 64-bit float)",
        );
    }
    RecordError::new(Reason::NotJson, format!("record: not JSON: {message}"))
}

/// The byte offset of serde_json's 1-based line and its column (bytes into that line).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', text.as_bytes())
            .nth(line - 2)
            .map_or(text.len(), |i| i + 1)
    };
    (line_start + column).min(text.len())
}

enum Frame {
    Object { key: Option<String>, want_key: bool },
    Array { index: usize },
}

/// The dotted path (`attributes.limits[2]`) of the value being read at byte `at` of JSON text
/// that is well formed up to there; `record` at the top level.
fn path_at(b: &[u8], at: usize) -> String {
    let b = &b[..at.min(b.len())];
    let mut frames: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let end = loop {
                    match memchr::memchr2(b'"', b'\\', &b[j.min(b.len())..]) {
                        None => break None,
                        Some(k) if b[j + k] == b'\\' => j += k + 2,
                        Some(k) => break Some(j + k),
                    }
                };
                let Some(end) = end else { break };
                if let Some(Frame::Object { key, want_key }) = frames.last_mut() {
                    if *want_key {
                        let raw = &b[start - 1..=end];
                        *key = serde_json::from_slice::<String>(raw).ok();
                        *want_key = false;
                    }
                }
                i = end;
            }
            b'{' => frames.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => frames.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                frames.pop();
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for f in &frames {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                push_key(&mut path, k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                if path.is_empty() {
                    path.push_str("record");
                }
                path.push_str(&format!("[{index}]"));
            }
        }
    }
    if path.is_empty() {
        path.push_str("record");
    }
    path
}

/// A key as it is when it is plain, else quoted with everything outside printable ASCII escaped
/// and cut to 64 characters: the path goes into a message and a Kafka header.
pub(crate) fn push_key(path: &mut String, k: &str) {
    let plain = !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'));
    if plain {
        path.push_str(k);
        return;
    }
    path.push('"');
    for c in k.chars().take(64) {
        match c {
            '"' | '\\' => {
                path.push('\\');
                path.push(c);
            }
            ' '..='~' => path.push(c),
            _ => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    path.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    if k.chars().nth(64).is_some() {
        path.push_str("...");
    }
    path.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> RecordError {
        let e = serde_json::from_str::<serde_json::Value>(text).expect_err("rejected");
        parse_error(text, e)
    }

    #[test]
    fn an_out_of_range_number_names_its_field() {
        for (text, path) in [
            (r#"{"attributes":{"big":1e400}}"#, "attributes.big"),
            (
                r#"{"a":1,"attributes":{"x":[1,2,-1e999]}}"#,
                "attributes.x[2]",
            ),
            ("{\n \"agent\": {\n  \"id\": 1e400\n }\n}", "agent.id"),
            (r#"{"a":{"b":{}},"c":[{"d":[]},{"e":1e400}]}"#, "c[1].e"),
            (r#"{"we\"ird \u202e":1e400}"#, r#""we\"ird \u202e""#),
            ("1e400", "record"),
            ("[0,1e400]", "record[1]"),
        ] {
            let e = err(text);
            assert_eq!(e.reason, Reason::InvalidField, "{text}");
            assert_eq!(
                e.message,
                format!("{path}: number out of range (beyond a 64-bit float)"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_400_digit_integer_is_out_of_range_too() {
        let text = format!(r#"{{"attributes":{{"n":1{}}}}}"#, "0".repeat(400));
        assert_eq!(
            err(&text).message,
            "attributes.n: number out of range (beyond a 64-bit float)"
        );
    }

    #[test]
    fn other_parse_errors_stay_not_json() {
        let e = err(r#"{"a":}"#);
        assert_eq!(e.reason, Reason::NotJson);
        assert!(e.message.starts_with("record: not JSON: "), "{}", e.message);
    }
}
