//! The body of `PUT /_ingest/pipeline/{id}`: the pipeline's new definition, as a JSON tree for
//! `es::pipeline` to analyse.
//!
//! Owns: reading the body whole, strictly. Must not: judge the definition (its shape is
//! `es::pipeline`'s business: anything but an object with `processors` counts there as a
//! pipeline that may reroute), or return a tree the node could read differently. Unlike the
//! other readers of this module it reports no [`super::BodyError`]: a body it cannot read is
//! no definition (`None`), which `es::pipeline` counts as one that may reroute, so only a
//! block that grants every index lets the node answer it.
//!
//! Not read: a body that is not one JSON value in serde_json's grammar (no comments, nothing
//! after the value, valid UTF-8 without lone surrogates; an empty body is none), one that
//! repeats a key in any object (Elasticsearch's Jackson refuses those too, but which of two
//! values counts is not left to a guess), and one nested deeper than serde_json's recursion
//! limit (128 arrays and objects; the recursion is bounded by it).

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The definition a body gives, or `None` when it cannot be read (module docs).
pub fn read_pipeline_definition(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Strict>(body)
        .ok()
        .map(|Strict(value)| value)
}

/// A JSON value whose objects repeat no key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without repeated keys")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(Strict(item)) = items.next_element()? {
            list.push(item);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format_args!("repeated key `{key}`")));
            }
            let Strict(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
#[path = "tests/pipeline.rs"]
mod tests;
