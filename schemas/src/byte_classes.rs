//! Classes of bytes tested 16 at a time: every byte of every record goes through these scans
//! (string ends, identifier characters, nesting brackets), so they use SSE2, which every x86_64
//! CPU has. Other targets get the same answers from a plain loop.

/// Bytes per chunk.
pub(crate) const CHUNK: usize = 16;

/// Bit `i` set when byte `i` of `chunk` matches `class`.
#[inline(always)]
pub(crate) fn mask(chunk: &[u8; CHUNK], class: Class) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::mask(chunk, class)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        chunk
            .iter()
            .enumerate()
            .filter(|(_, &b)| class.contains(b))
            .fold(0, |m, (i, _)| m | 1 << i)
    }
}

/// What [`mask`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// What a JSON string cannot hold unescaped: control characters, `"` and `\`.
    JsonSpecial,
    /// Anything but printable ASCII without space (`!` to `~`).
    NotGraphic,
    /// `{` and `[`.
    Opening,
}

impl Class {
    /// The byte-at-a-time definition, which the chunked test must agree with.
    pub(crate) fn contains(self, b: u8) -> bool {
        match self {
            Class::JsonSpecial => b < 0x20 || b == b'"' || b == b'\\',
            Class::NotGraphic => !b.is_ascii_graphic(),
            Class::Opening => b == b'{' || b == b'[',
        }
    }
}

/// The first 16 bytes of `b` from `at`, when there are that many.
#[inline(always)]
pub(crate) fn chunk_at(b: &[u8], at: usize) -> Option<&[u8; CHUNK]> {
    b.get(at..at.checked_add(CHUNK)?)?.try_into().ok()
}

/// Whether any byte of `b` is in `class`.
pub(crate) fn any(b: &[u8], class: Class) -> bool {
    let n = b.len();
    if n < CHUNK {
        // One chunk holding every byte of `b`, some twice, padded with a byte of no class: the
        // test stays exact, and the copies have fixed sizes (plain loads, not a `memcpy` call:
        // most strings are this short).
        let mut chunk = [b'a'; CHUNK];
        if n >= 8 {
            chunk[..8].copy_from_slice(&b[..8]);
            chunk[8..].copy_from_slice(&b[n - 8..]);
        } else if n >= 4 {
            chunk[..4].copy_from_slice(&b[..4]);
            chunk[4..8].copy_from_slice(&b[n - 4..]);
        } else if n > 0 {
            chunk[0] = b[0];
            chunk[1] = b[n / 2];
            chunk[2] = b[n - 1];
        }
        return mask(&chunk, class) != 0;
    }
    let mut i = 0;
    while let Some(c) = chunk_at(b, i) {
        if mask(c, class) != 0 {
            return true;
        }
        i += CHUNK;
    }
    // The last chunk overlaps the one before: every byte it covers is `b`'s own.
    i < b.len() && chunk_at(b, b.len() - CHUNK).is_some_and(|c| mask(c, class) != 0)
}

/// The index of the first byte at or after `from` that is in `class`.
#[inline(always)]
pub(crate) fn first(b: &[u8], from: usize, class: Class) -> Option<usize> {
    let mut i = from;
    while let Some(c) = chunk_at(b, i) {
        let m = mask(c, class);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += CHUNK;
    }
    b.get(i..)?
        .iter()
        .position(|&c| class.contains(c))
        .map(|j| i + j)
}

/// How many bytes of `b` are in `class`.
pub(crate) fn count(b: &[u8], class: Class) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(c) = chunk_at(b, i) {
        let m = mask(c, class);
        // Baseline x86_64 has no POPCNT instruction: `count_ones` is a dozen instructions, and
        // in the classes counted here most chunks have no byte at all.
        if m != 0 {
            n += m.count_ones() as usize;
        }
        i += CHUNK;
    }
    n + b[i..].iter().filter(|&&c| class.contains(c)).count()
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };

    use super::{Class, CHUNK};

    #[inline(always)]
    pub(super) fn mask(chunk: &[u8; CHUNK], class: Class) -> u32 {
        // SAFETY: SSE2 is in every x86_64 CPU's baseline, so these instructions exist; the one
        // load reads the 16 bytes `chunk` borrows, with no alignment required (`loadu`).
        let m = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
            // Unsigned comparisons: `v <= x` as `min(v, x) == v`, `v >= x` as `max(v, x) == v`.
            let at_most = |x: u8| _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(x as i8)), v);
            let at_least = |x: u8| _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(x as i8)), v);
            let hits = match class {
                Class::JsonSpecial => {
                    _mm_or_si128(_mm_or_si128(eq(b'"'), eq(b'\\')), at_most(0x1f))
                }
                Class::NotGraphic => _mm_or_si128(at_most(b' '), at_least(0x7f)),
                Class::Opening => _mm_or_si128(eq(b'{'), eq(b'[')),
            };
            _mm_movemask_epi8(hits)
        };
        m as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CLASSES: [Class; 3] = [Class::JsonSpecial, Class::NotGraphic, Class::Opening];

    #[test]
    fn a_chunk_flags_exactly_the_bytes_of_its_class() {
        for class in CLASSES {
            for b in 0..=255u8 {
                for at in 0..CHUNK {
                    for filler in [b'a', b' ', b'!', b'~', 0x7f, 0x80, 0xff, 0] {
                        let mut chunk = [filler; CHUNK];
                        chunk[at] = b;
                        let expected = (0..CHUNK)
                            .filter(|&i| class.contains(chunk[i]))
                            .fold(0u32, |m, i| m | 1 << i);
                        assert_eq!(mask(&chunk, class), expected, "{class:?} {b:#x} at {at}");
                    }
                }
            }
        }
    }

    fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b'\\'),
                Just(b'{'),
                Just(b'['),
                Just(b' '),
                Just(0x1f),
                Just(0),
                Just(0x7f),
                0x21u8..0x7f,
                0x80u8..,
            ],
            0..80,
        )
    }

    proptest! {
        #[test]
        fn scans_agree_with_the_byte_at_a_time_definition(b in interesting_bytes(), from in 0usize..80) {
            for class in CLASSES {
                let from = from.min(b.len());
                let first_expected = b[from..].iter().position(|&c| class.contains(c)).map(|j| from + j);
                prop_assert_eq!(first(&b, from, class), first_expected);
                prop_assert_eq!(super::any(&b, class), b.iter().any(|&c| class.contains(c)));
                prop_assert_eq!(count(&b, class), b.iter().filter(|&&c| class.contains(c)).count());
            }
        }
    }
}
