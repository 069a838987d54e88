//! `auth = { type = "select", by = "${AUTH_TYPE}", options = { … } }`: one
//! of several named authentications, chosen when the config is read by the
//! value of `by` (usually an environment variable). The chosen option is
//! then read as the collection's `auth`, as if written there; the others
//! are not read, so only the chosen option's variables need to be set.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::reader::Reader;

/// The keys of a `select` table.
const KEYS: &[&str] = &["type", "by", "options"];

/// Replaces a `select` auth in `merged` by its chosen option.
pub(super) fn choose(reader: &Reader<'_>, merged: &mut DeTable<'_>, label: &str) -> Result<(), ConfigError> {
    let Some(auth) = merged.get("auth") else {
        return Ok(());
    };
    let DeValue::Table(table) = auth.get_ref() else {
        return Ok(());
    };
    if table.get("type").and_then(|t| t.get_ref().as_str()) != Some("select") {
        return Ok(());
    }
    let line = Some(reader.line_at(auth.span().start));
    let fail = |key: &str, reason: &str| reader.invalid(line, format!("collection {label:?}: {key}"), reason);
    if let Some((key, _)) = table.iter().find(|(k, _)| !KEYS.contains(&k.get_ref().as_ref())) {
        return Err(fail(
            &format!("auth.{}", key.get_ref()),
            "unknown key for type = \"select\" (expected `by`, `options`)",
        ));
    }
    let by = match table.get("by").map(Spanned::get_ref) {
        Some(DeValue::String(by)) => by,
        _ => {
            return Err(fail(
                "auth.by",
                "missing: the name of the option to use (usually \"${VAR}\")",
            ));
        }
    };
    let by = reader.expand_at(by, line, format!("collection {label:?}: auth.by"))?;
    let Some(DeValue::Table(options)) = table.get("options").map(Spanned::get_ref) else {
        return Err(fail("auth.options", "missing: a table of named auth tables"));
    };
    if let Some((name, _)) = options.iter().find(|(_, v)| {
        !matches!(v.get_ref(), DeValue::Table(t)
            if t.get("type").and_then(|t| t.get_ref().as_str()).is_some_and(|t| t != "select"))
    }) {
        return Err(fail(
            &format!("auth.options.{}", name.get_ref()),
            "must be an auth table with a `type` other than \"select\"",
        ));
    }
    let Some(chosen) = options.get(by.as_str()).cloned() else {
        let names: Vec<String> = options.keys().map(|k| format!("{:?}", k.get_ref())).collect();
        return Err(fail(
            "auth.by",
            &format!(
                "{by:?} is not one of the options ({})",
                if names.is_empty() {
                    "none given".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    if let Some(key) = merged.keys().find(|k| k.get_ref() == "auth").cloned() {
        merged.insert(key, chosen);
    }
    Ok(())
}
