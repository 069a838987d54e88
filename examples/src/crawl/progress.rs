//! What a person sees while a crawl runs: progress lines on a terminal,
//! plain log lines otherwise, and a summary table at the end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline_core::CancellationToken;
use pipeline_core::runner::{CollectionSummary, Runner};
use tokio::task::JoinHandle;

/// The running display; [`finish`](Self::finish) it after the runner joined.
#[derive(Debug)]
pub struct Progress {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Progress lines when stderr is a terminal (and not `quiet`); otherwise
    /// nothing, since the runner logs every collection event through `tracing`.
    pub fn start(runner: &Runner, quiet: bool) -> Self {
        let stop = CancellationToken::new();
        let task = (!quiet && std::io::stderr().is_terminal())
            .then(|| tokio::spawn(bars(runner.clone(), stop.clone())));
        Self { stop, task }
    }

    /// Stops the display, leaving the final lines on screen.
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn bars(runner: Runner, stop: CancellationToken) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
    let style = ProgressStyle::with_template("{prefix:>16.bold} {spinner:.cyan} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let started = Instant::now();
    let mut lines: HashMap<String, ProgressBar> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        let done = tokio::select! {
            () = stop.cancelled() => true,
            _ = ticker.tick() => false,
        };
        for s in runner.status() {
            let line = lines.entry(s.collection.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(s.collection.clone());
                bar
            });
            // A finished collection's rate is over its own run, not until now.
            let end = if s.state.is_terminal() {
                s.updated_at
            } else {
                std::time::SystemTime::now()
            };
            let secs = s
                .started_at
                .and_then(|t| end.duration_since(t).ok())
                .unwrap_or_else(|| started.elapsed())
                .as_secs_f64()
                .max(0.001);
            let mut msg = format!(
                "{:<10} {:>9} items {:>6} pages {:>8.0}/s",
                s.state.as_str(),
                s.items_written,
                s.pages,
                s.items_written as f64 / secs
            );
            if s.resumes > 0 {
                msg.push_str(&format!("  resumes {}", s.resumes));
            }
            if s.stalled {
                msg.push_str("  STALLED");
            }
            let show_error = !s.state.is_terminal() || s.state == pipeline_core::State::Failed;
            if show_error && let Some(e) = &s.last_error {
                msg.push_str(&format!("  last error: {}", truncate(e, 100)));
            }
            line.set_message(msg);
            if s.state.is_terminal() {
                line.finish();
            } else {
                line.tick();
            }
        }
        if done {
            for line in lines.values() {
                line.finish();
            }
            return;
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The end-of-crawl table: collection, state, items, pages, resumes, time, last error.
pub fn summary_table(summaries: &[CollectionSummary]) -> String {
    let width = summaries
        .iter()
        .map(|s| s.collection.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let mut out = format!(
        "{:<width$}  {:<10} {:>10} {:>7} {:>7} {:>8}  {}\n",
        "collection", "state", "items", "pages", "resumes", "time", "last error"
    );
    for s in summaries {
        let error = s
            .last_error
            .as_ref()
            .map(|e| e.to_string().replace('\n', " "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<width$}  {:<10} {:>10} {:>7} {:>7} {:>7.1}s  {}\n",
            s.collection,
            s.state.as_str(),
            s.items_written,
            s.pages,
            s.resumes,
            s.elapsed.as_secs_f64(),
            error
        ));
    }
    out
}
