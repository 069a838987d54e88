//! Partition routers: a `SubstreamPartitionRouter` with one parent is a
//! child collection (`parent`, `{/pointer}` in its URL); the others are
//! refused.

use serde_json::Value;

use super::draft::{Draft, ListValues};
use super::mapper::{Mapper, Target};
use super::refusal::{At, Refusal};
use super::requester::Partition;

/// The most combinations a product of lists may hold (the crawl's `values`
/// collection takes at most 100,000).
const MAX_PRODUCT: usize = 100_000;

/// A child's partition and the query parameters it is also sent as.
#[derive(Debug, Clone)]
pub(super) struct ChildOf {
    /// How templates read the parent's values.
    pub(super) partition: Partition,
    /// `request_option`s in the query: each parameter's name and the
    /// parent item's pointer it carries.
    pub(super) query: Vec<(String, String)>,
}

impl Mapper {
    /// Reads the partition router at `at`; sets `draft.parent_stream`.
    pub(super) fn partition_router(
        &mut self,
        at: &At<'_>,
        draft: &mut Draft,
    ) -> Result<Option<ChildOf>, Refusal> {
        let routers: Vec<At<'_>> = match at.value {
            Value::Null => return Ok(None),
            Value::Array(items) if items.is_empty() => return Ok(None),
            Value::Array(items) => (0..items.len()).map(|i| at.at(&i.to_string())).collect(),
            _ => vec![at.clone()],
        };
        if routers.len() > 1 {
            if routers.iter().all(|r| r.kind() == "ListPartitionRouter") {
                return self.list_product(at, &routers, draft).map(Some);
            }
            return Err(
                at.refuse("several partition routers (their product); a child collection has one parent")
            );
        }
        let at = &routers[0];
        match at.kind().as_str() {
            "SubstreamPartitionRouter" => {}
            "ListPartitionRouter" => return self.list_router(at, draft).map(Some),
            "CustomPartitionRouter" => return Err(at.refuse("custom Python code")),
            other => return Err(at.refuse(format!("the partition router {other} has no crawl equivalent"))),
        }
        let configs = at.at("parent_stream_configs");
        let n = configs.value.as_array().map_or(0, Vec::len);
        if n != 1 {
            return Err(configs.refuse(format!(
                "{n} parent streams; a child collection has exactly one parent"
            )));
        }
        let cfg = configs.at("0");
        for unsupported in ["extra_fields", "lazy_read_pointer"] {
            if cfg.value.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(cfg
                    .at(unsupported)
                    .refuse("passes more of the parent record than one field"));
            }
        }
        let parent = cfg.at("stream");
        let Some(parent_name) = parent.str("name").map(str::to_owned) else {
            return Err(parent.refuse("the parent stream has no name"));
        };
        let key = match self.field(&cfg, "parent_key", Target::Literal)? {
            Some(r) => r.text,
            None => return Err(cfg.refuse("has no parent_key")),
        };
        let field = match self.field(&cfg, "partition_field", Target::Literal)? {
            Some(r) => r.text,
            None => return Err(cfg.refuse("has no partition_field")),
        };
        let keys: Vec<String> = key
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let pointer = super::mapper::pointer(&keys);
        let query = self
            .request_option(&cfg.at("request_option"))?
            .map(|name| (name, pointer.clone()))
            .into_iter()
            .collect();
        let partition = Partition::one(field, pointer);
        draft.parent_stream = Some(parent_name);
        draft.parent_definition = Some(without_parameters(parent.value));
        Ok(Some(ChildOf { partition, query }))
    }

    /// Where a partition's value is sent besides the templates: the query
    /// parameter's name, if any.
    fn request_option(&mut self, option: &At<'_>) -> Result<Option<String>, Refusal> {
        Ok(match option.value {
            Value::Null => None,
            _ => match (option.str("inject_into"), option.str("field_name")) {
                (Some("request_parameter"), Some(name)) => {
                    Some(self.eval(option, "field_name", name, Target::Literal)?.text)
                }
                _ => return Err(option.refuse("the partition's value goes outside the query")),
            },
        })
    }

    /// The pointer of a list router's `field` in its values collection,
    /// and the query parameter its `request_option` sends it as.
    fn list_query(&mut self, at: &At<'_>, field: &str) -> Result<(String, Vec<(String, String)>), Refusal> {
        let pointer = super::mapper::pointer(&[field.to_owned()]);
        let query = self
            .request_option(&at.at("request_option"))?
            .map(|name| (name, pointer.clone()))
            .into_iter()
            .collect();
        Ok((pointer, query))
    }

    /// A `ListPartitionRouter`: the stream becomes the child of a `values`
    /// collection holding one item per value (`{cursor_field: value}`).
    fn list_router(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<ChildOf, Refusal> {
        let field = match self.field(at, "cursor_field", Target::Literal)? {
            Some(r) if !r.text.is_empty() => r.text,
            _ => return Err(at.refuse("has no cursor_field")),
        };
        let values = match at.value.get("values") {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::String(s)) => {
                let values_at = at.at("values");
                let r = self.eval(&values_at, "values", s, Target::Expands)?;
                match (r.vars.iter().next(), r.value) {
                    // A config list not given: read from its variable (a
                    // JSON array) each time the crawl reads its config.
                    (Some(var), _)
                        if r.vars.len() == 1
                            && r.text == var.placeholder()
                            && !var.secret
                            && var_is_array(&self.spec, &var.key) =>
                    {
                        return self.list_from(at, field, r.text, draft);
                    }
                    (Some(var), _) => {
                        return Err(values_at.refuse(if var.secret {
                            format!("values: the secret {} would be stored as rows", var.key)
                        } else {
                            format!("values: needs {} at import time: give --config", var.key)
                        }));
                    }
                    (None, Value::Array(items)) => items,
                    (None, _) => return Err(values_at.refuse("does not evaluate to a list")),
                }
            }
            _ => return Err(at.refuse("has no list of values")),
        };
        let mut list = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let v_at = at.at("values").at(&i.to_string());
            list.push(match v {
                Value::String(s) => toml::Value::String(self.eval(&v_at, "value", s, Target::Literal)?.text),
                Value::Number(n) if n.is_i64() => toml::Value::Integer(n.as_i64().unwrap_or_default()),
                _ => return Err(v_at.refuse("a value that is neither a string nor an integer")),
            });
        }
        if list.is_empty() {
            return Err(at
                .at("values")
                .refuse("an empty list: the stream would send no request"));
        }
        let (pointer, query) = self.list_query(at, &field)?;
        let partition = Partition::one(field.clone(), pointer);
        draft.list_values = Some(ListValues {
            fields: vec![field],
            rows: list.into_iter().map(|v| vec![v]).collect(),
            from: None,
        });
        Ok(ChildOf { partition, query })
    }

    /// A `ListPartitionRouter` over a config list not given: the values
    /// collection reads it from `${VAR}` (`values = { from, field }`).
    fn list_from(
        &mut self,
        at: &At<'_>,
        field: String,
        from: String,
        draft: &mut Draft,
    ) -> Result<ChildOf, Refusal> {
        let (pointer, query) = self.list_query(at, &field)?;
        draft.list_values = Some(ListValues {
            fields: vec![field.clone()],
            rows: Vec::new(),
            from: Some(from),
        });
        Ok(ChildOf {
            partition: Partition::one(field, pointer),
            query,
        })
    }

    /// Several `ListPartitionRouter`s: Airbyte requests their product (each
    /// combination of one value of each, merged into one partition), so the
    /// `values` collection holds every combination.
    fn list_product(
        &mut self,
        at: &At<'_>,
        routers: &[At<'_>],
        draft: &mut Draft,
    ) -> Result<ChildOf, Refusal> {
        let mut child = ChildOf {
            partition: Partition { fields: Vec::new() },
            query: Vec::new(),
        };
        let mut product = ListValues {
            fields: Vec::new(),
            rows: vec![Vec::new()],
            from: None,
        };
        for router in routers {
            let mut one = Draft::default();
            let c = self.list_router(router, &mut one)?;
            let Some(values) = one.list_values else {
                return Err(router.refuse("has no list of values"));
            };
            if values.from.is_some() {
                return Err(router
                    .at("values")
                    .refuse("a product with a config list not given; give --config"));
            }
            if values.fields.iter().any(|f| product.fields.contains(f)) {
                return Err(router
                    .at("cursor_field")
                    .refuse("another router of the product has the same cursor_field"));
            }
            if product.rows.len().saturating_mul(values.rows.len()) > MAX_PRODUCT {
                return Err(at.refuse(format!(
                    "a product of more than {MAX_PRODUCT} partitions; the crawl's values list is bounded"
                )));
            }
            product.rows = product
                .rows
                .iter()
                .flat_map(|row| {
                    values
                        .rows
                        .iter()
                        .map(move |v| row.iter().chain(v).cloned().collect())
                })
                .collect();
            product.fields.extend(values.fields);
            child.partition.fields.extend(c.partition.fields);
            child.query.extend(c.query);
        }
        draft.list_values = Some(product);
        Ok(child)
    }
}

/// A component without its `$parameters` (which a parent defined inside a
/// child receives from the child): what decides its requests and records.
pub(super) fn without_parameters(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "$parameters")
                .map(|(k, v)| (k.clone(), without_parameters(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_parameters).collect()),
        other => other.clone(),
    }
}

/// Whether the config value `config["a"]["b"]` is declared an array by the
/// spec (a string would be iterated character by character by Airbyte).
fn var_is_array(spec: &Value, key: &str) -> bool {
    let last = key
        .rsplit("[\"")
        .next()
        .unwrap_or_default()
        .trim_end_matches("\"]");
    super::config_values::declared_array(spec, last)
}
