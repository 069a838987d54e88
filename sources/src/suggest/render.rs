//! A suggestion as a ready `[[collection]]` TOML block.

use std::fmt;

use crawlpipe_core::OutsideText;
use url::Url;

use super::Suggestion;
use crate::config::Pagination;

/// A TOML basic string (JSON's escapes are valid TOML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A collection name from the URL's last path segment: `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn name_from(url: &Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()))
        .unwrap_or("collection");
    let mut name: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(50)
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "c_");
    }
    name
}

/// The inline table of a pagination style.
fn pagination_table(p: &Pagination) -> String {
    let mut fields: Vec<(&str, String)> = Vec::new();
    let opt = |fields: &mut Vec<(&str, String)>, k: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            fields.push((k, quoted(v)));
        }
    };
    let style = match p {
        Pagination::None => "none",
        Pagination::LinkHeader => "link_header",
        Pagination::FeedNext => "feed_next",
        Pagination::NextUrl { next, has_more } => {
            fields.push(("next", quoted(next)));
            opt(&mut fields, "has_more", has_more);
            "next_url"
        }
        Pagination::Cursor {
            param,
            next,
            last_item,
            has_more,
            body_pointer,
            next_header,
            stop_when,
        } => {
            opt(&mut fields, "param", param);
            opt(&mut fields, "next", next);
            opt(&mut fields, "last_item", last_item);
            opt(&mut fields, "next_header", next_header);
            opt(&mut fields, "has_more", has_more);
            opt(&mut fields, "body_pointer", body_pointer);
            opt(&mut fields, "stop_when", stop_when);
            "cursor"
        }
        Pagination::Offset {
            offset_param,
            limit_param,
            limit,
            total,
            has_more,
            stop_when,
        } => {
            fields.push(("offset_param", quoted(offset_param)));
            fields.push(("limit_param", quoted(limit_param)));
            fields.push(("limit", limit.to_string()));
            opt(&mut fields, "total", total);
            opt(&mut fields, "has_more", has_more);
            opt(&mut fields, "stop_when", stop_when);
            "offset"
        }
        Pagination::Page {
            param,
            start,
            total_pages,
            has_more,
            stop_when,
            page_size,
            page_size_param,
        } => {
            fields.push(("param", quoted(param)));
            fields.push(("start", start.to_string()));
            opt(&mut fields, "total_pages", total_pages);
            opt(&mut fields, "has_more", has_more);
            opt(&mut fields, "stop_when", stop_when);
            if let Some(n) = page_size {
                fields.push(("page_size", n.to_string()));
            }
            opt(&mut fields, "page_size_param", page_size_param);
            "page"
        }
    };
    let mut out = format!("{{ style = \"{style}\"");
    for (k, v) in fields {
        out.push_str(&format!(", {k} = {v}"));
    }
    out.push_str(" }");
    out
}

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Comments quote the server's field names and values: escaped, so a
        // line break in them cannot end the comment and add a key.
        writeln!(f, "# Suggested from {}", OutsideText(&self.url))?;
        for line in &self.evidence {
            writeln!(f, "# {}", OutsideText(line))?;
        }
        if !self.looked_for.is_empty() {
            writeln!(f, "# looked for:")?;
            for what in &self.looked_for {
                writeln!(f, "#   - {}", OutsideText(what))?;
            }
        }
        if self.url.contains("***") {
            writeln!(
                f,
                "# secret values in the URL are shown as ***: put them back, or use auth"
            )?;
        }
        if !self.header_names.is_empty() {
            writeln!(
                f,
                "# headers sent: {} (values not shown: add them as headers or auth)",
                OutsideText(&self.header_names.join(", "))
            )?;
        }
        writeln!(f, "[[collection]]")?;
        writeln!(f, "name = {}", quoted(&self.name))?;
        writeln!(f, "url = {}", quoted(&self.url))?;
        if self.format != crate::format::ResponseFormat::Json {
            writeln!(f, "format = {}", quoted(self.format.as_str()))?;
        }
        writeln!(f, "items = {}", quoted(&self.items))?;
        if let Some(key) = &self.key {
            writeln!(f, "key = {}", quoted(key))?;
        }
        if let Some(p) = &self.pagination {
            writeln!(f, "pagination = {}", pagination_table(p))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_in_comments_cannot_end_the_comment() {
        let suggestion = Suggestion {
            name: "items".into(),
            url: "http://h/items".into(),
            format: crate::format::ResponseFormat::Json,
            items: "/data".into(),
            first_page_items: 1,
            key: Some("/id\n".into()),
            pagination: None,
            evidence: vec!["field \"a\nurl = \\\"http://evil\\\"\u{1b}[2J\" is unique".into()],
            looked_for: vec!["next\r\nkey = 1".into()],
            header_names: Vec::new(),
        };
        let text = suggestion.to_string();
        assert!(
            text.chars().all(|c| c == '\n' || !crawlpipe_core::is_control(c)),
            "{text}"
        );
        let parsed: toml::Table = toml::from_str(&text).expect("still one valid TOML block");
        let collection = &parsed["collection"][0];
        assert_eq!(collection["url"].as_str(), Some("http://h/items"));
        assert_eq!(
            collection["key"].as_str(),
            Some("/id\n"),
            "values are quoted, not cut"
        );
    }
}
