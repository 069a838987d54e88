//! HTML scraping: the [`ScrapeSource`](scrape::ScrapeSource) and its config,
//! field extraction, the parse pool (one thread per core), the streaming scan
//! that finds the next link before the full parse, the streaming extraction
//! that reads most pages without building a tree, and the bounds checked
//! before parsing (nesting depth, charset).

pub(crate) mod charset;
pub(crate) mod extract;
pub(crate) mod fast_extract;
#[cfg(test)]
mod fast_extract_tests;
pub(crate) mod fast_select;
pub(crate) mod fast_tokens;
pub(crate) mod fast_tree;
pub(crate) mod html_depth;
pub(crate) mod next_scan;
pub(crate) mod parse_pool;
pub(crate) mod scrape;
pub(crate) mod scrape_config;
