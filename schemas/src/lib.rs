//! hoptrail's wire format v1: every record that reaches the rest of the pipeline went through
//! [`Decoder::decode`], so it is valid, bounded in size and depth, and redacted.
//!
//! The JSON Schema files in `schemas/json/` describe the same format for producers; the Rust
//! decoder is the authority and also enforces the rules JSON Schema cannot express (record size
//! and depth, `time` range, `attributes` size).
#![warn(missing_docs)]

// The hostile corpus, shared with the integration tests, names this crate by its name.
#[cfg(test)]
extern crate self as hoptrail_schemas;

mod byte_classes;
mod decoder;
mod encoder;
mod extra_depth;
mod identifiers;
mod numbers;
mod record_error;
mod redactor;
mod rules;
mod slots;
mod time;

pub use decoder::{
    Decoded, Decoder, MAX_ATTRIBUTES_BYTES, MAX_DEPTH, MAX_RECORD_BYTES, TIME_MAX_US, TIME_MIN_US,
};
pub use encoder::encode_event;
pub use record_error::{Reason, RecordError};
pub use redactor::{RedactionCounts, Redactor, SecretKind};
pub use time::{format_time_us, parse_time};
