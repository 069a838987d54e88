//! Record transforms: fields added to and removed from each record before it
//! is stored.
//!
//! ```toml
//! transform = { add = { "/repo_id" = "{parent/id}", "/source" = "github", "/v" = 2 }, remove = ["/_links", "/items/*/url"] }
//! ```
//!
//! `add` maps a JSON pointer (the field to set; missing objects on the way
//! are created) to its value: a string is a [`FieldTemplate`] (`{/pointer}`
//! the record's field, `{parent/pointer}` the parent item's, `{now…}` the
//! run's start), any other value is written as it is. Every template reads
//! the record as it arrived, then the fields are set in pointer order, then
//! `remove` deletes its pointers (a `*` segment is every member of an object
//! or element of an array; a missing field is no error).

mod field_template;
mod pointer_edit;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

pub use self::field_template::FieldTemplate;
use self::pointer_edit::{remove_at, set_at, split_pointer};

/// Why a transform is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// A template that does not parse.
    #[error("template {template:?}: {reason}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// A field pointer that is not a JSON pointer to a field.
    #[error("{pointer:?}: {reason}")]
    Pointer {
        /// The pointer.
        pointer: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The data form of a [`RecordTransform`] (the `transform` key).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformSpec {
    #[serde(default)]
    add: BTreeMap<String, Value>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Fields added to and removed from each record (see the module docs).
///
/// ```
/// use crawlpipe_sources::RecordTransform;
/// use serde_json::json;
///
/// let t = RecordTransform::new([("/repo".to_owned(), json!("{parent/name}"))], ["/_links".to_owned()])?;
/// let t = t.for_parent(&json!({"name": "crawlpipe"}));
/// let mut record = json!({"id": 1, "_links": {"self": "…"}});
/// t.apply(&mut record);
/// assert_eq!(record, json!({"id": 1, "repo": "crawlpipe"}));
/// # Ok::<(), crawlpipe_sources::TransformError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "TransformSpec")]
pub struct RecordTransform {
    /// Each added field: its pointer, its path, its value.
    add: Vec<(String, Vec<String>, FieldTemplate)>,
    /// Each removed field: its pointer and path.
    remove: Vec<(String, Vec<String>)>,
}

impl TryFrom<TransformSpec> for RecordTransform {
    type Error = TransformError;

    fn try_from(spec: TransformSpec) -> Result<Self, Self::Error> {
        Self::new(spec.add, spec.remove)
    }
}

impl RecordTransform {
    /// A transform adding `add` (pointer, value: a string is a template) and
    /// removing `remove` (pointers).
    ///
    /// # Errors
    ///
    /// [`TransformError`] for a pointer that is not `/…`, a `*` in an added
    /// field's pointer, or a template that does not parse.
    pub fn new(
        add: impl IntoIterator<Item = (String, Value)>,
        remove: impl IntoIterator<Item = String>,
    ) -> Result<Self, TransformError> {
        let mut added = Vec::new();
        for (pointer, value) in add {
            let path = split_pointer(&pointer)?;
            if path.iter().any(|s| s == "*") {
                return Err(TransformError::Pointer {
                    pointer,
                    reason: "an added field's pointer names one field: no `*` segment",
                });
            }
            let template = match &value {
                Value::String(s) => FieldTemplate::parse(s)?,
                _ => FieldTemplate::constant(value),
            };
            added.push((pointer, path, template));
        }
        added.sort_by(|a, b| a.1.cmp(&b.1));
        let mut removed = Vec::new();
        for pointer in remove {
            let path = split_pointer(&pointer)?;
            removed.push((pointer, path));
        }
        Ok(Self {
            add: added,
            remove: removed,
        })
    }

    /// Whether the transform changes nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The pointers of the added fields whose templates read the parent item.
    pub fn parent_fields(&self) -> impl Iterator<Item = &str> {
        self.add
            .iter()
            .filter(|(_, _, t)| t.reads_parent())
            .map(|(p, _, _)| p.as_str())
    }

    /// The transform with its templates' `{parent/…}` read from `parent`:
    /// what a child collection of that parent item applies.
    #[must_use]
    pub fn for_parent(&self, parent: &Value) -> Self {
        self.map_templates(|t| t.for_parent(parent))
    }

    /// The transform with `{now…}` rendered for a run started at `now`.
    #[must_use]
    pub fn at(&self, now: Timestamp) -> Self {
        self.map_templates(|t| t.at(now))
    }

    fn map_templates(&self, f: impl Fn(&FieldTemplate) -> FieldTemplate) -> Self {
        Self {
            add: self
                .add
                .iter()
                .map(|(p, path, t)| (p.clone(), path.clone(), f(t)))
                .collect(),
            remove: self.remove.clone(),
        }
    }

    /// Applies the transform to `record` (a record that is not an object
    /// gets no added fields).
    pub fn apply(&self, record: &mut Value) {
        if !self.add.is_empty() && record.is_object() {
            let values: Vec<Value> = self.add.iter().map(|(_, _, t)| t.render(record)).collect();
            for ((_, path, _), value) in self.add.iter().zip(values) {
                set_at(record, path, value);
            }
        }
        for (_, path) in &self.remove {
            remove_at(record, path);
        }
    }
}

#[cfg(test)]
mod tests;
