//! Every setting has a range: numbers out of it, stores that keep nothing
//! and unknown database schemes exit 2 naming the key and its line; a
//! property test feeds random values to every numeric and string key and
//! gets a config or an error, never a panic; the largest settings in range
//! crawl.

mod support;

use std::path::Path;
use std::time::Duration;

use crawlpipe::crawl::config::CrawlConfig;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use proptest::prelude::*;
use support::{crawl, write};

/// Runs `crawl` on `toml` (bounded: a hang fails the test); exit status and stderr.
fn run(toml: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "crawl.toml", toml);
    let mut all = vec![config.as_str(), "--quiet"];
    all.extend_from_slice(args);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args(&all)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = support::wait_bounded(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().unwrap();
    (
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const COLLECTION: &str = "[[collection]]\nname = \"items\"\nurl = \"http://127.0.0.1:9/items\"\n";

#[test]
fn huge_settings_exit_2_naming_key_and_line() {
    let cases = [
        (
            "[runtime]\nconcurrency = 2305843009213693952\n",
            "line 2: runtime.concurrency",
        ),
        (
            "[runtime]\nchildren = 2305843009213693952\n",
            "line 2: runtime.children",
        ),
        (
            "[runtime]\ndatabase = \"postgres://u@127.0.0.1:9/db\"\ncluster = true\nlease_ms = 9223372036854775807\n",
            "line 4: runtime.lease_ms",
        ),
        (
            "[defaults]\nmax_in_flight_per_host = 4611686018427387904\n",
            "line 2: defaults.max_in_flight_per_host",
        ),
        (
            "[defaults]\nautothrottle = { target_concurrency = nan }\n",
            "defaults.autothrottle.target_concurrency",
        ),
    ];
    for (runtime, expected) in cases {
        let (code, stderr) = run(&format!("{runtime}\n{COLLECTION}"), &[]);
        assert_eq!(code, Some(2), "{runtime}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("must be between"),
            "{expected}: {stderr}"
        );
    }
    let scraped = format!("{COLLECTION}scrape = {{ item = \"section\", workers = 2305843009213693952 }}\n");
    let (code, stderr) = run(&scraped, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("line 4: collection \"items\": scrape.workers"),
        "{stderr}"
    );
}

#[test]
fn stores_that_keep_nothing_and_unknown_schemes_exit_2() {
    for (database, why) in [
        ("sqlite://", "needs a file"),
        ("sqlite::memory:", "in-memory"),
        ("sqlite://crawl.db?mode=memory", "in-memory"),
        ("mysql://u@127.0.0.1/db", "unsupported scheme"),
    ] {
        let (code, stderr) = run(
            &format!("[runtime]\ndatabase = \"{database}\"\n{COLLECTION}"),
            &[],
        );
        assert_eq!(code, Some(2), "{database}: {stderr}");
        assert!(
            stderr.contains("line 2: runtime.database") && stderr.contains(why),
            "{stderr}"
        );
        let (code, stderr) = run(COLLECTION, &["--database", database]);
        assert_eq!(code, Some(2), "--database {database}: {stderr}");
        assert!(stderr.contains("--database") && stderr.contains(why), "{stderr}");
    }
}

#[test]
fn config_errors_name_their_line() {
    let cases = [
        "[runtime]\nconcurrency = 0\n",
        "[runtime]\nchildren = 0\n",
        "[runtime]\nlease_ms = 1000\n",
        "[runtime]\ncluster = true\n",
        "[runtime]\nadmin_token = \"${CRAWL_TEST_SURELY_UNSET}\"\n",
        "[runtime]\nbogus = 1\n",
    ];
    for runtime in cases {
        let (code, stderr) = run(&format!("{runtime}\n{COLLECTION}"), &[]);
        assert_eq!(code, Some(2), "{runtime}: {stderr}");
        assert!(stderr.contains("line "), "{runtime}: {stderr}");
    }
    let collections = [
        "max_pages = 0\n",
        "timeout_ms = 0\n",
        "items = \"data\"\n",
        "key = \"id\"\n",
        "every = \"soon\"\n",
        "every = \"400d\"\n",
        "parent = \"nope\"\n",
        "headers = { Authorization = \"Bearer ${CRAWL_TEST_SURELY_UNSET}\" }\n",
        "pagination = { style = \"sideways\" }\n",
        "retry = { max_attempts = 0 }\n",
        "lookahead = 65\n",
    ];
    for extra in collections {
        let (code, stderr) = run(&format!("{COLLECTION}{extra}"), &[]);
        assert_eq!(code, Some(2), "{extra}: {stderr}");
        assert!(stderr.contains("line "), "{extra}: {stderr}");
    }
    // Found when the source is built (after loading): the collection's line.
    let bad_url = "[[collection]]\nname = \"items\"\nurl = \"ftp://127.0.0.1/items\"\n";
    let (code, stderr) = run(bad_url, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("line 2: collection \"items\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_largest_settings_in_range_crawl() {
    let server = MockServer::start(MockConfig::new(30, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"
concurrency = 4096
children = 65536
max_resumes = 1000000

[[collection]]
name = "items"
url = "{base}/page"
items = "/items"
pagination = {{ style = "page", start = 1 }}
lookahead = 64
max_pages = 1000000000000
max_in_flight_per_host = 10000
timeout_ms = 86400000
max_body_bytes = 1099511627776
breaker = {{ failures = 1000000, cooldown_ms = 86400000 }}
retry = {{ max_attempts = 1000, initial_backoff_ms = 0, max_backoff_ms = 0 }}
every = "366d"
"#,
        db = dir.path().join("crawl.db").display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        support::sqlite_keys(&dir.path().join("crawl.db"), "items")
            .await
            .0,
        30
    );
}

/// Every key the fuzz test sets: (path, is the key numeric).
const KEYS: &[(&str, bool)] = &[
    ("runtime.concurrency", true),
    ("runtime.children", true),
    ("runtime.max_resumes", true),
    ("runtime.lease_ms", true),
    ("runtime.cluster", false),
    ("runtime.database", false),
    ("runtime.metrics_addr", false),
    ("runtime.admin_token", false),
    ("runtime.mode", false),
    ("runtime.status_hosts", false),
    ("c.name", false),
    ("c.url", false),
    ("c.items", false),
    ("c.key", false),
    ("c.every", false),
    ("c.parent", false),
    ("c.method", false),
    ("c.lookahead", true),
    ("c.max_pages", true),
    ("c.retry.max_attempts", true),
    ("c.retry.initial_backoff_ms", true),
    ("c.retry.max_backoff_ms", true),
    ("c.min_delay_ms", true),
    ("c.jitter_ms", true),
    ("c.max_in_flight_per_host", true),
    ("c.timeout_ms", true),
    ("c.max_body_bytes", true),
    ("c.breaker.failures", true),
    ("c.breaker.cooldown_ms", true),
    ("c.autothrottle.target_concurrency", true),
    ("c.autothrottle.min_delay_ms", true),
    ("c.autothrottle.max_delay_ms", true),
    ("c.pagination.style", false),
    ("c.pagination.limit", true),
    ("c.pagination.start", true),
    ("c.pagination.next", false),
    ("c.pagination.param", false),
    ("c.scrape.item", false),
    ("c.scrape.next", false),
    ("c.scrape.workers", true),
    ("c.scrape.max_depth", true),
    ("c.headers.Authorization", false),
    ("d.min_delay_ms", true),
    ("d.timeout_ms", true),
    ("d.key", false),
];

fn number() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        prop::sample::select(vec![0, 1, -1, i64::MAX, i64::MIN, 1 << 61, 1 << 62, 86_400_001])
            .prop_map(toml::Value::Integer),
        (0i64..100_000).prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 1e300])
            .prop_map(toml::Value::Float),
    ]
}

fn string() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<String>().prop_map(toml::Value::String),
        prop::sample::select(vec![
            "",
            "${UNSET_VAR}",
            "${",
            "/",
            "/id",
            "{/id}",
            "http://127.0.0.1:9/{/name}",
            "sqlite::memory:",
            "sqlite://",
            "mysql://h/db",
            "postgres://u@127.0.0.1:9/db",
            "staging",
            "upsert",
            "99999999999999999999d",
            "1ns",
            "offset",
            "page",
            "cursor",
            "link_header",
            "POST",
            "items",
            "a\u{1b}[2J\r\nb",
            "-1",
        ])
        .prop_map(|s| toml::Value::String(s.to_owned())),
    ]
}

/// A value for key `numeric` or not; sometimes of the other kind.
fn value(numeric: bool) -> BoxedStrategy<toml::Value> {
    let other = prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        prop::collection::vec("[a-z.]{0,12}", 0..3)
            .prop_map(|v| toml::Value::Array(v.into_iter().map(toml::Value::String).collect())),
    ];
    if numeric {
        prop_oneof![8 => number(), 1 => string(), 1 => other].boxed()
    } else {
        prop_oneof![8 => string(), 1 => number(), 1 => other].boxed()
    }
}

fn settings() -> impl Strategy<Value = Vec<(usize, toml::Value)>> {
    prop::collection::vec(
        (0..KEYS.len()).prop_flat_map(|k| value(KEYS[k].1).prop_map(move |v| (k, v))),
        0..8,
    )
}

/// A valid config with `settings` laid over it.
fn config_text(settings: &[(usize, toml::Value)]) -> String {
    let mut root: toml::Table = toml::from_str(
        "[runtime]\ndatabase = \"sqlite://crawl.db\"\n[defaults]\n[[collection]]\nname = \"items\"\nurl = \"http://127.0.0.1:9/items\"\n",
    )
    .unwrap();
    for (k, value) in settings {
        let path: Vec<&str> = KEYS[*k].0.split('.').collect();
        let mut table = match path[0] {
            "runtime" => root.get_mut("runtime"),
            "d" => root.get_mut("defaults"),
            _ => root
                .get_mut("collection")
                .and_then(|c| c.as_array_mut())
                .and_then(|a| a.first_mut()),
        }
        .and_then(|t| t.as_table_mut())
        .unwrap();
        for part in &path[1..path.len() - 1] {
            let entry = table
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            table = entry.as_table_mut().unwrap();
        }
        table.insert(path[path.len() - 1].to_owned(), value.clone());
    }
    toml::to_string(&root).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random values for every numeric and string key: a config or an
    /// error naming where, never a panic.
    #[test]
    fn random_settings_load_or_fail_cleanly(settings in settings()) {
        let text = config_text(&settings);
        match CrawlConfig::parse(Path::new("fuzz.toml"), &text, &|_| None) {
            Ok(config) => {
                prop_assert!(config.concurrency >= 1 && config.concurrency <= 4096);
                prop_assert!(config.children >= 1 && config.children <= 65_536);
                for c in &config.collections {
                    prop_assert!(c.http.max_in_flight_per_host >= 1 && c.http.max_in_flight_per_host <= 10_000);
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.toml: "), "{e}"),
        }
    }
}
