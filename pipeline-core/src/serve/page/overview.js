  // The overview: one row per collection (a tr with data-collection,
  // data-state, data-stalled and data-stale attributes), updated in place on every poll
  // (a row is built once; a cell's text is set only when it changed), sorted
  // by a clicked column and filtered by the filter box.

  // The rate is measured over this window so pages arriving in bursts
  // do not make it jump between zero and a peak.
  const RATE_WINDOW_MS = 10000;
  const COLUMNS = ["name", "state", "success", "runs-chart", "pages", "fetched", "written", "rate",
                   "resumes", "runs", "next", "owner", "error", "action"];
  const NUMERIC = new Set(["pages", "fetched", "written", "rate", "resumes", "runs"]);

  const tbody = document.querySelector("#collections tbody");
  const rows = new Map();
  // What the overview shows: the filter and the sort (null: the server's order).
  const view = { filter: "", sort: null, descending: false };
  let order = [];

  function makeRow(name) {
    const tr = document.createElement("tr");
    tr.setAttribute("data-collection", name);
    const cells = {};
    for (const column of COLUMNS) {
      const td = document.createElement("td");
      td.className = "c-" + column + (NUMERIC.has(column) ? " num" : "");
      tr.appendChild(td);
      cells[column] = td;
    }
    const link = el("a", null, name);
    link.setAttribute("href", collectionHash(name));
    cells.name.appendChild(link);
    const badge = el("span");
    const stalled = el("span", "flag stalled", "stalled");
    stalled.title = "no progress for the runner's stall timeout";
    const stale = el("span", "flag stale", "stale");
    stale.hidden = true;
    // The request budget the source spends, when the server announces one.
    const quota = el("div", "quota");
    quota.hidden = true;
    cells.state.append(badge, stalled, stale, quota);
    const error = el("div", "error-text");
    cells.error.appendChild(error);
    cells.error.addEventListener("click", (event) => {
      event.stopPropagation();
      tr.classList.toggle("expanded");
    });
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a, button")) return;
      location.hash = collectionHash(name);
    });
    return {
      name, tr, cells, badge, stalled, stale, quota, error, samples: [], state: null, button: null,
      status: null, index: 0, rate: 0, sparkKey: null, lastRunKey: null, haystack: "",
    };
  }

  function rate(row, s, now) {
    const samples = row.samples;
    row.rate = 0;
    // A new run starts its counters from zero: measure afresh.
    if (samples.length && s.items_written < samples[samples.length - 1].written) samples.length = 0;
    samples.push({ at: now, written: s.items_written });
    while (samples.length > 2 && now - samples[0].at > RATE_WINDOW_MS) samples.shift();
    if (!RUNNING.has(s.state)) return "—";
    if (samples.length < 2) return "…";
    const first = samples[0];
    const per = (s.items_written - first.written) / ((now - first.at) / 1000);
    row.rate = per;
    return (per < 10 ? per.toFixed(1) : Math.round(per).toLocaleString("en-US")) + "/s";
  }

  function nextRun(s) {
    // next_run_at is RFC 3339 text; next_attempt_at milliseconds since the epoch.
    if (s.state === "retrying" && typeof s.next_attempt_at === "number") {
      return { at: s.next_attempt_at, prefix: "retry " };
    }
    return { at: millis(s.next_run_at), prefix: "" };
  }

  function renderNext(cell, s) {
    const next = nextRun(s);
    if (next.at === null) {
      setText(cell, "—");
      setTitle(cell, null);
      return;
    }
    setText(cell, next.prefix + relative(next.at));
    setTitle(cell, localTime(next.at));
  }

  // "3 h ago", "never", or "—" from a server without run history.
  function lastSuccess(s, now) {
    if (!("last_success_at" in s)) return { text: "—", title: null };
    const at = millis(s.last_success_at);
    if (at === null) return { text: "never", title: "no successful run recorded" };
    return { text: ago(at, now), title: localTime(at) };
  }

  // The sparklines' runs by collection, newest first, as `GET /status/runs`
  // answers them ([outcome, duration_ms, items]); kept out of `/status` so
  // a poll stays small, and fetched again only when a row's last run changed.
  let recentRuns = {};
  let recentStale = true;

  function recentOf(name) {
    const runs = recentRuns[name];
    return Array.isArray(runs) ? runs : [];
  }

  function noteLastRun(row, s) {
    const run = s.last_run;
    const key = run ? run.ended_at + " " + run.outcome : "";
    if (key !== row.lastRunKey) { row.lastRunKey = key; recentStale = true; }
  }

  function renderSparkline(row) {
    const runs = recentOf(row.name);
    // Newest first from the server; the key changes when a run is added.
    const key = runs.length + ":" + (runs.length ? JSON.stringify(runs[0]) : "");
    if (key === row.sparkKey) return;
    row.sparkKey = key;
    const oldestFirst = runs.map(([outcome, duration_ms, items]) => ({ outcome, duration_ms, items })).reverse();
    row.cells["runs-chart"].replaceChildren(sparkline(oldestFirst));
  }

  // After a poll: the sparklines, with the runs fetched again if a run ended.
  async function refreshSparklines() {
    if (recentStale) {
      recentStale = false;
      try {
        recentRuns = await fetchJson("status/runs");
      } catch (e) {
        recentStale = true;
        throw e;
      }
    }
    for (const row of rows.values()) renderSparkline(row);
  }

  function renderAction(row) {
    const show = adminEnabled && !!token;
    if (!show) {
      if (row.button) { row.button.remove(); row.button = null; }
      return;
    }
    if (!row.button) {
      row.button = el("button", null, "Run now");
      row.button.type = "button";
      row.button.setAttribute("data-run", "");
      row.button.addEventListener("click", () => runNow(row.name, row.button));
      row.cells.action.appendChild(row.button);
    }
    const running = RUNNING.has(row.state);
    if (row.button.disabled !== running) row.button.disabled = running;
    setTitle(row.button, running ? "already running" : "start a run now");
  }

  // "quota 12% left, resets in 14 min"
  function renderQuota(elq, q) {
    setHidden(elq, !q);
    if (!q) return;
    const left = q.limit > 0 ? Math.floor((100 * q.remaining) / q.limit) : 0;
    setText(elq, "quota " + left + "% left, resets " + relative(q.reset_at).replace("due now", "now"));
    setTitle(elq, q.remaining.toLocaleString("en-US") + " of " + q.limit.toLocaleString("en-US") +
      " requests left on " + q.host + " (budget " + q.budget + "), until " + new Date(q.reset_at).toLocaleString());
  }

  function update(row, s, now, wall) {
    row.state = s.state;
    row.status = s;
    setAttr(row.tr, "data-state", s.state);
    setAttr(row.tr, "data-stalled", s.stalled ? "true" : "false");
    setAttr(row.tr, "data-stale", s.stale ? "true" : "false");
    setText(row.badge, s.state);
    setClass(row.badge, "badge state-" + s.state);
    setHidden(row.stalled, !s.stalled);
    setHidden(row.stale, !s.stale);
    setTitle(row.stale, staleText(s));
    renderQuota(row.quota, s.quota);
    const success = lastSuccess(s, wall);
    setText(row.cells.success, success.text);
    setTitle(row.cells.success, success.title);
    noteLastRun(row, s);
    // A page skipped by a rule (on_status, on_body) is shown, never hidden.
    setText(row.cells.pages, number(s.pages) + (s.pages_skipped ? " (" + number(s.pages_skipped) + " skipped)" : "") +
      (s.pages_not_modified ? " (" + number(s.pages_not_modified) + " not modified)" : ""));
    setTitle(row.cells.pages, s.last_skipped ? "skipped " + s.last_skipped : null);
    setText(row.cells.fetched, number(s.items_fetched));
    setText(row.cells.written, number(s.items_written));
    setText(row.cells.rate, rate(row, s, now));
    setText(row.cells.resumes, number(s.resumes));
    setText(row.cells.runs, number(s.runs));
    renderNext(row.cells.next, s);
    // In a cluster: the process holding the lease, and until when.
    setText(row.cells.owner, s.owner || "—");
    setTitle(row.cells.owner, s.owner && typeof s.lease_until === "number"
      ? "lease until " + localTime(s.lease_until) : null);
    const error = s.last_error || "";
    setText(row.error, error);
    setTitle(row.cells.error, error ? error + "\n(click to expand)" : null);
    row.haystack = [s.collection, s.state, s.stale ? "stale" : "", s.stalled ? "stalled" : "",
                    s.owner || "", error].join("\n").toLowerCase();
    renderAction(row);
  }

  // The value a column sorts by; text sorts as text, the rest as numbers.
  function sortValue(row, key) {
    const s = row.status;
    switch (key) {
      case "name": return s.collection;
      case "state": return s.state;
      case "owner": return s.owner || "";
      case "error": return s.last_error || "";
      case "success": return millis(s.last_success_at) ?? -1;
      case "recent": return recentOf(s.collection).filter((r) => r[0] !== "completed").length;
      case "rate": return row.rate;
      case "next": return nextRun(s).at ?? Number.MAX_SAFE_INTEGER;
      case "written": return s.items_written;
      case "fetched": return s.items_fetched;
      default: return typeof s[key] === "number" ? s[key] : 0;
    }
  }

  function compare(a, b) {
    const x = sortValue(a, view.sort), y = sortValue(b, view.sort);
    let c = typeof x === "string" ? x.localeCompare(y, "en") : x - y;
    if (view.descending) c = -c;
    return c || a.index - b.index;
  }

  // Puts the rows in order, moving a row only when its place changed so
  // hover and clicks stay steady.
  function arrange() {
    const wanted = Array.from(rows.values());
    if (view.sort) wanted.sort(compare);
    else wanted.sort((a, b) => a.index - b.index);
    const same = wanted.length === order.length && wanted.every((row, i) => order[i] === row);
    if (!same) {
      wanted.forEach((row, i) => {
        if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      });
      order = wanted;
    }
  }

  function applyFilter() {
    const words = view.filter.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows.values()) {
      const match = words.every((w) => row.haystack.includes(w));
      setHidden(row.tr, !match);
      if (match) shown += 1;
    }
    setText(document.getElementById("shown"), words.length ? "showing " + shown + " of " + rows.size : "");
    return shown;
  }

  function showSort() {
    for (const th of document.querySelectorAll("#collections th[data-sort]")) {
      if (th.dataset.sort === view.sort) th.setAttribute("aria-sort", view.descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
  }

  function render(statuses) {
    const now = performance.now();
    const wall = Date.now();
    const seen = new Set();
    const counts = {};
    let stale = 0;
    statuses.forEach((s, i) => {
      seen.add(s.collection);
      counts[s.state] = (counts[s.state] || 0) + 1;
      if (s.stale) stale += 1;
      let row = rows.get(s.collection);
      if (!row) {
        row = makeRow(s.collection);
        rows.set(s.collection, row);
      }
      row.index = i;
      update(row, s, now, wall);
    });
    for (const [name, row] of rows) {
      if (!seen.has(name)) { row.tr.remove(); rows.delete(name); }
    }
    arrange();
    applyFilter();
    setHidden(document.getElementById("empty"), statuses.length > 0);
    const parts = Object.keys(counts).sort().map((state) => counts[state] + " " + state);
    if (stale) parts.push(stale + " stale");
    const total = statuses.length + (statuses.length === 1 ? " collection" : " collections");
    setText(document.getElementById("summary"), total + (parts.length ? ": " + parts.join(", ") : ""));
  }

  function keepOverviewInHash() {
    if (!readHash().collection) history.replaceState(null, "", overviewHash(view) === "#" ? location.pathname : overviewHash(view));
  }

  function sortBy(key) {
    // Ascending, then descending, then the server's order again.
    if (view.sort !== key) { view.sort = key; view.descending = false; }
    else if (!view.descending) view.descending = true;
    else { view.sort = null; view.descending = false; }
    showSort();
    arrange();
    keepOverviewInHash();
  }

  // Child collections, one row each: their children aggregated.
  let groupsKey = null;
  function renderGroups(groups) {
    const key = JSON.stringify(groups);
    if (key === groupsKey) return;
    groupsKey = key;
    const body = document.querySelector("#children tbody");
    body.replaceChildren();
    groups.forEach((g) => {
      const tr = document.createElement("tr");
      const skipped = (g.skipped_children || []).map((c) => "skipped " + c.collection + ": " + (c.reason || ""));
      const failing = g.failing.map((f) => f.collection + ": " + (f.error || "")).concat(skipped).join("\n");
      const done = g.skipped ? number(g.done) + " (" + number(g.skipped) + " skipped)" : g.done;
      [g.group + "/*", done, g.running, g.failed, g.total, g.pages, g.items_written, failing].forEach((v, i) => {
        const td = el("td", i > 0 && i < 7 ? "num" : null, i === 0 ? null : typeof v === "number" ? number(v) : v);
        if (i === 0) {
          // Its run history, children summed per run of the parent.
          const link = el("a", null, v);
          link.setAttribute("href", collectionHash(g.group));
          td.appendChild(link);
        }
        if (i === 7) td.style.whiteSpace = "pre-wrap";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    document.getElementById("groups").hidden = groups.length === 0;
  }

  function setupOverview() {
    const filter = document.getElementById("filter");
    filter.addEventListener("input", () => {
      view.filter = filter.value;
      applyFilter();
      keepOverviewInHash();
    });
    for (const th of document.querySelectorAll("#collections th[data-sort]")) {
      th.addEventListener("click", () => sortBy(th.dataset.sort));
    }
  }

  // The overview as the URL's fragment says (a link, a reload, Back).
  function showOverview(hash) {
    view.filter = hash.filter;
    view.sort = hash.sort && document.querySelector('#collections th[data-sort="' + CSS.escape(hash.sort) + '"]') ? hash.sort : null;
    view.descending = !!view.sort && hash.descending;
    const filter = document.getElementById("filter");
    if (filter.value !== view.filter) filter.value = view.filter;
    showSort();
    arrange();
    applyFilter();
  }
