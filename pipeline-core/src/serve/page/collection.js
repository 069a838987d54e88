  // One collection's view (`#c=NAME`): its facts, charts of its kept run
  // history and of the current run's pages/s, the history as a table, its
  // last errors in full and its config as the service runs it.

  // Pages/s is measured over this window, from the pages counter polled.
  const PAGE_RATE_WINDOW_MS = 5000;
  const PAGE_RATE_POINTS = 120;

  const detail = {
    name: null, runsKey: null, samples: [], rates: [], runStarted: null, errorsKey: null, allRuns: false,
  };

  function openCollection(name) {
    if (detail.name !== name) {
      Object.assign(detail, {
        name, runsKey: null, samples: [], rates: [], runStarted: null, errorsKey: null, allRuns: false,
      });
      document.getElementById("runs-more").hidden = true;
      setText(document.getElementById("detail-name"), name);
      document.querySelector("#runs tbody").replaceChildren();
      setText(document.getElementById("runs-note"), "loading…");
      document.getElementById("facts").replaceChildren();
      document.getElementById("errors").replaceChildren(el("p", "muted", "None."));
      setText(document.getElementById("config"), "loading…");
      for (const svg of document.querySelectorAll("#detail svg[data-chart]")) empty(svg, "loading…");
    }
    document.title = name + " · Pipeline status";
    document.getElementById("overview").hidden = true;
    document.getElementById("detail").hidden = false;
    document.getElementById("back").setAttribute("href", overviewHash(view));
    window.scrollTo(0, 0);
    pollCollection();
  }

  function closeCollection() {
    detail.name = null;
    document.title = "Pipeline status";
    document.getElementById("detail").hidden = true;
    document.getElementById("overview").hidden = false;
  }

  // The current run's pages/s, one point per poll while it runs.
  function samplePages(s) {
    const started = s.started_at ?? null;
    const last = detail.samples[detail.samples.length - 1];
    if (started !== detail.runStarted || (last && s.pages < last.pages)) {
      detail.samples = [];
      detail.rates = [];
      detail.runStarted = started;
    }
    if (!RUNNING.has(s.state)) return;
    const now = performance.now();
    detail.samples.push({ at: now, pages: s.pages });
    while (detail.samples.length > 2 && now - detail.samples[0].at > PAGE_RATE_WINDOW_MS) detail.samples.shift();
    const first = detail.samples[0];
    if (detail.samples.length < 2) return;
    const elapsed = started === null ? null : Math.round((Date.now() - millis(started)) / 1000);
    detail.rates.push({
      value: (s.pages - first.pages) / ((now - first.at) / 1000),
      label: elapsed === null ? "now" : elapsed + " s into the run",
    });
    if (detail.rates.length > PAGE_RATE_POINTS) detail.rates.shift();
  }

  function fact(term, value, title) {
    const div = el("div");
    const dd = el("dd", null, value);
    setTitle(dd, title);
    div.append(el("dt", null, term), dd);
    return div;
  }

  function renderFacts(s) {
    const wall = Date.now();
    const badge = document.getElementById("detail-state");
    setText(badge, s.state);
    badge.className = "badge state-" + s.state;
    const stale = document.getElementById("detail-stale");
    stale.hidden = !s.stale;
    setTitle(stale, staleText(s));
    document.getElementById("detail-stalled").hidden = !s.stalled;
    const success = lastSuccess(s, wall);
    const last = s.last_run;
    const next = nextRun(s);
    const rates = detail.rates;
    const facts = [
      fact("Last success", success.text, success.title),
      fact("Last run", last ? last.outcome + " · " + duration(last.duration_ms) + " · " + number(last.items) + " items" : "—",
           last ? "started " + localTime(millis(last.started_at)) : null),
      fact("Stale after", typeof s.stale_after_secs === "number" ? duration(s.stale_after_secs * 1000)
        : "stale_after_secs" in s ? "never" : "—"),
      fact("Next run", next.at === null ? "—" : next.prefix + relative(next.at), next.at === null ? null : localTime(next.at)),
      fact("This run", number(s.pages) + " pages · " + number(s.items_fetched) + " fetched · "
        + number(s.items_written) + " written"),
      fact("Pages/s now", RUNNING.has(s.state) && rates.length ? rates[rates.length - 1].value.toFixed(1) : "—"),
      fact("Resumes", number(s.resumes)),
      fact("Runs since start", number(s.runs)),
      fact("Owner", s.owner || "—"),
    ];
    document.getElementById("facts").replaceChildren(...facts);
  }

  function renderRateChart(s) {
    const svg = document.getElementById("chart-rate");
    const none = RUNNING.has(s.state) ? "measuring…" : "not running now";
    const format = (v) => (v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US")) + "/s";
    lineChart(svg, detail.rates, format, detail.rates.length ? detail.rates[0].label : "", "now", none);
  }

  function runCell(tr, text, className) {
    const td = el("td", className, text);
    tr.appendChild(td);
    return td;
  }

  // Rows shown before "Show all": the charts carry the whole history.
  const RUNS_SHOWN = 20;

  function runRow(run) {
    const tr = el("tr");
    tr.setAttribute("data-outcome", run.outcome);
    const started = millis(run.started_at), ended = millis(run.ended_at);
    runCell(tr, "").appendChild(el("span", "badge state-" + run.outcome, run.outcome));
    runCell(tr, localTime(started), "c-state");
    runCell(tr, started !== null && ended !== null ? duration(ended - started) : "—", "num");
    runCell(tr, number(run.items), "num");
    runCell(tr, number(run.pages), "num");
    runCell(tr, number(run.resumes), "num");
    runCell(tr, run.owner || "—", "c-owner");
    runCell(tr, run.error || "", "c-error").style.whiteSpace = "pre-wrap";
    runCell(tr, run.run, "c-run");
    return tr;
  }

  // The history newest first in the table, oldest first in the charts.
  function renderRuns(runs) {
    const body = document.querySelector("#runs tbody");
    const shown = detail.allRuns ? runs : runs.slice(0, RUNS_SHOWN);
    body.replaceChildren(...shown.map(runRow));
    const more = document.getElementById("runs-more");
    more.hidden = shown.length === runs.length;
    setText(more, "Show all " + runs.length + " runs");
    setText(document.getElementById("runs-note"), runs.length
      ? runs.length + (runs.length === 1 ? " run kept" : " runs kept") + ", newest first."
      : "No run recorded yet.");
    const oldest = runs.slice().reverse().map((run) => {
      const started = millis(run.started_at), ended = millis(run.ended_at);
      return {
        items: run.items || 0, outcome: run.outcome,
        duration: started !== null && ended !== null ? Math.max(0, ended - started) : 0,
        label: "run " + run.run + " (" + run.outcome + ", " + localTime(started) + ")",
      };
    });
    const first = oldest.length ? localTime(millis(runs[runs.length - 1].started_at)) : "";
    const lastLabel = oldest.length ? localTime(millis(runs[0].started_at)) : "";
    barChart(document.getElementById("chart-items"),
      oldest.map((r) => ({ value: r.items, label: r.label, outcome: r.outcome })),
      (v) => number(Math.round(v)), first, lastLabel, "no run recorded yet");
    lineChart(document.getElementById("chart-duration"),
      oldest.map((r) => ({ value: r.duration, label: r.label, outcome: r.outcome })),
      duration, first, lastLabel, "no run recorded yet");
  }

  function renderErrors(errors) {
    const key = JSON.stringify(errors);
    if (key === detail.errorsKey) return;
    detail.errorsKey = key;
    const box = document.getElementById("errors");
    if (!errors.length) return box.replaceChildren(el("p", "muted", "None."));
    const list = el("ol");
    for (const error of errors) {
      const li = el("li");
      const at = millis(error.at);
      li.appendChild(el("div", "muted", at === null ? "" : localTime(at) + " (" + ago(at) + ")"));
      li.appendChild(el("pre", null, error.message || ""));
      if (error.detail !== null && error.detail !== undefined) {
        li.appendChild(el("pre", "muted", typeof error.detail === "string" ? error.detail : JSON.stringify(error.detail, null, 2)));
      }
      list.appendChild(li);
    }
    box.replaceChildren(list);
  }

  function renderConfig(config) {
    const pre = document.getElementById("config");
    const text = config === null || config === undefined
      ? "Not available: the collection has no config to show (built in Rust, or an older server)."
      : JSON.stringify(config, null, 2);
    setText(pre, text);
    pre.className = config ? "" : "muted";
  }

  // One poll of the open collection: its status, config and errors, and
  // its history when a run was added since the last look. A child
  // collection (`group/*` in the overview) has a history, its children's
  // runs summed, but no status of its own.
  async function pollCollection() {
    const name = detail.name;
    if (name === null) return;
    const path = "collections/" + encodeURIComponent(name);
    let info = null;
    try {
      info = await fetchJson(path);
    } catch (e) {
      // An older server without the endpoint: what `/status` says.
      const row = rows.get(name);
      if (row && row.status) info = { status: row.status, config: null, errors: [] };
    }
    if (detail.name !== name) return;
    let key;
    if (info && info.status) {
      const s = info.status;
      samplePages(s);
      renderFacts(s);
      renderRateChart(s);
      renderErrors(Array.isArray(info.errors) ? info.errors : []);
      renderConfig(info.config);
      key = JSON.stringify(s.last_run ?? null) + "/" + s.runs + "/" + s.state;
    } else {
      renderGroupFacts(info && info.group ? info.group : null);
      // No status tells when a child's run ended: look every few seconds.
      key = "group/" + Math.floor(Date.now() / 5000);
    }
    if (key === detail.runsKey) return;
    try {
      const runs = await fetchJson(path + "/runs");
      if (detail.name !== name) return;
      detail.runsKey = key;
      renderRuns(Array.isArray(runs) ? runs : []);
    } catch (e) {
      const note = info ? "No run history from this server (" + e.message + ")."
        : "No collection named “" + name + "” on this server.";
      setText(document.getElementById("runs-note"), note);
      for (const id of ["chart-items", "chart-duration"]) empty(document.getElementById(id), "no history");
    }
  }

  // A child collection: its children summed (`{"group"}` of its detail).
  function renderGroupFacts(group) {
    const badge = document.getElementById("detail-state");
    setText(badge, "child collection");
    setClass(badge, "badge state-waiting");
    const facts = [fact("What", "its children's runs, summed per run of their parent")];
    if (group) {
      facts.push(
        fact("Children", group.done + " done of " + group.total),
        fact("Running", String(group.running)),
        fact("Failed", String(group.failed)),
        fact("Items written", String(group.items_written)));
    }
    document.getElementById("facts").replaceChildren(...facts);
    empty(document.getElementById("chart-rate"), "see the parent collection");
    renderErrors([]);
    renderConfig(null);
  }
