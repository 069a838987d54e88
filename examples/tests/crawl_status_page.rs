//! `crawl --serve`'s status page in headless Chromium: the runs a service
//! made are in a collection's view (`/#c=NAME`, the link alerts carry) as a
//! table and as charts with a mark per run, the overview's filter (kept in
//! the address, `/#q=…`) leaves the matching rows, and a failing collection
//! shows as failed. The finer checks (clicks, sorting, a narrow window) are
//! pipeline-core's `status_page_views` tests.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::Value;
use support::{signal, wait_bounded, write};

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `crawl --serve` process, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Polls `/status` (bounded) until `ok` holds for its entries.
async fn wait_status(port: u16, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/status");
    let mut last = Vec::new();
    for _ in 0..600 {
        if let Ok(answer) = reqwest::get(&url).await {
            last = answer.json().await.unwrap_or_default();
            if ok(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("status never matched: {last:#?}");
}

fn field<'a>(entries: &'a [Value], name: &str, key: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["collection"] == name)
        .map_or(&Value::Null, |e| &e[key])
}

/// The page at `url` after its script ran a few polls, as Chromium
/// serializes it; Chromium's whole process group is killed if it hangs.
async fn dump_dom(url: &str, profile: &Path) -> String {
    let mut command = tokio::process::Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=5000",
            "--window-size=1280,900",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn().expect("chromium starts");
    let group = child.id().expect("a running child has an id");
    match tokio::time::timeout(Duration::from_secs(90), child.wait_with_output()).await {
        Ok(output) => String::from_utf8(output.expect("chromium ran").stdout).expect("UTF-8"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            panic!("chromium did not finish within 90 s on {url}");
        }
    }
}

/// The serialized element with `id`, up to the first `close` after it.
fn element<'a>(dom: &'a str, id: &str, close: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}:\n{dom}"));
    let end = start + dom[start..].find(close).expect("a closed element");
    &dom[start..end]
}

/// The value of `name="…"` in the start tag `tag` opens.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// The overview's rows: (name, hidden), in document order.
fn rows(dom: &str) -> Vec<(String, bool)> {
    dom.match_indices("<tr data-collection=\"")
        .map(|(i, _)| {
            let tag = &dom[i..i + dom[i..].find('>').expect("a start tag")];
            let name = attribute(tag, "data-collection").unwrap_or_default().to_owned();
            (name, tag.contains(" hidden"))
        })
        .collect()
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_of_crawl_serve_charts_each_runs_history_and_filters() {
    let server = MockServer::start(MockConfig::new(120, 40)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = server.base_url();
    let text = format!(
        "[runtime]\ndatabase = \"sqlite://{db}\"\nmetrics_addr = \"127.0.0.1:{port}\"\nmax_resumes = 0\n\n\
         [[collection]]\nname = \"items\"\nurl = \"{base}/page\"\nitems = \"/items\"\n\
         pagination = {{ style = \"page\" }}\nevery = \"1s\"\n\
         headers = {{ Authorization = \"Bearer s3cret-page-token\" }}\n\n\
         [[collection]]\nname = \"once\"\nurl = \"{base}/page\"\nitems = \"/items\"\n\
         pagination = {{ style = \"page\" }}\n\n\
         [[collection]]\nname = \"broken\"\nurl = \"{base}/no-such-page\"\nitems = \"/items\"\n\
         pagination = {{ style = \"page\" }}\n\n\
         [[collection]]\nname = \"kids\"\nparent = \"once\"\nurl = \"{base}/page?v={{/id}}\"\n\
         items = \"/items\"\npagination = {{ style = \"page\" }}\nkey = [\"parent\", \"/id\"]\n",
        db = dir.path().join("crawl.db").display()
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([config.as_str(), "--serve", "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the crawl binary starts");
    let mut service = Service(child);
    wait_status(port, |e| {
        field(e, "items", "runs").as_u64() >= Some(3)
            && field(e, "broken", "state") == "failed"
            && field(e, "once", "state") == "completed"
    })
    .await;
    // The child collection: one child per item of `once`, all done.
    let children = format!("http://127.0.0.1:{port}/status/children");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let groups: Value = reqwest::get(&children).await.unwrap().json().await.unwrap();
        let done = groups
            .as_array()
            .and_then(|g| g.iter().find(|g| g["group"] == "kids"))
            .map(|g| g["done"].clone());
        if done == Some(Value::from(120)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "children not done: {groups}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = format!("http://127.0.0.1:{port}/");
    let profile = dir.path().join("chromium");

    // A child collection's view: its children summed, from its detail.
    let dom = dump_dom(&format!("{page}#c=kids"), &profile).await;
    let facts = element(&dom, "facts", "</dl>");
    assert!(facts.contains("<dd>120 done of 120</dd>"), "{facts}");
    assert!(facts.contains("<dd>0</dd>"), "none running or failed: {facts}");

    // The collection's view: its runs as table rows and as one bar and one
    // point per run (the table shows the newest 20).
    let dom = dump_dom(&format!("{page}#c=items"), &profile).await;
    assert!(
        dom.contains("<main id=\"overview\" hidden=\"\">"),
        "the view replaced the overview"
    );
    let note = element(&dom, "runs-note", "</p>");
    let kept: usize = note
        .split('>')
        .nth(1)
        .and_then(|text| text.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of runs: {note}"));
    assert!(kept >= 3, "{note}");
    let table = element(&dom, "runs", "</table>");
    let completed = table.matches("<tr data-outcome=\"completed\">").count();
    assert_eq!(completed, kept.min(20), "{table}");
    let items = element(&dom, "chart-items", "</svg>");
    assert_eq!(attribute(items, "data-points"), Some(kept.to_string().as_str()));
    assert_eq!(items.matches("<rect ").count(), kept, "a bar per run: {items}");
    let durations = element(&dom, "chart-duration", "</svg>");
    assert_eq!(
        durations.matches("<circle ").count(),
        kept,
        "a point per run: {durations}"
    );
    assert!(
        items.contains(": 120</title>"),
        "each run wrote the 120 items: {items}"
    );
    // Its config as the service runs it, the credential masked.
    let config = element(&dom, "config", "</pre>");
    assert!(config.contains(&format!("\"url\": \"{base}/page\"")), "{config}");
    assert!(config.contains("\"Authorization\": \"***\""), "{config}");
    assert!(
        !dom.contains("s3cret-page-token"),
        "the token never reaches the page"
    );

    // The overview, filtered from the address: the failing collection only.
    let dom = dump_dom(&format!("{page}#q=failed"), &profile).await;
    let shown = rows(&dom);
    assert_eq!(
        shown,
        [
            ("items".to_owned(), true),
            ("once".to_owned(), true),
            ("broken".to_owned(), false)
        ],
        "{dom}"
    );
    assert!(dom.contains("showing 1 of 3"), "{dom}");
    // Its sparkline: one run, failed.
    let broken = &dom[dom.find("<tr data-collection=\"broken\"").unwrap()..];
    let broken = &broken[..broken.find("</tr>").unwrap()];
    assert!(broken.contains("class=\"run-failed\""), "{broken}");

    signal(&service.0, "TERM");
    let status = wait_bounded(&mut service.0, Duration::from_secs(30)).expect("ended on SIGTERM");
    assert_eq!(status.code(), Some(0));
}
