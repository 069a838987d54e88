//! One crawler per collection, and database URLs shown without credentials.

mod support;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, page_config};

#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_on_the_same_database_fails_naming_the_first() {
    let server = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    // This test process holds the database's lock, as a running crawl would.
    let holder = crawlpipe_sinks::Database::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let locks = holder.lock(&["items"]).await.unwrap();

    let out = crawl(&[&config, "--quiet"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let pid = format!("pid={}", std::process::id());
    assert!(
        stderr.contains(&pid) && stderr.contains("host="),
        "names the holder: {stderr}"
    );
    assert_eq!(server.request_count(), 0, "nothing was fetched");

    locks.release().await.unwrap();
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_unreachable_database_is_named_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::write(
        dir.path(),
        "crawl.toml",
        "[runtime]\ndatabase = \"postgres://crawler:hunter2@127.0.0.1:9/db?password=hunter3&sslmode=disable\"\n\n[[collection]]\nname = \"items\"\nurl = \"http://127.0.0.1:9/items\"\n",
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("crawler:***@127.0.0.1:9"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("hunter3"),
        "{stderr}"
    );
}
