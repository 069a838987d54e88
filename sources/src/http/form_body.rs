//! Form-encoded request bodies (`body_format = "form"`): the configured
//! body is a flat table; each value is sent as text.

use serde_json::Value;

use crate::paging::kind_of;

/// The `(name, value)` pairs of a flat body: strings as they are, numbers
/// and booleans as their JSON text, arrays as repeated names, null left out.
///
/// # Errors
///
/// The reason, naming the key, for a body that is not a table or holds a
/// nested table.
pub(crate) fn form_pairs(body: &Value) -> Result<Vec<(String, String)>, String> {
    let Value::Object(map) = body else {
        return Err(format!("a form body is a table of values, not {}", kind_of(body)));
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (name, value) in map {
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            match v {
                Value::Null => {}
                Value::String(s) => pairs.push((name.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => pairs.push((name.clone(), v.to_string())),
                other => {
                    return Err(format!(
                        "form body key {name:?} holds {}; a form value is a string, number or boolean",
                        kind_of(other)
                    ));
                }
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_tables_become_pairs() {
        let pairs = form_pairs(&json!({"a": "x y", "n": 2, "t": [1, "b"], "z": null})).unwrap();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("a", "x y"), ("n", "2"), ("t", "1"), ("t", "b")]);
        assert!(form_pairs(&json!({"a": {"b": 1}})).unwrap_err().contains("\"a\""));
        assert!(form_pairs(&json!([1])).is_err());
    }
}
