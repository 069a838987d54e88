//! The mock server's token endpoints and the collections they protect.
//!
//! | route | what |
//! |---|---|
//! | `POST /oauth/token` | OAuth2 ([`OAuthMock`]): `client_credentials` (client id and secret checked, in the form or by HTTP Basic; with [`OAuthMock::basic_only`], Basic only) and `refresh_token` (the current refresh token only; with [`OAuthMock::rotate`], each answer carries a new one and the old one dies). A token carries the scope asked for. |
//! | `POST /login` | a login ([`LoginMock`]): `username` and `password` as JSON or a form; answers `{"session": {"token", "expires_in", "expires_at"}}` |
//! | `/protected?page=P[&need_scope=S]` | `page` style, has_more = `/has_more`; needs `Authorization: Bearer <live token>` (else 401, counted by [`MockServer::rejected_tokens`](super::MockServer::rejected_tokens)), and with `need_scope`, a token whose scope has `S` (else 403) |
//! | `/session?page=P` | the same items, needing `X-Session-Token: <live login token>` (no prefix) |
//!
//! Every token request is logged as JSON ([`MockServer::token_requests`](super::MockServer::token_requests)):
//! `{"route", "grant_type", "client_auth": "body" | "basic" | null, "scope", "audience", "refresh_token", "format"}`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::MockState;
use super::routes::{items_page, json_response, page_param, query};

/// The mock's OAuth2 client credentials and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthMock {
    /// The client id accepted (default `mock-client`).
    pub client_id: String,
    /// The client secret accepted (default `mock-secret-0123`).
    pub client_secret: String,
    /// How long an issued token is accepted (default 1 s).
    pub token_ttl: Duration,
    /// Whether answers state `expires_in` (default true); without it a
    /// client learns of expiry only from a 401.
    pub expires_in: bool,
    /// The refresh token accepted first (default `mock-refresh-0`).
    pub refresh_token: String,
    /// Whether each refresh-token answer carries a new refresh token,
    /// the old one then refused (default true).
    pub rotate: bool,
    /// Whether the client must authenticate by HTTP Basic (default false:
    /// the form or Basic).
    pub basic_only: bool,
}

impl Default for OAuthMock {
    fn default() -> Self {
        Self {
            client_id: "mock-client".to_owned(),
            client_secret: "mock-secret-0123".to_owned(),
            token_ttl: Duration::from_secs(1),
            expires_in: true,
            refresh_token: "mock-refresh-0".to_owned(),
            rotate: true,
            basic_only: false,
        }
    }
}

/// How `/login` states when its token expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginExpiry {
    /// `"expires_in": seconds` (default).
    #[default]
    In,
    /// `"expires_at": "<RFC 3339 with an offset>"`.
    At,
    /// Neither.
    Unsaid,
}

/// The mock's login: the user accepted at `POST /login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginMock {
    /// The user name accepted (default `mock-user`).
    pub username: String,
    /// The password accepted (default `mock-password-77`).
    pub password: String,
    /// How long a session token is accepted (default 1 s).
    pub ttl: Duration,
    /// How the answer states the expiry.
    pub expiry: LoginExpiry,
}

impl Default for LoginMock {
    fn default() -> Self {
        Self {
            username: "mock-user".to_owned(),
            password: "mock-password-77".to_owned(),
            ttl: Duration::from_secs(1),
            expiry: LoginExpiry::In,
        }
    }
}

/// A live token: when it dies, and its scope.
#[derive(Debug)]
struct Issued {
    expiry: Instant,
    scope: Option<String>,
}

/// The token endpoints' state.
#[derive(Debug)]
pub(super) struct AuthState {
    tokens: Mutex<HashMap<String, Issued>>,
    /// The refresh token accepted now.
    refresh: Mutex<String>,
    log: Mutex<Vec<Value>>,
}

impl AuthState {
    pub(super) fn new(oauth: &OAuthMock) -> Self {
        Self {
            tokens: Mutex::new(HashMap::new()),
            refresh: Mutex::new(oauth.refresh_token.clone()),
            log: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn token_requests(&self) -> Vec<Value> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Logs a token request (see [`MockServer::token_requests`](super::MockServer::token_requests)).
    fn log_request(&self, request: Value) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(request);
    }

    fn issue(&self, state: &MockState, prefix: &str, ttl: Duration, scope: Option<String>) -> String {
        let n = state.token_issues.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("{prefix}-{n}");
        let issued = Issued {
            expiry: Instant::now() + ttl,
            scope,
        };
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), issued);
        token
    }

    /// Whether `token` is live (and has `scope`, when one is needed).
    fn accepts(&self, token: Option<&str>, scope: Option<&str>) -> Result<(), StatusCode> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let Some(issued) = token.and_then(|t| tokens.get(t)) else {
            return Err(StatusCode::UNAUTHORIZED);
        };
        if Instant::now() >= issued.expiry {
            return Err(StatusCode::UNAUTHORIZED);
        }
        let has = |s: &str| {
            issued
                .scope
                .as_deref()
                .is_some_and(|own| own.split(' ').any(|o| o == s))
        };
        match scope {
            Some(s) if !has(s) => Err(StatusCode::FORBIDDEN),
            _ => Ok(()),
        }
    }
}

/// The response of a token route or a protected one, `None` otherwise.
pub(super) fn route(
    state: &MockState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Option<Response> {
    let post_only = || (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response();
    Some(match uri.path() {
        "/oauth/token" if method != Method::POST => post_only(),
        "/oauth/token" => oauth_token(state, headers, body),
        "/login" if method != Method::POST => post_only(),
        "/login" => login(state, headers, body),
        "/protected" => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            protected(state, uri, presented)
        }
        "/session" => {
            let presented = headers.get("x-session-token").and_then(|v| v.to_str().ok());
            protected(state, uri, presented)
        }
        _ => return None,
    })
}

fn protected(state: &MockState, uri: &Uri, token: Option<&str>) -> Response {
    let need = query(uri, "need_scope");
    if let Err(status) = state.auth.accepts(token, need.as_deref()) {
        if status == StatusCode::UNAUTHORIZED {
            state.rejected.fetch_add(1, Ordering::SeqCst);
            return (status, "missing or expired token").into_response();
        }
        return (status, "the token's scope does not allow this").into_response();
    }
    items_page(&state.config, page_param(uri))
}

/// The client's Basic credentials (each part form-decoded, RFC 6749 §2.3.1).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = decode_base64(value.strip_prefix("Basic ")?)?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

fn oauth_token(state: &MockState, headers: &HeaderMap, body: &Bytes) -> Response {
    let oauth = &state.config.oauth;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let by_basic = basic(headers);
    let client_auth = match (&by_basic, field("client_secret")) {
        (Some(_), _) => Some("basic"),
        (None, Some(_)) => Some("body"),
        (None, None) => None,
    };
    let grant = field("grant_type");
    state.auth.log_request(json!({
        "route": "/oauth/token",
        "grant_type": grant,
        "client_auth": client_auth,
        "scope": field("scope"),
        "audience": field("audience"),
        "refresh_token": field("refresh_token"),
    }));
    let invalid_client = || json_response(StatusCode::UNAUTHORIZED, &json!({ "error": "invalid_client" }));
    let (id, secret) = match by_basic {
        Some(pair) => pair,
        None if oauth.basic_only => return invalid_client(),
        None => (
            field("client_id").unwrap_or_default(),
            field("client_secret").unwrap_or_default(),
        ),
    };
    if id != oauth.client_id || secret != oauth.client_secret {
        return invalid_client();
    }
    let scope = field("scope");
    let mut answer = match grant.as_deref() {
        Some("client_credentials") => {
            let token = state.auth.issue(state, "mock-token", oauth.token_ttl, scope);
            json!({ "access_token": token, "token_type": "Bearer" })
        }
        Some("refresh_token") => {
            let mut current = state.auth.refresh.lock().unwrap_or_else(|e| e.into_inner());
            if field("refresh_token").as_deref() != Some(current.as_str()) {
                return json_response(StatusCode::BAD_REQUEST, &json!({ "error": "invalid_grant" }));
            }
            let token = state.auth.issue(state, "mock-token", oauth.token_ttl, scope);
            let mut answer = json!({ "access_token": token, "token_type": "Bearer" });
            if oauth.rotate {
                let next = format!("mock-refresh-{}", state.token_issues.load(Ordering::SeqCst));
                answer["refresh_token"] = json!(next);
                *current = next;
            }
            answer
        }
        _ => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "unsupported_grant_type" }),
            );
        }
    };
    if oauth.expires_in {
        answer["expires_in"] = json!(oauth.token_ttl.as_secs_f64());
    }
    json_response(StatusCode::OK, &answer)
}

fn login(state: &MockState, headers: &HeaderMap, body: &Bytes) -> Response {
    let login = &state.config.login;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let fields: HashMap<String, String> = if is_form {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        match serde_json::from_slice::<HashMap<String, Value>>(body) {
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => HashMap::new(),
        }
    };
    state.auth.log_request(json!({
        "route": "/login",
        "format": if is_form { "form" } else { "json" },
        "username": fields.get("username"),
    }));
    if fields.get("username") != Some(&login.username) || fields.get("password") != Some(&login.password) {
        return json_response(StatusCode::UNAUTHORIZED, &json!({ "error": "bad login" }));
    }
    let token = state.auth.issue(state, "sess", login.ttl, None);
    let mut session = json!({ "token": token });
    match login.expiry {
        LoginExpiry::In => session["expires_in"] = json!(login.ttl.as_secs_f64()),
        LoginExpiry::At => {
            // Written in a +02:00 offset, as some APIs do.
            let at = SystemTime::now() + login.ttl + Duration::from_secs(2 * 3600);
            let utc = humantime::format_rfc3339_millis(at).to_string();
            session["expires_at"] = json!(format!("{}+02:00", utc.trim_end_matches('Z')));
        }
        LoginExpiry::Unsaid => {}
    }
    json_response(StatusCode::OK, &json!({ "session": session }))
}
