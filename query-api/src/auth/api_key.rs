//! The API key format. Invariant: a key's secret part exists only in the caller's hands and in the
//! one line `keys create` prints; hoptrail keeps its SHA-256 and compares in constant time.
//!
//! A key reads `hpt_<id>_<secret>`: `id` is 12 lowercase hex digits naming the key in logs, audit
//! lines and `keys revoke`; `secret` is 64 hex digits (256 random bits). The fixed prefix lets
//! secret scanners recognise a leaked key. A plain SHA-256 suffices (no slow KDF): the input is
//! 256 random bits, not a password, so there is nothing to brute-force.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "hpt_";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// A key's digest as stored.
pub type KeyHash = [u8; 32];

/// A freshly generated key: its id and the full text to hand out once.
pub struct NewKey {
    /// Public id.
    pub id: String,
    /// The whole key, secret included.
    pub text: String,
    /// What the store keeps.
    pub hash: KeyHash,
}

/// Generates a key from the operating system's random source.
pub fn generate() -> std::io::Result<NewKey> {
    let mut bytes = [0u8; ID_HEX / 2 + SECRET_HEX / 2];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let id = hex::encode(&bytes[..ID_HEX / 2]);
    let text = format!("{PREFIX}{id}_{}", hex::encode(&bytes[ID_HEX / 2..]));
    let hash = digest(&text);
    Ok(NewKey { id, text, hash })
}

/// The key id of a well-formed key text, `None` for anything else.
pub fn parse_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_at_checked(ID_HEX)?;
    let secret = secret.strip_prefix('_')?;
    let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (secret.len() == SECRET_HEX && lower_hex(id) && lower_hex(secret)).then_some(id)
}

/// SHA-256 of a key text.
pub fn digest(text: &str) -> KeyHash {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `text` hashes to `stored`, in time independent of where they differ.
pub fn matches(text: &str, stored: &KeyHash) -> bool {
    digest(text).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_to_its_id_and_matches_its_hash() {
        let k = generate().unwrap();
        assert_eq!(parse_id(&k.text), Some(k.id.as_str()));
        assert!(matches(&k.text, &k.hash));
        assert_eq!(k.text.len(), PREFIX.len() + ID_HEX + 1 + SECRET_HEX);
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(generate().unwrap().text, generate().unwrap().text);
    }

    #[test]
    fn a_key_with_one_changed_digit_does_not_match() {
        let k = generate().unwrap();
        let mut altered = k.text.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        assert!(!matches(std::str::from_utf8(&altered).unwrap(), &k.hash));
    }

    #[test]
    fn malformed_keys_have_no_id() {
        let k = generate().unwrap();
        for bad in [
            "",
            "hpt_",
            &k.text[..k.text.len() - 1],
            &k.text.to_uppercase(),
            &k.text.replacen("hpt_", "xyz_", 1),
            &format!("{}0", k.text),
            "hpt_abcdefabcdef_zz",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
