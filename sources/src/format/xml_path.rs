//! Where an XML page's items are: an element path from the root
//! (`/rss/channel/item`), or a feed recognised by its root element.

/// The configured `items` of an XML collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemPath {
    /// `""`: RSS 2.0 (`/rss/channel/item`), RSS 1.0 (`/RDF/item`) or Atom
    /// (`/feed/entry`), chosen by the root element.
    Feed,
    /// Element names from the root to the items.
    Elements(Vec<String>),
}

/// Whether a path segment names an element: a segment with a prefix
/// (`atom:entry`) matches the qualified name as written, one without
/// (`entry`) matches the local name whatever the prefix.
pub(crate) fn segment_matches(segment: &str, qualified: &str) -> bool {
    if segment.contains(':') {
        segment == qualified
    } else {
        local_name(qualified) == segment
    }
}

/// `name` without its prefix.
pub(crate) fn local_name(qualified: &str) -> &str {
    qualified.rsplit_once(':').map_or(qualified, |(_, local)| local)
}

impl ItemPath {
    /// Parses `items`: `""` or `/name/name/…`.
    pub(crate) fn parse(items: &str) -> Result<Self, String> {
        if items.is_empty() {
            return Ok(Self::Feed);
        }
        let Some(rest) = items.strip_prefix('/') else {
            return Err(format!(
                "{items:?} is not an element path (write it from the root: \"/rss/channel/item\")"
            ));
        };
        let segments: Vec<String> = rest.split('/').map(str::to_owned).collect();
        if let Some(bad) = segments.iter().find(|s| !valid_name(s)) {
            return Err(format!("{items:?}: {bad:?} is not an element name"));
        }
        Ok(Self::Elements(segments))
    }

    /// The element names to the items for a document whose root element
    /// is `root`, or why there is none.
    pub(crate) fn resolve(&self, root: &str) -> Result<Vec<String>, String> {
        let path: &[&str] = match self {
            Self::Elements(segments) => return Ok(segments.clone()),
            Self::Feed => match local_name(root) {
                "rss" => &["rss", "channel", "item"],
                "feed" => &["feed", "entry"],
                "RDF" => &["RDF", "item"],
                _ => {
                    return Err(format!(
                        "the root element <{root}> is not an RSS or Atom feed's; set items to the \
                         item element path (\"/{root}/…\")"
                    ));
                }
            },
        };
        Ok(path.iter().map(|s| (*s).to_owned()).collect())
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.matches(':').count() <= 1
        && !s.starts_with(':')
        && !s.ends_with(':')
        && s.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '&' | '"' | '\'' | '=' | '@' | '*' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_feeds_resolve_by_their_root() {
        assert_eq!(ItemPath::parse("").unwrap(), ItemPath::Feed);
        assert_eq!(
            ItemPath::parse("/a/b:c").unwrap(),
            ItemPath::Elements(vec!["a".into(), "b:c".into()])
        );
        assert!(ItemPath::parse("a/b").is_err());
        assert!(ItemPath::parse("/a//b").is_err());
        assert!(ItemPath::parse("/a/@id").is_err());
        assert_eq!(ItemPath::Feed.resolve("rss").unwrap(), ["rss", "channel", "item"]);
        assert_eq!(ItemPath::Feed.resolve("atom:feed").unwrap(), ["feed", "entry"]);
        assert_eq!(ItemPath::Feed.resolve("rdf:RDF").unwrap(), ["RDF", "item"]);
        assert!(ItemPath::Feed.resolve("html").unwrap_err().contains("<html>"));
    }

    #[test]
    fn prefixed_segments_match_exactly_and_bare_ones_by_local_name() {
        assert!(segment_matches("entry", "atom:entry"));
        assert!(segment_matches("entry", "entry"));
        assert!(segment_matches("atom:entry", "atom:entry"));
        assert!(!segment_matches("atom:entry", "entry"));
        assert!(!segment_matches("atom:entry", "a:entry"));
    }
}
