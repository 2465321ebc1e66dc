//! Unknown fields are stored one level down, under `extra`, so one nested the full
//! [`MAX_DEPTH`] at the record's top level would make a stored form the decoder itself refuses
//! (found by the `decode_record` fuzz target's round-trip check). Every `extra` value may
//! therefore nest at most `MAX_DEPTH - 2` levels: the depth it has in the stored form, under the
//! record and `extra` objects.

use serde_json::{Map, Value};

use crate::decoder::MAX_DEPTH;
use crate::record_error::{Reason, RecordError};

/// Rejects an `extra` value whose stored form would nest deeper than [`MAX_DEPTH`].
pub(crate) fn check(extra: &Map<String, Value>) -> Result<(), RecordError> {
    for (key, value) in extra {
        if depth(value) > MAX_DEPTH - 2 {
            let mut path = String::new();
            crate::numbers::push_key(&mut path, key);
            return Err(RecordError::new(
                Reason::TooDeep,
                format!(
                    "{path}: nested deeper than {MAX_DEPTH} levels once stored under extra (unknown fields nest at most {})",
                    MAX_DEPTH - 2
                ),
            ));
        }
    }
    Ok(())
}

/// Levels of arrays and objects in `v` (a scalar is 0). The decoder's byte scan bounds the
/// recursion to [`MAX_DEPTH`].
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
