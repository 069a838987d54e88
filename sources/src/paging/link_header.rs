//! RFC 8288 `Link` header parsing: `<url>; rel="next"; title="a, b", <url2>; rel=last`.

/// One link of a `Link` header: its target (unresolved) and `rel` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) target: String,
    pub(crate) rels: Vec<String>,
}

/// Parses a `Link` header value into its links. Malformed entries are skipped.
pub(crate) fn parse_link_header(value: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(after_lt) = rest.strip_prefix('<') else {
            // Not a link start: skip to the next comma outside quotes.
            match skip_to_comma(rest) {
                Some(next) => {
                    rest = next;
                    continue;
                }
                None => break,
            }
        };
        let Some(end) = after_lt.find('>') else {
            break;
        };
        let target = after_lt[..end].trim().to_owned();
        rest = &after_lt[end + 1..];
        let mut rels = Vec::new();
        // Parameters: `; name=value` or `; name="quoted, value"`, until a comma.
        loop {
            rest = rest.trim_start();
            let Some(after_semi) = rest.strip_prefix(';') else {
                break;
            };
            rest = after_semi.trim_start();
            let name_end = rest
                .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            rest = rest[name_end..].trim_start();
            let mut param_value = String::new();
            if let Some(after_eq) = rest.strip_prefix('=') {
                rest = after_eq.trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    let mut escaped = false;
                    let mut consumed = quoted.len();
                    for (i, c) in quoted.char_indices() {
                        if escaped {
                            param_value.push(c);
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '"' {
                            consumed = i + 1;
                            break;
                        } else {
                            param_value.push(c);
                        }
                    }
                    rest = &quoted[consumed.min(quoted.len())..];
                } else {
                    let end = rest.find([';', ',']).unwrap_or(rest.len());
                    param_value = rest[..end].trim().to_owned();
                    rest = &rest[end..];
                }
            }
            // RFC 8288 §3.3: only the first `rel` counts; it may hold several types.
            if name == "rel" && rels.is_empty() {
                rels = param_value
                    .split_ascii_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect();
            }
        }
        links.push(Link { target, rels });
        if rest.trim_start().is_empty() {
            break;
        }
    }
    links
}

fn skip_to_comma(s: &str) -> Option<&str> {
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => return Some(&s[i + 1..]),
            _ => {}
        }
    }
    None
}

/// The target of the first link with `rel` (case-insensitive) among all the header values.
pub(crate) fn find_rel<'a>(values: impl IntoIterator<Item = &'a str>, rel: &str) -> Option<String> {
    values
        .into_iter()
        .flat_map(parse_link_header)
        .find(|l| l.rels.iter().any(|r| r.eq_ignore_ascii_case(rel)))
        .map(|l| l.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_style_header_gives_next() {
        let h = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            find_rel([h], "next").as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        assert_eq!(
            find_rel([h], "last").as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=5")
        );
    }

    #[test]
    fn quoted_params_with_commas_and_semicolons_do_not_split_links() {
        let h = r#"</a>; title="one, two; three"; rel="prev", </b>; rel=next"#;
        let links = parse_link_header(h);
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].rels, vec!["prev"]);
        assert_eq!(find_rel([h], "next").as_deref(), Some("/b"));
    }

    #[test]
    fn several_rel_types_and_case_are_understood() {
        let h = r#"<?page=3>; REL="Next Last""#;
        assert_eq!(find_rel([h], "next").as_deref(), Some("?page=3"));
        assert_eq!(find_rel([h], "last").as_deref(), Some("?page=3"));
    }

    #[test]
    fn escaped_quotes_and_several_header_values() {
        let a = r#"</x>; title="say \"hi\", ok"; rel="first""#;
        let b = r#"</y>; rel="next""#;
        assert_eq!(parse_link_header(a)[0].rels, vec!["first"]);
        assert_eq!(find_rel([a, b], "next").as_deref(), Some("/y"));
    }

    #[test]
    fn no_next_and_garbage_give_none() {
        assert_eq!(find_rel([r#"</a>; rel="prev""#], "next"), None);
        assert_eq!(find_rel(["garbage, more garbage"], "next"), None);
        assert_eq!(find_rel(["<unterminated; rel=next"], "next"), None);
        assert_eq!(find_rel([""], "next"), None);
    }

    #[test]
    fn only_the_first_rel_param_counts() {
        assert_eq!(find_rel([r#"</a>; rel="prev"; rel="next""#], "next"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_input_parses_without_panicking(s in "\\PC*") {
            let _ = parse_link_header(&s);
        }

        #[test]
        fn next_is_found_among_other_links(
            next in "/[a-z0-9/?=&]{0,30}",
            others in proptest::collection::vec(("/[a-z0-9]{0,10}", "(prev|last|first)", "[a-z ,;]{0,12}"), 0..4),
            at in 0usize..4,
        ) {
            let mut parts: Vec<String> = others
                .iter()
                .map(|(u, rel, title)| format!("<{u}>; title=\"{title}\"; rel=\"{rel}\""))
                .collect();
            let at = at.min(parts.len());
            parts.insert(at, format!("<{next}>; rel=next"));
            let header = parts.join(", ");
            proptest::prop_assert_eq!(find_rel([header.as_str()], "next"), Some(next));
        }
    }
}
