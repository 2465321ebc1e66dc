//! Word-at-a-time tests for the bytes a JSON string cannot hold as they are: control characters,
//! `"` and `\`. The encoder uses them to skip escaping, the decoder's fast path to find where a
//! string ends.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` (little-endian) that is a control character, `"` or `\`.
///
/// These are the classic SWAR zero-byte and less-than tests. A borrow only moves upwards, so a
/// byte can be flagged wrongly only above one flagged rightly: whether any is flagged, and which
/// is the lowest, are both exact.
pub(crate) fn special_bytes(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Whether any byte of `b` must be escaped in a JSON string. The last word overlaps the one
/// before it instead of falling back to a byte loop: every byte it covers is `b`'s own, so the
/// test stays exact. ([`first_special`] cannot do that: the bytes before `from` are unchecked,
/// and a special one there could flag the bytes above it.)
pub(crate) fn any_special(b: &[u8]) -> bool {
    if b.len() < 8 {
        // Padding with a byte that needs no escaping keeps the test exact.
        let mut w = [b'a'; 8];
        w[..b.len()].copy_from_slice(b);
        return special_bytes(u64::from_le_bytes(w)) != 0;
    }
    let mut i = 0;
    while i + 8 <= b.len() {
        if special_bytes(word(b, i)) != 0 {
            return true;
        }
        i += 8;
    }
    i < b.len() && special_bytes(word(b, b.len() - 8)) != 0
}

/// The index of the first byte at or after `from` that is a control character, `"` or `\`.
pub(crate) fn first_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= b.len() {
        let m = special_bytes(word(b, i));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .map(|j| i + j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn must_escape(b: u8) -> bool {
        b < 0x20 || b == b'"' || b == b'\\'
    }

    #[test]
    fn the_word_test_finds_every_byte_that_needs_escaping() {
        for b in 0..=255u8 {
            for at in 0..8 {
                for filler in [b'a', 0x80, 0xff, 0x20, 0x21] {
                    let mut w = [filler; 8];
                    w[at] = b;
                    let m = special_bytes(u64::from_le_bytes(w));
                    assert_eq!(m != 0, must_escape(b), "{b:#x} at {at}");
                    if must_escape(b) {
                        assert_eq!(m.trailing_zeros() / 8, at as u32, "{b:#x} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_whole_string_test_sees_an_escape_at_any_position_of_any_length() {
        for len in 0..40 {
            assert!(!any_special(&vec![b'x'; len]), "{len} plain bytes");
            for at in 0..len {
                let mut b = vec![b'x'; len];
                b[at] = b'"';
                assert!(any_special(&b), "quote at {at} of {len}");
            }
        }
    }

    proptest! {
        #[test]
        fn first_special_is_the_first_byte_that_needs_escaping(
            b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(0x1f), 0x20u8..], 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(b.len());
            let expected = b[from..].iter().position(|&c| must_escape(c)).map(|j| from + j);
            prop_assert_eq!(first_special(&b, from), expected);
            prop_assert_eq!(any_special(&b), b.iter().any(|&c| must_escape(c)));
        }
    }
}
