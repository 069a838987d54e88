//! A stream's `transformations` as the collection's `transform`: `AddFields`
//! values as field templates (`{{ record.a.b }}` is `{/a/b}`, a child's
//! `{{ stream_partition.<field> }}` is `{parent/pointer}`, config values and
//! literals as text, `now_utc()`/`today_utc()` as `{now…}`), `RemoveFields`
//! pointers as `remove`. Airbyte applies them in order, each on the record
//! the previous one left; the crawl evaluates every added value on the
//! record as it arrived, then sets the fields, then removes: a sequence
//! whose result would differ is refused.

use serde_json::Value;

use super::draft::Draft;
use super::jinja::{Eval, literal};
use super::mapper::{Mapper, Target, expr_path, pointer};
use super::refusal::{At, Refusal};
use super::requester::Partition;
use super::time_macros::now_placeholder;

/// The transform being built: each added field (its path, the record
/// fields its value reads, its value) and each removed path.
#[derive(Debug, Default)]
struct Plan {
    add: Vec<(Vec<String>, toml::Value)>,
    reads: Vec<Vec<String>>,
    remove: Vec<Vec<String>>,
}

/// Whether two paths name the same field or one lies inside the other
/// (`*` matches any segment).
fn overlap(a: &[String], b: &[String]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y || x == "*" || y == "*")
}

impl Mapper {
    /// Translates `transformations` at `at` into `draft`'s `transform`.
    pub(super) fn transformations(
        &mut self,
        at: &At<'_>,
        partition: Option<&Partition>,
        draft: &mut Draft,
    ) -> Result<(), Refusal> {
        let Some(items) = at.value.as_array() else {
            return Ok(());
        };
        let mut plan = Plan::default();
        for i in 0..items.len() {
            let t = at.at(&i.to_string());
            if t.value.get("condition").is_some_and(|c| !c.is_null() && c != "") {
                return Err(t
                    .at("condition")
                    .refuse("applies to some records only; the crawl's transform applies to every record"));
            }
            match t.kind().as_str() {
                "AddFields" => self.add_fields(&t, partition, &mut plan)?,
                "RemoveFields" => remove_fields(&t, &mut plan)?,
                "CustomTransformation" => return Err(t.refuse("custom Python code")),
                other => {
                    return Err(t.refuse(format!(
                        "the transformation {other} has no crawl equivalent (the crawl's transform adds and removes fields)"
                    )));
                }
            }
        }
        if plan.add.is_empty() && plan.remove.is_empty() {
            return Ok(());
        }
        let mut table = toml::Table::new();
        if !plan.add.is_empty() {
            let add: toml::Table = plan.add.into_iter().map(|(p, v)| (pointer(&p), v)).collect();
            table.insert("add".into(), toml::Value::Table(add));
        }
        if !plan.remove.is_empty() {
            let remove = plan
                .remove
                .iter()
                .map(|p| toml::Value::String(pointer(p)))
                .collect();
            table.insert("remove".into(), toml::Value::Array(remove));
        }
        draft.set("transform", toml::Value::Table(table));
        Ok(())
    }

    fn add_fields(
        &mut self,
        at: &At<'_>,
        partition: Option<&Partition>,
        plan: &mut Plan,
    ) -> Result<(), Refusal> {
        let fields = at.at("fields");
        let n = fields.value.as_array().map_or(0, Vec::len);
        for i in 0..n {
            let f = fields.at(&i.to_string());
            let path = self.path_of(&f.at("path"))?;
            if path.iter().any(|s| s.contains('*')) {
                return Err(f.at("path").refuse("a glob in an added field's path"));
            }
            let value_type = f.str("value_type").map(str::to_owned);
            let (value, reads) = match f.value.get("value") {
                Some(Value::String(s)) => self.added_value(&f, s, value_type.as_deref(), partition)?,
                Some(v @ (Value::Number(_) | Value::Bool(_))) => (constant(v)?, Vec::new()),
                _ => return Err(f.refuse("has no value")),
            };
            for read in &reads {
                if plan.add.iter().any(|(p, _)| overlap(p, read))
                    || plan.remove.iter().any(|p| overlap(p, read))
                {
                    return Err(f.refuse(
                        "reads a field an earlier transformation changed; the crawl's templates read the record as it arrived",
                    ));
                }
            }
            if plan.add.iter().any(|(p, _)| overlap(p, &path))
                || plan.remove.iter().any(|p| overlap(p, &path))
            {
                return Err(f.refuse("sets a field an earlier transformation set or removed"));
            }
            plan.reads.extend(reads);
            plan.add.push((path, value));
        }
        Ok(())
    }

    /// A path: a list of (possibly templated) keys.
    fn path_of(&mut self, at: &At<'_>) -> Result<Vec<String>, Refusal> {
        let Some(items) = at.value.as_array().filter(|a| !a.is_empty()) else {
            return Err(at.refuse("is not a list of keys"));
        };
        let mut path = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => path.push(
                    self.eval(&at.at(&i.to_string()), "path", s, Target::Literal)?
                        .text,
                ),
                Value::Number(n) => path.push(n.to_string()),
                _ => return Err(at.refuse("a key is not a string")),
            }
        }
        Ok(path)
    }

    /// One added value as a template: the value and the record fields it reads.
    fn added_value(
        &mut self,
        at: &At<'_>,
        template: &str,
        value_type: Option<&str>,
        partition: Option<&Partition>,
    ) -> Result<(toml::Value, Vec<Vec<String>>), Refusal> {
        if template.contains("{%") {
            return Err(at.refuse("value: a Jinja statement; the crawl's templates read fields"));
        }
        if let Eval::Static(_) = self.jinja.eval(template, at.parameters()) {
            return Ok((self.static_value(at, template, value_type)?, Vec::new()));
        }
        let mut out = String::new();
        let mut reads = Vec::new();
        let mut placeholders = 0;
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                return Err(at.refuse("value: an unclosed `{{`"));
            };
            out.push_str(&escape_braces(&rest[..start]));
            let block = &rest[start..start + len + 2];
            rest = &rest[start + len + 2..];
            let normalized = without_or_empty(block);
            if let Some(now) = now_placeholder(block) {
                out.push_str(&now);
                continue;
            }
            match expr_path(&normalized) {
                Some((root, keys)) if root == "record" && !keys.is_empty() => {
                    out.push_str(&format!("{{{}}}", pointer(&keys)));
                    reads.push(keys);
                    placeholders += 1;
                }
                Some((root, keys))
                    if (root == "stream_partition" || root == "stream_slice")
                        && let Some(field_pointer) = keys.first().and_then(|k| partition?.pointer_of(k)) =>
                {
                    out.push_str(&format!("{{parent{}{}}}", field_pointer, pointer(&keys[1..])));
                    placeholders += 1;
                }
                _ => {
                    let r = self.eval(at, "value", block, Target::Expands)?;
                    if !r.vars.is_empty() {
                        return Err(
                            at.refuse("value: mixes a config value not in --config with record fields")
                        );
                    }
                    out.push_str(&escape_braces(&r.text));
                }
            }
        }
        out.push_str(&escape_braces(rest));
        let single =
            placeholders == 1 && out.starts_with('{') && out.ends_with('}') && !out[1..].contains('{');
        if single && value_type.is_some() {
            return Err(at
                .at("value_type")
                .refuse("converts the field's value; the crawl's transform keeps the value's own type"));
        }
        Ok((toml::Value::String(out), reads))
    }
    /// A value known at import time: a config value (`${VAR}` without
    /// `--config`) or a constant typed as Airbyte's `literal_eval` reads it.
    fn static_value(
        &mut self,
        at: &At<'_>,
        template: &str,
        value_type: Option<&str>,
    ) -> Result<toml::Value, Refusal> {
        let r = self.eval(at, "value", template, Target::Expands)?;
        if let Some(v) = r.vars.iter().find(|v| v.secret) {
            return Err(at.refuse(format!("value: would store the secret {} in every record", v.key)));
        }
        if !r.vars.is_empty() {
            if value_type.is_some_and(|t| t != "string") {
                return Err(at.refuse("value: a config value typed at run time; give --config"));
            }
            let mut text = escape_braces(&r.text);
            for v in &r.vars {
                text = text.replace(&escape_braces(&v.placeholder()), &v.placeholder());
            }
            return Ok(toml::Value::String(text));
        }
        // Airbyte reads the text back as a Python literal (`"2"` is 2).
        let value = match value_type {
            Some("string") => Value::String(r.text),
            _ if !template.contains("{{") => literal(&r.text),
            _ => r.value,
        };
        constant(&value)
    }
}

/// `RemoveFields`: its pointers, each a list of keys (`*` a whole segment).
fn remove_fields(at: &At<'_>, plan: &mut Plan) -> Result<(), Refusal> {
    let pointers = at.at("field_pointers");
    let Some(items) = pointers.value.as_array() else {
        return Err(pointers.refuse("is not a list of paths"));
    };
    for (i, item) in items.iter().enumerate() {
        let p = pointers.at(&i.to_string());
        let path: Vec<String> = match item {
            Value::Array(keys) => keys
                .iter()
                .map(|k| match k {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| p.refuse("a key is not a string"))?,
            Value::String(s) => vec![s.clone()],
            _ => return Err(p.refuse("is not a path")),
        };
        if path.is_empty() {
            return Err(p.refuse("an empty path would remove the whole record"));
        }
        if path
            .iter()
            .any(|s| (s.contains('*') && s != "*") || s.contains("{{"))
        {
            return Err(p.refuse("a glob inside a key or an expression; the crawl's `*` is a whole segment"));
        }
        plan.remove.push(path);
    }
    Ok(())
}

/// A constant value as TOML (a string escaped as template text).
fn constant(v: &Value) -> Result<toml::Value, Refusal> {
    Ok(match v {
        Value::String(s) => toml::Value::String(escape_braces(s)),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or_default()),
        },
        other => toml::Value::String(escape_braces(&other.to_string())),
    })
}

/// Text as field-template text: braces doubled.
fn escape_braces(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// `{{ (record.get('a') or {}).get('b') }}` as `{{ record.get('a').get('b') }}`:
/// a missing object read as empty, which a missing field is to the crawl too.
fn without_or_empty(block: &str) -> String {
    let mut text = block.to_owned();
    while let Some(end) = text.find(" or {})") {
        // The `(` opening this group: the nearest one not closed before `end`.
        let mut depth = 0usize;
        let mut open = None;
        for (i, c) in text[..end].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 0 => {
                    open = Some(i);
                    break;
                }
                '(' => depth -= 1,
                _ => {}
            }
        }
        let Some(open) = open else {
            break;
        };
        // The `(` of a call (`get(`) is not a group.
        if text[..open].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            break;
        }
        let inner = text[open + 1..end].to_owned();
        text.replace_range(open..end + " or {})".len(), &inner);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_defaulting_to_an_empty_object_are_plain_paths() {
        assert_eq!(
            without_or_empty("{{ (record.get('author') or {}).get('id') }}"),
            "{{ record.get('author').get('id') }}"
        );
        assert_eq!(
            expr_path(&without_or_empty("{{ (record.get('a') or {}).get('b') }}")),
            Some(("record".into(), vec!["a".into(), "b".into()]))
        );
        assert!(overlap(&["a".into()], &["a".into(), "b".into()]));
        assert!(overlap(&["*".into(), "b".into()], &["x".into(), "b".into()]));
        assert!(!overlap(&["a".into()], &["b".into()]));
        assert_eq!(escape_braces("{x}"), "{{x}}");
    }
}
