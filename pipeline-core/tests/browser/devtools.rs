//! Headless Chromium driven over the DevTools protocol: the status page
//! tests click rows and headers, type into the filter box, resize the window
//! and take screenshots as a user would, then read the page's DOM back.
//! Every step is bounded in time; dropping a [`Browser`] kills the process
//! group it started.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one protocol step may take (a cold start on a busy machine
/// takes seconds), and how long a condition may take to come true.
const STEP: Duration = Duration::from_secs(60);
const CONDITION: Duration = Duration::from_secs(30);

/// One headless Chromium with one page, driven over its DevTools socket.
pub struct Browser {
    child: Child,
    group: u32,
    profile: PathBuf,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The page's session (`None` while talking to the browser itself).
    session: Option<Value>,
}

impl Browser {
    /// Starts Chromium with a `width`×`height` window and connects to its page.
    pub async fn launch(chromium: &Path, width: u32, height: u32) -> Browser {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "pipeline-devtools-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so dropping the browser ends its helpers too.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromium");
        let group = child.id().expect("a running child has an id");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        // Chromium prints where its DevTools endpoint listens on stderr.
        let endpoint = timeout(STEP, async {
            while let Some(line) = lines.next_line().await.expect("reading chromium's stderr") {
                if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                    return rest.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium announced its DevTools endpoint in time");
        // Keep draining stderr so a chatty browser never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = timeout(STEP, tokio_tungstenite::connect_async(endpoint))
            .await
            .expect("connecting to chromium in time")
            .expect("connecting to chromium");
        let mut browser = Browser {
            child,
            group,
            profile,
            socket,
            next_id: 0,
            session: None,
        };
        // The page Chromium opened, attached to as one session.
        let targets = browser.call("Target.getTargets", json!({})).await;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|targets| targets.iter().find(|t| t["type"] == "page"))
            .map(|t| t["targetId"].clone())
            .unwrap_or_else(|| panic!("no page target: {targets}"));
        let attach = json!({ "targetId": page, "flatten": true });
        let session = browser.call("Target.attachToTarget", attach).await;
        browser.session = Some(session["sessionId"].clone());
        browser.resize(width, height).await;
        browser
    }

    /// Sends one protocol command and returns its result (panics on an error).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            request["sessionId"] = session.clone();
        }
        let exchange = async {
            self.socket
                .send(Message::text(request.to_string()))
                .await
                .expect("sending");
            loop {
                let message = self
                    .socket
                    .next()
                    .await
                    .expect("an open socket")
                    .expect("a frame");
                let Message::Text(text) = message else { continue };
                let answer: Value = serde_json::from_str(&text).expect("JSON from chromium");
                // Events have no id; other answers are not ours.
                if answer["id"] == id {
                    return answer;
                }
            }
        };
        let answer = timeout(STEP, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method}: no answer within {STEP:?}"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Opens `url` and waits until its document has loaded.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_for("document.readyState === 'complete'", url).await;
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let result = self.call("Runtime.evaluate", params).await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits (up to 30 s) until `expression` is truthy in the page; `what`
    /// names the condition in the failure.
    pub async fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + CONDITION;
        let check = format!("(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()");
        loop {
            let value = self.eval(&check).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "not reached within {CONDITION:?}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the middle of the first element matching `selector` with the
    /// mouse, as a user would (scrolled into view first).
    pub async fn click(&mut self, selector: &str) {
        let find = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            json!(selector)
        );
        let at = self.eval(&find).await;
        let (x, y) = (at[0].as_f64(), at[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else {
            panic!("nothing to click at {selector}");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 });
            self.call("Input.dispatchMouseEvent", event).await;
        }
    }

    /// Focuses `selector` and types `text` into it.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        self.eval(&format!("document.querySelector({}).focus()", json!(selector)))
            .await;
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// Gives the page a `width`×`height` viewport.
    pub async fn resize(&mut self, width: u32, height: u32) {
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        self.call("Emulation.setDeviceMetricsOverride", metrics).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let params = json!({ "format": "png" });
        let shot = self.call("Page.captureScreenshot", params).await;
        let data = shot["data"].as_str().expect("base64 data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64")
    }

    /// The process group of the browser and its helpers.
    pub fn process_group(&self) -> u32 {
        self.group
    }

    /// The page's DOM as HTML.
    pub async fn dom(&mut self) -> String {
        let html = self.eval("document.documentElement.outerHTML").await;
        html.as_str().expect("the DOM as text").to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.group)])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
