//! Proposing a collection's configuration from its first pages.
//!
//! [`suggest`] GETs the first page, reads it as JSON, JSON Lines or XML (an
//! RSS or Atom feed, or any XML whose most repeated element holds the
//! items), finds the items (the largest array of objects), a key (a field unique on the page, `/id` first) and the
//! pagination styles the page hints at (a feed's next link, a Link header, a next-URL field, a
//! cursor field with or without `has_more`, a cursor header, an
//! offset/total pair, a page parameter). Each hint is tried with a real
//! source: the first page and the second it leads to, whose items must be
//! new. The first that works is suggested with its evidence; when none
//! does, the suggestion says so and lists what it looked for. A body that
//! is one object without an array of objects in it is one record
//! (`items = ""`, or the pointer of its only member when that is an object:
//! `{"data": {…}}`), with no pagination and `/id` as its key when it is a
//! string or integer. A few
//! requests at most (two per hint tried), through the context's gates.
//!
//! Only GET APIs are explored: a POST body or a GraphQL query cannot be
//! guessed.

mod detect;
mod first_page;
mod render;

use std::collections::HashSet;

use crawlpipe_core::Paged;
use serde_json::Value;

use crate::config::{Headers, HttpSourceConfig, Pagination};
use crate::error::SourceError;
use crate::format::ResponseFormat;
use crate::format::feed_next::next_link;
use crate::http::HttpContext;
use crate::http::endpoint::Endpoint;
use crate::http::redact::redact_url;
use crate::json::json_source::JsonSource;

/// A proposed `[[collection]]`: render it with `Display` (TOML with the
/// evidence as `#` comments).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Suggestion {
    /// A collection name from the URL's last path segment.
    pub name: String,
    /// The start URL, with credentials redacted.
    pub url: String,
    /// The body's format (JSON, JSON Lines or XML).
    pub format: ResponseFormat,
    /// JSON pointer to the items (`""`: the body is the array, or the one
    /// record); for XML, the item element path.
    pub items: String,
    /// How many items the first page had.
    pub first_page_items: usize,
    /// A field unique among the first page's items, as a JSON pointer.
    pub key: Option<String>,
    /// The pagination style that worked, if any.
    pub pagination: Option<Pagination>,
    /// Why each part was chosen, one line each.
    pub evidence: Vec<String>,
    /// When no style worked: what was looked for.
    pub looked_for: Vec<String>,
    /// Names of the headers that were sent (values are never kept).
    pub header_names: Vec<String>,
}

/// Looks at the collection at `url` (GET, with `headers`) and proposes a
/// configuration.
///
/// # Errors
///
/// [`SourceError::Config`] for a bad URL or header; [`SourceError::Suggest`]
/// when the first page cannot be fetched, is not JSON or holds no array of
/// objects.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), crawlpipe_sources::SourceError> {
/// let ctx = crawlpipe_sources::HttpContext::new()?;
/// let suggestion = crawlpipe_sources::suggest("https://api.example.com/items", &Default::default(), &ctx).await?;
/// println!("{suggestion}");
/// # Ok(()) }
/// ```
pub async fn suggest(url: &str, headers: &Headers, ctx: &HttpContext) -> Result<Suggestion, SourceError> {
    let mut base = HttpSourceConfig::new(url);
    base.headers = headers.clone();
    let (endpoint, start) = Endpoint::new(&base, ctx)?;
    // Shown as given, secrets masked: the cursor form would drop them silently.
    let shown = redact_url(url, &base.secret_params);
    let fail = |reason: String| SourceError::Suggest {
        url: shown.clone(),
        reason,
    };
    let fetched = endpoint
        .get(&endpoint.request_url(&start))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let page = first_page::read(&fetched).map_err(fail)?;
    let items = page.items.clone();
    let n = page.rows.len();
    let key = match page.format {
        // Any field is unique in one record: only an id identifies it.
        _ if page.single => page.rows[0]
            .get("id")
            .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
            .map(|_| "/id".to_owned()),
        ResponseFormat::Xml => first_page::xml_key(&page.rows),
        _ => detect::key_candidate(&page.rows),
    };
    let mut evidence = vec![page.evidence.clone()];
    evidence.push(match &key {
        Some(k) if page.single => format!("key: {k} is the object's id"),
        None if page.single => "key: the object has no string or integer id".to_owned(),
        Some(k) => format!("key: {k} is unique among the first page's items"),
        None => "key: no field is unique among the first page's items".to_owned(),
    });
    let mut candidates = Vec::new();
    if page.format == ResponseFormat::Xml
        && let Some(link) = next_link(&page.body)
    {
        candidates.push(detect::Candidate {
            pagination: Pagination::FeedNext,
            evidence: crate::format::printable(&format!("the feed's <link rel=\"next\"> ({link})")),
        });
    }
    if !page.single {
        candidates.extend(detect::candidates(
            &start,
            &fetched.headers,
            &page.body,
            &items,
            n,
            key.as_deref(),
        ));
    }
    let mut chosen = None;
    for candidate in candidates {
        let config = HttpSourceConfig {
            items: items.clone(),
            format: page.format,
            pagination: candidate.pagination.clone(),
            ..base.clone()
        };
        match second_page(&config, ctx, key.as_deref()).await {
            Ok(new) => {
                evidence.push(format!(
                    "pagination: {}; the second page had {new} new items",
                    endpoint.show_text(&candidate.evidence)
                ));
                chosen = Some(candidate.pagination);
                break;
            }
            Err(why) => tracing::debug!(reason = %endpoint.show_text(&why), "pagination hint did not hold"),
        }
    }
    let looked_for = if page.single {
        evidence.push("pagination: none (a single object is a single page)".to_owned());
        Vec::new()
    } else if chosen.is_none() {
        evidence.push("pagination: none found (a single page)".to_owned());
        detect::LOOKED_FOR.iter().map(|s| (*s).to_owned()).collect()
    } else {
        Vec::new()
    };
    Ok(Suggestion {
        name: render::name_from(&start),
        url: shown,
        format: page.format,
        items,
        first_page_items: n,
        key,
        pagination: chosen,
        evidence,
        looked_for,
        header_names: headers.0.keys().cloned().collect(),
    })
}

/// Crawls two pages with `config`; the number of new items on the second,
/// or why the style does not hold.
async fn second_page(
    config: &HttpSourceConfig,
    ctx: &HttpContext,
    key: Option<&str>,
) -> Result<usize, String> {
    let mut source = JsonSource::from_config(config, ctx).map_err(|e| e.to_string())?;
    let first = source.fetch(None).await.map_err(|e| e.to_string())?;
    let next = first.next.ok_or("no next page")?;
    let second = source.fetch(Some(&next)).await.map_err(|e| e.to_string())?;
    let id = |v: &Value| match key {
        Some(k) => v.pointer(k).map(Value::to_string).unwrap_or_default(),
        None => v.to_string(),
    };
    let seen: HashSet<String> = first.items.iter().map(id).collect();
    if second.items.is_empty() || second.items.iter().any(|v| seen.contains(&id(v))) {
        return Err("the second page repeats the first or is empty".to_owned());
    }
    Ok(second.items.len())
}
