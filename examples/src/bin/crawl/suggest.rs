//! `crawl suggest URL`: the subcommand that prints a suggested collection.

use clap::Parser;
use crawlpipe::crawl::stderr;

use super::stdout_line;

/// `crawl suggest URL`: fetches the first page (and the second, if it finds
/// one) and prints a ready `[[collection]]` block with the evidence it used.
#[derive(Debug, Parser)]
#[command(name = "crawl suggest")]
pub(crate) struct SuggestCli {
    /// The first page of the collection.
    url: String,
    /// A request header, `"Name: value"` (repeatable); values are never printed.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
}

/// Runs `crawl suggest`; returns the exit status (2: a usage or config error).
pub(crate) async fn suggest(cli: SuggestCli) -> u8 {
    let mut headers = crawlpipe_sources::Headers::default();
    for h in &cli.headers {
        let Some((name, value)) = h.split_once(':') else {
            stderr::line(format_args!(
                "crawl suggest: --header {name:?} must be \"Name: value\"",
                name = h.split(':').next().unwrap_or_default()
            ));
            return 2;
        };
        headers.0.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let ctx = match crawlpipe_sources::HttpContext::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            stderr::line(format_args!("crawl suggest: {e}"));
            return 1;
        }
    };
    match crawlpipe_sources::suggest(&cli.url, &headers, &ctx).await {
        Ok(suggestion) => {
            stdout_line(&suggestion.to_string());
            0
        }
        Err(e) => {
            stderr::line(format_args!("crawl suggest: {e}"));
            if matches!(e, crawlpipe_sources::SourceError::Config { .. }) {
                2
            } else {
                1
            }
        }
    }
}
