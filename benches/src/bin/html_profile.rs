//! One crawl of the Python docs corpus, for profiling one variant alone under
//! callgrind: `html_profile parallel|one_ahead|sequential|reference [PAGES]`.
//!
//! With `PAGES`, the crawl stops after that many pages, so the instructions
//! of one page are the difference of two runs divided by the difference of
//! their pages (the setup cancels out).
// A bench binary's output is its report.
#![allow(clippy::print_stdout)]

use crawlpipe_benches::html_corpus::{
    CorpusServer, START, corpus_dir, crawl_pages, reference_crawl_pages, scrape_config,
};
use crawlpipe_sources::HttpContext;

fn main() {
    let Some(dir) = corpus_dir() else {
        println!("html_profile: the corpus is missing: run benches/setup-html-corpus.sh");
        return;
    };
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "parallel".into());
    let max_pages: Option<u64> = args.next().and_then(|a| a.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (pages, items) = rt.block_on(async {
        let server = CorpusServer::start(dir).await;
        let mut config = scrape_config(&server);
        config.scrape = config.scrape.map(|s| match variant.as_str() {
            "one_ahead" => s.workers(1),
            "sequential" => s.overlap(false),
            _ => s,
        });
        if variant == "reference" {
            let (_, pages, items) =
                reference_crawl_pages(&reqwest::Client::new(), &server.url(START), max_pages).await;
            (pages, items.len())
        } else {
            let (_, pages, items) =
                crawl_pages(&config, &HttpContext::new().expect("client"), max_pages).await;
            (pages, items.len())
        }
    });
    println!("{variant}: {pages} pages, {items} items");
}
