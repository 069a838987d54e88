//! Setting and removing a record's field at a JSON pointer (RFC 6901), a
//! `*` segment standing for every member or element when removing.

use serde_json::{Map, Value};

use super::TransformError;

/// The unescaped segments of `pointer` (`~1` is `/`, `~0` is `~`).
///
/// # Errors
///
/// [`TransformError::Pointer`] for a pointer that is empty or does not
/// start with `/`.
pub(super) fn split_pointer(pointer: &str) -> Result<Vec<String>, TransformError> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(TransformError::Pointer {
            pointer: pointer.to_owned(),
            reason: "a field's JSON pointer starts with '/' (the whole record cannot be replaced)",
        });
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Sets the field at `path` of `record` to `value`, creating objects on the
/// way (a value on the way that is not an object is replaced by one; an
/// array is indexed by a decimal segment, and left alone otherwise).
pub(super) fn set_at(record: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = record;
    for segment in parents {
        at = match at {
            Value::Array(items) => match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            other => {
                if !other.is_object() {
                    *other = Value::Object(Map::new());
                }
                match other {
                    Value::Object(map) => map
                        .entry(segment.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    _ => return,
                }
            }
        };
    }
    match at {
        Value::Array(items) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = value;
            }
        }
        other => {
            if !other.is_object() {
                *other = Value::Object(Map::new());
            }
            if let Value::Object(map) = other {
                map.insert(last.clone(), value);
            }
        }
    }
}

/// Removes the field at `path` of `record`: a `*` segment is every member
/// of an object or element of an array; a missing field is left missing.
/// An array element named by its index is removed (the later ones move up).
pub(super) fn remove_at(record: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match record {
            Value::Object(map) if first == "*" => map.clear(),
            Value::Object(map) => {
                map.remove(first);
            }
            Value::Array(items) if first == "*" => items.clear(),
            Value::Array(items) => {
                if let Some(i) = first.parse::<usize>().ok().filter(|i| *i < items.len()) {
                    items.remove(i);
                }
            }
            _ => {}
        }
        return;
    }
    match record {
        Value::Object(map) if first == "*" => map.values_mut().for_each(|v| remove_at(v, rest)),
        Value::Object(map) => {
            if let Some(v) = map.get_mut(first) {
                remove_at(v, rest);
            }
        }
        Value::Array(items) if first == "*" => items.iter_mut().for_each(|v| remove_at(v, rest)),
        Value::Array(items) => {
            if let Some(v) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                remove_at(v, rest);
            }
        }
        _ => {}
    }
}
