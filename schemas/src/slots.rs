//! Reads a JSON object straight into one slot per known key, so a known field costs no map
//! insert, no map removal and no key allocation; the result holds exactly what a
//! `serde_json::Value` parse would (same values, last duplicate key wins).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The known keys of an object, each with the shape of its value when that is an object too.
pub(crate) struct Shape {
    pub(crate) keys: &'static [(&'static str, Option<&'static Shape>)],
}

/// A parsed value: objects of a known shape come as [`Slots`], everything else as a `Value`.
pub(crate) enum Field {
    Value(Value),
    Object(Slots),
}

/// A parsed object: `vals[i]` holds the value of `shape.keys[i]`, `rest` the unknown keys.
pub(crate) struct Slots {
    shape: &'static Shape,
    vals: Vec<Option<Field>>,
    /// How many of `vals` are `Some`.
    filled: usize,
    rest: Map<String, Value>,
}

impl Field {
    /// The plain JSON value, rebuilding an object that was split into slots.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Field::Value(v) => v,
            Field::Object(s) => Value::Object(s.into_map()),
        }
    }
}

impl Shape {
    /// The index of `key` among the known keys. Compares lengths and first bytes before calling
    /// into `memcmp`: shapes have up to 21 keys, and this runs for every key of every record.
    fn find(&self, key: &str) -> Option<usize> {
        let b = key.as_bytes();
        let first = *b.first()?;
        self.keys.iter().position(|(k, _)| {
            let kb = k.as_bytes();
            kb.len() == b.len() && kb[0] == first && kb == b
        })
    }
}

impl Slots {
    /// Takes the value of a known key out of its slot.
    pub(crate) fn take(&mut self, key: &str) -> Option<Field> {
        let i = self.shape.find(key);
        debug_assert!(i.is_some(), "{key} is not in the shape");
        let v = self.vals.get_mut(i?)?.take();
        if v.is_some() {
            self.filled -= 1;
        }
        v
    }

    /// True when every known key was taken and there were no unknown keys.
    pub(crate) fn is_spent(&self) -> bool {
        self.filled == 0 && self.rest.is_empty()
    }

    /// What nobody took: `(key, value)` for every filled slot, then the unknown keys.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (String, Value)> {
        let keys = self.shape.keys;
        self.vals
            .into_iter()
            .zip(keys)
            .filter_map(|(v, (k, _))| v.map(|v| ((*k).to_owned(), v.into_value())))
            .chain(self.rest)
    }

    fn into_map(self) -> Map<String, Value> {
        self.into_entries().collect()
    }
}

/// Parses one JSON value, splitting it into slots if it is an object.
pub(crate) struct Seed(pub(crate) &'static Shape);

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_any(FieldVisitor(self.0))
    }
}

struct FieldVisitor(&'static Shape);

// Scalars are built as serde_json's own `Value` visitor builds them.
impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Field, E> {
        Ok(Field::Value(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Value(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Value(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Field, E> {
        Ok(Field::Value(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Value(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Field, E> {
        Ok(Field::Value(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Field, E> {
        Ok(Field::Value(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Field, E> {
        Ok(Field::Value(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        Seed(self.0).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Field::Value)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        let shape = self.0;
        let mut vals: Vec<Option<Field>> = std::iter::repeat_with(|| None)
            .take(shape.keys.len())
            .collect();
        let mut rest = Map::new();
        let mut filled = 0;
        while let Some(key) = map.next_key_seed(KeySeed(shape))? {
            match key {
                Key::Known(i) => {
                    let v = match shape.keys[i].1 {
                        Some(inner) => map.next_value_seed(Seed(inner))?,
                        None => Field::Value(map.next_value()?),
                    };
                    if vals[i].replace(v).is_none() {
                        filled += 1;
                    }
                }
                Key::Unknown(k) => {
                    let v = map.next_value()?;
                    rest.insert(k, v);
                }
            }
        }
        Ok(Field::Object(Slots {
            shape,
            vals,
            filled,
            rest,
        }))
    }
}

enum Key {
    Known(usize),
    Unknown(String),
}

struct KeySeed(&'static Shape);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.find(v) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(v.to_owned()),
        })
    }

    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(match self.0.find(&v) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INNER: Shape = Shape {
        keys: &[("x", None)],
    };
    const OUTER: Shape = Shape {
        keys: &[("a", None), ("o", Some(&INNER))],
    };

    fn parse(text: &str) -> Field {
        let mut de = serde_json::Deserializer::from_str(text);
        let f = Seed(&OUTER).deserialize(&mut de).unwrap();
        de.end().unwrap();
        f
    }

    #[test]
    fn known_keys_fill_slots_and_the_rest_is_kept() {
        let Field::Object(mut s) = parse(r#"{"a":1,"o":{"x":2,"y":3},"z":[4]}"#) else {
            panic!("an object")
        };
        assert!(matches!(s.take("a"), Some(Field::Value(v)) if v == 1));
        let Some(Field::Object(inner)) = s.take("o") else {
            panic!("o is split")
        };
        assert_eq!(
            Value::Object(inner.into_map()),
            serde_json::json!({"x":2,"y":3})
        );
        assert_eq!(Value::Object(s.into_map()), serde_json::json!({"z":[4]}));
    }

    proptest! {
        #[test]
        fn rebuilt_value_equals_a_plain_parse(text in r#"\{("[aoxyz]":([0-9]{1,3}|"[a-z\\]{0,3}"|null|\[[0-9]?\]|\{("[axy]":[0-9]{1,2},?){0,3}\}),?){0,6}\}"#) {
            let plain: Result<Value, _> = serde_json::from_str(&text);
            let mut de = serde_json::Deserializer::from_str(&text);
            let ours = Seed(&OUTER).deserialize(&mut de).and_then(|f| de.end().map(|()| f));
            match (plain, ours) {
                (Ok(p), Ok(o)) => prop_assert_eq!(p, o.into_value()),
                (Err(_), Err(_)) => {}
                (p, o) => prop_assert!(false, "{:?} vs {:?}", p, o.map(Field::into_value)),
            }
        }
    }
}
