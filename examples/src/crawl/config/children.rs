//! The keys of child collections and incremental refresh: `parent` and
//! `incremental`, and their checks.

use super::{CollectionConfig, Mode, PARENT_BATCH_TIMEOUT};

/// `incremental = { … }`: incremental refresh, the library's
/// [`Incremental`](crawlpipe_sources::dates::Incremental).
pub type IncrementalConfig = crawlpipe_sources::dates::Incremental;

/// Checks an `incremental` table; `Err` is the reason, as a sentence.
pub(super) fn check_incremental(
    inc: &IncrementalConfig,
    http: &crawlpipe_sources::HttpSourceConfig,
    mode: Option<Mode>,
) -> Result<(), String> {
    inc.check().map_err(|e| e.to_string())?;
    if http.scrape.is_some() {
        return Err("needs a JSON collection (a scraped one has no field to compare)".into());
    }
    if inc.windows && http.windows.is_none() {
        return Err("windows = true needs the collection's `windows`".into());
    }
    if mode == Some(Mode::Staging) {
        return Err(
            "cannot be used with mode = \"staging\": an incremental run fetches only what changed, \
                    so its staging table would replace the live table by a partial one"
                .into(),
        );
    }
    Ok(())
}

/// Every `parent` names another collection, and no chain of parents loops.
pub(super) fn check_parents(collections: &[CollectionConfig]) -> Result<(), (String, String)> {
    let find = |name: &str| collections.iter().find(|c| c.name == name);
    for c in collections {
        let mut seen = vec![c.name.as_str()];
        let mut at = c;
        while let Some(parent) = &at.parent {
            let Some(p) = find(parent) else {
                return Err((c.name.clone(), format!("no collection is named {parent:?}")));
            };
            if seen.contains(&p.name.as_str()) {
                return Err((
                    c.name.clone(),
                    format!("the parents loop: {} → {}", seen.join(" → "), p.name),
                ));
            }
            seen.push(&p.name);
            at = p;
        }
    }
    Ok(())
}

/// Gives every parent of a child collection [`PARENT_BATCH_TIMEOUT`]: its
/// committed rows list its children, so they start only once it commits.
pub(super) fn commit_parents_soon(collections: &mut [CollectionConfig]) {
    let parents: Vec<String> = collections.iter().filter_map(|c| c.parent.clone()).collect();
    for c in collections.iter_mut().filter(|c| parents.contains(&c.name)) {
        c.settings.batch_timeout = Some(PARENT_BATCH_TIMEOUT);
    }
}
