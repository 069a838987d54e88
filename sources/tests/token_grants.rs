//! Tokens from the mock's token endpoints: one token per whole grant (a
//! different secret or scope never rides on another's token), the OAuth2
//! refresh-token grant with rotated refresh tokens and HTTP Basic client
//! authentication, and generic login requests whose token is sent in a
//! configured header and renewed before it expires or after a 401.

mod support;

use std::time::Duration;

use crawlpipe_sources::mock::{LoginExpiry, LoginMock, MockConfig, MockServer, OAuthMock};
use crawlpipe_sources::{
    Auth, ClientAuth, HttpSourceConfig, JsonSource, OAuth2, Pagination, TokenBodyFormat, TokenRequest,
};
use support::trace::{assert_secret_not_traced, traced};
use support::*;

const SECRET: &str = "SECRETclient42";
const PASSWORD: &str = "SECRETpassword7";

fn paged(server: &MockServer, path: &str, auth: Auth) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url(path))
        .items("/items")
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: Some("/has_more".into()),
            stop_when: None,
            page_size: None,
            page_size_param: None,
        })
        .auth(auth)
}

fn client(server: &MockServer, secret: &str, scope: &str) -> Auth {
    Auth::OAuth2(OAuth2::client_credentials(server.url("/oauth/token"), "mock-client", secret).scope(scope))
}

async fn oauth_server(items: usize, latency: Duration, oauth: OAuthMock) -> MockServer {
    let mut mock = MockConfig::new(items, 100).latency(latency);
    mock.oauth = OAuthMock {
        client_secret: SECRET.into(),
        ..oauth
    };
    server(mock).await
}

#[tokio::test]
async fn a_wrong_secret_never_rides_on_the_right_ones_token_in_either_order() {
    traced();
    for wrong_first in [true, false] {
        let server = oauth_server(300, Duration::ZERO, OAuthMock::default()).await;
        let ctx = ctx();
        let right = paged(
            &server,
            "/protected?need_scope=read",
            client(&server, SECRET, "read"),
        );
        let wrong = paged(
            &server,
            "/protected?need_scope=read",
            client(&server, "SECRETwrong", "read"),
        );
        let order = if wrong_first {
            [&wrong, &right]
        } else {
            [&right, &wrong]
        };
        let mut outcomes = Vec::new();
        for config in order {
            let (report, items) = crawl_with(config, &ctx, fast_retry(2), None).await;
            outcomes.push((report, items.len()));
        }
        let (right_at, wrong_at) = if wrong_first { (1, 0) } else { (0, 1) };
        assert!(
            outcomes[right_at].0.outcome.is_completed(),
            "{:?}",
            outcomes[right_at].0.outcome
        );
        assert_eq!(outcomes[right_at].1, 300);
        let text = failure_text(&outcomes[wrong_at].0);
        assert!(
            text.contains("/oauth/token") && text.contains("HTTP 401"),
            "{text}"
        );
        assert_eq!(outcomes[wrong_at].1, 0, "the wrong secret fetched nothing");
        assert_eq!(server.token_issues(), 1, "only the right secret got a token");
    }
    assert_secret_not_traced();
}

#[tokio::test]
async fn each_scope_gets_its_own_token() {
    traced();
    let server = oauth_server(200, Duration::ZERO, OAuthMock::default()).await;
    let ctx = ctx();
    let read = paged(
        &server,
        "/protected?need_scope=read",
        client(&server, SECRET, "read"),
    );
    let admin = paged(
        &server,
        "/protected?need_scope=admin",
        client(&server, SECRET, "admin"),
    );
    for config in [&read, &admin, &read] {
        let (report, items) = crawl_with(config, &ctx, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_all(&items, 200);
    }
    assert_eq!(
        server.token_issues(),
        2,
        "one token per scope, shared by the same grant"
    );
    let scopes: Vec<String> = server
        .token_requests()
        .iter()
        .map(|r| r["scope"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(scopes, ["read", "admin"]);
}

#[tokio::test]
async fn a_refresh_token_grant_keeps_the_rotated_token_and_authenticates_by_basic() {
    traced();
    let oauth = OAuthMock {
        token_ttl: Duration::from_millis(600),
        basic_only: true,
        refresh_token: "SECRETrefresh-0".into(),
        ..OAuthMock::default()
    };
    // 20 pages at 60 ms each: about two token lives; the margin (150 ms)
    // leaves room for a loaded machine.
    let server = oauth_server(2000, Duration::from_millis(60), oauth).await;
    let grant = OAuth2::refresh_token(
        server.url("/oauth/token"),
        "mock-client",
        SECRET,
        "SECRETrefresh-0",
    )
    .client_auth(ClientAuth::Basic);
    let config = paged(&server, "/protected", Auth::OAuth2(grant));
    assert!(!format!("{config:?}").contains("SECRET"));
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 2000);
    let requests = server.token_requests();
    assert!(requests.len() >= 2, "refreshed: {requests:?}");
    // Each request sends the refresh token the previous answer rotated in
    // (the mock refuses any other).
    assert_eq!(requests[0]["refresh_token"], "SECRETrefresh-0");
    for (n, r) in requests.iter().enumerate().skip(1) {
        assert_eq!(r["refresh_token"], format!("mock-refresh-{n}"));
    }
    assert!(
        requests
            .iter()
            .all(|r| r["client_auth"] == "basic" && r["grant_type"] == "refresh_token")
    );
    assert_eq!(server.rejected_tokens(), 0);
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_server_wanting_basic_refuses_the_secret_in_the_body() {
    traced();
    let oauth = OAuthMock {
        basic_only: true,
        ..OAuthMock::default()
    };
    let server = oauth_server(100, Duration::ZERO, oauth).await;
    let (report, items) = crawl(
        &paged(&server, "/protected", client(&server, SECRET, "read")),
        fast_retry(2),
        None,
    )
    .await;
    let text = failure_text(&report);
    assert!(
        text.contains("OAuth2 token from") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(items.is_empty());
    assert_secret_not_traced();
}

fn login(server: &MockServer, password: &str) -> TokenRequest {
    TokenRequest::new(server.url("/login"), "/session/token")
        .field("username", "mock-user")
        .field("password", password)
        .header("X-Session-Token", "")
}

async fn login_server(items: usize, latency: Duration, login: LoginMock) -> MockServer {
    let mut mock = MockConfig::new(items, 100).latency(latency);
    mock.login = LoginMock {
        password: PASSWORD.into(),
        ..login
    };
    server(mock).await
}

#[tokio::test]
async fn a_login_token_is_renewed_before_the_expiry_time_it_came_with() {
    traced();
    let expiring = LoginMock {
        ttl: Duration::from_millis(800),
        expiry: LoginExpiry::At,
        ..LoginMock::default()
    };
    // 20 pages at 60 ms each: two token lives; the margin is 200 ms.
    let server = login_server(2000, Duration::from_millis(60), expiring).await;
    let request = login(&server, PASSWORD)
        .body_format(TokenBodyFormat::Form)
        .expires_at("/session/expires_at");
    let config = paged(&server, "/session", Auth::TokenRequest(request));
    assert!(!format!("{config:?}").contains("SECRET"));
    let source = JsonSource::from_config(&config, &ctx()).unwrap();
    assert!(!format!("{source:?}").contains("SECRET"));
    let (report, items) = run("session", source, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 2000);
    assert!(server.token_issues() >= 2, "renewed: {}", server.token_issues());
    assert_eq!(
        server.rejected_tokens(),
        0,
        "renewed ahead of expiry, never refused"
    );
    assert!(server.token_requests().iter().all(|r| r["format"] == "form"));
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_login_without_expiry_is_renewed_after_a_401_or_its_configured_lifetime() {
    traced();
    let silent = LoginMock {
        ttl: Duration::from_millis(500),
        expiry: LoginExpiry::Unsaid,
        ..LoginMock::default()
    };
    // JSON body, no expiry: only a 401 says the token died.
    let server = login_server(800, Duration::from_millis(100), silent.clone()).await;
    let config = paged(&server, "/session", Auth::TokenRequest(login(&server, PASSWORD)));
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 800);
    assert!(server.rejected_tokens() >= 1);
    assert_eq!(server.token_issues(), server.rejected_tokens() + 1);
    assert!(server.token_requests().iter().all(|r| r["format"] == "json"));

    // A configured lifetime shorter than the real one: renewed ahead (at
    // 300 ms, 200 ms before the token dies; 10 pages at 50 ms).
    let server = login_server(1000, Duration::from_millis(50), silent).await;
    let request = login(&server, PASSWORD).lifetime(Duration::from_millis(400));
    let (report, items) = crawl(
        &paged(&server, "/session", Auth::TokenRequest(request)),
        fast_retry(1),
        None,
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1000);
    assert!(server.token_issues() >= 2);
    assert_eq!(server.rejected_tokens(), 0);
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_refused_login_fails_naming_the_url_never_the_password() {
    traced();
    let server = login_server(100, Duration::ZERO, LoginMock::default()).await;
    let config = paged(
        &server,
        "/session",
        Auth::TokenRequest(login(&server, "SECRETwrong")),
    );
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(
        text.contains(&server.url("/login")) && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(
        text.contains("1 attempt"),
        "a refused login is not retried: {text}"
    );
    assert!(!format!("{:?}", report.outcome).contains("SECRET"));
    assert!(items.is_empty());
    // A token request whose answer lacks the token names the pointer.
    let missing = TokenRequest::new(server.url("/login"), "/session/nope")
        .field("username", "mock-user")
        .field("password", PASSWORD);
    let (report, _) = crawl(
        &paged(&server, "/session", Auth::TokenRequest(missing)),
        fast_retry(1),
        None,
    )
    .await;
    let text = failure_text(&report);
    assert!(text.contains("no token at \"/session/nope\""), "{text}");
    assert!(
        !text.contains("sess-"),
        "the answer's token is not quoted: {text}"
    );
    assert_secret_not_traced();
}

#[test]
fn bad_grants_are_refused_naming_the_key() {
    let ctx = ctx();
    let build = |auth: Auth| {
        let config = HttpSourceConfig::new("http://127.0.0.1:9/x").auth(auth);
        JsonSource::from_config(&config, &ctx)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let mut no_refresh = OAuth2::client_credentials("http://127.0.0.1:9/t", "id", "s");
    no_refresh.grant = crawlpipe_sources::GrantType::RefreshToken;
    assert!(build(Auth::OAuth2(no_refresh)).contains("auth.refresh_token"));
    let mut stray = OAuth2::client_credentials("http://127.0.0.1:9/t", "id", "s");
    stray.refresh_token = Some("r".into());
    assert!(build(Auth::OAuth2(stray)).contains("auth.refresh_token"));
    assert!(
        build(Auth::OAuth2(OAuth2::client_credentials(
            "http://127.0.0.1:9/t",
            "id",
            ""
        )))
        .contains("auth.client_secret")
    );
    assert!(
        build(Auth::TokenRequest(TokenRequest::new(
            "http://127.0.0.1:9/l",
            "token"
        )))
        .contains("auth.token")
    );
    let bad_header = TokenRequest::new("ftp://127.0.0.1:9/l", "/t");
    assert!(build(Auth::TokenRequest(bad_header)).contains("auth.token_url"));
}
