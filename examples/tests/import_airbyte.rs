//! `crawl import airbyte` through the real binary: a corpus of manifests in
//! Airbyte's format (`tests/airbyte/`) covering every component translated
//! (golden configs that load), every refusal (each naming the stream, the
//! pointer, the type and what is missing) and hostile YAML (exit 2, bounded);
//! and manifests describing the mock server's routes, imported and then
//! crawled, with the exact rows checked.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crawlpipe::crawl::import::airbyte::{ImportOptions, import};
use crawlpipe_sinks::sqlx::{self, Row};
use crawlpipe_sources::mock::{
    CHILDREN_PER_PARENT, MockConfig, MockServer, child_deleted, child_item, tree_issue, tree_issue_count,
};
use support::{mock_keys, sqlite_keys, write};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/airbyte")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", root.display());
    files
}

fn manifest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/airbyte")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The `# expect: …` lines at the top of a corpus file.
fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_owned)
        .collect()
}

/// Runs `crawl ARGS` in `dir` with `env` set (and nothing else from RUST_LOG).
fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the crawl binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_refusal_names_the_stream_the_pointer_the_type_and_what_is_missing() {
    for path in corpus("refuse") {
        let manifest = std::fs::read_to_string(&path).unwrap();
        let expected = expectations(&manifest);
        assert!(!expected.is_empty(), "{} has no # expect: line", path.display());
        let said = match import(&manifest, &ImportOptions::default()) {
            Ok(imported) => {
                assert_eq!(imported.exit_code(), 3, "{}", path.display());
                for r in &imported.refusals {
                    assert!(
                        imported.toml.contains(&format!("# - {r}")),
                        "{}: {r} not in the TOML",
                        path.display()
                    );
                }
                imported
                    .refusals
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Err(e) => e.to_string(),
        };
        for e in expected {
            assert!(
                said.contains(&e),
                "{}:\nexpected {e:?}\nin:\n{said}",
                path.display()
            );
        }
    }
}

#[test]
fn hostile_yaml_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for path in corpus("hostile") {
        let expected = expectations(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        let out = run(&["import", "airbyte", path.to_str().unwrap()], dir.path(), &[]);
        assert_eq!(out.status.code(), Some(2), "{}: {}", path.display(), text(&out));
        assert!(
            out.stdout.is_empty(),
            "{}: nothing is written on exit 2",
            path.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}'),
            "{}: control characters are escaped",
            path.display()
        );
        for e in expected {
            assert!(
                stderr.contains(&e),
                "{}: expected {e:?} in {stderr}",
                path.display()
            );
        }
    }
}

#[test]
fn translations_match_their_golden_configs_load_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    for path in corpus("translate") {
        let config_json = path.with_extension("config.json");
        let config = config_json
            .exists()
            .then(|| serde_json::from_str(&std::fs::read_to_string(&config_json).unwrap()).unwrap());
        let imported = import(
            &std::fs::read_to_string(&path).unwrap(),
            &ImportOptions {
                config,
                ..ImportOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            imported.exit_code(),
            0,
            "{}: {:?}",
            path.display(),
            imported.refusals
        );
        let golden = std::fs::read_to_string(path.with_extension("toml")).unwrap();
        assert_eq!(imported.toml.trim_end(), golden.trim_end(), "{}", path.display());
        assert!(
            !imported.toml.contains("never-written"),
            "{}: a secret was written",
            path.display()
        );
        // Loaded as a crawl loads it, with the variables it names exported.
        let toml = write(dir.path(), "out.toml", &imported.toml);
        let env: Vec<(&str, &str)> = imported
            .variables
            .iter()
            // A `select` auth's variable names one of its options; a
            // `values` list's holds a JSON array.
            .map(|v| {
                let value = if v.name == "AUTH_TYPE" {
                    "token"
                } else if imported.toml.contains(&format!("from = \"{}\"", v.placeholder())) {
                    r#"["2024-01-01"]"#
                } else {
                    "2024-01-01"
                };
                (v.name.as_str(), value)
            })
            .collect();
        let out = run(&[&toml, "--check"], dir.path(), &env);
        assert_eq!(out.status.code(), Some(0), "{}: {}", path.display(), text(&out));
    }
    assert!(
        !dir.path().join("crawl.db").exists(),
        "--check touches no database"
    );
}

/// Imports `manifest` against `server` into `dir` and crawls it; returns the database.
fn import_and_crawl(
    name: &str,
    server: &MockServer,
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> PathBuf {
    let db = dir.join("crawl.db");
    let database = format!("sqlite://{}", db.display());
    let out_toml = dir.join("out.toml");
    let manifest = manifest(name);
    let mut args = vec![
        "import",
        "airbyte",
        &manifest,
        "--url-base",
        server.base_url(),
        "--database",
        &database,
        "-o",
        out_toml.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args, dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let check = run(&[out_toml.to_str().unwrap(), "--check"], dir, env);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let crawl = run(&[out_toml.to_str().unwrap(), "--quiet"], dir, env);
    assert_eq!(
        crawl.status.code(),
        Some(0),
        "{}\nconfig:\n{}",
        text(&crawl),
        std::fs::read_to_string(&out_toml).unwrap()
    );
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_substream_manifest_crawls_parents_and_children_exactly() {
    let config = MockConfig {
        tree_repos: 7,
        per_page: 4,
        require_bearer: Some("tree-token".into()),
        ..MockConfig::default()
    };
    let server = MockServer::start(config.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("tree.yaml", &server, dir.path(), &[], &[("TOKEN", "tree-token")]);
    let (n, repos) = sqlite_keys(&db, "repos").await;
    assert_eq!((n, repos), (7, (1..=7).map(|r| r.to_string()).collect()));
    let expected: BTreeSet<String> = (1..=7)
        .flat_map(|r| (0..tree_issue_count(r, 4)).map(move |i| tree_issue(r, i)["id"].to_string()))
        .collect();
    let (n, issues) = sqlite_keys(&db, "issues").await;
    assert_eq!(n as usize, expected.len());
    assert_eq!(issues, expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_in_the_query_and_a_body_cursor_crawl_exact_rows() {
    let config = MockConfig {
        items: 250,
        require_access_token: Some("k-123".into()),
        ..MockConfig::default()
    };
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl(
        "e2e_cursor.yaml",
        &server,
        dir.path(),
        &[],
        &[("API_KEY", "k-123")],
    );
    assert_eq!(sqlite_keys(&db, "items").await, (250, mock_keys(250)));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests.iter().all(|r| r.contains("fields=id%2Cname")),
        "{requests:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_credentials_and_page_numbers_crawl_exact_rows() {
    let server = MockServer::start(MockConfig {
        items: 250,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "client_id": "mock-client",
        "client_secret": "mock-secret-0123",
    });
    let config_path = write(dir.path(), "config.json", &config.to_string());
    let db = import_and_crawl(
        "e2e_oauth.yaml",
        &server,
        dir.path(),
        &["--config", &config_path],
        &[("CLIENT_SECRET", "mock-secret-0123")],
    );
    assert_eq!(sqlite_keys(&db, "protected").await, (250, mock_keys(250)));
    assert!(server.token_issues() >= 1);
    let toml = std::fs::read_to_string(dir.path().join("out.toml")).unwrap();
    assert!(
        !toml.contains("mock-secret-0123") && toml.contains("${CLIENT_SECRET}"),
        "{toml}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_translated_manifest_exits_3_names_why_and_still_crawls() {
    let server = MockServer::start(MockConfig {
        items: 120,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let database = format!("sqlite://{}", db.display());
    let manifest = manifest("e2e_partly.yaml");
    let out = run(
        &[
            "import",
            "airbyte",
            &manifest,
            "--url-base",
            server.base_url(),
            "--database",
            &database,
        ],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let toml = String::from_utf8(out.stdout.clone()).unwrap();
    let why =
        "stream regions: /streams/1/retriever/partition_router (CustomPartitionRouter): custom Python code";
    assert!(toml.contains(&format!("# - {why}")), "{toml}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(why));
    let path = write(dir.path(), "out.toml", &toml);
    let crawl = run(&[&path, "--quiet"], dir.path(), &[]);
    assert_eq!(crawl.status.code(), Some(0), "{}", text(&crawl));
    assert_eq!(sqlite_keys(&db, "pages").await, (120, mock_keys(120)));
    server.shutdown().await;
}

#[test]
fn check_validates_without_crawling_and_names_the_line_of_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        "[runtime]\ndatabase = \"sqlite://never.db\"\n\n[[collection]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n",
    );
    let out = run(&[&good, "--check"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!dir.path().join("never.db").exists());
    let bad = write(
        dir.path(),
        "bad.toml",
        "[[collection]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\nmax_pages = 0\n",
    );
    let out = run(&[&bad, "--check"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 4") && stderr.contains("max_pages"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_importer_or_missing_manifest_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        run(&["import", "singer", "x.yaml"], dir.path(), &[])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["import", "airbyte"], dir.path(), &[]).status.code(),
        Some(2)
    );
    let out = run(&["import", "airbyte", "missing.yaml"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn the_example_in_the_airbyte_guide_is_what_the_import_writes() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/airbyte.md")).unwrap();
    let block = |fence: &str| {
        guide
            .split(fence)
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap()
            .to_owned()
    };
    let imported = import(&block("```yaml\n"), &ImportOptions::default()).unwrap();
    assert_eq!(imported.exit_code(), 3);
    assert_eq!(imported.toml, block("```toml\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_token_from_a_login_crawls_exact_rows() {
    let server = MockServer::start(MockConfig {
        items: 250,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = write(
        dir.path(),
        "config.json",
        r#"{"username": "mock-user", "password": "mock-password-77"}"#,
    );
    let db = import_and_crawl(
        "e2e_session.yaml",
        &server,
        dir.path(),
        &["--config", &config_path],
        &[("PASSWORD", "mock-password-77")],
    );
    assert_eq!(sqlite_keys(&db, "sessions").await, (250, mock_keys(250)));
    let toml = std::fs::read_to_string(dir.path().join("out.toml")).unwrap();
    assert!(
        !toml.contains("mock-password-77") && toml.contains("${PASSWORD}"),
        "{toml}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_handler_ignoring_404_skips_deleted_children_and_keeps_the_rest() {
    let server = MockServer::start(MockConfig {
        items: 30,
        per_page: 10,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("e2e_ignore_404.yaml", &server, dir.path(), &[], &[]);
    assert_eq!(sqlite_keys(&db, "parents").await, (30, mock_keys(30)));
    let expected: BTreeSet<String> = (0..30)
        .filter(|i| !child_deleted(*i))
        .flat_map(|i| (0..CHILDREN_PER_PARENT).map(move |j| child_item(i, j)["id"].to_string()))
        .collect();
    let (n, children) = sqlite_keys(&db, "children").await;
    assert_eq!(n as usize, expected.len());
    assert_eq!(children, expected);
    assert!((0..30).any(child_deleted), "some children are deleted");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datetime_cursor_with_a_step_crawls_its_windows_exactly() {
    let server = MockServer::start(MockConfig {
        items: 100,
        per_page: 10,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Without --config the start date is read from the environment at each run.
    let db = import_and_crawl(
        "e2e_windows.yaml",
        &server,
        dir.path(),
        &[],
        &[("START_DATE", "2024-01-01T00:00:00Z")],
    );
    // Events are hourly from 2024-01-01T00:00:00Z: three days hold 72 of them.
    assert_eq!(sqlite_keys(&db, "events").await, (72, mock_keys(72)));
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("from=2024-01-02T00%3A00%3A00Z") || r.contains("from=2024-01-02T00:00:00Z")),
        "{requests:?}"
    );
    // One day is 24 events: pages of 10, 10 and 4 (short: the window ends).
    assert_eq!(requests.len(), 9, "{requests:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_authenticator_without_config_is_chosen_by_a_variable() {
    let server = MockServer::start(MockConfig {
        tree_repos: 7,
        per_page: 3,
        require_bearer: Some("sel-token".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("AUTH_TYPE", "Access Token"), ("ACCESS_TOKEN", "sel-token")];
    let db = import_and_crawl("e2e_selective.yaml", &server, dir.path(), &[], &env);
    let (n, repos) = sqlite_keys(&db, "repos").await;
    assert_eq!((n, repos), (7, (1..=7).map(|r| r.to_string()).collect()));
    let toml = dir.path().join("out.toml");
    let toml = toml.to_str().unwrap();
    assert!(
        std::fs::read_to_string(toml)
            .unwrap()
            .contains(r#"by = "${AUTH_TYPE}""#),
        "the choice is left to the variable"
    );
    // Another option: only its own variables are needed, and it is sent
    // (the server wants the bearer token, so the basic login fails).
    let basic = [("AUTH_TYPE", "basic"), ("USERNAME", "u"), ("PASSWORD", "p")];
    assert_eq!(run(&[toml, "--check"], dir.path(), &basic).status.code(), Some(0));
    let fresh = run(&[toml, "--quiet", "--fresh"], dir.path(), &basic);
    assert_eq!(fresh.status.code(), Some(1), "{}", text(&fresh));
    // A value naming no option is a config error at the auth's line.
    let wrong = run(&[toml, "--check"], dir.path(), &[("AUTH_TYPE", "oauth")]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(r#"auth.by: "oauth" is not one of the options ("Access Token", "basic")"#)
            && stderr.contains("line "),
        "{stderr}"
    );
    server.shutdown().await;
}

/// The `id`s of a keyless table's rows, in no particular order.
async fn keyless_ids(db: &Path, table: &str) -> Vec<i64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT data FROM \"{table}\"")))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| {
            let data: String = r.get(0);
            let id = serde_json::from_str::<serde_json::Value>(&data).unwrap()["id"].clone();
            id.as_i64()
                .or_else(|| id.as_str()?.parse().ok())
                .unwrap_or_else(|| panic!("id {id}"))
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_cursor_without_step_and_an_or_stop_condition_crawl_exact_rows() {
    let server = MockServer::start(MockConfig {
        items: 100,
        per_page: 10,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("START_DATE", "2024-01-01T00:00:00Z")];
    let db = import_and_crawl("e2e_keyless_or_stop.yaml", &server, dir.path(), &[], &env);
    // Events are hourly from 2024-01-01T00:00:00Z: three days hold 72, in
    // one window (pages of 10: eight requests, the last one short).
    let all: Vec<i64> = (0..72).collect();
    assert_eq!(keyless_ids(&db, "events").await, all);
    let events = |requests: &[String]| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.contains("/events"))
            .cloned()
            .collect()
    };
    let first = events(&server.requests());
    assert_eq!(first.len(), 8, "{first:?}");
    assert!(
        first
            .iter()
            .all(|r| r.contains("from=2024-01-01T00") && r.contains("to=2024-01-04T00")),
        "{first:?}"
    );
    assert_eq!(sqlite_keys(&db, "items").await, (100, mock_keys(100)));
    // The next run sends Airbyte's first request again and replaces the rows.
    let out = dir.path().join("out.toml");
    let again = run(&[out.to_str().unwrap(), "--quiet"], dir.path(), &env);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let both = events(&server.requests());
    assert_eq!(both.len(), 16, "{both:?}");
    assert!(
        both[8..].iter().all(|r| r.contains("from=2024-01-01T00")),
        "{both:?}"
    );
    assert_eq!(keyless_ids(&db, "events").await, all);
    server.shutdown().await;
}
