//! The crawl config as TOML a person reads: a header naming the variables
//! to export, `[runtime]`, then one `[[collection]]` per stream with the
//! stream's name in a comment, and each refused stream as a comment naming
//! why.

use std::fmt::Write;

use super::draft::Draft;
use super::jinja::Var;
use super::refusal::{Refusal, escape};

/// The order keys are written in (any other key follows, in its own order).
const ORDER: &[&str] = &[
    "parent",
    "method",
    "body_format",
    "body",
    "headers",
    "auth",
    "items",
    "items_missing",
    "key",
    "text_keys",
    "pagination",
    "windows",
    "incremental",
    "on_status",
    "on_body",
];

/// The whole file.
pub(super) fn render(drafts: &[Draft], refusals: &[Refusal], vars: &[Var], database: &str) -> String {
    let mut out = String::new();
    out.push_str("# Imported from an Airbyte declarative manifest by `crawl import airbyte`.\n");
    if !vars.is_empty() {
        out.push_str("# Export before crawling:");
        for v in vars {
            let _ = write!(out, " {}{}", v.name, if v.secret { " (secret)" } else { "" });
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "\n[runtime]\ndatabase = {}\n",
        toml::Value::String(database.to_owned())
    );
    for d in drafts {
        out.push('\n');
        let _ = writeln!(out, "# stream {:?}", escape(&d.stream));
        for note in &d.notes {
            let _ = writeln!(out, "# {}", escape(note));
        }
        out.push_str("[[collection]]\n");
        let _ = writeln!(out, "name = {}", toml::Value::String(d.name.clone()));
        if !d.url.is_empty() {
            let _ = writeln!(out, "url = {}", toml::Value::String(d.url.clone()));
        }
        let mut keys: Vec<&(String, toml::Value)> = d.keys.iter().collect();
        keys.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
        for (k, v) in keys {
            let _ = writeln!(out, "{k} = {}", inline(v));
        }
    }
    if !refusals.is_empty() {
        out.push_str("\n# Streams not translated:\n");
        for r in refusals {
            let _ = writeln!(out, "# - {r}");
        }
    }
    out
}

/// A value on one line (tables inline).
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            // The kind of a table (`type`, `style`) first, the rest in order.
            let mut entries: Vec<_> = t.iter().collect();
            entries.sort_by_key(|(k, _)| !matches!(k.as_str(), "type" | "style"));
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        toml::Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A key, quoted unless bare.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        toml::Value::String(k.to_owned()).to_string()
    }
}
