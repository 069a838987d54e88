//! Leaving removed collections' series out of `/metrics`.
//!
//! The `metrics` facade has no way to delete a series, so a collection
//! removed from a running service (a reload that dropped it, a call to
//! `Runner::remove`) would be scraped with frozen values until the process
//! restarts. The scrape leaves out every line labelled with such a
//! collection instead; a collection added again shows its series again.

use std::collections::HashSet;

/// `text` (Prometheus exposition format) without the samples whose
/// `collection` label is one of `removed`. Comment lines stay.
pub(super) fn without_removed(text: String, removed: &HashSet<String>) -> String {
    if removed.is_empty() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let drop = !line.starts_with('#') && collection_label(line).is_some_and(|c| removed.contains(c));
        if !drop {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of the `collection` label of a sample line. Collection names
/// are validated identifiers, so the value holds no quote or escape.
fn collection_label(line: &str) -> Option<&str> {
    let labels = &line[line.find('{')? + 1..line.find('}')?];
    labels.split(',').find_map(|pair| {
        let value = pair.trim().strip_prefix("collection=\"")?;
        value.strip_suffix('"')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_removed_collections_samples_go() {
        let text = "# TYPE pipeline_pages_total counter\n\
                    pipeline_pages_total{collection=\"gone\"} 3\n\
                    pipeline_pages_total{collection=\"kept\"} 4\n\
                    pipeline_items_total{stage=\"sink\",collection=\"gone\"} 9\n\
                    pipeline_collections{state=\"waiting\"} 1\n\
                    pipeline_retries_total 2\n"
            .to_owned();
        let removed = HashSet::from(["gone".to_owned()]);
        assert_eq!(
            without_removed(text, &removed),
            "# TYPE pipeline_pages_total counter\n\
             pipeline_pages_total{collection=\"kept\"} 4\n\
             pipeline_collections{state=\"waiting\"} 1\n\
             pipeline_retries_total 2\n"
        );
    }

    #[test]
    fn a_name_that_only_starts_like_a_removed_one_stays() {
        let removed = HashSet::from(["item".to_owned()]);
        let text = "pipeline_pages_total{collection=\"items\"} 1\n".to_owned();
        assert_eq!(without_removed(text.clone(), &removed), text);
    }
}
