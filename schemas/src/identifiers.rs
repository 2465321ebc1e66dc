//! What an identifier, a piece of display text and a timestamp may be. Identifiers (every id,
//! name of a system, tool, zone, scope or audience) are 1..=N characters of printable ASCII
//! without spaces, so two ids that look the same to the person reading the audit trail are the
//! same bytes; display text (`agent.name`, `resource`) may be any script but never holds control
//! or invisible characters. A rejection names the first offending character by code point and
//! never echoes it, so the message is safe in a Kafka header and a terminal.

use crate::byte_classes;
use crate::decoder::{TIME_MAX_US, TIME_MIN_US};

/// The message for a timestamp outside `[TIME_MIN_US, TIME_MAX_US)`.
pub(crate) const TIME_OUT_OF_RANGE: &str = "out of range (1970-01-01 to 2100-01-01)";

/// Why one character may not stand where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// C0/C1 controls, DEL, and the Unicode line and paragraph separators: they break the line
    /// of a log or a terminal, or drive it.
    Control,
    /// Renders as nothing or reorders the text around it (zero-width, joiners, bidi controls,
    /// variation selectors, tags, Hangul fillers, BOM, soft hyphen, …): two ids differing only by
    /// one look identical.
    Invisible,
    /// Any whitespace, ASCII space included: `"planner-7 "` must not pass for `"planner-7"`.
    Space,
    /// A visible character outside ASCII: the homoglyph risk (Cyrillic `а` for Latin `a`).
    NonAscii,
}

impl Class {
    fn describe(self, c: char) -> String {
        let code = format!("U+{:04X}", u32::from(c));
        match self {
            Class::Control => format!("contains control character {code}"),
            Class::Invisible => format!("contains invisible character {code}"),
            Class::Space => format!("contains space character {code}"),
            Class::NonAscii => {
                format!("contains non-ASCII character {code} (identifiers are printable ASCII)")
            }
        }
    }
}

/// Characters that render as nothing or reorder text: Unicode's Default_Ignorable_Code_Point
/// (which holds the zero-width characters, joiners, the bidi embeddings, overrides and isolates,
/// variation selectors and tag characters) plus the Arabic letter mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The class of a character display text may not hold, if any.
fn text_class(c: char) -> Option<Class> {
    if is_control(c) {
        Some(Class::Control)
    } else if is_invisible(c) {
        Some(Class::Invisible)
    } else {
        None
    }
}

/// The class of a character an identifier may not hold, if any.
fn identifier_class(c: char) -> Option<Class> {
    if c.is_ascii_graphic() {
        None
    } else if let Some(class) = text_class(c) {
        Some(class)
    } else if c.is_whitespace() {
        Some(Class::Space)
    } else {
        Some(Class::NonAscii)
    }
}

/// Non-empty, at most `max_chars` characters of printable ASCII without spaces (`!` to `~`).
pub(crate) fn identifier(s: &str, max_chars: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".to_owned());
    }
    // The accepting path is one chunked byte scan (every allowed character is one byte); only a
    // rejected identifier looks for where it breaks.
    let not_graphic = byte_classes::Class::NotGraphic;
    if byte_classes::any(s.as_bytes(), not_graphic) {
        let at = byte_classes::first(s.as_bytes(), 0, not_graphic).unwrap_or_default();
        let c = s[at..].chars().next().unwrap_or_default();
        let class = identifier_class(c).unwrap_or(Class::NonAscii);
        return Err(class.describe(c));
    }
    if s.len() > max_chars {
        return Err(format!("longer than {max_chars} characters"));
    }
    Ok(())
}

/// Non-empty, at most `max_chars` characters (`None`: any length), no control or invisible
/// characters; any script.
pub(crate) fn display_text(s: &str, max_chars: Option<usize>) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".to_owned());
    }
    let ascii = s.bytes().all(|b| (0x20..0x7f).contains(&b));
    let mut n = 0usize;
    if !ascii {
        for c in s.chars() {
            if let Some(class) = text_class(c) {
                return Err(class.describe(c));
            }
            n += 1;
        }
    } else {
        n = s.len();
    }
    match max_chars {
        Some(max) if n > max => Err(format!("longer than {max} characters")),
        _ => Ok(()),
    }
}

/// A timestamp (microseconds since the epoch) within `[1970-01-01, 2100-01-01)`: before the
/// epoch is a zeroed or negative clock, and far future dates (`9999-12-31` as "never") would sort
/// ahead of every real event and make time windows meaningless.
pub(crate) fn time_in_range(us: i64) -> Result<(), String> {
    if (TIME_MIN_US..TIME_MAX_US).contains(&us) {
        Ok(())
    } else {
        Err(TIME_OUT_OF_RANGE.to_owned())
    }
}

/// `s` quoted as a JSON string with everything outside printable ASCII escaped (`\u202e`), cut
/// to 64 characters (`...` marks the cut): a hostile value quoted in a rejection message cannot
/// reorder or hide the text of a dead-letter header.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    let mut q = String::with_capacity(s.len().min(MAX) + 2);
    q.push('"');
    for c in s.chars().take(MAX) {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            ' '..='~' => q.push(c),
            _ => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    q.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    q.push('"');
    if s.chars().nth(MAX).is_some() {
        q.push_str("...");
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_class_of_forbidden_character_is_named_by_code_point() {
        for (s, why) in [
            ("a\u{0}b", "contains control character U+0000"),
            ("a\nb", "contains control character U+000A"),
            ("a\u{7f}", "contains control character U+007F"),
            ("a\u{85}", "contains control character U+0085"),
            ("a\u{2028}", "contains control character U+2028"),
            ("planner\u{200B}-7", "contains invisible character U+200B"),
            ("\u{200C}", "contains invisible character U+200C"),
            ("a\u{200D}", "contains invisible character U+200D"),
            ("a\u{2060}", "contains invisible character U+2060"),
            ("\u{FEFF}a", "contains invisible character U+FEFF"),
            ("a\u{202E}b", "contains invisible character U+202E"),
            ("a\u{2066}b", "contains invisible character U+2066"),
            ("a\u{FE0F}", "contains invisible character U+FE0F"),
            ("a\u{E0041}", "contains invisible character U+E0041"),
            ("a\u{3164}", "contains invisible character U+3164"),
            ("planner 7", "contains space character U+0020"),
            ("planner-7 ", "contains space character U+0020"),
            ("a\u{A0}b", "contains space character U+00A0"),
            ("a\u{3000}b", "contains space character U+3000"),
        ] {
            assert_eq!(identifier(s, 256), Err(why.to_owned()), "{s:?}");
        }
    }

    #[test]
    fn homoglyphs_of_ascii_ids_are_rejected_as_non_ascii() {
        // Cyrillic а, Greek ο, fullwidth ｐ, mathematical 𝗉: each looks like its Latin letter.
        for (s, code) in [
            ("pl\u{0430}nner-7", "U+0430"),
            ("planner-7-\u{03BF}", "U+03BF"),
            ("\u{FF50}lanner-7", "U+FF50"),
            ("\u{1D5C9}lanner-7", "U+1D5C9"),
            ("agent-ü", "U+00FC"),
        ] {
            assert_eq!(
                identifier(s, 256),
                Err(format!(
                    "contains non-ASCII character {code} (identifiers are printable ASCII)"
                )),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_first_offending_character_is_the_one_named() {
        assert_eq!(
            identifier("a\u{200B}\n", 256),
            Err("contains invisible character U+200B".to_owned())
        );
        assert_eq!(
            identifier(&format!("{}\u{0430}", "a".repeat(1000)), 256),
            Err("contains non-ASCII character U+0430 (identifiers are printable ASCII)".to_owned())
        );
    }

    #[test]
    fn every_printable_ascii_character_but_space_is_allowed_in_an_identifier() {
        let all: String = ('!'..='~').collect();
        assert_eq!(identifier(&all, 256), Ok(()));
        assert_eq!(identifier("spiffe://a.b/c?d=e#f", 256), Ok(()));
    }

    #[test]
    fn identifier_length_is_checked_after_its_characters() {
        assert_eq!(identifier(&"a".repeat(256), 256), Ok(()));
        assert_eq!(
            identifier(&"a".repeat(257), 256),
            Err("longer than 256 characters".to_owned())
        );
        assert_eq!(identifier("", 256), Err("empty".to_owned()));
    }

    #[test]
    fn display_text_allows_any_script_and_spaces_but_not_invisible_characters() {
        assert_eq!(
            display_text("Ticket triage — агент 名前", Some(256)),
            Ok(())
        );
        assert_eq!(display_text(&"é".repeat(256), Some(256)), Ok(()));
        assert_eq!(
            display_text(&"é".repeat(257), Some(256)),
            Err("longer than 256 characters".to_owned())
        );
        assert_eq!(
            display_text("jira://x\u{202E}y", None),
            Err("contains invisible character U+202E".to_owned())
        );
        assert_eq!(
            display_text("a\tb", None),
            Err("contains control character U+0009".to_owned())
        );
    }

    #[test]
    fn an_excerpt_escapes_everything_outside_printable_ascii() {
        assert_eq!(excerpt("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            excerpt("x\u{202E}\u{1}é𝗉"),
            r#""x\u202e\u0001\u00e9\ud835\uddc9""#
        );
        assert_eq!(
            excerpt(&"y".repeat(65)),
            format!("\"{}\"...", "y".repeat(64))
        );
    }

    #[test]
    fn time_range_is_half_open() {
        assert_eq!(time_in_range(TIME_MIN_US), Ok(()));
        assert_eq!(time_in_range(TIME_MAX_US - 1), Ok(()));
        assert!(time_in_range(TIME_MIN_US - 1).is_err());
        assert!(time_in_range(TIME_MAX_US).is_err());
        assert!(time_in_range(i64::MIN).is_err());
    }

    proptest! {
        #[test]
        fn an_accepted_identifier_is_printable_ascii(s in "\\PC{0,12}") {
            if identifier(&s, 256).is_ok() {
                prop_assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()));
            }
        }

        #[test]
        fn a_rejection_message_is_itself_printable_ascii(s in any::<String>()) {
            for r in [identifier(&s, 256), display_text(&s, None)] {
                if let Err(why) = r {
                    prop_assert!(why.bytes().all(|b| (0x20..0x7f).contains(&b)), "{why:?}");
                }
            }
        }
    }
}
