//! A single crawl of the mock server, for profiling one variant alone under
//! callgrind: `crawl_profile framework|speculate|source|loop [PAGES]`.
// A bench binary's output is its report.
#![allow(clippy::print_stdout)]

use crawlpipe_benches::paged_crawl::{framework, page_config, sequential, source_only};
use crawlpipe_sources::HttpContext;
use crawlpipe_sources::mock::{MockConfig, MockServer};

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "framework".into());
    let pages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = rt.block_on(async {
        let server = MockServer::start(MockConfig::new(pages * 100, 100))
            .await
            .expect("mock");
        let ctx = HttpContext::new().expect("client");
        let config = page_config(&server, variant == "speculate");
        match variant.as_str() {
            "loop" => sequential(&reqwest::Client::new(), &server).await,
            "source" => source_only(&ctx, &config).await,
            _ => framework(&ctx, &config).await,
        }
    });
    println!("{variant}: {n} items");
}
