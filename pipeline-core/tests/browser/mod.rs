//! Headless Chromium for the status page tests: finds it, runs it with a
//! deadline (killing its whole process group on timeout), and reads the
//! rows out of the DOM it dumps.

#![allow(dead_code, unreachable_pub)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod devtools;

use tokio::process::Command;

/// How long one Chromium run may take; a cold start on a busy 2-core
/// machine takes a few seconds, the page's virtual time budget 5 more.
const DEADLINE: Duration = Duration::from_secs(90);

/// The `chromium` binary on `PATH`. When it is missing the test is skipped,
/// unless `CI` or `PIPELINE_TEST_BROWSER_REQUIRED` is set: then it fails.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let required = ["CI", "PIPELINE_TEST_BROWSER_REQUIRED"]
            .iter()
            .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
        assert!(
            !required,
            "{test}: `chromium` is not on PATH, and CI or PIPELINE_TEST_BROWSER_REQUIRED \
             makes the browser test mandatory (apt-get install -y chromium)"
        );
        eprintln!("{test}: skipped, `chromium` is not on PATH (apt-get install -y chromium)");
    }
    found
}

/// Runs headless Chromium on `url` with `extra` arguments and returns its
/// standard output. Every run gets its own profile directory, so parallel
/// tests do not fight over one.
pub async fn run(chromium: &Path, url: &str, extra: &[&str]) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "pipeline-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills the renderer and GPU
        // helpers too, not only the browser process.
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn().expect("starting chromium");
    let group = child.id().expect("a running child has an id");
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await;
    let output = match output {
        Ok(output) => output.expect("waiting for chromium"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            let _ = std::fs::remove_dir_all(&profile);
            panic!("chromium did not finish within {DEADLINE:?} on {url}; killed");
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chromium failed ({:?}, signal {:?}) on {url}:\n{stderr}",
        output.status.code(),
        output.status.signal()
    );
    String::from_utf8(output.stdout).expect("chromium prints UTF-8")
}

/// The page after its script ran, as Chromium serializes it.
pub async fn dump_dom(chromium: &Path, url: &str) -> String {
    run(chromium, url, &["--dump-dom"]).await
}

/// Takes a 1200×600 screenshot of `url` into `png`.
pub async fn screenshot(chromium: &Path, url: &str, png: &Path) {
    let target = format!("--screenshot={}", png.display());
    run(chromium, url, &[&target, "--window-size=1200,600"]).await;
}

/// One `<tr data-collection=…>` of the dumped DOM.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub collection: String,
    pub state: String,
    pub stalled: String,
    /// The row's serialized HTML, up to its `</tr>`.
    pub html: String,
}

/// Every collection row, in document order.
pub fn rows(dom: &str) -> Vec<Row> {
    dom.match_indices("<tr data-collection=")
        .map(|(start, _)| {
            let rest = &dom[start..];
            let html = &rest[..rest.find("</tr>").expect("a closed row")];
            let tag = &html[..tag_end(html)];
            Row {
                collection: attribute(tag, "data-collection").expect("a name"),
                state: attribute(tag, "data-state").unwrap_or_default(),
                stalled: attribute(tag, "data-stalled").unwrap_or_default(),
                html: html.to_owned(),
            }
        })
        .collect()
}

/// Where the start tag at the beginning of `html` ends: the first `>`
/// outside quotes (older Chromium leaves `>` unescaped in attribute values).
fn tag_end(html: &str) -> usize {
    let mut quoted = false;
    for (i, c) in html.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return i,
            _ => {}
        }
    }
    panic!("an unclosed tag: {html}")
}

/// The decoded value of `name="…"` in one serialized start tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}
