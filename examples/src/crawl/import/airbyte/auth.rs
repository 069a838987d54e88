//! Authenticators: bearer, API key (header or query), basic, OAuth2
//! client credentials, and the one a `SelectiveAuthenticator` picks.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::{Mapper, Target};
use super::refusal::{At, Refusal};

impl Mapper {
    /// Fills `auth` (or a header) from the authenticator at `at`.
    pub(super) fn authenticator(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        let text = |m: &mut Self, field: &str| -> Result<String, Refusal> {
            Ok(m.field(at, field, Target::Expands)?
                .map(|r| r.text)
                .unwrap_or_default())
        };
        let auth: toml::Table = match at.kind().as_str() {
            _ if at.value.is_null() => return Ok(()),
            "NoAuth" => return Ok(()),
            "BearerAuthenticator" => [("type", "bearer".to_owned()), ("token", text(self, "api_token")?)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), toml::Value::String(v)))
                .collect(),
            "BasicHttpAuthenticator" => [
                ("type", "basic".to_owned()),
                ("username", text(self, "username")?),
                ("password", text(self, "password")?),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), toml::Value::String(v)))
            .collect(),
            "ApiKeyAuthenticator" => {
                let token = text(self, "api_token")?;
                let (place, name) = match (at.str("header"), at.value.get("inject_into")) {
                    (Some(h), _) => ("header", self.eval(at, "header", h, Target::Literal)?.text),
                    (None, Some(_)) => {
                        let opt = at.at("inject_into");
                        let name = match opt.str("field_name") {
                            Some(f) => self.eval(&opt, "field_name", f, Target::Literal)?.text,
                            None => return Err(opt.refuse("has no field_name")),
                        };
                        match opt.str("inject_into") {
                            Some("header") => ("header", name),
                            Some("request_parameter") => ("query", name),
                            Some(other) => {
                                return Err(opt.refuse(format!(
                                    "an API key in {other}; the crawl sends keys in a header or the query"
                                )));
                            }
                            None => return Err(opt.refuse("has no inject_into")),
                        }
                    }
                    (None, None) => return Err(at.refuse("has neither header nor inject_into")),
                };
                [("type", "api_key".to_owned()), (place, name), ("value", token)]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), toml::Value::String(v)))
                    .collect()
            }
            "OAuthAuthenticator" => self.oauth(at)?,
            "SessionTokenAuthenticator" => self.session_token(at)?,
            "SelectiveAuthenticator" => return self.selective(at, draft),
            other => {
                return Err(at.refuse(match other {
                    "LegacySessionTokenAuthenticator" => {
                        "a session token read from the config and checked at a validation URL".to_owned()
                    }
                    "CustomAuthenticator" => "custom Python code".to_owned(),
                    _ => format!("the authenticator {other} has no crawl equivalent"),
                }));
            }
        };
        draft.set("auth", auth);
        Ok(())
    }

    fn oauth(&mut self, at: &At<'_>) -> Result<toml::Table, Refusal> {
        // Airbyte lays refresh_request_body over the form it builds.
        let extra = match at.value.get("refresh_request_body") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(at.at("refresh_request_body").refuse("is not a mapping")),
        };
        let extra_at = at.at("refresh_request_body");
        let extra_text = |m: &mut Self, key: &str| -> Result<Option<String>, Refusal> {
            match extra.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(t)) => Ok(Some(m.eval(&extra_at.at(key), key, t, Target::Expands)?.text)),
                Some(_) => Err(extra_at.at(key).refuse("is not text")),
            }
        };
        let grant = match extra_text(self, "grant_type")? {
            Some(g) => g,
            None => self
                .field(at, "grant_type", Target::Literal)?
                .map(|r| r.text)
                .unwrap_or_else(|| "refresh_token".into()),
        };
        let body_scope = extra_text(self, "scope")?;
        let audience = extra_text(self, "audience")?;
        if let Some(other) = extra
            .keys()
            .find(|k| !["grant_type", "scope", "audience"].contains(&k.as_str()))
        {
            return Err(extra_at
                .at(other)
                .refuse("a field of the token request the crawl config does not send"));
        }
        if grant != "client_credentials" && grant != "refresh_token" {
            return Err(at.refuse(format!(
                "the {grant} grant; the crawl's OAuth2 has client credentials and refresh tokens"
            )));
        }
        for unsupported in [
            "refresh_request_headers",
            "refresh_token_updater",
            "profile_assertion",
            "use_profile_assertion",
            "token_expiry_is_time_of_expiration",
        ] {
            if at
                .value
                .get(unsupported)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
            {
                return Err(at.at(unsupported).refuse(match unsupported {
                    "refresh_token_updater" => "keeps a rotated refresh token in the connector's config; the crawl keeps it in memory only",
                    "token_expiry_is_time_of_expiration" => "reads the token's expiry as a time; the crawl reads expires_in seconds",
                    _ => "changes the token request, which the crawl config cannot express",
                }));
            }
        }
        for (field, default) in [
            ("access_token_name", "access_token"),
            ("expires_in_name", "expires_in"),
            ("client_id_name", "client_id"),
            ("client_secret_name", "client_secret"),
            ("refresh_token_name", "refresh_token"),
            ("grant_type_name", "grant_type"),
        ] {
            if at.str(field).is_some_and(|v| v != default) {
                return Err(at.at(field).refuse(format!("the field is not named {default:?}")));
            }
        }
        let mut table = toml::Table::new();
        table.insert("type".into(), "oauth2".into());
        if grant == "refresh_token" {
            table.insert("grant".into(), "refresh_token".into());
        }
        let mut fields = vec![
            ("token_refresh_endpoint", "token_url"),
            ("client_id", "client_id"),
            ("client_secret", "client_secret"),
        ];
        if grant == "refresh_token" {
            fields.push(("refresh_token", "refresh_token"));
        }
        for (from, to) in fields {
            match self.field(at, from, Target::Expands)? {
                // `--url-base` stands for every host the connector talks to
                // (a recording, a proxy): the token endpoint's origin too.
                Some(r) if to == "token_url" && r.text.starts_with("http") => {
                    let url = match &self.url_base {
                        Some(over) => super::requester::replace_origin(&r.text, over),
                        None => r.text,
                    };
                    table.insert(to.into(), url.into())
                }
                Some(r) => table.insert(to.into(), r.text.into()),
                None => return Err(at.refuse(format!("has no {from}"))),
            };
        }
        if let Some(scopes) = at.value.get("scopes").and_then(Value::as_array) {
            let scopes: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
            if !scopes.is_empty() {
                table.insert("scope".into(), scopes.join(" ").into());
            }
        }
        if let Some(scope) = body_scope {
            table.insert("scope".into(), scope.into());
        }
        if let Some(audience) = audience {
            table.insert("audience".into(), audience.into());
        }
        Ok(table)
    }

    /// `SessionTokenAuthenticator`: a POST to a login endpoint, the token
    /// read at `session_token_path` and sent as a bearer token or in a header.
    fn session_token(&mut self, at: &At<'_>) -> Result<toml::Table, Refusal> {
        let login = at.at("login_requester");
        if login.kind() != "HttpRequester" {
            return Err(login.refuse("the login requester is not an HttpRequester"));
        }
        let login_auth = login.at("authenticator");
        if !login_auth.value.is_null() && login_auth.kind() != "NoAuth" {
            return Err(login_auth.refuse(
                "an authenticated login request; the crawl's token request sends fields and headers",
            ));
        }
        if login
            .str("http_method")
            .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        {
            return Err(login
                .at("http_method")
                .refuse("the crawl's token request is a POST"));
        }
        let mut draft = Draft::default();
        // The requester sends JSON bodies only: a form body is read here.
        let mut json_only = login.value.clone();
        let form = json_only
            .as_object_mut()
            .and_then(|m| m.remove("request_body_data"));
        if let Some(m) = json_only.as_object_mut()
            && form.is_some()
        {
            m.insert("http_method".into(), "POST".into());
        }
        let login_json = At {
            value: &json_only,
            ..login.clone()
        };
        self.requester(&login_json, &mut draft, None)?;
        if let Some(form) = form {
            let body = self.json_body(&login.at("request_body_data"), form, None)?;
            let body = super::requester::json_to_toml(&body).ok_or_else(|| {
                login
                    .at("request_body_data")
                    .refuse("a login body with null values")
            })?;
            draft.set("body", body);
        }
        let mut table = toml::Table::new();
        table.insert("type".into(), "token_request".into());
        table.insert("token_url".into(), draft.url.clone().into());
        let body_key = ["request_body_data", "request_body_json"]
            .into_iter()
            .find(|k| login.value.get(*k).is_some_and(|v| !v.is_null()));
        for (k, v) in &draft.keys {
            match k.as_str() {
                "method" => {}
                "headers" => {
                    table.insert("headers".into(), v.clone());
                }
                "body" => {
                    let all_strings = v.as_table().is_some_and(|t| t.values().all(toml::Value::is_str));
                    if !all_strings {
                        return Err(login.refuse("a login body that is not flat text fields"));
                    }
                    table.insert("fields".into(), v.clone());
                }
                _ => {}
            }
        }
        if body_key == Some("request_body_data") {
            table.insert("body_format".into(), "form".into());
        }
        let path: Vec<String> = at
            .value
            .get("session_token_path")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if path.is_empty() {
            return Err(at.refuse("has no session_token_path"));
        }
        table.insert("token".into(), super::mapper::pointer(&path).into());
        let sent = at.at("request_authentication");
        match sent.kind().as_str() {
            "Bearer" => {
                table.insert("header".into(), "Authorization".into());
                table.insert("prefix".into(), "Bearer ".into());
            }
            "ApiKey" => {
                let opt = sent.at("inject_into");
                match (opt.str("inject_into"), opt.str("field_name")) {
                    (Some("header"), Some(name)) => {
                        table.insert("header".into(), name.into());
                        table.insert("prefix".into(), "".into());
                    }
                    _ => return Err(opt.refuse("the session token goes outside a header")),
                }
            }
            other => {
                return Err(sent.refuse(format!(
                    "{other}: the token is sent as a bearer token or in a header"
                )));
            }
        }
        if let Some(iso) = at.str("expiration_duration") {
            let seconds = iso_duration_seconds(iso).ok_or_else(|| {
                at.at("expiration_duration")
                    .refuse(format!("{iso:?} is not an ISO 8601 duration"))
            })?;
            table.insert("lifetime".into(), format!("{seconds}s").into());
        }
        Ok(table)
    }

    fn selective(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        let path: Vec<&str> = at
            .value
            .get("authenticator_selection_path")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(config) = self.jinja.config() else {
            return self.select(at, &path, draft);
        };
        let chosen = path
            .iter()
            .try_fold(config, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .ok_or_else(|| at.refuse(format!("the config has no string at {}", path.join("/"))))?
            .to_owned();
        let inner = at.at("authenticators").at(&chosen);
        if inner.value.is_null() {
            return Err(at.refuse(format!("no authenticator is named {chosen:?}")));
        }
        self.authenticator(&inner, draft)
    }
    /// A `SelectiveAuthenticator` without `--config`: every option
    /// translated, chosen when the crawl reads its config by the variable
    /// standing for the config value at the selection path
    /// (`auth = { type = "select", by = "${AUTH_TYPE}", options = { … } }`).
    fn select(&mut self, at: &At<'_>, path: &[&str], draft: &mut Draft) -> Result<(), Refusal> {
        if path.is_empty() || path.iter().any(|k| k.contains(['\'', '\\', '{', '}'])) {
            return Err(at
                .at("authenticator_selection_path")
                .refuse("is not a path of plain config keys"));
        }
        let template: String = std::iter::once("{{ config".to_owned())
            .chain(path.iter().map(|k| format!("['{k}']")))
            .chain(std::iter::once(" }}".to_owned()))
            .collect();
        let by = self.eval(at, "authenticator_selection_path", &template, Target::Expands)?;
        let options_at = at.at("authenticators");
        let Some(names) = options_at
            .value
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
        else {
            return Err(options_at.refuse("is not a mapping of authenticators"));
        };
        let mut options = toml::Table::new();
        for name in names {
            let option = options_at.at(&name);
            if option.kind() == "SelectiveAuthenticator" {
                return Err(option.refuse("a selection inside a selection"));
            }
            let mut one = Draft::default();
            self.authenticator(&option, &mut one)?;
            let Some((_, auth)) = one.keys.into_iter().find(|(k, _)| k == "auth") else {
                return Err(option.refuse(
                    "an option without credentials; the crawl's `select` chooses among auth tables",
                ));
            };
            options.insert(name, auth);
        }
        if options.is_empty() {
            return Err(options_at.refuse("no authenticator to choose from"));
        }
        let mut table = toml::Table::new();
        table.insert("type".into(), "select".into());
        table.insert("by".into(), by.text.into());
        table.insert("options".into(), options.into());
        draft.set("auth", table);
        Ok(())
    }
}

/// Seconds of an ISO 8601 duration with days, hours, minutes and seconds
/// (`P1D`, `PT1H30M`, `PT3600S`); months and years have no fixed length.
pub(super) fn iso_duration_seconds(iso: &str) -> Option<u64> {
    let rest = iso.strip_prefix('P')?;
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0u64;
    let mut read = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let (_, factor) = units.iter().find(|(u, _)| *u == c)?;
                total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(*factor)?)?;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    read(days, &[('D', 86_400), ('W', 604_800)])?;
    read(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    (total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::iso_duration_seconds;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_seconds("PT1H"), Some(3600));
        assert_eq!(iso_duration_seconds("P1DT30M"), Some(88_200));
        assert_eq!(iso_duration_seconds("P1M"), None);
        assert_eq!(iso_duration_seconds("PT"), None);
    }
}
