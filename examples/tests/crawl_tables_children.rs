//! End-to-end: typed tables through the `crawl` binary, on SQLite files and
//! PostgreSQL, where they meet child tables and schema changes: typed
//! columns (and `unnest`) on a child collection, `unnest` through staging
//! (swapped in with the parent, a failed run leaving the live tables as
//! they were; `kill -9` and resumed exactly), a column added to an
//! unnested child table and backfilled, and a backfill that fails half-way
//! leaving the table untouched; a parent item holding values a
//! `serde_json::Value` cannot hold.

mod support;

use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::tables::{
    Db, EVERY_TYPE, PER_PAGE, UNNEST, check_every_type, config, labels, postgres, run_ok, sqlite, unique,
};
use support::{crawl, spawn_crawl, wait_bounded, write};

/// A parent over `/typed` (`n` items) and a typed child per parent item,
/// fetching `/typed` again with the parent's id as the version.
fn parent_and_child(db: &Db, base: &str, parent: &str, child: &str) -> String {
    parent_and_child_with(db, base, parent, child, &format!("{EVERY_TYPE}\n{UNNEST}"), "")
}

/// [`parent_and_child`] with the child's `table` settings.
/// `query` is added to the child's URL.
fn parent_and_child_with(db: &Db, base: &str, parent: &str, child: &str, table: &str, query: &str) -> String {
    format!(
        "[runtime]\ndatabase = \"{}\"\n\n[[collection]]\nname = \"{parent}\"\nurl = \"{base}/typed\"\n\
         items = \"/items\"\npagination = {{ style = \"page\" }}\n\n[[collection]]\nname = \"{child}\"\n\
         parent = \"{parent}\"\nurl = \"{base}/typed?v={{/id}}{query}\"\nitems = \"/items\"\n\
         pagination = {{ style = \"page\" }}\nkey = [\"parent\", \"/id\"]\n{table}\n",
        db.url
    )
}

async fn typed_child_collection(db: Db) {
    let n = 6;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (parent, child) = (unique("par"), unique("kid"));
    let text = parent_and_child(&db, server.base_url(), &parent, &child);
    let path = write(dir.path(), "crawl.toml", &text);
    run_ok(&[&path, "--quiet"], dir.path());
    check_every_type(&db, &child, n * n).await;
    // Nothing rejected: replay-rejected moves nothing.
    let said = run_ok(&["replay-rejected", &path], dir.path());
    assert!(
        said.contains(&format!("{child}: 0 replayed into its table, 0 still rejected")),
        "{said}"
    );
    // Each row's parent column is its parent's key, the key's first part.
    let rows = db
        .strings(&format!(
            "SELECT \"key\" || ' ' || parent FROM \"{child}\" ORDER BY \"key\""
        ))
        .await;
    assert_eq!(rows.len(), n * n);
    for row in rows {
        let (key, parent_key) = row.split_once(' ').unwrap();
        let parts: Vec<serde_json::Value> = serde_json::from_str(key).unwrap();
        assert_eq!(parts[0].as_str(), Some(parent_key), "{row}");
    }
    // The child's own unnested arrays: item i of parent v has (i + v) % 4 labels.
    let want: usize = (0..n).map(|v| labels(n, v)).sum();
    assert_eq!(db.count(&format!("{child}__labels")).await, want);
    let weights = db
        .strings(&format!(
            "SELECT CAST(weight AS TEXT) || ' ' || CAST(\"data\" AS TEXT) FROM \"{child}__labels\""
        ))
        .await;
    for row in weights {
        let (w, data) = row.split_once(' ').unwrap();
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(w, data["weight"].to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_child_collection_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    typed_child_collection(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_child_collection_on_postgres() {
    if let Some(db) = postgres() {
        typed_child_collection(db).await;
    }
}

async fn child_rejects_and_replays(db: Db) {
    let n = 5;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (parent, child) = (unique("par"), unique("rej"));
    let base = server.base_url();
    let cols = r#"columns = { comments = { pointer = "/comments", type = "integer" } }"#;
    // Item 2 of every child is bad: kept in pipeline_rejected under `<child>/<parent key>`.
    let text = parent_and_child_with(&db, base, &parent, &child, cols, "&bad=2");
    run_ok(&[&write(dir.path(), "a.toml", &text), "--quiet"], dir.path());
    assert_eq!(db.count(&child).await, n * n - n);
    let kept = format!(
        "SELECT \"collection\" FROM pipeline_rejected WHERE substr(\"collection\", 1, {}) = '{child}/' \
         AND \"key\" = '[\"1\",2]'",
        child.len() + 1
    );
    assert_eq!(db.strings(&kept).await, [format!("{child}/1")]);
    // Fixed (comments as text), replay-rejected moves every child's item in.
    let fixed = r#"columns = { comments = "/comments" }"#;
    let text = parent_and_child_with(&db, base, &parent, &child, fixed, "&bad=2");
    let path = write(dir.path(), "b.toml", &text);
    let said = run_ok(&["replay-rejected", &path, "--migrate"], dir.path());
    assert!(
        said.contains(&format!("{child}: {n} replayed into its table, 0 still rejected")),
        "{said}"
    );
    assert_eq!(db.count(&child).await, n * n);
    assert!(db.strings(&kept).await.is_empty());
    let parents = db
        .strings(&format!(
            "SELECT parent FROM \"{child}\" WHERE comments = 'many' ORDER BY parent"
        ))
        .await;
    assert_eq!(parents, (0..n).map(|p| p.to_string()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_collection_rejects_and_replays_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    child_rejects_and_replays(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_collection_rejects_and_replays_on_postgres() {
    if let Some(db) = postgres() {
        child_rejects_and_replays(db).await;
    }
}

/// A parent item holding valid JSON a `serde_json::Value` cannot hold
/// (`1e400`, arrays nested 200 deep) still gives its children the fields
/// they read: every child is crawled.
async fn parent_with_unreadable_values(db: Db) {
    let n = 4;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (parent, child) = (unique("par"), unique("kid"));
    let base = server.base_url();
    let text = parent_and_child_with(&db, base, &parent, &child, "", "").replace(
        &format!("url = \"{base}/typed\"\n"),
        &format!("url = \"{base}/typed?huge=2\"\n"),
    );
    assert!(text.contains("huge=2"), "{text}");
    run_ok(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path());
    assert_eq!(db.count(&parent).await, n);
    assert_eq!(
        db.count(&child).await,
        n * n,
        "every child, the huge parent's too"
    );
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("/typed?v=2")),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_with_unreadable_values_feeds_its_children_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    parent_with_unreadable_values(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_with_unreadable_values_feeds_its_children_on_postgres() {
    if let Some(db) = postgres() {
        parent_with_unreadable_values(db).await;
    }
}

async fn inferred_child_collection(db: Db) {
    let n = 8;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (parent, child) = (unique("par"), unique("inf"));
    let text = parent_and_child_with(&db, server.base_url(), &parent, &child, "columns = \"infer\"", "");
    // Children inferring the same new columns at once add each once: no
    // child fails (and none may be resumed).
    let text = text.replace("[runtime]\n", "[runtime]\nmax_resumes = 0\n");
    run_ok(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path());
    assert_eq!(db.count(&child).await, n * n);
    let types = db.column_types(&child).await;
    let comments = if db.is_pg() {
        "comments bigint"
    } else {
        "comments integer"
    };
    for column in ["parent text", comments, "title text"] {
        assert!(types.contains(&column.to_owned()), "{column} in {types:?}");
    }
    for (v, data) in db.with_data(&child, "comments").await {
        assert_eq!(v, data["comments"].to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_child_collection_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    inferred_child_collection(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_child_collection_on_postgres() {
    if let Some(db) = postgres() {
        inferred_child_collection(db).await;
    }
}

/// Children inferring one new field with different types at once (`flex`
/// is a string from page `flex_from`, the parent's id, and an integer
/// before): all of them take the first child's type, which is the column's
/// and the recorded one; a value that does not fit it is rejected, never
/// written as another type, and every child completes.
async fn inferred_children_disagree(db: Db) {
    let n = 8;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE / 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (parent, child) = (unique("par"), unique("dis"));
    let text = parent_and_child_with(
        &db,
        server.base_url(),
        &parent,
        &child,
        "columns = \"infer\"",
        "&flex_from={/id}",
    );
    let text = text.replace("[runtime]\n", "[runtime]\nmax_resumes = 0\n");
    run_ok(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path());
    let recorded = db
        .strings(&format!(
            "SELECT \"type\" FROM pipeline_schemas WHERE table_name = '{child}' AND column_name = 'flex'"
        ))
        .await;
    let physical: Vec<String> = db
        .column_types(&child)
        .await
        .into_iter()
        .filter_map(|c| c.strip_prefix("flex ").map(str::to_owned))
        .collect();
    let want = match (recorded.first().map(String::as_str), db.is_pg()) {
        (Some("integer"), true) => "bigint",
        (Some("integer"), false) => "integer",
        (Some("text"), _) => "text",
        other => panic!("flex recorded as {other:?}"),
    };
    assert_eq!(physical, [want], "the recorded type is the column's");
    let rejected: usize = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM pipeline_rejected WHERE substr(\"collection\", 1, {}) = '{child}/'",
            child.len() + 1
        ))
        .await[0]
        .parse()
        .unwrap();
    assert_eq!(
        db.count(&child).await + rejected,
        n * n,
        "every item is stored or rejected"
    );
    for (v, data) in db.with_data(&child, "flex").await {
        let field = &data["flex"];
        let expected = field.as_str().map_or_else(|| field.to_string(), str::to_owned);
        assert_eq!(v, expected, "{data}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_children_disagreeing_on_a_type_agree_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    inferred_children_disagree(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_children_disagreeing_on_a_type_agree_on_postgres() {
    if let Some(db) = postgres() {
        inferred_children_disagree(db).await;
    }
}

async fn staged_unnest(db: Db) {
    let n = 40;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("stu");
    let child = format!("{name}__labels");
    let staging = "mode = \"staging\"\nmax_resumes = 0";
    let table = format!("{EVERY_TYPE}\n{UNNEST}");
    let run = |v: usize, extra: &str| {
        let text = config(
            &db,
            server.base_url(),
            &name,
            &format!("{table}\n{extra}"),
            staging,
            &format!("v={v}"),
        );
        crawl(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path())
    };
    assert!(run(0, "").status.success());
    assert_eq!(db.count(&child).await, labels(n, 0));
    check_every_type(&db, &name, n).await;
    // A staged run that fails after its first page leaves both live tables as they were.
    let failed = run(1, "max_pages = 1");
    assert_eq!(failed.status.code(), Some(1), "max_pages fails the run");
    assert_eq!(
        db.count(&child).await,
        labels(n, 0),
        "the live child table is the old one"
    );
    let stale = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM \"{child}\" WHERE parent_key = '1'"
        ))
        .await;
    assert_eq!(
        stale,
        ["1"],
        "item 1 of version 0 has one label (two in version 1)"
    );
    // The resumed run swaps both in; arrays that shrank leave no stale rows.
    for v in [1, 3] {
        assert!(run(v, "").status.success(), "version {v}");
        assert_eq!(db.count(&child).await, labels(n, v), "version {v}");
    }
    let rows = db
        .strings(&format!(
            "SELECT parent_key || ':' || idx || ':' || name || ':' || weight FROM \"{child}\" WHERE parent_key = '2'"
        ))
        .await;
    assert_eq!(rows, ["2:0:label-0:0"]);
    check_every_type(&db, &name, n).await;
    // No staging table is left behind.
    let left = if db.is_pg() {
        format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM information_schema.tables WHERE table_schema = 'pipeline_staging' \
             AND table_name IN ('{name}', '{child}')"
        )
    } else {
        "SELECT CAST(COUNT(*) AS TEXT) FROM sqlite_master WHERE name LIKE 'pipeline_staging%'".to_owned()
    };
    assert_eq!(db.strings(&left).await, ["0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_unnest_swaps_child_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    staged_unnest(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_unnest_swaps_child_tables_on_postgres() {
    if let Some(db) = postgres() {
        staged_unnest(db).await;
    }
}

async fn staged_killed_and_resumed(db: Db) {
    let n = 2_000;
    let mock = MockConfig::new(n, PER_PAGE).latency(Duration::from_millis(3));
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("skl");
    let table = format!("{EVERY_TYPE}\n{UNNEST}");
    let text = config(&db, server.base_url(), &name, &table, "mode = \"staging\"", "v=1");
    let path = write(dir.path(), "crawl.toml", &text);
    let staging = match db.is_pg() {
        true => format!("\"pipeline_staging\".\"{name}\""),
        false => format!("\"pipeline_staging__{name}\""),
    };
    let mut child = spawn_crawl(&path, dir.path(), std::process::Stdio::null);
    // Killed once some pages are committed to the staging tables.
    let mut seen = 0;
    for _ in 0..2_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = db.try_count_from(&staging).await;
        if seen >= 200 {
            break;
        }
    }
    assert!(seen >= 200, "the crawl staged {seen} rows");
    child.kill().expect("SIGKILL");
    let _ = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(db.try_count_from(&staging).await < n, "killed mid-crawl");
    assert_eq!(
        db.try_count(&format!("{name}__labels")).await,
        0,
        "nothing is live yet"
    );
    run_ok(&[&path, "--quiet"], dir.path());
    assert_eq!(db.count(&name).await, n);
    assert_eq!(
        db.count(&format!("{name}__labels")).await,
        labels(n, 1),
        "no duplicate child rows"
    );
    let wrong = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM \"{name}\" WHERE comments IS NULL OR title IS NULL"
        ))
        .await;
    assert_eq!(wrong, ["0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_run_killed_resumes_exactly_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    staged_killed_and_resumed(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_run_killed_resumes_exactly_on_postgres() {
    if let Some(db) = postgres() {
        staged_killed_and_resumed(db).await;
    }
}

async fn child_column_added(db: Db) {
    let n = 50;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("chc");
    let child = format!("{name}__labels");
    let before = r#"unnest = { labels = { pointer = "/labels", columns = { name = "/name" } } }"#;
    let text = config(&db, server.base_url(), &name, before, "", "");
    run_ok(&[&write(dir.path(), "a.toml", &text), "--quiet"], dir.path());
    assert!(
        !db.column_types(&child)
            .await
            .iter()
            .any(|c| c.starts_with("weight "))
    );
    // The added column is filled from `data` for every stored child row,
    // though this run rewrites only the first page's.
    let after = format!("{UNNEST}\nmax_pages = 1");
    let text = config(&db, server.base_url(), &name, &after, "max_resumes = 0", "");
    let out = crawl(&[&write(dir.path(), "b.toml", &text), "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(1), "max_pages fails the run after page 1");
    let ty = if db.is_pg() {
        "weight bigint"
    } else {
        "weight integer"
    };
    assert!(db.column_types(&child).await.contains(&ty.to_owned()));
    let rows = db
        .strings(&format!(
            "SELECT COALESCE(CAST(weight AS TEXT), 'NULL') || ' ' || CAST(\"data\" AS TEXT) FROM \"{child}\""
        ))
        .await;
    assert_eq!(rows.len(), labels(n, 0));
    for row in rows {
        let (w, data) = row.split_once(' ').unwrap();
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(w, data["weight"].to_string(), "{row}");
    }
    // A child column's changed type exits 2 naming it; --migrate rebuilds it.
    let changed = UNNEST.replace("type = \"integer\"", "type = \"text\"");
    let text = config(&db, server.base_url(), &name, &changed, "", "");
    let path = write(dir.path(), "c.toml", &text);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&name) && err.contains("column labels.weight") && err.contains("--migrate"),
        "{err}"
    );
    run_ok(&[&path, "--quiet", "--migrate"], dir.path());
    assert!(db.column_types(&child).await.contains(&"weight text".to_owned()));
    let nulls = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM \"{child}\" WHERE weight IS NULL"
        ))
        .await;
    assert_eq!(nulls, ["0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn child_column_added_is_backfilled_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    child_column_added(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn child_column_added_is_backfilled_on_postgres() {
    if let Some(db) = postgres() {
        child_column_added(db).await;
    }
}

/// Rows added behind the crawl's back, past the backfill's first chunks.
const EXTRA: usize = 12_000;

async fn backfill_all_or_nothing(db: Db) {
    let n = 30;
    let server = MockServer::start(MockConfig::new(n, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("bfl");
    let base = server.base_url();
    let text = config(&db, base, &name, r#"columns = { title = "/title" }"#, "", "");
    run_ok(&[&write(dir.path(), "a.toml", &text), "--quiet"], dir.path());
    let last = EXTRA - 1;
    let (insert, trigger, untrigger) = if db.is_pg() {
        let f = format!("{name}_boom");
        (
            format!(
                "INSERT INTO \"{name}\" (\"key\", \"data\", \"fetched_at\") SELECT 'x' || lpad(i::text, 5, '0'), \
                 jsonb_build_object('id', i, 'comments', i * 2), now() FROM generate_series(0, {last}) AS i"
            ),
            vec![
                format!(
                    "CREATE FUNCTION \"{f}\"() RETURNS trigger AS $$ BEGIN IF NEW.\"key\" = 'x11000' THEN \
                     RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                ),
                format!(
                    "CREATE TRIGGER \"{f}\" BEFORE UPDATE ON \"{name}\" FOR EACH ROW EXECUTE FUNCTION \"{f}\"()"
                ),
            ],
            format!("DROP TRIGGER \"{f}\" ON \"{name}\""),
        )
    } else {
        (
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
                 INSERT INTO \"{name}\" (\"key\", \"data\", \"fetched_at\") SELECT printf('x%05d', i), \
                 json_object('id', i, 'comments', i * 2), '2024-01-01T00:00:00Z' FROM n"
            ),
            vec![format!(
                "CREATE TRIGGER boom BEFORE UPDATE ON \"{name}\" WHEN NEW.\"key\" = 'x11000' \
                 BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )],
            "DROP TRIGGER boom".to_owned(),
        )
    };
    db.strings(&insert).await;
    for sql in &trigger {
        db.strings(sql).await;
    }
    // The backfill fails on a row of its third chunk: nothing of it stays.
    let cols = r#"columns = { title = "/title", comments = { pointer = "/comments", type = "integer" } }
retry = { max_attempts = 1 }"#;
    let text = config(&db, base, &name, cols, "max_resumes = 0", "");
    let path = write(dir.path(), "b.toml", &text);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(!out.status.success(), "the backfill failed");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("boom"), "the trigger failed it: {said}");
    assert!(
        !db.column_types(&name)
            .await
            .iter()
            .any(|c| c.starts_with("comments ")),
        "the column added by the failed backfill is rolled back"
    );
    let recorded = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM pipeline_schemas WHERE table_name = '{name}' AND column_name = 'comments'"
        ))
        .await;
    assert_eq!(recorded, ["0"]);
    // Fixed, the next run adds and fills it whole.
    db.strings(&untrigger).await;
    run_ok(&[&path, "--quiet"], dir.path());
    let filled = db.with_data(&name, "comments").await;
    assert_eq!(filled.len(), n + EXTRA);
    for (v, data) in filled {
        assert_eq!(v, data["comments"].to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_backfill_leaves_the_table_untouched_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    backfill_all_or_nothing(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_backfill_leaves_the_table_untouched_on_postgres() {
    if let Some(db) = postgres() {
        backfill_all_or_nothing(db).await;
    }
}
