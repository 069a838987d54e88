//! Conditional requests of the JSON sources against the mock's `/validated`
//! pages, with the validators kept in memory: a fetched page carries its
//! validators and next cursor, a stored one is sent back and a `304` comes
//! back as an empty page with the stored next cursor; `ETag`-only and
//! `Last-Modified`-only pages work alike; requests holding the run's time
//! (`{now}`) and `conditional = false` send none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::{Cursor, PageValidator, Paged, SinkError, Validation, Validators};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, RawJsonSource};

/// Validators in memory, as a sink would store them.
#[derive(Debug, Default)]
struct Memory(Mutex<HashMap<String, PageValidator>>);

impl Memory {
    fn keep(&self, validation: Option<&Validation>) {
        if let Some(Validation::Fetched(v)) = validation {
            self.0.lock().unwrap().insert(v.request.clone(), v.clone());
        }
    }
}

#[async_trait]
impl Validators for Memory {
    async fn get(&self, request: &str) -> Result<Option<PageValidator>, SinkError> {
        Ok(self.0.lock().unwrap().get(request).cloned())
    }
}

fn config(server: &MockServer, query: &str) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url(&format!("/validated?page=1{query}")))
        .items("/items")
        .pagination(Pagination::NextUrl {
            next: "/next".into(),
            has_more: None,
        })
}

/// Fetches every page of `source`, keeping the validators in `store`;
/// returns (items, validations) per page.
async fn walk(
    source: &mut impl Paged<Item = serde_json::Value>,
    store: &Memory,
) -> Vec<(usize, Option<Validation>)> {
    let mut cursor: Option<Cursor> = None;
    let mut pages = Vec::new();
    for _ in 0..20 {
        let page = source.fetch(cursor.as_ref()).await.expect("page");
        store.keep(page.validation.as_ref());
        pages.push((page.items.len(), page.validation.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
    panic!("more pages than the mock serves");
}

async fn two_runs(query: &str) {
    let server = MockServer::start(MockConfig::new(30, 10)).await.unwrap();
    let ctx = HttpContext::new().unwrap();
    let store = Arc::new(Memory::default());
    let mut first = JsonSource::from_config(&config(&server, query), &ctx).unwrap();
    first.use_validators(store.clone());
    let pages = walk(&mut first, &store).await;
    assert_eq!(pages.len(), 3, "{query}");
    for (items, validation) in &pages {
        assert_eq!(*items, 10);
        assert!(
            matches!(validation, Some(Validation::Fetched(_))),
            "{query}: {validation:?}"
        );
    }
    let last = pages[2].1.as_ref().unwrap().validator();
    assert_eq!(last.next, None, "the last page's next is stored as none");

    // The next run: every page answered 304, with the stored next cursors.
    let mut second = JsonSource::from_config(&config(&server, query), &ctx).unwrap();
    second.use_validators(store.clone());
    let again = walk(&mut second, &store).await;
    assert_eq!(
        again.len(),
        3,
        "{query}: the stored next cursors continue the crawl"
    );
    for ((items, validation), (_, before)) in again.iter().zip(&pages) {
        assert_eq!(*items, 0, "{query}: a 304 has no items");
        let Some(Validation::NotModified(v)) = validation else {
            panic!("{query}: not a 304: {validation:?}");
        };
        assert_eq!(v, before.as_ref().unwrap().validator());
    }
    let counts = server.validated_counts();
    assert_eq!((counts.conditional, counts.not_modified), (3, 3), "{query}");

    // A changed page is fetched in full, the others stay 304.
    server.change_validated_page(2);
    let mut third = RawJsonSource::from_config(&config(&server, query), &ctx).unwrap();
    third.use_validators(store.clone());
    let mut cursor = None;
    let mut got = Vec::new();
    loop {
        let page = third.fetch(cursor.as_ref()).await.unwrap();
        got.push((
            page.items.len(),
            page.validation.as_ref().map(Validation::is_not_modified),
        ));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(
        got,
        [(0, Some(true)), (10, Some(false)), (0, Some(true))],
        "{query}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_stored_etag_and_last_modified_turn_pages_into_304s() {
    two_runs("").await;
}

#[tokio::test]
async fn a_weak_etag_alone_is_enough() {
    two_runs("&weak=1").await;
}

#[tokio::test]
async fn a_last_modified_alone_is_enough() {
    two_runs("&dated=1").await;
}

/// Runs the source twice with the store; returns the validations and the
/// requests that carried a validator.
async fn twice(config: &HttpSourceConfig, server: &MockServer) -> (Vec<Option<Validation>>, u64) {
    let ctx = HttpContext::new().unwrap();
    let store = Arc::new(Memory::default());
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut source = JsonSource::from_config(config, &ctx).unwrap();
        source.use_validators(store.clone());
        seen.extend(walk(&mut source, &store).await.into_iter().map(|(_, v)| v));
    }
    (seen, server.validated_counts().conditional)
}

#[tokio::test]
async fn requests_holding_the_run_time_or_switched_off_send_no_validators() {
    let server = MockServer::start(MockConfig::new(20, 10)).await.unwrap();
    let timed = config(&server, "&at={now|epoch}");
    let (validations, sent) = twice(&timed, &server).await;
    assert!(validations.iter().all(Option::is_none), "{validations:?}");
    assert_eq!(sent, 0, "a {{now}} request never repeats: no validator sent");

    let off = config(&server, "").conditional(false);
    let (validations, sent) = twice(&off, &server).await;
    assert!(validations.iter().all(Option::is_none), "{validations:?}");
    assert_eq!(sent, 0, "conditional = false sends none");
    assert_eq!(server.validated_counts().not_modified, 0);
    server.shutdown().await;
}
