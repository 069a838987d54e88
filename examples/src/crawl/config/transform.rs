//! A collection's `transform` (fields added to and removed from each record,
//! [`RecordTransform`]): `${VAR}` expanded in the added values (the
//! variable's text as literal text), then checked against the collection
//! (`{parent/…}` needs a parent).

use crawlpipe_sources::RecordTransform;
use serde::Deserialize;
use toml::Value;

use super::ConfigError;
use super::collection::Place;

/// Reads `transform` of a collection (`child`: it has a `parent`).
pub(super) fn read(mut value: Value, child: bool, place: &Place<'_>) -> Result<RecordTransform, ConfigError> {
    if let Some(Value::Table(add)) = value.get_mut("add") {
        for (_, v) in add.iter_mut() {
            if let Value::String(s) = v {
                *s = expand_escaped(s, place)?;
            }
        }
    }
    let transform =
        RecordTransform::deserialize(value).map_err(|e| place.fail("transform", &e.to_string()))?;
    if !child && let Some(field) = transform.parent_fields().next() {
        return Err(place.fail(
            "transform",
            &format!("add.{field:?} reads {{parent/…}}, which only a child collection (with `parent`) has"),
        ));
    }
    Ok(transform)
}

/// `template` with each `${VAR}` replaced by its value, braces doubled so
/// the value stays text in the template.
fn expand_escaped(template: &str, place: &Place<'_>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let value = place.expand(&rest[start..=start + len], "transform", "transform")?;
        out.push_str(&value.replace('{', "{{").replace('}', "}}"));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
