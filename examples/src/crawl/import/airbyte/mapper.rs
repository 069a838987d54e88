//! What every component mapping shares: evaluating a manifest string for a
//! given config key, and recognising per-request expressions of the form
//! `{{ response.a['b'].get('c') }}`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::jinja::{Eval, Interpolator, Rendered, Var, single_expression};
use super::refusal::{At, Refusal};

/// The state of one import: the Jinja environment, the `--url-base`
/// override and the config variables used so far.
#[derive(Debug)]
pub(super) struct Mapper {
    /// The Jinja environment over the connector config.
    pub(super) jinja: Interpolator,
    /// `--url-base`.
    pub(super) url_base: Option<String>,
    /// Every `${VAR}` written so far.
    pub(super) vars: BTreeSet<Var>,
    /// The manifest's `spec` (what the connector config holds).
    pub(super) spec: Value,
}

/// Whether the config key a value goes into expands `${VAR}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// `url`, header values, `auth`, `body` strings.
    Expands,
    /// Any other key: the value must be known at import time.
    Literal,
}

impl Mapper {
    /// Evaluates `template` (a field of the component at `at`) for a key of
    /// kind `target`.
    ///
    /// # Errors
    ///
    /// A refusal when the expression varies per request, depends on the
    /// time of the run, does not evaluate, or needs a config value where
    /// `${VAR}` cannot go.
    pub(super) fn eval(
        &mut self,
        at: &At<'_>,
        field: &str,
        template: &str,
        target: Target,
    ) -> Result<Rendered, Refusal> {
        match self.jinja.eval(template, at.parameters()) {
            Eval::Static(r) => {
                for var in &r.vars {
                    if !r.text.contains(&var.placeholder()) {
                        return Err(at.refuse(format!(
                            "{field}: the expression transforms {} ({}), which is only known when the crawl runs",
                            var.key,
                            if var.secret { "a secret" } else { "not in --config" }
                        )));
                    }
                    if target == Target::Literal {
                        return Err(at.refuse(if var.secret {
                            format!("{field}: the secret {} would be written into a key that takes no ${{VAR}}", var.key)
                        } else {
                            format!("{field}: needs {} at import time: give --config", var.key)
                        }));
                    }
                }
                self.vars.extend(r.vars.iter().cloned());
                Ok(r)
            }
            Eval::PerRequest(names) => Err(at.refuse(format!(
                "{field}: `{template}` reads {}, which varies per request and maps onto no crawl config key here",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ))),
            Eval::TimeDependent(m) => Err(at.refuse(format!(
                "{field}: `{template}` depends on the time of the run ({m}) in a form the crawl's {{now…}} values do not express"
            ))),
            Eval::Transformed(key, secret) => Err(at.refuse(format!(
                "{field}: the expression transforms {key} ({}), which is only known when the crawl runs",
                if secret { "a secret" } else { "not in --config" }
            ))),
            Eval::Broken(e) => Err(at.refuse(format!("{field}: `{template}` does not evaluate: {e}"))),
        }
    }

    /// Evaluates a string field of `at`, if present.
    pub(super) fn field(
        &mut self,
        at: &At<'_>,
        field: &str,
        target: Target,
    ) -> Result<Option<Rendered>, Refusal> {
        match at.value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => self.eval(at, field, s, target).map(Some),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(Rendered {
                text: v.to_string(),
                value: v.clone(),
                vars: BTreeSet::new(),
            })),
            Some(_) => Err(at.refuse(format!("{field} is not a string"))),
        }
    }
}

/// A per-request expression that only reads a path: `{{ response.a.b }}`,
/// `{{ response['a']['b'] }}`, `{{ response.get('a', {}).get('b') }}`:
/// the root name and the keys.
pub(super) fn expr_path(template: &str) -> Option<(String, Vec<String>)> {
    let expr = single_expression(template)?;
    let mut rest = expr;
    let root_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if root_len == 0 {
        return None;
    }
    let root = rest[..root_len].to_owned();
    rest = &rest[root_len..];
    let mut keys = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some((root, keys));
        }
        if let Some(after) = rest.strip_prefix(".get(") {
            let (key, tail) = quoted(after.trim_start())?;
            let tail = tail.trim_start();
            // An optional default (`, {}` or `, ''`) before the `)`.
            let close = tail.find(')')?;
            let default = tail[..close].trim().trim_start_matches(',').trim();
            if !matches!(
                default,
                "" | "{}" | "''" | "\"\"" | "None" | "[]" | "False" | "false" | "0"
            ) {
                return None;
            }
            keys.push(key);
            rest = &tail[close + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                return None;
            }
            keys.push(after[..len].to_owned());
            rest = &after[len..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (key, tail) = quoted(after.trim_start())?;
            rest = tail.trim_start().strip_prefix(']')?;
            keys.push(key);
        } else {
            return None;
        }
    }
}

/// A quoted string at the start of `text` and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let end = text[1..].find(quote)? + 1;
    let key = &text[1..end];
    (!key.contains('\\')).then(|| (key.to_owned(), &text[end + 1..]))
}

/// Keys as a JSON pointer (`/a/b`, `~` and `/` escaped).
pub(super) fn pointer(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("/{}", super::references::escape(k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_per_request_expressions() {
        let p = |t: &str| expr_path(t);
        assert_eq!(
            p("{{ response.next_page }}"),
            Some(("response".into(), vec!["next_page".into()]))
        );
        assert_eq!(
            p("{{ response['meta']['next'] }}"),
            Some(("response".into(), vec!["meta".into(), "next".into()]))
        );
        assert_eq!(
            p("{{ response.get('links', {}).get(\"next\") }}"),
            Some(("response".into(), vec!["links".into(), "next".into()]))
        );
        assert_eq!(
            p("{{ headers['link']['next']['url'] }}"),
            Some(("headers".into(), vec!["link".into(), "next".into(), "url".into()]))
        );
        assert_eq!(p("{{ response.next or '' }}"), None);
        assert_eq!(p("x{{ response.next }}"), None);
        assert_eq!(pointer(&["a/b".into(), "c".into()]), "/a~1b/c");
    }
}
