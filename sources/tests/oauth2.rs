//! OAuth2 client credentials against the mock's token endpoint: tokens
//! shared and refreshed before they expire or after a 401, a failing token
//! endpoint named in the error, and the client secret nowhere to be seen.

mod support;

use std::time::Duration;

use crawlpipe_sources::mock::{Faults, MockConfig, MockServer, OAuthMock};
use crawlpipe_sources::{Auth, HttpSourceConfig, JsonSource, OAuth2, Pagination};
use support::trace::{assert_secret_not_traced, traced};
use support::*;

const SECRET: &str = "SECRETclient99";

async fn oauth_server(items: usize, latency: Duration, oauth: OAuthMock, faults: Faults) -> MockServer {
    let mut mock = MockConfig::new(items, 100).latency(latency).faults(faults);
    mock.oauth = OAuthMock {
        client_secret: SECRET.into(),
        ..oauth
    };
    server(mock).await
}

fn protected(server: &MockServer, secret: &str) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url("/protected"))
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
        .auth(Auth::OAuth2(
            OAuth2::client_credentials(server.url("/oauth/token"), "mock-client", secret).scope("read"),
        ))
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires_during_a_long_crawl() {
    traced();
    let ttl = OAuthMock {
        token_ttl: Duration::from_millis(600),
        ..OAuthMock::default()
    };
    // 12 pages at 120 ms each: about 1.5 s, more than two token lives.
    let server = oauth_server(1200, Duration::from_millis(120), ttl, Faults::default()).await;
    let config = protected(&server, SECRET);
    assert!(!format!("{config:?}").contains("SECRET"));
    let source = JsonSource::from_config(&config, &ctx()).unwrap();
    assert!(!format!("{source:?}").contains("SECRET"));
    let (report, items) = run("protected", source, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1200);
    assert!(
        server.token_issues() >= 2,
        "no refresh: {} token(s)",
        server.token_issues()
    );
    assert_eq!(
        server.rejected_tokens(),
        0,
        "refreshed ahead of expiry, never refused"
    );
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_401_gets_one_new_token_and_one_retry() {
    traced();
    // Answers without expires_in: only a 401 tells the token died.
    let silent = OAuthMock {
        token_ttl: Duration::from_millis(300),
        expires_in: false,
        ..OAuthMock::default()
    };
    let server = oauth_server(800, Duration::from_millis(100), silent, Faults::default()).await;
    let (report, items) = crawl(&protected(&server, SECRET), fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 800);
    assert!(server.rejected_tokens() >= 1);
    assert_eq!(server.token_issues(), server.rejected_tokens() + 1);
    assert_secret_not_traced();
}

#[tokio::test]
async fn sources_of_one_context_share_the_token() {
    traced();
    let server = oauth_server(300, Duration::ZERO, OAuthMock::default(), Faults::default()).await;
    let ctx = ctx();
    for _ in 0..3 {
        let (report, items) = crawl_with(&protected(&server, SECRET), &ctx, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_all(&items, 300);
    }
    assert_eq!(server.token_issues(), 1);
}

#[tokio::test]
async fn a_wrong_secret_fails_naming_the_token_url_and_never_the_secret() {
    traced();
    let server = oauth_server(300, Duration::ZERO, OAuthMock::default(), Faults::default()).await;
    let wrong = "SECRETwrong00";
    let (report, items) = crawl(&protected(&server, wrong), fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(
        text.contains(&server.url("/oauth/token")) && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(
        text.contains("1 attempt"),
        "a refused secret is not retried: {text}"
    );
    assert!(!text.contains("SECRET") && !format!("{:?}", report.outcome).contains("SECRET"));
    assert!(
        report
            .cursor
            .as_ref()
            .is_none_or(|c| !c.as_str().contains("SECRET"))
    );
    assert!(items.is_empty());
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_like_a_page() {
    traced();
    // The first request (the token's) gets a 500; the retry gets a token.
    let server = oauth_server(
        250,
        Duration::ZERO,
        OAuthMock::default(),
        Faults {
            outage: Some(crawlpipe_sources::mock::Outage::Requests { from: 1, count: 1 }),
            ..Faults::default()
        },
    )
    .await;
    let (report, items) = crawl(&protected(&server, SECRET), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 250);
    assert_eq!(server.requests()[0], "/oauth/token");
    assert_eq!(server.requests()[1], "/oauth/token");
    assert_secret_not_traced();
}

#[tokio::test]
async fn an_api_key_in_the_query_is_sent_but_never_stored_or_shown() {
    traced();
    let mut mock = MockConfig::new(300, 100);
    mock.require_access_token = Some("SECRETkey".into());
    let server = server(mock).await;
    let config = page_config(&server).auth(Auth::ApiKey {
        header: None,
        query: Some("access_token".into()),
        value: "SECRETkey".into(),
    });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.contains("access_token=SECRETkey"))
    );
    assert!(
        report
            .cursor
            .as_ref()
            .is_none_or(|c| !c.as_str().contains("SECRET"))
    );
    let source = JsonSource::from_config(&config, &ctx()).unwrap();
    assert!(!format!("{source:?}").contains("SECRET"));
    assert_secret_not_traced();
}

#[tokio::test]
async fn bearer_and_basic_headers_authenticate() {
    let mut mock = MockConfig::new(200, 100);
    mock.require_bearer = Some("t0k".into());
    let server = server(mock).await;
    let config = page_config(&server).auth(Auth::Bearer { token: "t0k".into() });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 200);
    let basic = page_config(&server).auth(Auth::Basic {
        username: "u".into(),
        password: "p".into(),
    });
    let (report, _) = crawl(&basic, fast_retry(1), None).await;
    assert!(failure_text(&report).contains("HTTP 401"));
}
