//! `compare scrape`: the Python docs scrape (the corpus of
//! [`html_corpus`](crate::html_corpus), served by this process on loopback)
//! by the `crawl` binary into SQLite and by Scrapy (`benches/scrapy/docs_spider.py`,
//! into a JSON Lines file), each a child process started as its user would
//! start it, and a fetch-only loop over the same pages (the network's share),
//! in interleaved rounds: wall time and CPU side by side, with the commit and
//! the load average.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::crawl_workload::{Measured, measure};
use crate::html_corpus::{CorpusServer, START, corpus_dir};

/// The spider, next to this crate's sources.
pub fn spider_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scrapy/docs_spider.py")
}

/// The `crawl` binary's config for the corpus: the fields of
/// [`scrape_config`](crate::html_corpus::scrape_config), into table `pydocs`.
pub fn crawl_toml(start: &str, db: &Path) -> String {
    format!(
        "[runtime]\nconcurrency = 1\ndatabase = \"sqlite://{}\"\n\n\
         [[collection]]\nname = \"pydocs\"\nurl = \"{start}\"\n\
         scrape = {{ item = \"section\", next = \"link[rel=next] @href\", \
         fields = {{ title = \"h1, h2, h3, h4\", anchor = \"@id\", first_link = \"a.reference @href\" }} }}\n",
        db.display()
    )
}

/// The commit of the working tree (`git rev-parse --short HEAD`), or `unknown`.
pub fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The `href` of the first `<link rel="next" … href="…">` (the corpus's
/// markup; the fetch-only loop's way of finding the next page).
fn next_href(html: &str) -> Option<&str> {
    let at = html.find("<link rel=\"next\"")?;
    let tag = &html[at..at + html[at..].find('>')?];
    let start = tag.find("href=\"")? + 6;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// The fetch-only loop (a child process of `compare`): every page from
/// `start`, one after the other, bodies read and dropped; prints the pages.
///
/// # Panics
///
/// When a page cannot be fetched (a bench failure).
pub async fn fetch_only(start: &str) -> u64 {
    let client = reqwest::Client::new();
    let mut url = Some(reqwest::Url::parse(start).expect("start URL"));
    let mut pages = 0;
    while let Some(page) = url.take() {
        let body = client
            .get(page.clone())
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        pages += 1;
        url = next_href(&body).map(|l| page.join(l).expect("next link"));
    }
    pages
}

/// Runs the comparison, `rounds` interleaved rounds; `binaries` are `crawl`
/// binaries to compare (default: the one next to this executable).
///
/// # Panics
///
/// When a variant fails or writes other than the expected items.
pub fn compare(rt: &tokio::runtime::Runtime, rounds: usize, binaries: &[String]) {
    let Some(dir) = corpus_dir() else {
        println!("scrape: skipped, the corpus is missing: run benches/setup-html-corpus.sh");
        return;
    };
    let exe = std::env::current_exe().expect("own path");
    let mut binaries = binaries.to_vec();
    let default = exe.with_file_name("crawl");
    if binaries.is_empty() && default.exists() {
        binaries.push(default.display().to_string());
    }
    let scrapy = Command::new("scrapy")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !scrapy {
        println!("scrape: Scrapy is not installed (pip install scrapy): measuring without it");
    }
    let server = rt.block_on(CorpusServer::start(dir));
    let start = server.url(START);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut names: Vec<String> = binaries.iter().map(|b| format!("crawl binary {b}")).collect();
    if scrapy {
        names.push("Scrapy (benches/scrapy/docs_spider.py)".to_owned());
    }
    names.push("fetch-only loop (reqwest)".to_owned());
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); names.len()];
    let mut items = vec![0u64; names.len()];
    for round in 0..rounds {
        for k in 0..names.len() {
            let v = (round + k) % names.len();
            let (mut command, out) = if v < binaries.len() {
                let db = tmp.path().join(format!("v{v}-r{round}.db"));
                let config = tmp.path().join(format!("v{v}-r{round}.toml"));
                std::fs::write(&config, crawl_toml(&start, &db)).expect("config");
                let mut c = Command::new(&binaries[v]);
                c.arg(&config).arg("--quiet");
                (c, db)
            } else if scrapy && v == binaries.len() {
                let out = tmp.path().join(format!("v{v}-r{round}.jsonl"));
                let mut c = Command::new("scrapy");
                c.arg("runspider")
                    .arg(spider_path())
                    .arg("-a")
                    .arg(format!("start={start}"))
                    .arg("-o")
                    .arg(&out);
                (c, out)
            } else {
                let mut c = Command::new(&exe);
                c.args(["scrape-fetch", &start]);
                (c, PathBuf::new())
            };
            runs[v].push(measure(&mut command));
            items[v] = if v < binaries.len() {
                rt.block_on(table_rows(&out))
            } else if out.as_os_str().is_empty() {
                0
            } else {
                std::fs::read_to_string(&out).expect("items").lines().count() as u64
            };
        }
        let got: Vec<String> = names
            .iter()
            .zip(&runs)
            .map(|(n, r)| {
                format!(
                    "{} {:.3} s",
                    n.split(' ').next().unwrap_or(n),
                    secs(r[round].wall)
                )
            })
            .collect();
        println!("round {round}: {}", got.join(", "));
    }
    drop(server);
    print_summary(&names, &runs, &items, binaries.len(), scrapy);
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn print_summary(names: &[String], runs: &[Vec<Measured>], items: &[u64], crawls: usize, scrapy: bool) {
    let median = |v: &[Measured], f: fn(&Measured) -> Duration| {
        let mut d: Vec<Duration> = v.iter().map(f).collect();
        d.sort();
        d[d.len() / 2]
    };
    println!(
        "Python docs scrape, each variant a child process, median of {} rounds (commit {}, load average {}):",
        runs[0].len(),
        commit(),
        load_average()
    );
    for (v, name) in names.iter().enumerate() {
        println!(
            "  {name:<48} wall {:>6.3} s  CPU {:>6.3} s  items {}",
            secs(median(&runs[v], |m| m.wall)),
            secs(median(&runs[v], |m| m.cpu)),
            items[v]
        );
    }
    if scrapy {
        let scrapy_wall = secs(median(&runs[crawls], |m| m.wall));
        for v in 0..crawls {
            let ratios: Vec<String> = runs[crawls]
                .iter()
                .zip(&runs[v])
                .map(|(s, c)| format!("{:.2}", secs(s.wall) / secs(c.wall)))
                .collect();
            println!(
                "RESULT scrape: {} is {:.2}x Scrapy's speed (median wall; per round {}; goal >= 6x)",
                names[v],
                scrapy_wall / secs(median(&runs[v], |m| m.wall)),
                ratios.join(", ")
            );
        }
    }
}

/// Rows in table `pydocs` of the SQLite database at `path`.
async fn table_rows(path: &Path) -> u64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite opens");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pydocs")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n as u64
}
