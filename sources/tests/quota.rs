//! The budget a server announces, through the library: a source paces by
//! it, sources sending one token share it (and its status), and
//! `rate_limit_headers(false)` ignores it.

mod support;

use crawlpipe_sources::mock::MockConfig;
use crawlpipe_sources::{Auth, HttpSourceConfig, Pagination};
use support::*;

/// The mock's `/quota` collection: 10 requests a second per token.
fn quota_config(server: &crawlpipe_sources::mock::MockServer, token: &str) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url("/quota?limit=10&window=1"))
        .items("/items")
        .auth(Auth::Bearer { token: token.into() })
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: Some("/has_more".into()),
            stop_when: None,
            page_size: None,
            page_size_param: None,
        })
}

#[tokio::test]
async fn two_sources_with_one_token_share_its_budget_and_meet_no_429() {
    let server = server(MockConfig::new(100, 5)).await;
    let ctx = ctx();
    let config = quota_config(&server, "token-lib");
    let budget = ctx.quota_budget(&config).unwrap().expect("on by default");
    let (a, b) = tokio::join!(
        crawl_with(&config, &ctx, fast_retry(3), None),
        crawl_with(&config, &ctx, fast_retry(3), None)
    );
    assert!(a.0.outcome.is_completed() && b.0.outcome.is_completed());
    assert_all(&a.1, 100);
    assert_all(&b.1, 100);
    assert_eq!(server.quota_refusals(), 0);
    // One budget for both: the same handle, and it saw their answers.
    let status = budget.status().expect("announced");
    assert_eq!(status.limit, 10);
    assert_eq!(ctx.quota_budget(&config).unwrap().unwrap().key(), budget.key());
    let other = ctx
        .quota_budget(&quota_config(&server, "token-other"))
        .unwrap()
        .unwrap();
    assert_ne!(other.key(), budget.key());
    assert!(other.status().is_none(), "another token's budget is its own");
}

#[tokio::test]
async fn rate_limit_headers_false_spends_the_budget_into_429s() {
    let server = server(MockConfig::new(100, 5)).await;
    let ctx = ctx();
    let config = quota_config(&server, "token-off").rate_limit_headers(false);
    assert!(ctx.quota_budget(&config).unwrap().is_none());
    let (report, items) = crawl_with(&config, &ctx, fast_retry(10), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 100);
    assert!(server.quota_refusals() > 0, "nothing held the crawl back");
}
