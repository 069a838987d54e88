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
            "SelectiveAuthenticator" => return self.selective(at, draft),
            other => {
                return Err(at.refuse(match other {
                    "SessionTokenAuthenticator" | "LegacySessionTokenAuthenticator" => {
                        "a session token requested from a login endpoint; the crawl config has no token request".to_owned()
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
        let grant = self
            .field(at, "grant_type", Target::Literal)?
            .map(|r| r.text)
            .unwrap_or_else(|| "refresh_token".into());
        if grant != "client_credentials" {
            return Err(at.refuse(format!(
                "the {grant} grant; the crawl's OAuth2 is the client-credentials grant"
            )));
        }
        for unsupported in [
            "refresh_request_body",
            "refresh_request_headers",
            "access_token_value",
            "refresh_token_updater",
            "profile_assertion",
            "use_profile_assertion",
        ] {
            if at
                .value
                .get(unsupported)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
            {
                return Err(at
                    .at(unsupported)
                    .refuse("changes the token request, which the crawl config cannot express"));
            }
        }
        for (field, default) in [
            ("access_token_name", "access_token"),
            ("expires_in_name", "expires_in"),
        ] {
            if at.str(field).is_some_and(|v| v != default) {
                return Err(at
                    .at(field)
                    .refuse(format!("the token answer's field is not {default:?}")));
            }
        }
        let mut table = toml::Table::new();
        table.insert("type".into(), "oauth2".into());
        for (from, to) in [
            ("token_refresh_endpoint", "token_url"),
            ("client_id", "client_id"),
            ("client_secret", "client_secret"),
        ] {
            match self.field(at, from, Target::Expands)? {
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
            return Err(at.refuse(format!(
                "picks its authenticator by config at {}; give --config",
                path.join("/")
            )));
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
}
