//! The docs stay true: every key the config parser accepts is in the
//! configuration reference, and every relative link of the Markdown docs
//! resolves to a file of the repository.
//!
//! The keys are read from the parser itself: each table is given an unknown
//! key, and the parser's error lists the keys it expects there (every config
//! table refuses unknown keys), so a key added to the parser without a line
//! in `docs/configuration.md` fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crawlpipe::crawl::config::CrawlConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The backquoted names after `expected one of` (or `expected`) in `error`.
fn expected(error: &str) -> Vec<String> {
    let Some(at) = error.find("expected") else {
        return Vec::new();
    };
    error[at..]
        .lines()
        .next()
        .unwrap_or_default()
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Parses `text`; it must fail, and the keys the parser expected are returned.
fn keys_of(text: &str) -> Vec<String> {
    let keys = keys_if_refused(text).unwrap_or_else(|| panic!("an unknown key was accepted:\n{text}"));
    assert!(!keys.is_empty(), "no expected keys in the error for\n{text}");
    keys
}

/// As [`keys_of`], `None` when `text` parses (a variant without fields,
/// such as `style = "none"`, has nothing to refuse).
fn keys_if_refused(text: &str) -> Option<Vec<String>> {
    let parsed = CrawlConfig::parse(Path::new("probe.toml"), text, &|_| Some("x".to_owned()));
    parsed.err().map(|e| expected(&e.to_string()))
}

const RUNTIME: &str = "[runtime]\ndatabase = \"sqlite://probe.db\"\n";

fn collection(extra: &str) -> String {
    format!("{RUNTIME}[[collection]]\nname = \"probe\"\nurl = \"http://127.0.0.1:9/\"\n{extra}\n")
}

/// Every key of every table the parser reads.
fn parser_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    keys.extend(keys_of(&format!("{RUNTIME}zz_probe = 1\n")));
    keys.extend(keys_of("zz_probe = 1\n"));
    keys.extend(keys_of(&collection("zz_probe = 1")));
    for table in [
        "retry",
        "breaker",
        "incremental",
        "scrape",
        "autothrottle",
        "transform",
    ] {
        let minimal = match table {
            "incremental" => "param = \"since\", field = \"/updated_at\", ",
            "scrape" => "item = \"li\", ",
            _ => "",
        };
        keys.extend(keys_of(&collection(&format!(
            "{table} = {{ {minimal}zz_probe = 1 }}"
        ))));
    }
    for (table, tag) in [("pagination", "style"), ("auth", "type")] {
        let variants = keys_of(&collection(&format!("{table} = {{ {tag} = \"zz_probe\" }}")));
        for variant in &variants {
            let text = collection(&format!("{table} = {{ {tag} = \"{variant}\", zz_probe = 1 }}"));
            keys.extend(keys_if_refused(&text).unwrap_or_default());
        }
        keys.extend(variants);
    }
    keys
}

#[test]
fn every_config_key_is_in_the_reference() {
    let reference = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let keys = parser_keys();
    assert!(keys.len() > 40, "the probe found too few keys: {keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| {
            !reference.match_indices(key.as_str()).any(|(at, _)| {
                let before = reference[..at].chars().next_back();
                let after = reference[at + key.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:?}"
    );
}

/// The Markdown files of the repository's docs.
fn markdown_files() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// The targets of `[text](target)` links in `text`, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let path = link.split('#').next().unwrap_or_default();
            if !file.parent().unwrap().join(path).exists() {
                broken.push(format!("{}: {link}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn the_readme_stays_a_front_door() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release --bin crawl -- --demo"));
    assert!(readme.contains("cargo test --workspace"));
    assert!(
        readme.lines().count() <= 260,
        "README.md has grown past a front door"
    );
}
