//! The manifest's Jinja expressions, evaluated with `minijinja` where they
//! can be at import time.
//!
//! An expression that reads only `config` and `parameters` is rendered now.
//! `config` is the connector config given with `--config`: a value the spec
//! marks `airbyte_secret`, and every value when no config is given, renders
//! as `${NAME}`, and each such use is reported ([`Rendered::vars`]) so the
//! caller can check that the key it fills expands `${…}` and that the
//! expression did not transform the placeholder. Expressions that read what
//! varies per request (`response`, `stream_partition`, `next_page_token`, ...)
//! are [`Eval::PerRequest`], for the caller to map onto native config or
//! refuse; those that depend on the time of the run (`now_utc()`, ...) are
//! [`Eval::TimeDependent`]. Rendering is bounded by minijinja's fuel.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::value::{Object, Value as JValue};
use minijinja::{Environment, Error, ErrorKind, State};
use serde_json::Value;

use super::config_values::ConfigValues;

/// Names in Airbyte's interpolation context that vary per request.
const PER_REQUEST: &[&str] = &[
    "stream_partition",
    "stream_slice",
    "stream_interval",
    "next_page_token",
    "response",
    "last_record",
    "last_records",
    "last_page_size",
    "headers",
    "stream_state",
    "record",
    "creation_response",
    "polling_response",
    "download_target",
    "components_values",
];

/// Airbyte's macros whose value depends on when a run happens.
const TIME_MACROS: &[&str] = &["now_utc", "today_utc", "day_delta", "today_with_timezone"];

/// A use of a connector config value rendered as `${NAME}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Var {
    /// The environment variable (the property name, upper-cased).
    pub name: String,
    /// The config path, as `config['a']['b']`.
    pub key: String,
    /// Whether the spec marks it `airbyte_secret`.
    pub secret: bool,
}

impl Var {
    /// `${NAME}`.
    pub fn placeholder(&self) -> String {
        format!("${{{}}}", self.name)
    }

    /// A second spelling of the placeholder, in mixed case and with
    /// control characters: rendering with both and comparing shows whether
    /// an expression transformed the value (`| upper` leaves `${NAME}` as
    /// it was, not this).
    pub(super) fn probe(&self) -> String {
        format!("\u{2}pRoBe{}\u{3}", self.name)
    }
}

/// An expression rendered at import time.
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    /// The text, with `${NAME}` for config values not given or secret.
    pub(super) text: String,
    /// The value when the template was one expression (`{{ config['ids'] }}`
    /// may be a list), read back as Airbyte's `literal_eval` would.
    pub(super) value: Value,
    /// The config values rendered as placeholders.
    pub(super) vars: BTreeSet<Var>,
}

/// What an expression is.
#[derive(Debug, Clone)]
pub(super) enum Eval {
    /// Rendered now.
    Static(Rendered),
    /// Reads names that vary per request (the set of them).
    PerRequest(BTreeSet<String>),
    /// Depends on the time of the run (the macro named).
    TimeDependent(String),
    /// Does not compile or render (the reason, escaped).
    Broken(String),
    /// Transforms a config value known only at run time (its key, and
    /// whether it is a secret).
    Transformed(String, bool),
}

/// The Jinja environment with Airbyte's macros and the connector config.
#[derive(Debug)]
pub(super) struct Interpolator {
    env: Environment<'static>,
    config: Arc<ConfigNode>,
}

/// A node of the connector config seen from a template.
#[derive(Debug)]
struct ConfigNode {
    /// The path from `config`.
    path: Vec<String>,
    /// The value (None: no config given, every value is a placeholder).
    value: Option<Value>,
    values: Arc<ConfigValues>,
    uses: Arc<Mutex<BTreeSet<Var>>>,
    /// Renders placeholders in their second spelling (see [`Var::probe`]).
    probing: Arc<std::sync::atomic::AtomicBool>,
}

impl ConfigNode {
    fn spell(&self, var: &Var) -> String {
        if self.probing.load(std::sync::atomic::Ordering::Relaxed) {
            var.probe()
        } else {
            var.placeholder()
        }
    }

    fn child(&self, key: &str) -> Option<JValue> {
        let mut path = self.path.clone();
        path.push(key.to_owned());
        let placeholder = |path: Vec<String>| {
            let var = self.values.var(&path);
            let text = self.spell(&var);
            self.uses
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(var);
            JValue::from(text)
        };
        if self.values.is_secret(key) {
            return Some(placeholder(path));
        }
        match &self.value {
            None => Some(JValue::from_object(ConfigNode {
                path,
                value: None,
                values: self.values.clone(),
                uses: self.uses.clone(),
                probing: self.probing.clone(),
            })),
            Some(Value::Object(map)) => match map.get(key)? {
                child @ Value::Object(_) => Some(JValue::from_object(ConfigNode {
                    path,
                    value: Some(child.clone()),
                    values: self.values.clone(),
                    uses: self.uses.clone(),
                    probing: self.probing.clone(),
                })),
                other => Some(to_jinja(other)),
            },
            Some(_) => None,
        }
    }
}

impl Object for ConfigNode {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        self.child(key.as_str()?)
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> Result<JValue, Error> {
        if method != "get" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let key = args.first().and_then(JValue::as_str).unwrap_or_default();
        Ok(self
            .child(key)
            .unwrap_or_else(|| args.get(1).cloned().unwrap_or(JValue::from(()))))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            None => {
                // A value not given, used whole: the placeholder of its path.
                let var = self.values.var(&self.path);
                let text = self.spell(&var);
                self.uses
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(var);
                f.write_str(&text)
            }
            Some(v) => write!(f, "{v}"),
        }
    }
}

impl Interpolator {
    /// An environment over the given connector config.
    pub(super) fn new(values: ConfigValues) -> Self {
        let values = Arc::new(values);
        let config = Arc::new(ConfigNode {
            path: Vec::new(),
            value: values.given().cloned(),
            values: values.clone(),
            uses: Arc::new(Mutex::new(BTreeSet::new())),
            probing: Arc::default(),
        });
        let mut env = Environment::new();
        env.set_fuel(Some(200_000));
        env.add_function("max", |a: JValue, b: JValue| if a >= b { a } else { b });
        env.add_function("min", |a: JValue, b: JValue| if a <= b { a } else { b });
        for name in [
            "format_datetime",
            "str_to_datetime",
            "timestamp",
            "duration",
            "generate_uuid",
        ] {
            env.add_function(name, move |_: &[JValue]| -> Result<JValue, Error> {
                Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{name}() is not evaluated at import time"),
                ))
            });
        }
        env.set_unknown_method_callback(|_, value, method, args| {
            // Python's dict.get(key, default), which manifests use everywhere.
            if method == "get" && value.as_object().is_some() {
                let key = args.first().cloned().unwrap_or_default();
                return Ok(match value.get_item(&key) {
                    Ok(v) if !v.is_undefined() => v,
                    _ => args.get(1).cloned().unwrap_or(JValue::from(())),
                });
            }
            Err(Error::from(ErrorKind::UnknownMethod))
        });
        Self { env, config }
    }

    /// Evaluates `template` with `parameters` (the component's `$parameters`).
    pub(super) fn eval(&self, template: &str, parameters: &Value) -> Eval {
        if !template.contains("{{") && !template.contains("{%") {
            return Eval::Static(Rendered {
                text: template.to_owned(),
                value: Value::String(template.to_owned()),
                vars: BTreeSet::new(),
            });
        }
        let tmpl = match self.env.template_from_str(template) {
            Ok(t) => t,
            Err(e) => return Eval::Broken(super::refusal::escape(&e.to_string())),
        };
        let names = tmpl.undeclared_variables(false);
        if let Some(m) = TIME_MACROS.iter().find(|m| names.contains(**m)) {
            return Eval::TimeDependent(format!("{m}()"));
        }
        let dynamic: BTreeSet<String> = names
            .iter()
            .filter(|n| PER_REQUEST.contains(&n.as_str()))
            .cloned()
            .collect();
        if !dynamic.is_empty() {
            return Eval::PerRequest(dynamic);
        }
        self.uses().clear();
        let ctx = minijinja::context! {
            config => JValue::from_dyn_object(self.config.clone()),
            parameters => to_jinja(parameters),
        };
        let text = match tmpl.render(ctx.clone()) {
            Ok(t) => t,
            Err(e) => return Eval::Broken(super::refusal::escape(&e.to_string())),
        };
        if let Some(transformed) = self.transformed(&tmpl, &ctx, &text) {
            return transformed;
        }
        let mut vars = std::mem::take(&mut *self.uses());
        let value = if vars.is_empty() {
            single_expression(template)
                .and_then(|expr| self.env.compile_expression(expr).ok()?.eval(ctx).ok())
                .and_then(|v| serde_json::to_value(&v).ok())
                .filter(|v| v.is_array() || v.is_object() || v.is_number() || v.is_boolean())
                .unwrap_or_else(|| literal(&text))
        } else {
            Value::String(text.clone())
        };
        vars.append(&mut self.uses());
        Eval::Static(Rendered { text, value, vars })
    }

    /// Renders `tmpl` again with the placeholders spelled otherwise: if the
    /// two differ by more than the spelling, a value known only at run time
    /// was transformed ([`Eval::Transformed`]).
    fn transformed(&self, tmpl: &minijinja::Template<'_, '_>, ctx: &JValue, text: &str) -> Option<Eval> {
        if self.uses().is_empty() {
            return None;
        }
        let uses = self.uses().clone();
        self.config
            .probing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let probed = tmpl.render(ctx.clone());
        self.config
            .probing
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let same = probed.is_ok_and(|p| {
            uses.iter()
                .fold(p, |p, v| p.replace(&v.probe(), &v.placeholder()))
                == text
        });
        if same {
            return None;
        }
        let (key, secret) = uses
            .iter()
            .next()
            .map(|v| (v.key.clone(), v.secret))
            .unwrap_or_default();
        Some(Eval::Transformed(key, secret))
    }

    /// The connector config given with `--config`, if any.
    pub(super) fn config(&self) -> Option<&Value> {
        self.config.value.as_ref()
    }

    fn uses(&self) -> std::sync::MutexGuard<'_, BTreeSet<Var>> {
        self.config.uses.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A JSON value as a template value.
fn to_jinja(v: &Value) -> JValue {
    use serde::Deserialize;
    JValue::deserialize(v.clone()).unwrap_or_default()
}

/// `EXPR` when the template is exactly `{{ EXPR }}`.
pub(super) fn single_expression(template: &str) -> Option<&str> {
    let inner = template.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

/// A rendered text read back as Airbyte does with `ast.literal_eval`:
/// integers, floats and Python's `True`/`False`/`None` become typed.
pub(super) fn literal(text: &str) -> Value {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if t.contains('.')
        && let Ok(f) = t.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    match t {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::Null,
        _ => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interp(config: Option<Value>) -> Interpolator {
        let spec = json!({"connection_specification": {"properties": {"api_key": {"type": "string", "airbyte_secret": true}}}});
        Interpolator::new(ConfigValues::new(config, &spec))
    }

    fn text(e: Eval) -> Rendered {
        match e {
            Eval::Static(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_values_render_and_secrets_become_placeholders() {
        let i = interp(Some(json!({"api_key": "s3cr3t", "region": "eu", "ids": [1, 2]})));
        let r = text(i.eval(
            "https://{{ config['region'] }}.example.com/{{ parameters.path }}",
            &json!({"path": "v1"}),
        ));
        assert_eq!(r.text, "https://eu.example.com/v1");
        assert!(r.vars.is_empty());
        let r = text(i.eval("Bearer {{ config.api_key }}", &json!({})));
        assert_eq!(r.text, "Bearer ${API_KEY}");
        assert!(r.vars.iter().all(|v| v.secret && v.name == "API_KEY"));
        assert_eq!(
            text(i.eval("{{ config['ids'] }}", &json!({}))).value,
            json!([1, 2])
        );
        assert_eq!(
            text(i.eval("{{ config.get('missing', 50) }}", &json!({}))).value,
            json!(50)
        );
    }

    #[test]
    fn without_a_config_every_value_is_a_placeholder() {
        let i = interp(None);
        let r = text(i.eval("{{ config['credentials']['client_id'] }}", &json!({})));
        assert_eq!(r.text, "${CLIENT_ID}");
        assert!(!r.vars.iter().next().unwrap().secret);
    }

    #[test]
    fn per_request_and_time_dependent_names_are_recognised() {
        let i = interp(None);
        assert!(
            matches!(i.eval("{{ response.next }}", &json!({})), Eval::PerRequest(n) if n.contains("response"))
        );
        assert!(matches!(
            i.eval("{{ now_utc().strftime('%Y') }}", &json!({})),
            Eval::TimeDependent(_)
        ));
        assert!(matches!(
            i.eval("{{ day_delta(-1) }}", &json!({})),
            Eval::TimeDependent(_)
        ));
        assert!(matches!(i.eval("{{ oops(", &json!({})), Eval::Broken(_)));
        assert!(matches!(
            i.eval("{% for i in range(100000000) %}x{% endfor %}", &json!({})),
            Eval::Broken(_)
        ));
    }
}
