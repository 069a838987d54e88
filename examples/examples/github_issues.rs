//! Link-header pagination (GitHub style) into SQLite, with a token from the environment.
//!
//! Against the real GitHub API you would set `url` to
//! `https://api.github.com/repos/OWNER/REPO/issues?state=all&per_page=100` and
//! export `GITHUB_TOKEN`; here the mock API stands in so the example runs
//! anywhere. The token is sent as a header and never printed or logged.
//! Run: `cargo run -p crawlpipe --example github_issues`.
#![allow(clippy::print_stdout)]

use crawlpipe_core::Pipeline;
use crawlpipe_sinks::Database;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start(MockConfig::new(2_500, 100)).await?;
    let token = std::env::var("GITHUB_TOKEN").unwrap_or_else(|_| "example-token".to_owned());
    let config = HttpSourceConfig::new(server.url("/link?page=1"))
        .pagination(Pagination::LinkHeader)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/vnd.github+json");
    let ctx = HttpContext::new()?;

    let dir = tempfile::tempdir()?;
    let db = Database::open(&format!("sqlite://{}", dir.path().join("github.db").display())).await?;
    // The name is given once: the sink takes it from the pipeline, and if a
    // previous run stopped early, resumes from its last committed page.
    let sink = db.documents().key_pointer("/id").build()?;
    let report = Pipeline::paged("issues", JsonSource::from_config(&config, &ctx)?)
        .sink(sink)
        .spawn()?
        .join()
        .await;
    println!(
        "{} issues in {} pages ({:?}); resume cursor: {:?}",
        report.progress.items_written, report.progress.pages, report.outcome, report.cursor
    );
    assert!(report.outcome.is_completed());
    assert_eq!(report.progress.items_written, 2_500);
    db.close().await;
    server.shutdown().await;
    Ok(())
}
