//! `crawl suggest URL` prints a block that, pasted into a config, crawls the
//! collection exactly.

mod support;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, mock_keys, sqlite_keys, write};

#[tokio::test(flavor = "multi_thread")]
async fn a_suggested_block_pasted_into_a_config_crawls_the_collection_exactly() {
    let server = MockServer::start(MockConfig::new(230, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in [("linked", "/link?page=1"), ("paged", "/page?page=1")] {
        let url = server.url(path);
        let out = crawl(&["suggest", &url, "--header", "X-Trace: 1"], dir.path());
        let block = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            block.contains("[[collection]]") && block.contains("pagination"),
            "{block}"
        );
        assert!(
            !block.contains("X-Trace: 1"),
            "header values are never printed: {block}"
        );
        // Name the collection as the user would, and point it at a database.
        let db = dir.path().join(format!("{name}.db"));
        let renamed: String = block
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("name =") {
                    format!("name = \"{name}\"")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = format!(
            "[runtime]\ndatabase = \"sqlite://{}\"\n\n{renamed}\n",
            db.display()
        );
        let path = write(dir.path(), &format!("{name}.toml"), &config);
        let run = crawl(&[&path, "--quiet"], dir.path());
        assert!(
            run.status.success(),
            "{config}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(sqlite_keys(&db, name).await, (230, mock_keys(230)), "{config}");
    }
}

#[test]
fn a_header_without_a_colon_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(
        &["suggest", "http://127.0.0.1:9/", "--header", "nocolon"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_object_body_is_suggested_and_crawled_as_one_row() {
    let server = MockServer::start(MockConfig::new(10, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(&["suggest", &server.url("/shapes/store")], dir.path());
    let block = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(block.contains("one object"), "{block}");
    let db = dir.path().join("store.db");
    let config = format!("[runtime]\ndatabase = \"sqlite://{}\"\n\n{block}\n", db.display());
    let path = write(dir.path(), "store.toml", &config);
    let run = crawl(&[&path, "--quiet"], dir.path());
    assert!(
        run.status.success(),
        "{config}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("name = "))
        .map(|n| n.trim_matches('"').to_owned())
        .expect("a name");
    let (rows, keys) = sqlite_keys(&db, &name).await;
    assert_eq!(
        (rows, keys.into_iter().collect::<Vec<_>>()),
        (1, vec!["1".to_owned()])
    );
}
