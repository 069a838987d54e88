//! HTML scraping: the [`ScrapeSource`](scrape::ScrapeSource) and its config,
//! field extraction, the parse pool (one thread per core), the streaming scan
//! that finds the next link before the full parse, and the bounds checked
//! before parsing (nesting depth, charset).

pub(crate) mod charset;
pub(crate) mod extract;
pub(crate) mod html_depth;
pub(crate) mod next_scan;
pub(crate) mod parse_pool;
pub(crate) mod scrape;
pub(crate) mod scrape_config;
