//! A collection's `transform` (fields added to and removed from each record,
//! [`RecordTransform`]): `${VAR}` expanded in the added values, then checked
//! against the collection (`{parent/…}` needs a parent).

use crawlpipe_sources::RecordTransform;
use serde::Deserialize;
use toml::Value;

use super::vars::expand_vars;

/// Why `transform` cannot be read.
#[derive(Debug)]
pub(super) enum TransformProblem {
    /// A `${VAR}` that is not set.
    MissingEnv(String),
    /// Anything else: the reason.
    Invalid(String),
}

/// Reads `transform` of a collection (`child`: it has a `parent`).
pub(super) fn read(
    mut value: Value,
    child: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RecordTransform, TransformProblem> {
    if let Some(Value::Table(add)) = value.get_mut("add") {
        // A variable's value is text: its braces are written as braces.
        let escaped = |var: &str| env(var).map(|v| v.replace('{', "{{").replace('}', "}}"));
        for (_, v) in add.iter_mut() {
            if let Value::String(s) = v {
                *s = expand_vars(s.as_str(), &escaped).map_err(TransformProblem::MissingEnv)?;
            }
        }
    }
    let transform =
        RecordTransform::deserialize(value).map_err(|e| TransformProblem::Invalid(e.to_string()))?;
    if !child && let Some(field) = transform.parent_fields().next() {
        return Err(TransformProblem::Invalid(format!(
            "add.{field:?} reads {{parent/…}}, which only a child collection (with `parent`) has"
        )));
    }
    Ok(transform)
}
