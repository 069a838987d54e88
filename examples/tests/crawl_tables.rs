//! End-to-end: typed tables through the `crawl` binary, on SQLite files and
//! PostgreSQL: every column type (read back from `pragma table_info` /
//! `information_schema.columns`), each `on_mismatch` mode and
//! `replay-rejected`, inference, a column added and backfilled, `--migrate`,
//! `unnest` re-crawled, `kill -9` and resume, staging and a cluster crawl;
//! values a `serde_json::Value` cannot hold.

mod support;

use std::path::Path;
use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer, TypedShape, typed_item};
use support::tables::{
    Db, EVERY_TYPE, PER_PAGE, UNNEST, check_every_type, config, labels, postgres, run_ok, sqlite, unique,
};
use support::{crawl, crawl_exits, spawn_crawl, wait_bounded, write};

async fn every_type(db: Db) {
    let server = MockServer::start(MockConfig::new(45, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("every");
    let path = write(
        dir.path(),
        "crawl.toml",
        &config(&db, server.base_url(), &name, EVERY_TYPE, "", ""),
    );
    run_ok(&[&path, "--quiet"], dir.path());
    check_every_type(&db, &name, 45).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    every_type(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_on_postgres() {
    if let Some(db) = postgres() {
        every_type(db).await;
    }
}

/// Crawls `name` (`table` settings, `/typed?{query}`), which must store
/// `stored` rows and keep one item in `pipeline_rejected`; returns that
/// item's `key column cursor error`.
async fn one_rejected(
    db: &Db,
    dir: &Path,
    base: &str,
    name: &str,
    table: &str,
    query: &str,
    stored: usize,
) -> String {
    let path = write(
        dir,
        &format!("{name}.toml"),
        &config(db, base, name, table, "", query),
    );
    let said = run_ok(&[&path, "--quiet"], dir);
    assert!(
        said.contains(&format!("{name}: 1 item(s) kept in pipeline_rejected")),
        "{said}"
    );
    assert_eq!(db.count(name).await, stored);
    let rejected = db
        .strings(&format!(
            "SELECT \"key\" || ' ' || \"column\" || ' ' || COALESCE(\"cursor\", '<start>') || ' ' || \"error\" \
             FROM pipeline_rejected WHERE collection = '{name}'"
        ))
        .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    rejected.into_iter().next().unwrap_or_default()
}

async fn mismatch_modes_and_replay(db: Db) {
    let server = MockServer::start(MockConfig::new(30, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cols = r#"columns = { comments = { pointer = "/comments", type = "integer" } }"#;
    let base = server.base_url();
    // reject (the default): item 13 is kept in pipeline_rejected, not in the table.
    let rej = unique("rej");
    let rejected = one_rejected(&db, dir.path(), base, &rej, cols, "bad=13", 29).await;
    assert!(rejected.starts_with("13 comments "), "{rejected}");
    assert!(
        rejected.contains("expected an integer, got a string"),
        "{rejected}"
    );
    // null: the item is kept with a NULL.
    let nul = unique("nul");
    let text = config(
        &db,
        base,
        &nul,
        &format!("{cols}\non_mismatch = \"null\""),
        "",
        "bad=13",
    );
    let path = write(dir.path(), "nul.toml", &text);
    run_ok(&[&path, "--quiet"], dir.path());
    assert_eq!(db.count(&nul).await, 30);
    let v = db
        .strings(&format!(
            "SELECT CAST(comments AS TEXT) FROM \"{nul}\" WHERE \"key\" = '13'"
        ))
        .await;
    assert_eq!(v, ["NULL"]);
    // fail: the collection fails naming the key, the column and the type.
    let fai = unique("fai");
    let text = config(
        &db,
        base,
        &fai,
        &format!("{cols}\non_mismatch = \"fail\"\nretry = {{ max_attempts = 1 }}"),
        "max_resumes = 0",
        "bad=13",
    );
    let path = write(dir.path(), "fai.toml", &text);
    let all = crawl_exits(&[&path, "--quiet"], dir.path(), 1);
    for part in ["key \"13\"", "column comments", "got a string", "cursor"] {
        assert!(all.contains(part), "{part} in {all}");
    }
    // The config is fixed (comments as text): replay moves item 13 back.
    let fixed = config(
        &db,
        base,
        &rej,
        r#"columns = { comments = "/comments" }"#,
        "",
        "bad=13",
    );
    let path = write(dir.path(), "fixed.toml", &fixed);
    let out = crawl(&["replay-rejected", &path, "--only", &rej], dir.path());
    assert_eq!(out.status.code(), Some(2), "a changed type needs --migrate");
    assert!(String::from_utf8_lossy(&out.stderr).contains("comments"));
    let said = run_ok(&["replay-rejected", &path, "--migrate"], dir.path());
    assert!(said.contains("1 replayed"), "{said}");
    assert_eq!(db.count(&rej).await, 30);
    let left = db
        .strings(&format!(
            "SELECT \"key\" FROM pipeline_rejected WHERE collection = '{rej}'"
        ))
        .await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mismatch_modes_and_replay_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    mismatch_modes_and_replay(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mismatch_modes_and_replay_on_postgres() {
    if let Some(db) = postgres() {
        mismatch_modes_and_replay(db).await;
    }
}

/// Item 13 holds valid JSON a `serde_json::Value` cannot hold (`comments`
/// is `1e400`, `labels` nested 200 deep): a mismatch of those columns, never
/// a "missing key" that fails the whole item; as a key, a clear failure.
async fn unreadable_values(db: Db) {
    let server = MockServer::start(MockConfig::new(30, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.base_url();
    let cols = r#"columns = { title = "/title", comments = { pointer = "/comments", type = "integer" }, labels = { pointer = "/labels", type = "json" } }"#;
    // reject (the default): kept in pipeline_rejected, naming the column and why.
    let rej = unique("unr");
    let why = one_rejected(&db, dir.path(), base, &rej, cols, "huge=13", 29).await;
    assert!(why.starts_with("13 comments "), "{why}");
    assert!(why.contains("cannot be read: number out of range"), "{why}");
    // null: kept, with NULL in both columns and the item as it came in `data`.
    let nul = unique("unn");
    let table = format!("{cols}\non_mismatch = \"null\"");
    let path = write(
        dir.path(),
        "nul.toml",
        &config(&db, base, &nul, &table, "", "huge=13"),
    );
    run_ok(&[&path, "--quiet"], dir.path());
    assert_eq!(db.count(&nul).await, 30);
    let row = db
        .strings(&format!(
            "SELECT COALESCE(CAST(comments AS TEXT), 'NULL') || ' ' || COALESCE(CAST(labels AS TEXT), 'NULL') \
             || ' ' || title FROM \"{nul}\" WHERE \"key\" = '13'"
        ))
        .await;
    assert_eq!(row, ["NULL NULL issue 13"]);
    if !db.is_pg() {
        // PostgreSQL's `jsonb` spells the number out; SQLite keeps the text.
        let data = db
            .strings(&format!("SELECT data FROM \"{nul}\" WHERE \"key\" = '13'"))
            .await;
        assert!(data[0].contains(r#""comments":1e400"#), "{data:?}");
    }
    // Inferred: no type is inferred from it, and it does not fit the column
    // the other items give (the item is on the first page, where the
    // column is new).
    let inf = unique("uni");
    let why = one_rejected(&db, dir.path(), base, &inf, r#"columns = "infer""#, "huge=3", 29).await;
    assert!(why.starts_with("3 comments "), "{why}");
    assert!(why.contains("cannot be read"), "{why}");
    let types = db.column_types(&inf).await;
    let integer = if db.is_pg() {
        "comments bigint"
    } else {
        "comments integer"
    };
    assert!(types.contains(&integer.to_owned()), "{types:?}");
    // The last item of a page, read for a last-item cursor: its other fields still lead on.
    let cur = unique("unc");
    let paged = r#"pagination = { style = "page" }"#;
    let by_cursor =
        r#"pagination = { style = "cursor", param = "after", last_item = "/id", has_more = "/has_more" }"#;
    let text = config(&db, base, &cur, "", "", "huge=29&page=3").replace(paged, by_cursor);
    assert!(text.contains("last_item"), "{text}");
    run_ok(&[&write(dir.path(), "cur.toml", &text), "--quiet"], dir.path());
    assert_eq!(db.count(&cur).await, PER_PAGE);
    // Items read as trees (a record transform): the page is refused, saying why.
    let tra = unique("unt");
    let table = "transform = { remove = [\"/user\"] }\nretry = { max_attempts = 1 }";
    let text = config(&db, base, &tra, table, "max_resumes = 0", "huge=13");
    let all = crawl_exits(&[&write(dir.path(), "tra.toml", &text), "--quiet"], dir.path(), 1);
    assert!(
        all.contains("body is valid JSON holding a value that cannot be read as a tree here"),
        "{all}"
    );
    // As the key, with and without typed columns: the collection fails
    // saying so, not that the key is missing.
    for (n, table) in [("", ""), ("t", cols)] {
        let name = unique(&format!("unk{n}"));
        let table = format!("key = \"/comments\"\nretry = {{ max_attempts = 1 }}\n{table}");
        let text = config(&db, base, &name, &table, "max_resumes = 0", "huge=13");
        let path = write(dir.path(), &format!("key{n}.toml"), &text);
        let all = crawl_exits(&[&path, "--quiet"], dir.path(), 1);
        assert!(
            all.contains(r#"key "/comments" cannot be read: number out of range"#),
            "{all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_values_are_mismatches_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    unreadable_values(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_values_are_mismatches_on_postgres() {
    if let Some(db) = postgres() {
        unreadable_values(db).await;
    }
}

async fn inference(db: Db) {
    let server = MockServer::start(MockConfig::new(100, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("inf");
    // First run: neither `late` nor a string `flex` yet.
    let text = config(
        &db,
        server.base_url(),
        &name,
        "columns = \"infer\"",
        "",
        "late_from=99&flex_from=99",
    );
    run_ok(&[&write(dir.path(), "a.toml", &text), "--quiet"], dir.path());
    assert!(
        !db.column_types(&name)
            .await
            .iter()
            .any(|t| t.starts_with("late "))
    );
    // Second run: `late` appears on page 7 (a column added mid-crawl),
    // `flex` turns into strings on page 9 (rejected: its column is an integer).
    let text = config(&db, server.base_url(), &name, "columns = \"infer\"", "", "");
    run_ok(&[&write(dir.path(), "b.toml", &text), "--quiet"], dir.path());
    let types = db.column_types(&name).await;
    let int = if db.is_pg() { "bigint" } else { "integer" };
    for want in [
        format!("comments {int}"),
        format!("flex {int}"),
        "late text".to_owned(),
    ] {
        assert!(types.contains(&want), "{want} in {types:?}");
    }
    assert!(
        !types
            .iter()
            .any(|t| t.starts_with("labels ") || t.starts_with("user ")),
        "{types:?}"
    );
    // `late` appeared on page 7 (items 60..); `flex` turned into strings on page 9.
    let late = db.with_data(&name, "late").await;
    assert_eq!(late.len(), 20, "items 60..80 have it; 80.. were rejected");
    for (v, data) in late {
        assert_eq!(v, data["late"].as_str().unwrap());
    }
    let shape = TypedShape::default();
    assert_eq!(
        db.strings(&format!(
            "SELECT CAST(data AS TEXT) FROM \"{name}\" WHERE \"key\" = '79'"
        ))
        .await
        .len(),
        1
    );
    let _ = typed_item(79, PER_PAGE, shape);
    let rejected = db
        .strings(&format!(
            "SELECT \"column\" FROM pipeline_rejected WHERE collection = '{name}'"
        ))
        .await;
    assert_eq!(rejected.len(), 20, "pages 9 and 10");
    assert!(rejected.iter().all(|c| c == "flex"), "{rejected:?}");
    let stored = db
        .strings(&format!(
            "SELECT column_name || ' ' || type FROM pipeline_schemas WHERE table_name = '{name}' ORDER BY column_name"
        ))
        .await;
    assert!(
        stored.contains(&"late text".to_owned()) && stored.contains(&"flex integer".to_owned()),
        "{stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inference_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    inference(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inference_on_postgres() {
    if let Some(db) = postgres() {
        inference(db).await;
    }
}

async fn evolution(db: Db) {
    let server = MockServer::start(MockConfig::new(50, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("evo");
    let base = server.base_url();
    let first = config(&db, base, &name, r#"columns = { title = "/title" }"#, "", "");
    run_ok(&[&write(dir.path(), "a.toml", &first), "--quiet"], dir.path());
    // A column added: backfilled from `data` for every stored row, though
    // this run fetches only the first page.
    let cols = r#"columns = { title = "/title", comments = { pointer = "/comments", type = "integer" } }
max_pages = 1"#;
    let added = config(&db, base, &name, cols, "", "");
    let out = crawl(&[&write(dir.path(), "b.toml", &added), "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(1), "max_pages fails the run after page 1");
    let filled = db.with_data(&name, "comments").await;
    assert_eq!(filled.len(), 50, "every row backfilled");
    for (v, data) in filled {
        assert_eq!(v, data["comments"].to_string());
    }
    // A changed type exits 2 naming the collection and column; --migrate rebuilds it.
    let changed = config(
        &db,
        base,
        &name,
        r#"columns = { title = "/title", comments = "/comments" }"#,
        "",
        "",
    );
    let path = write(dir.path(), "c.toml", &changed);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&name) && err.contains("column comments") && err.contains("--migrate"),
        "{err}"
    );
    run_ok(&[&path, "--quiet", "--migrate"], dir.path());
    assert!(db.column_types(&name).await.contains(&"comments text".to_owned()));
    assert_eq!(db.with_data(&name, "comments").await.len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn evolution_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    evolution(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn evolution_on_postgres() {
    if let Some(db) = postgres() {
        evolution(db).await;
    }
}

async fn unnest_recrawl(db: Db) {
    let server = MockServer::start(MockConfig::new(40, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("unn");
    let child = format!("{name}__labels");
    for v in [0, 1, 3] {
        let text = config(&db, server.base_url(), &name, UNNEST, "", &format!("v={v}"));
        run_ok(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path());
        assert_eq!(db.count(&child).await, labels(40, v), "version {v}");
    }
    let rows = db
        .strings(&format!(
            "SELECT parent_key || ':' || idx || ':' || name || ':' || weight FROM \"{child}\" WHERE parent_key = '2'"
        ))
        .await;
    // Item 2 of version 3 has (2 + 3) % 4 = 1 label.
    assert_eq!(rows, ["2:0:label-0:0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unnest_recrawl_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    unnest_recrawl(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unnest_recrawl_on_postgres() {
    if let Some(db) = postgres() {
        unnest_recrawl(db).await;
    }
}

async fn killed_and_resumed(db: Db) {
    let mock = MockConfig::new(2_000, PER_PAGE).latency(Duration::from_millis(3));
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("kil");
    let table = format!("{EVERY_TYPE}\n{UNNEST}");
    let text = config(&db, server.base_url(), &name, &table, "", "v=1");
    let path = write(dir.path(), "crawl.toml", &text);
    let mut child = spawn_crawl(&path, dir.path(), std::process::Stdio::null);
    // Killed once some pages are committed.
    let mut seen = 0;
    for _ in 0..2_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = db.try_count(&name).await;
        if seen >= 200 {
            break;
        }
    }
    assert!(seen >= 200, "the crawl wrote {seen} rows");
    child.kill().expect("SIGKILL");
    let _ = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(db.count(&name).await < 2_000, "killed mid-crawl");
    run_ok(&[&path, "--quiet"], dir.path());
    assert_eq!(db.count(&name).await, 2_000);
    assert_eq!(
        db.count(&format!("{name}__labels")).await,
        labels(2_000, 1),
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
async fn killed_mid_crawl_resumes_exactly_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    killed_and_resumed(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_crawl_resumes_exactly_on_postgres() {
    if let Some(db) = postgres() {
        killed_and_resumed(db).await;
    }
}

async fn staging_and_cluster(db: Db, runtime: &str) {
    let server = MockServer::start(MockConfig::new(35, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("stc");
    let table = format!("{EVERY_TYPE}\n{UNNEST}");
    let text = config(&db, server.base_url(), &name, &table, runtime, "");
    run_ok(&[&write(dir.path(), "crawl.toml", &text), "--quiet"], dir.path());
    assert_eq!(db.count(&name).await, 35);
    assert_eq!(db.count(&format!("{name}__labels")).await, labels(35, 0));
    let ts = if db.is_pg() {
        "created_at timestamp with time zone"
    } else {
        "created_at text"
    };
    assert!(db.column_types(&name).await.contains(&ts.to_owned()));
    assert_eq!(db.with_data(&name, "comments").await.len(), 35);
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_with_typed_columns_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    staging_and_cluster(sqlite(&dir), "mode = \"staging\"").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_with_typed_columns_on_postgres() {
    if let Some(db) = postgres() {
        staging_and_cluster(db, "mode = \"staging\"").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_crawl_with_typed_columns() {
    if let Some(db) = postgres() {
        staging_and_cluster(db, "cluster = true").await;
    }
}

#[test]
fn bad_table_settings_exit_2_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"columns = { n = { pointer = "/n", type = "int" } }"#,
            "columns",
            "\"int\" is not a type",
        ),
        (r#"columns = { n = "n" }"#, "columns", "must start with '/'"),
        ("columns = 3", "columns", "must be \"infer\""),
        (
            r#"on_mismatch = "drop""#,
            "on_mismatch",
            "use \"fail\", \"null\" or \"reject\"",
        ),
        (r#"unnest = { "bad name" = "/a" }"#, "unnest", "not a valid name"),
        (r#"columns = { key = "/id" }"#, "columns", "of its own"),
    ];
    for (line, key, reason) in cases {
        let text = format!(
            "[runtime]\ndatabase = \"sqlite://{}\"\n\n[[collection]]\nname = \"c\"\nurl = \"http://127.0.0.1:9/typed\"\n{line}\n",
            dir.path().join("x.db").display()
        );
        let path = write(dir.path(), "bad.toml", &text);
        let out = crawl(&[&path, "--quiet"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {err}");
        assert!(
            err.contains("line 7")
                && err.contains(&format!("collection \"c\": {key}"))
                && err.contains(reason),
            "{line}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_refresh_with_typed_columns() {
    let mut mock = MockConfig::new(10, 20);
    mock.feed_items = 30;
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir);
    let text = format!(
        "[runtime]\ndatabase = \"{}\"\n\n[[collection]]\nname = \"feed\"\nurl = \"{}/feed\"\nitems = \"/items\"\n\
         incremental = {{ param = \"since\", field = \"/updated_at\" }}\npagination = {{ style = \"page\", has_more = \"/has_more\" }}\n\
         columns = {{ rev = {{ pointer = \"/rev\", type = \"integer\" }}, updated_at = {{ pointer = \"/updated_at\", type = \"timestamp\" }} }}\n",
        db.url,
        server.base_url()
    );
    let path = write(dir.path(), "crawl.toml", &text);
    run_ok(&[&path, "--quiet"], dir.path());
    server.touch(&[3, 7]);
    run_ok(&[&path, "--quiet"], dir.path());
    let revs = db
        .strings("SELECT \"key\" || ':' || rev FROM feed WHERE rev > 0 ORDER BY \"key\"")
        .await;
    assert_eq!(revs, ["3:1", "7:1"]);
    for (v, data) in db.with_data("feed", "updated_at").await {
        assert_eq!(v, data["updated_at"].as_str().unwrap());
    }
}
