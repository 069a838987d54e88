//! The status page, `GET /`: one self-contained HTML document, checked over
//! HTTP and in a real headless Chromium that runs its script.
#![cfg(feature = "serve")]

mod browser;
mod client;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::serve::{ServeConfig, serve, serve_with};
use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};
use tokio::time::Instant;

use support::{KeyedSink, RecordingStore, SharedSource};

/// A collection crawling `source`, one script shared by its attempts.
fn collection(name: &str, source: ScriptedPaged<u64>) -> Collection {
    let shared = SharedSource::new(source);
    Collection::new(name, move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(KeyedSink::new()))
    })
}

/// Waits up to 20 s until every named collection is in its state (and
/// `stalled` where asked).
async fn settle(runner: &Runner, expected: &[(&str, State, bool)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = runner.status();
        let reached = expected.iter().all(|(name, state, stalled)| {
            status
                .iter()
                .any(|s| s.collection == *name && s.state == *state && s.stalled == *stalled)
        });
        if reached {
            return;
        }
        assert!(Instant::now() < deadline, "not settled: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_status_page_is_one_self_contained_html_document() {
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    let page = client::get(server.local_addr(), "/").await;
    assert_eq!(page.code, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let html = page.body.to_ascii_lowercase();
    assert!(html.starts_with("<!doctype html>"), "{}", page.body);
    for external in ["http://", "https://", "<script src", "<link", "@import", "url("] {
        assert!(!html.contains(external), "the page references {external}");
    }
    // It polls the status endpoint and builds rows with stable hooks.
    assert!(html.contains(r#"fetch("status""#));
    assert!(html.contains(r#"setattribute("data-collection""#));
    assert!(!html.contains("innerhtml"), "text goes through textContent");
    assert!(html.contains(r#"<body data-admin="off">"#), "run-now is off");
    server.shutdown().await;

    let token = "a-token-that-stays-secret";
    let config = ServeConfig::new().admin_token(token);
    let server = serve_with("127.0.0.1:0", runner.clone(), config).await.unwrap();
    let page = client::get(server.local_addr(), "/").await;
    assert!(page.body.contains(r#"<body data-admin="on">"#));
    assert!(!page.body.contains(token), "the page never carries the token");
    server.shutdown().await;
    runner.shutdown();
    runner.join().await;
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_every_collection_in_its_state_in_a_real_browser() {
    let test = "the_status_page_shows_every_collection_in_its_state_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let hour = Duration::from_secs(3600);
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .concurrency(8)
        .max_resumes(3)
        // Long enough that `orders` is still retrying when the browser looks.
        .resume_backoff(Duration::from_secs(120), Duration::from_secs(120))
        .stall_after(Some(Duration::from_secs(2)))
        .collection(collection("catalog", ScriptedPaged::numbered(3, 10)))
        .collection(collection("feed", ScriptedPaged::numbered(2, 10)).every(hour))
        .collection(collection(
            "issues",
            ScriptedPaged::numbered(5000, 10).delay(Duration::from_millis(150)),
        ))
        .collection(collection(
            "archive",
            ScriptedPaged::numbered(5, 10).delay_page(2, hour),
        ))
        .collection(collection(
            "orders",
            ScriptedPaged::numbered(4, 10).fail(1, Fault::Transient, 100),
        ))
        .collection(collection(
            "users",
            ScriptedPaged::numbered(4, 10).fail(2, Fault::Permanent, 1),
        ))
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    let expected = [
        ("catalog", State::Completed, false),
        ("feed", State::Waiting, false),
        ("issues", State::Crawling, false),
        ("archive", State::Crawling, true),
        ("orders", State::Retrying, false),
        ("users", State::Failed, false),
    ];
    settle(&runner, &expected).await;

    let url = format!("http://{}/", server.local_addr());
    let dom = browser::dump_dom(&chromium, &url).await;
    let rows = browser::rows(&dom);
    let shown: BTreeMap<&str, (&str, &str)> = rows
        .iter()
        .map(|r| (r.collection.as_str(), (r.state.as_str(), r.stalled.as_str())))
        .collect();
    let wanted: BTreeMap<&str, (&str, &str)> = expected
        .iter()
        .map(|(name, state, stalled)| (*name, (state.as_str(), if *stalled { "true" } else { "false" })))
        .collect();
    assert_eq!(shown, wanted, "{dom}");
    let names: Vec<&str> = rows.iter().map(|r| r.collection.as_str()).collect();
    assert_eq!(names, ["catalog", "feed", "issues", "archive", "orders", "users"]);
    let row = |name: &str| &rows.iter().find(|r| r.collection == name).unwrap().html;
    assert!(
        row("catalog").contains(">30</td>"),
        "30 items written: {}",
        row("catalog")
    );
    assert!(
        row("feed").contains(">in 60 min</td>"),
        "next run: {}",
        row("feed")
    );
    assert!(
        row("orders").contains(">retry in "),
        "next attempt: {}",
        row("orders")
    );
    assert!(row("users").contains("page-2"), "the error: {}", row("users"));
    assert!(row("issues").contains("/s</td>"), "a rate: {}", row("issues"));
    // The "stalled" flag shows on `archive` only.
    assert!(
        !row("archive").contains(r#"hidden="">stalled</span>"#),
        "{}",
        row("archive")
    );
    assert!(
        row("issues").contains(r#"hidden="">stalled</span>"#),
        "{}",
        row("issues")
    );
    assert!(
        !dom.contains(r#"data-run="""#),
        "no Run now button without a token"
    );
    assert!(
        dom.contains(r#"<form id="admin" hidden="">"#),
        "no token input either"
    );
    assert!(dom.contains("6 collections: "), "the summary");

    let png = std::env::temp_dir().join(format!("pipeline-status-page-{}.png", std::process::id()));
    browser::screenshot(&chromium, &url, &png).await;
    let image = std::fs::read(&png).expect("chromium wrote the screenshot");
    let _ = std::fs::remove_file(&png);
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // The screenshots in docs/ come from status_page_screenshots.rs.

    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_names_and_errors_as_text_in_a_real_browser() {
    let test = "the_status_page_shows_names_and_errors_as_text_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let name = r#"<i id="pwned">name</i> & co"#;
    // A factory error is kept verbatim as the collection's last error.
    let broken = Collection::new_async(name, |_| async {
        Err::<crawlpipe_core::Runnable<u64>, _>(r#"<img id="pwned-error" src=x onerror=alert(1)>"#)
    });
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .max_resumes(0)
        .collection(broken)
        .build()
        .unwrap();
    let config = ServeConfig::new().admin_token("secret");
    let server = serve_with("127.0.0.1:0", runner.clone(), config).await.unwrap();
    runner.start().unwrap();
    settle(&runner, &[(name, State::Failed, false)]).await;

    let dom = browser::dump_dom(&chromium, &format!("http://{}/", server.local_addr())).await;
    let rows = browser::rows(&dom);
    assert_eq!(rows.len(), 1, "{dom}");
    assert_eq!(
        (rows[0].collection.as_str(), rows[0].state.as_str()),
        (name, "failed")
    );
    assert!(
        !dom.contains(r#"<i id="pwned""#),
        "the name became markup:\n{dom}"
    );
    assert!(
        !dom.contains(r#"<img id="pwned-error""#),
        "the error became markup:\n{dom}"
    );
    assert!(
        dom.contains(r#"&lt;i id="pwned"&gt;name&lt;/i&gt; &amp; co</a></td>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"&lt;img id="pwned-error" src=x"#), "{dom}");
    // Run-now is enabled on the server but this browser has no token yet:
    // the token input shows, the buttons do not.
    assert!(dom.contains(r#"<form id="admin">"#), "{dom}");
    assert!(dom.contains(r#"<span id="admin-on" hidden="">"#), "{dom}");
    assert!(!dom.contains(r#"data-run="""#), "{dom}");

    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}
