//! `RecordSelector` (the items pointer), `primary_key` (the key), and the
//! record-changing components (`transformations`, `record_filter`,
//! `schema_normalization`), which are refused rather than dropped.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::{Mapper, Target, pointer};
use super::refusal::{At, Refusal};

impl Mapper {
    /// Fills `items` from the record selector at `at`.
    pub(super) fn record_selector(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        if at.kind() != "RecordSelector" {
            return Err(at.refuse(format!(
                "the record selector {} has no crawl equivalent",
                at.kind()
            )));
        }
        if let Some(filter) = at.value.get("record_filter")
            && !filter.is_null()
        {
            return Err(at.at("record_filter").refuse(
                "filters records by an expression; the crawl config has no record filter, and dropping it would store records Airbyte does not emit",
            ));
        }
        if at.str("schema_normalization").is_some_and(|n| n != "None") {
            return Err(at.at("schema_normalization").refuse(
                "converts values to the schema's types; the crawl stores records as the server sent them",
            ));
        }
        let extractor = at.at("extractor");
        match extractor.kind().as_str() {
            "DpathExtractor" => {}
            "CustomRecordExtractor" => return Err(extractor.refuse("custom Python code")),
            other => return Err(extractor.refuse(format!("the extractor {other} has no crawl equivalent"))),
        }
        if let Some(decoder) = extractor.value.get("decoder")
            && decoder.get("type").and_then(Value::as_str) != Some("JsonDecoder")
        {
            return Err(extractor.at("decoder").refuse("only JSON responses are read"));
        }
        if extractor
            .value
            .get("record_expander")
            .is_some_and(|v| !v.is_null())
        {
            return Err(extractor
                .at("record_expander")
                .refuse("expands records; the crawl stores them as they are"));
        }
        let path = match extractor.value.get("field_path") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(extractor.at("field_path").refuse("is not a list")),
        };
        let mut keys = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let seg_at = extractor.at("field_path").at(&i.to_string());
            let text = match segment {
                Value::String(s) => self.eval(&seg_at, "field_path", s, Target::Literal)?.text,
                Value::Number(n) => n.to_string(),
                _ => return Err(seg_at.refuse("is not a string")),
            };
            if text.contains('*') && text != "*" {
                return Err(
                    seg_at.refuse("a glob inside a path segment; the items pointer's `*` is a whole segment")
                );
            }
            keys.push(text);
        }
        draft.set("items", pointer(&keys));
        if !keys.is_empty() {
            // Airbyte's extractor yields no records where the path is missing.
            draft.set("items_missing", "empty");
        }
        Ok(())
    }

    /// Fills `key` from the stream's `primary_key` at `at`: one field, a
    /// composite of several, or `false` (keyless) without one.
    pub(super) fn primary_key(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        let parts: Vec<Vec<String>> = match at.value {
            Value::String(s) if !s.is_empty() => vec![vec![s.clone()]],
            Value::Array(items) if !items.is_empty() => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => parts.push(vec![s.clone()]),
                        Value::Array(path) => parts.push(
                            path.iter()
                                .filter_map(|p| p.as_str().map(str::to_owned))
                                .collect(),
                        ),
                        _ => return Err(at.refuse("a key part is neither a field nor a path")),
                    }
                }
                parts
            }
            _ => {
                // Airbyte appends every record of a stream without a key.
                draft.set("key", false);
                return Ok(());
            }
        };
        // `[["a", "b"]]` is one nested field; `["a", "b"]` two fields.
        if parts.len() == 1 {
            draft.set("key", pointer(&parts[0]));
            // Airbyte's keys are opaque values: 7 and "7" are one key, and
            // ids mostly numbers with a few names go in one table.
            draft.set("text_keys", true);
        } else {
            let parts: Vec<toml::Value> = parts.iter().map(|p| toml::Value::String(pointer(p))).collect();
            draft.set("key", parts);
        }
        Ok(())
    }
}
