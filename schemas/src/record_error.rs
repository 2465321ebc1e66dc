//! A rejected record carries a stable machine reason plus a lowercase `<field path>: <reason>`
//! message; the message never echoes more than a short, escaped excerpt of the input.

use thiserror::Error;

/// Why a record was rejected; stable names for metrics and dead-letter headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Over [`crate::MAX_RECORD_BYTES`].
    TooLarge,
    /// Not UTF-8.
    InvalidUtf8,
    /// Not parseable as JSON.
    NotJson,
    /// Nested deeper than [`crate::MAX_DEPTH`].
    TooDeep,
    /// `schema` names a schema this decoder does not know.
    UnknownSchema,
    /// A field is missing, has the wrong type or breaks a rule (also: the record is not an object).
    InvalidField,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 6] = [
        Reason::TooLarge,
        Reason::InvalidUtf8,
        Reason::NotJson,
        Reason::TooDeep,
        Reason::UnknownSchema,
        Reason::InvalidField,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::NotJson => "not_json",
            Reason::TooDeep => "too_deep",
            Reason::UnknownSchema => "unknown_schema",
            Reason::InvalidField => "invalid_field",
        }
    }
}

/// A record the decoder refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct RecordError {
    /// Machine-readable reason.
    pub reason: Reason,
    /// Human-readable `<field path>: <reason>`.
    pub message: String,
}

impl RecordError {
    pub(crate) fn new(reason: Reason, message: String) -> Self {
        RecordError { reason, message }
    }

    pub(crate) fn field(path: &str, what: &str) -> Self {
        RecordError::new(Reason::InvalidField, format!("{path}: {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_distinct_snake_case() {
        let names: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for n in names {
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
        }
    }

    #[test]
    fn display_is_the_message() {
        let e = RecordError::field("agent.id", "missing");
        assert_eq!(e.to_string(), "agent.id: missing");
        assert_eq!(e.reason, Reason::InvalidField);
    }
}
