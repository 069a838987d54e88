//! Component types left implicit and `$parameters`, propagated as Airbyte's
//! `ManifestComponentTransformer` does.
//!
//! A component without `type` takes the default for the field it sits in
//! (`SimpleRetriever.requester` is an `HttpRequester`, ...). `$parameters`
//! flow down to every nested component, a component's own winning, and
//! each parameter also fills the component's field of that name when the
//! field is missing or empty (so `$parameters: {path: /users}` on a stream
//! sets its requester's `path`). What remains is kept in the component's
//! `$parameters`, for `{{ parameters.x }}`.

use serde_json::{Map, Value};

use super::error::ImportError;

/// Nesting this pass walks at most (the resolved manifest may nest deeper
/// than its YAML through references).
const MAX_DEPTH: usize = 256;

/// The type of a component without `type`, by `ParentType.field`.
fn default_type(field: &str) -> Option<&'static str> {
    Some(match field {
        "CompositeErrorHandler.error_handlers" => "DefaultErrorHandler",
        "CursorPagination.decoder" | "DefaultPaginator.decoder" | "DpathExtractor.decoder" => "JsonDecoder",
        "DatetimeBasedCursor.end_datetime" | "DatetimeBasedCursor.start_datetime" => "MinMaxDatetime",
        "DatetimeBasedCursor.end_time_option"
        | "DatetimeBasedCursor.start_time_option"
        | "DefaultPaginator.page_size_option"
        | "ListPartitionRouter.request_option"
        | "ParentStreamConfig.request_option" => "RequestOption",
        "DeclarativeSource.check" => "CheckStream",
        "DeclarativeSource.spec" => "Spec",
        "DeclarativeSource.streams"
        | "ParentStreamConfig.stream"
        | "DynamicDeclarativeStream.stream_template" => "DeclarativeStream",
        "DeclarativeStream.retriever"
        | "HttpComponentsResolver.retriever"
        | "DynamicSchemaLoader.retriever" => "SimpleRetriever",
        "DeclarativeStream.schema_loader" => "JsonFileSchemaLoader",
        "HttpRequester.error_handler" => "DefaultErrorHandler",
        "DefaultErrorHandler.response_filters" => "HttpResponseFilter",
        "RecordSelector.extractor" => "DpathExtractor",
        "RecordSelector.record_filter" => "RecordFilter",
        "SimpleRetriever.paginator" => "NoPagination",
        "SimpleRetriever.record_selector" => "RecordSelector",
        "SimpleRetriever.requester" => "HttpRequester",
        "SubstreamPartitionRouter.parent_stream_configs" => "ParentStreamConfig",
        "AddFields.fields" => "AddedFieldDefinition",
        _ => return None,
    })
}

/// The type of a custom component (one with `class_name`) without `type`.
fn custom_type(field: &str) -> Option<&'static str> {
    Some(match field {
        "DeclarativeStream.retriever" => "CustomRetriever",
        "DeclarativeStream.transformations" => "CustomTransformation",
        "DefaultPaginator.pagination_strategy" => "CustomPaginationStrategy",
        "HttpRequester.authenticator" => "CustomAuthenticator",
        "HttpRequester.error_handler" => "CustomErrorHandler",
        "RecordSelector.extractor" => "CustomRecordExtractor",
        "SimpleRetriever.partition_router" => "CustomPartitionRouter",
        _ => return None,
    })
}

/// Whether a value is what Python treats as false (the test Airbyte uses
/// to decide that a parameter fills a field).
fn falsy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
    }
}

/// Types and parameters propagated through the whole (resolved) manifest.
///
/// # Errors
///
/// [`ImportError::NotAManifest`] when the manifest nests past the bound.
pub fn propagate(manifest: Value) -> Result<Value, ImportError> {
    match manifest {
        Value::Object(mut m) => {
            // Older manifests leave the top-level type implicit.
            m.entry("type")
                .or_insert_with(|| Value::String("DeclarativeSource".into()));
            component("", m, &Map::new(), 0).map(Value::Object)
        }
        other => Ok(other),
    }
}

fn component(
    field: &str,
    mut c: Map<String, Value>,
    parent: &Map<String, Value>,
    depth: usize,
) -> Result<Map<String, Value>, ImportError> {
    if depth > MAX_DEPTH {
        return Err(ImportError::NotAManifest {
            reason: format!("components nest deeper than {MAX_DEPTH} levels"),
        });
    }
    if !c.contains_key("type") {
        let found = if c.contains_key("class_name") {
            custom_type(field)
        } else {
            default_type(field)
        };
        if let Some(t) = found {
            c.insert("type".into(), Value::String(t.into()));
        }
    }
    let mut params = parent.clone();
    if let Some(Value::Object(own)) = c.remove("$parameters") {
        params.extend(own);
    }
    let is_schema = match c.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(a)) => a == &[Value::from("null"), Value::from("object")],
        _ => false,
    };
    if is_schema {
        return Ok(c);
    }
    let Some(own_type) = c.get("type").and_then(Value::as_str).map(str::to_owned) else {
        // Not a component: only typed objects inside it take the parameters.
        let keys: Vec<String> = c.keys().cloned().collect();
        for k in keys {
            if let Some(Value::Object(inner)) = c.get(&k)
                && inner.get("type").is_some_and(|t| !t.is_null())
            {
                let Some(Value::Object(inner)) = c.remove(&k) else {
                    continue;
                };
                c.insert(k, Value::Object(component(field, inner, &params, depth + 1)?));
            }
        }
        return Ok(c);
    };
    for (k, v) in &params {
        if falsy(c.get(k)) {
            c.insert(k.clone(), v.clone());
        }
    }
    let keys: Vec<String> = c.keys().cloned().collect();
    for k in keys {
        let child_field = format!("{own_type}.{k}");
        let mut child_params = params.clone();
        child_params.remove(&k);
        match c.remove(&k) {
            Some(Value::Object(inner)) => {
                c.insert(
                    k,
                    Value::Object(component(&child_field, inner, &child_params, depth + 1)?),
                );
            }
            Some(Value::Array(items)) => {
                let items = items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(inner) => {
                            component(&child_field, inner, &child_params, depth + 1).map(Value::Object)
                        }
                        other => Ok(other),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                c.insert(k, Value::Array(items));
            }
            Some(other) => {
                c.insert(k, other);
            }
            None => {}
        }
    }
    if !params.is_empty() {
        c.insert("$parameters".into(), Value::Object(params));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_fill_missing_fields_and_types_are_inferred() {
        let m = json!({"type": "DeclarativeSource", "streams": [{
            "$parameters": {"name": "users", "path": "/users"},
            "retriever": {"requester": {"url_base": "https://x"}, "record_selector": {"extractor": {"field_path": []}}}
        }]});
        let out = propagate(m).unwrap();
        let s = &out["streams"][0];
        assert_eq!(s["type"], "DeclarativeStream");
        assert_eq!(s["name"], "users");
        assert_eq!(s["retriever"]["type"], "SimpleRetriever");
        assert_eq!(s["retriever"]["requester"]["type"], "HttpRequester");
        assert_eq!(s["retriever"]["requester"]["path"], "/users");
        assert_eq!(
            s["retriever"]["record_selector"]["extractor"]["type"],
            "DpathExtractor"
        );
        assert_eq!(s["retriever"]["requester"]["$parameters"]["name"], "users");
    }
}
