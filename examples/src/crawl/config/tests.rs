//! The config file's parsing, merging and checks.

use std::path::Path;

use crawlpipe_sources::Pagination;

use super::vars::expand_vars;
use super::*;
use crawlpipe_core::policy::RetryPolicy;

fn parse(text: &str) -> Result<CrawlConfig, ConfigError> {
    CrawlConfig::parse(Path::new("crawl.toml"), text, &|v| {
        (v == "API_TOKEN").then(|| "s3cret".to_owned())
    })
}

const GOOD: &str = r#"
[runtime]
concurrency = 2
database = "sqlite://x.db"
mode = "staging"

[defaults]
min_delay_ms = 5
retry = { max_attempts = 3 }
headers = { Authorization = "Bearer ${API_TOKEN}", Accept = "application/json" }

[[collection]]
name = "issues"
url = "https://api.example.com/issues?per_page=100"
key = "/id"
pagination = { style = "link_header" }
min_delay_ms = 50
headers = { Accept = "application/vnd.github+json" }

[[collection]]
name = "docs"
url = "https://docs.example.com/index.html"
key = "anchor"
scrape = { item = "section", next = "link[rel=next] @href", fields = { title = "h1, h2", anchor = "@id" } }
"#;

#[test]
fn defaults_apply_and_collections_override() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.concurrency, 2);
    assert_eq!(c.children, 4, "twice as many children as concurrency");
    assert_eq!(c.mode, Mode::Staging);
    assert_eq!(c.max_resumes, 5);
    let issues = &c.collections[0];
    assert_eq!(issues.http.min_delay_ms, 50);
    let retry = issues.settings.retry.unwrap();
    assert_eq!(retry.policy().max_attempts(), 3);
    assert_eq!(retry.initial_backoff_ms, None, "the library's default applies");
    assert_eq!(retry.policy().ceiling(1), RetryPolicy::default().ceiling(1));
    let headers = &issues.http.headers.0;
    assert_eq!(headers["Authorization"], "Bearer s3cret");
    assert_eq!(headers["Accept"], "application/vnd.github+json");
    let docs = &c.collections[1];
    assert_eq!(docs.http.min_delay_ms, 5);
    assert!(docs.http.scrape.is_some());
    assert_eq!(docs.http.max_in_flight_per_host, 1, "the crawl's default");
    assert_eq!(docs.http.timeout_ms, 60_000);
}

#[test]
fn unknown_key_names_the_line() {
    let err = parse("[runtime]\nconcurrency = 1\nconcurency = 2\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("crawl.toml") && err.contains("line 3") && err.contains("concurency"),
        "{err}"
    );
    let err = parse(&GOOD.replace("min_delay_ms = 50", "min_dealy_ms = 50"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 17") && err.contains("min_dealy_ms"), "{err}");
}

#[test]
fn missing_variable_is_named_without_the_value() {
    let text = GOOD.replace("${API_TOKEN}", "${GH_TOKEN}");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("GH_TOKEN") && err.contains("headers.Authorization"),
        "{err}"
    );
}

#[test]
fn duplicate_and_invalid_names_are_rejected() {
    let dup = format!("{GOOD}\n[[collection]]\nname = \"issues\"\nurl = \"https://a.example/\"\n");
    let err = parse(&dup).unwrap_err().to_string();
    assert!(err.contains("two collections"), "{err}");
    let bad = GOOD.replace("name = \"docs\"", "name = \"docs; drop table x\"");
    let err = parse(&bad).unwrap_err().to_string();
    assert!(err.contains("not a valid name"), "{err}");
}

#[test]
fn out_of_range_values_are_rejected() {
    let err = parse(&GOOD.replace("concurrency = 2", "concurrency = 0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("runtime.concurrency"), "{err}");
    let err = parse(&GOOD.replace("concurrency = 2", "concurrency = 2\nchildren = 0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("runtime.children"), "{err}");
    let c = parse(&GOOD.replace("concurrency = 2", "concurrency = 2\nchildren = 3")).unwrap();
    assert_eq!(c.children, 3);
    let err = parse(&GOOD.replace("min_delay_ms = 50", "max_pages = 0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_pages"), "{err}");
    let err = parse(&GOOD.replace("key = \"anchor\"", "key = \"nope\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("scrape.fields"), "{err}");
}

#[test]
fn a_file_without_collections_is_an_error() {
    assert!(
        parse("[runtime]\n")
            .unwrap_err()
            .to_string()
            .contains("no [[collection]]")
    );
}

#[test]
fn variables_expand_in_place() {
    let env = |v: &str| (v == "A").then(|| "x".to_owned());
    assert_eq!(expand_vars("a${A}b${A}", &env).unwrap(), "axbx");
    assert_eq!(expand_vars("${B}", &env).unwrap_err(), "B");
    assert_eq!(expand_vars("no vars $ { }", &env).unwrap(), "no vars $ { }");
}

#[test]
fn every_source_key_is_a_default_and_tables_replace_whole() {
    let text = r#"
[defaults]
items = "/data"
speculate = true
max_in_flight_per_host = 3
breaker = { failures = 2, cooldown_ms = 10 }
pagination = { style = "page" }

[[collection]]
name = "a"
url = "https://a.example/"

[[collection]]
name = "b"
url = "https://b.example/"
breaker = { failures = 9, cooldown_ms = 20 }
pagination = { style = "link_header" }
"#;
    let c = parse(text).unwrap();
    let (a, b) = (&c.collections[0].http, &c.collections[1].http);
    assert_eq!(
        (a.items.as_str(), a.speculate, a.max_in_flight_per_host),
        ("/data", true, 3)
    );
    assert_eq!(a.breaker_config().failures, 2);
    assert_eq!(b.breaker_config().failures, 9);
    assert_eq!(b.pagination, Pagination::LinkHeader);
}

#[test]
fn an_error_from_defaults_names_the_collection_and_the_defaults_line() {
    let text =
        "[defaults]\nmin_delay_ms = \"slow\"\n\n[[collection]]\nname = \"a\"\nurl = \"https://a.example/\"\n";
    let err = parse(text).unwrap_err().to_string();
    assert!(
        err.contains("collection \"a\"") && err.contains("line 2") && err.contains("min_delay_ms"),
        "{err}"
    );
    let err =
        parse("[defaults]\nname = \"x\"\n\n[[collection]]\nname = \"a\"\nurl = \"https://a.example/\"\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("line 2") && err.contains("defaults.name"), "{err}");
}

#[test]
fn case_collisions_and_reserved_names_name_the_line() {
    let text = format!("{GOOD}\n[[collection]]\nname = \"Issues\"\nurl = \"https://a.example/\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("collection \"Issues\": name")
            && err.contains("differ only in case")
            && err.contains("line 27"),
        "{err}"
    );
    for reserved in ["pipeline_checkpoints", "PIPELINE_locks", "docs__staging"] {
        let err = parse(&GOOD.replace("name = \"docs\"", &format!("name = \"{reserved}\"")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reserved") && err.contains("line 21") && err.contains(reserved),
            "{err}"
        );
    }
}

#[test]
fn cluster_needs_postgres_and_names_the_key() {
    let text = GOOD.replace("mode = \"staging\"", "mode = \"staging\"\ncluster = true");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("runtime.cluster") && err.contains("PostgreSQL"),
        "{err}"
    );
    let text = GOOD.replace("mode = \"staging\"", "lease_ms = 5000");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("runtime.lease_ms") && err.contains("runtime.cluster"),
        "{err}"
    );
    let pg = GOOD.replace("sqlite://x.db", "postgres://u@h/db");
    assert_eq!(parse(&pg).unwrap().cluster, None);
    let text = pg.replace("mode = \"staging\"", "cluster = true");
    assert_eq!(parse(&text).unwrap().cluster, Some(Duration::from_secs(30)));
    let text = pg.replace("mode = \"staging\"", "cluster = true\nlease_ms = 2000");
    assert_eq!(parse(&text).unwrap().cluster, Some(Duration::from_secs(2)));
    let text = pg.replace("mode = \"staging\"", "cluster = true\nlease_ms = 10");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("runtime.lease_ms"), "{err}");
}

#[test]
fn a_cluster_refuses_child_collections_naming_the_collection() {
    let text = GOOD
        .replace("sqlite://x.db", "postgres://u@h/db")
        .replace("mode = \"staging\"", "cluster = true")
        + "\n[[collection]]\nname = \"comments\"\nparent = \"issues\"\nurl = \"https://api.example.com/issues/{/id}/comments\"\n";
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("comments") && err.contains("parent") && err.contains("runtime.cluster"),
        "{err}"
    );
}
