//! Redacting credentials out of a configuration shown as JSON (the status
//! page's view of a collection's config).

use serde_json::Value;

use super::redact::{is_secret_param, redact_url};

/// What a redacted value is replaced with.
const MASK: &str = "***";

/// Header names whose values are credentials, besides those matching a
/// secret parameter name (`X-Api-Key` is `api_key` once `x-` is dropped).
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// Masks every credential in `config`, a collection's configuration as
/// JSON: all of `auth`'s values (but its `type`), secret header values,
/// values under secret-looking keys (per `secret_params`), and the user
/// info and secret query parameters of every URL.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::redact::{default_secret_params, redact_json};
/// use serde_json::json;
///
/// let mut config = json!({
///     "url": "https://me:pw@api.test/items?api_key=abc&page=1",
///     "auth": {"type": "bearer", "token": "s3cret"},
///     "headers": {"X-Api-Key": "k", "Accept": "application/json"},
/// });
/// redact_json(&mut config, &default_secret_params());
/// assert_eq!(config["url"], "https://me:***@api.test/items?api_key=***&page=1");
/// assert_eq!(config["auth"], json!({"type": "bearer", "token": "***"}));
/// assert_eq!(config["headers"], json!({"X-Api-Key": "***", "Accept": "application/json"}));
/// ```
pub fn redact_json(config: &mut Value, secret_params: &[String]) {
    match config {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "auth" {
                    mask_all(value);
                } else if key == "headers" {
                    redact_headers(value, secret_params);
                } else if is_secret_param(key, secret_params) {
                    mask_all(value);
                } else {
                    redact_json(value, secret_params);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, secret_params)),
        Value::String(s) if s.contains("://") || s.contains('?') => *s = redact_url(s, secret_params),
        _ => {}
    }
}

fn redact_headers(headers: &mut Value, secret_params: &[String]) {
    let Value::Object(map) = headers else {
        return mask_all(headers);
    };
    for (name, value) in map.iter_mut() {
        let lower = name.to_ascii_lowercase();
        let bare = lower.strip_prefix("x-").unwrap_or(&lower);
        if SECRET_HEADERS.contains(&lower.as_str()) || is_secret_param(bare, secret_params) {
            mask_all(value);
        } else {
            redact_json(value, secret_params);
        }
    }
}

/// Masks every string and number under `value`, keeping `type` (an
/// `auth`'s kind) and the shape.
fn mask_all(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key != "type" {
                    mask_all(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        Value::String(_) | Value::Number(_) => *value = Value::String(MASK.to_owned()),
        _ => {}
    }
}
