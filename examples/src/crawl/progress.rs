//! What a person sees while a crawl runs: progress lines on a terminal,
//! plain log lines otherwise, and a summary table at the end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crawlpipe_core::runner::{CollectionError, CollectionSummary, GroupStatus, Runner};
use crawlpipe_core::{StageError, State, escape_outside};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use super::stderr;

/// How long [`Progress::finish`] waits for the last redraw: a terminal that
/// does not take output must not hold up the end of the crawl.
const FINISH_WAIT: Duration = Duration::from_secs(1);

/// The running display; [`finish`](Self::finish) it after the runner joined.
#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    done: Option<oneshot::Receiver<()>>,
}

impl Progress {
    /// Progress lines when stderr is a terminal (and not `quiet`); otherwise
    /// nothing, since the runner logs every collection event through `tracing`.
    ///
    /// The lines are drawn by a thread of their own: writing to a terminal
    /// can block (a paused terminal, a hung session), and that must stall
    /// only the display, never the runtime the crawl runs on.
    pub fn start(runner: &Runner, quiet: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut done = None;
        if !quiet && std::io::stderr().is_terminal() {
            let (tx, rx) = oneshot::channel();
            let (runner, flag) = (runner.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name("crawl-progress".to_owned())
                .spawn(move || {
                    bars(&runner, &flag);
                    let _ = tx.send(());
                });
            done = spawned.ok().map(|_| rx);
        }
        Self { stop, done }
    }

    /// Stops the display, leaving the final lines on screen.
    pub async fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(FINISH_WAIT, done).await;
        }
    }
}

fn bars(runner: &Runner, stop: &AtomicBool) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
    let template = if stderr::colour() {
        "{prefix:>16.bold} {spinner:.cyan} {msg}"
    } else {
        "{prefix:>16} {spinner} {msg}"
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    let started = Instant::now();
    let mut lines: HashMap<String, ProgressBar> = HashMap::new();
    let tick = Duration::from_millis(200);
    loop {
        let done = stop.load(Ordering::Relaxed);
        if !done {
            std::thread::sleep(tick);
        }
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
                s.progress.items_written,
                s.progress.pages,
                s.progress.items_written as f64 / secs
            );
            if s.resumes > 0 {
                msg.push_str(&format!("  resumes {}", s.resumes));
            }
            if s.stalled {
                msg.push_str("  STALLED");
            }
            if s.progress.pages_skipped > 0 {
                msg.push_str(&format!("  skipped {}", s.progress.pages_skipped));
            }
            if s.progress.pages_not_modified > 0 {
                msg.push_str(&format!("  not modified {}", s.progress.pages_not_modified));
            }
            let show_error = !s.state.is_terminal() || s.state == State::Failed;
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
        // Child collections: one line per child collection, not per child.
        for g in runner.groups() {
            let line = lines.entry(format!("{}/*", g.group)).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("{}/*", g.group));
                bar
            });
            line.set_message(group_line(&g));
            line.tick();
        }
        if done {
            for line in lines.values() {
                line.finish();
            }
            return;
        }
    }
}

/// A child collection's progress: its children done / running / failed of
/// those added so far, and the latest failing child.
fn group_line(g: &GroupStatus) -> String {
    let mut msg = format!(
        "children {} done {} running {} failed of {} {:>9} items {:>6} pages",
        g.done, g.running, g.failed, g.total, g.items_written, g.pages
    );
    if g.cancelled > 0 {
        msg.push_str(&format!("  {} cancelled", g.cancelled));
    }
    if g.not_crawled > 0 {
        msg.push_str(&format!(
            "  {} not crawled (listed for the next run)",
            g.not_crawled
        ));
    }
    if g.skipped > 0 {
        msg.push_str(&format!("  {} skipped by a rule (counted in done)", g.skipped));
    }
    if let Some(f) = g.failing.last() {
        msg.push_str(&format!(
            "  failing: {} {}",
            escape_outside(&f.collection),
            truncate(f.error.as_deref().unwrap_or_default(), 80)
        ));
    }
    msg
}

/// The end-of-crawl table of child collections: children done, failed and
/// added, with the failing ones listed (the most recent 20 per collection).
pub fn children_table(groups: &[GroupStatus]) -> String {
    let mut out = String::new();
    for g in groups {
        out.push_str(&format!("{}/*  {}\n", g.group, group_line(g)));
        for f in &g.failing {
            out.push_str(&format!(
                "  failed {}: {}\n",
                escape_outside(&f.collection),
                escape_outside(f.error.as_deref().unwrap_or_default())
            ));
        }
        for s in &g.skipped_children {
            out.push_str(&format!(
                "  skipped {}: {}\n",
                escape_outside(&s.collection),
                escape_outside(s.reason.as_deref().unwrap_or_default())
            ));
        }
    }
    out
}

/// `s` escaped (it may carry a server's text, see [`escape_outside`]) and cut at `max` characters.
fn truncate(s: &str, max: usize) -> String {
    let s = escape_outside(s);
    if s.chars().count() <= max {
        s.into_owned()
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
        let mut error = s
            .last_error
            .as_ref()
            .map(|e| escape_outside(&e.to_string()).into_owned())
            .unwrap_or_default();
        // A page skipped by a rule is shown, never silent.
        if let Some(skipped) = &s.progress.last_skipped {
            let sep = if error.is_empty() { "" } else { "; " };
            error.push_str(&format!(
                "{sep}{} page(s) skipped: {}",
                s.progress.pages_skipped,
                escape_outside(skipped)
            ));
        }
        // Pages a conditional request found unchanged (304): nothing written.
        if s.progress.pages_not_modified > 0 {
            let sep = if error.is_empty() { "" } else { "; " };
            error.push_str(&format!(
                "{sep}{} page(s) not modified",
                s.progress.pages_not_modified
            ));
        }
        out.push_str(&format!(
            "{:<width$}  {:<10} {:>10} {:>7} {:>7} {:>7.1}s  {}\n",
            s.collection,
            s.state.as_str(),
            s.progress.items_written,
            s.progress.pages,
            s.resumes,
            s.elapsed.as_secs_f64(),
            error
        ));
    }
    out
}

/// Whether an error means progress may not have been saved: the sink or the
/// checkpoint store failed, rather than the remote side.
fn saving_failed(error: &CollectionError) -> bool {
    matches!(error, CollectionError::Stage(StageError::Sink { .. }))
}

/// The message after an interrupted crawl. It says checkpoints are saved
/// only when no unfinished collection's last error was a failure to save.
pub fn interrupted_message(summaries: &[CollectionSummary]) -> String {
    let unsaved: Vec<&str> = summaries
        .iter()
        .filter(|s| s.state != State::Completed && s.last_error.as_ref().is_some_and(saving_failed))
        .map(|s| s.collection.as_str())
        .collect();
    if unsaved.is_empty() {
        "crawl: interrupted; checkpoints are saved and the next run resumes".to_owned()
    } else {
        format!(
            "crawl: interrupted; saving progress failed for {} (see the last error above): the next run \
             resumes those from their last committed page, the others from their checkpoints",
            unsaved.join(", ")
        )
    }
}
