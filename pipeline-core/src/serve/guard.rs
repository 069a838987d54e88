//! What the server answers at all, and what every answer carries.
//!
//! - **Host check**: a request whose `Host` is neither the bound address
//!   (any IP address when bound to every address: a rebinding attack needs a
//!   name), `localhost` (when bound to a loopback or every address), nor a name
//!   given with [`ServeConfig::allowed_host`](super::ServeConfig::allowed_host)
//!   gets 403. A web page in a browser on the same machine could otherwise
//!   read `/status` by pointing a name it controls at 127.0.0.1 (DNS
//!   rebinding): its requests carry that name as `Host`.
//! - **Headers**: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!   no-referrer`, `X-Frame-Options: DENY`, and a `Content-Security-Policy`
//!   that loads nothing (the status page sets its own, allowing exactly its
//!   inline script and style by hash).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, HOST, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

/// The policy of every answer but the status page: nothing may be loaded,
/// run or framed.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The hosts a request may name.
#[derive(Debug, Clone)]
pub(super) struct AllowedHosts {
    bound: IpAddr,
    /// Configured names, lower case, without a trailing dot.
    names: Vec<String>,
}

impl AllowedHosts {
    pub(super) fn new(bound: SocketAddr, names: &[String]) -> Self {
        Self {
            bound: bound.ip(),
            names: names.iter().map(|n| normalize(n)).collect(),
        }
    }

    /// Whether a `Host` header value names this server.
    pub(super) fn allows(&self, host: &[u8]) -> bool {
        let Ok(host) = std::str::from_utf8(host) else {
            return false;
        };
        let name = normalize(strip_port(host.trim()));
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.bound.is_unspecified() || ip == self.bound;
        }
        (name == "localhost" && (self.bound.is_loopback() || self.bound.is_unspecified()))
            || self.names.contains(&name)
    }
}

/// `host:port` → `host`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            // An IPv6 literal without brackets has colons of its own.
            if name.contains(':') && !name.starts_with('[') {
                host
            } else {
                name
            }
        }
        _ => host,
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The middleware: refuses other hosts, adds the headers.
pub(super) async fn guard(State(hosts): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    // A request without `Host` (HTTP/1.0) comes from no browser: it cannot be rebound.
    if let Some(host) = request.headers().get(HOST)
        && !hosts.allows(host.as_bytes())
    {
        let body = json!({ "error": "this server does not answer to that Host; see allowed hosts in its configuration" });
        let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
        secure(&mut response);
        return response;
    }
    let mut response = next.run(request).await;
    secure(&mut response);
    response
}

fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(NOTHING));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_address_localhost_and_configured_names_are_allowed() {
        let hosts = AllowedHosts::new("127.0.0.1:8080".parse().unwrap(), &["Crawl.Internal".into()]);
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "crawl.internal:8080",
            "crawl.internal.",
        ] {
            assert!(hosts.allows(ok.as_bytes()), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "127.0.0.2:8080",
            "localhost.evil.example",
            "[::1]:8080",
            "",
            "crawl.internal.evil",
        ] {
            assert!(!hosts.allows(refused.as_bytes()), "{refused}");
        }
        let any = AllowedHosts::new("0.0.0.0:80".parse().unwrap(), &[]);
        assert!(any.allows(b"192.0.2.7:80") && any.allows(b"[::1]:80") && any.allows(b"localhost"));
        assert!(!any.allows(b"rebound.evil.example"));
        let v6 = AllowedHosts::new("[::1]:80".parse().unwrap(), &[]);
        assert!(v6.allows(b"[::1]:80") && v6.allows(b"localhost:80") && !v6.allows(b"127.0.0.1"));
    }
}
