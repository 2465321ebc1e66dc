//! Text rules for individual field values; each returns the lowercase reason a value breaks it,
//! and none of them allocates on the accepting path.

/// The longest identifier (`agent.id`, `system`, …) in characters.
pub(crate) const MAX_ID_CHARS: usize = 256;
/// The longest `event_id` in characters.
pub(crate) const MAX_EVENT_ID_CHARS: usize = 128;
/// The longest `tenant` in bytes (it is ASCII).
pub(crate) const MAX_TENANT_CHARS: usize = 64;
/// SPIFFE's own limit on the length of an ID.
const MAX_SPIFFE_BYTES: usize = 2048;

/// Identifiers and display text follow the policy in [`crate::identifiers`].
pub(crate) use crate::identifiers::identifier;

/// No control or invisible characters; any length (the record limit bounds it).
pub(crate) fn visible(s: &str) -> Result<(), String> {
    crate::identifiers::display_text(s, None)
}

/// 1–64 characters of `[A-Za-z0-9._-]`: tenants name index directories and metric labels.
pub(crate) fn tenant(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_TENANT_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("expected 1-64 characters of [A-Za-z0-9._-]".to_owned())
    }
}

/// `spiffe://<trust domain>[/<path>]` per the SPIFFE ID spec: lowercase trust domain of
/// `[a-z0-9._-]`, path segments of `[A-Za-z0-9._-]` that are neither empty, `.` nor `..`.
pub(crate) fn spiffe_id(s: &str) -> Result<(), String> {
    let bad = || Err("not a SPIFFE ID (spiffe://<trust-domain>/<path>)".to_owned());
    let Some(rest) = s.strip_prefix("spiffe://") else {
        return bad();
    };
    if s.len() > MAX_SPIFFE_BYTES {
        return bad();
    }
    let (domain, path) = match rest.split_once('/') {
        Some((d, p)) => (d, Some(p)),
        None => (rest, None),
    };
    let domain_ok = !domain.is_empty()
        && domain.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !domain_ok {
        return bad();
    }
    if let Some(path) = path {
        for seg in path.split('/') {
            let seg_ok = !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !seg_ok {
                return bad();
            }
        }
    }
    Ok(())
}

/// Exactly `len` hex digits, either case; with `nonzero`, not all zeros.
pub(crate) fn check_hex_id(s: &str, len: usize, nonzero: bool) -> Result<(), String> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("expected {len} hex digits"));
    }
    if nonzero && s.bytes().all(|b| b == b'0') {
        return Err("must not be all zero".to_owned());
    }
    Ok(())
}

/// Exactly `len` hex digits, optionally not all zero; returns the lowercase form.
///
/// Uppercase is accepted and lowercased: W3C trace context mandates lowercase, but emitters that
/// print ids with `{:X}` are common and the id itself is unambiguous.
pub(crate) fn hex_id(s: String, len: usize, nonzero: bool) -> Result<String, String> {
    check_hex_id(&s, len, nonzero)?;
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_shapes() {
        for ok in [
            "spiffe://example.org",
            "spiffe://prod.example-1.org/ns/agents/sa/planner",
            "spiffe://td_1/a.b/c-d",
        ] {
            assert!(spiffe_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "spiffe://",
            "spiffe:///path",
            "spiffe://Example.org/x",
            "SPIFFE://example.org/x",
            "https://example.org/x",
            "spiffe://example.org/",
            "spiffe://example.org//x",
            "spiffe://example.org/./x",
            "spiffe://example.org/../x",
            "spiffe://example.org/a b",
            "spiffe://exa mple.org/x",
            "spiffe://user@example.org/x",
            "spiffe://example.org:443/x",
        ] {
            assert!(spiffe_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_ids_are_lowercased() {
        assert_eq!(
            hex_id("00F067AA0BA902B7".into(), 16, true).as_deref(),
            Ok("00f067aa0ba902b7")
        );
        assert!(hex_id("0000000000000000".into(), 16, true).is_err());
        assert!(hex_id("0000000000000000".into(), 16, false).is_ok());
        assert!(hex_id("00f067aa0ba902b".into(), 16, true).is_err());
        assert!(hex_id("00f067aa0ba902bg".into(), 16, true).is_err());
    }
}
