  // Charts as inline SVG, drawn here: no library, nothing fetched. Every
  // chart is one <svg data-chart=KIND data-points=N>, one mark per point
  // (a <rect class="bar"> or a <circle class="point">), each with a <title>.

  const OUTCOMES = new Set(["completed", "failed", "cancelled"]);

  function outcomeClass(outcome) {
    return "run-" + (OUTCOMES.has(outcome) ? outcome : "cancelled");
  }

  function withTitle(node, text) {
    const title = svgEl("title", {});
    title.textContent = text;
    node.appendChild(title);
    return node;
  }

  // The overview's sparkline: the recent runs oldest first, a bar per run,
  // its height the items it wrote, its colour its outcome. A failed run
  // with no items still shows as a short red bar.
  function sparkline(runs) {
    const width = 84, height = 20, slot = width / 20;
    const svg = svgEl("svg", {
      width, height, viewBox: "0 0 " + width + " " + height,
      class: "sparkline", "data-points": runs.length, role: "img",
    });
    const most = Math.max(1, ...runs.map((r) => r.items || 0));
    const counts = {};
    runs.forEach((run, i) => {
      counts[run.outcome] = (counts[run.outcome] || 0) + 1;
      const h = Math.max(3, Math.round(((run.items || 0) / most) * (height - 1)));
      const bar = svgEl("rect", {
        x: (i * slot).toFixed(1), y: height - h, width: (slot - 1).toFixed(1), height: h,
        class: outcomeClass(run.outcome),
      });
      svg.appendChild(withTitle(bar, run.outcome + ": " + number(run.items) + " items in " + duration(run.duration_ms)));
    });
    const parts = Object.keys(counts).sort().map((o) => counts[o] + " " + o);
    svg.setAttribute("aria-label", runs.length ? "recent runs: " + parts.join(", ") : "no runs yet");
    return svg;
  }

  const PLOT = { width: 600, height: 140, left: 56, right: 8, top: 8, bottom: 20 };

  // A chart's frame: the axes, the top value and the first and last labels
  // under the x axis. Returns the function placing a value on the y axis.
  function frame(svg, top, yLabel, xFirst, xLast) {
    const p = PLOT;
    svg.replaceChildren();
    svg.setAttribute("viewBox", "0 0 " + p.width + " " + p.height);
    const bottom = p.height - p.bottom;
    svg.appendChild(svgEl("line", { x1: p.left, y1: bottom, x2: p.width - p.right, y2: bottom, class: "axis" }));
    svg.appendChild(svgEl("line", { x1: p.left, y1: p.top, x2: p.left, y2: bottom, class: "axis" }));
    const label = (x, y, text, anchor) => {
      const t = svgEl("text", { x, y, class: "label", "text-anchor": anchor });
      t.textContent = text;
      svg.appendChild(t);
    };
    label(p.left - 4, p.top + 8, yLabel, "end");
    label(p.left - 4, bottom, "0", "end");
    if (xFirst) label(p.left, p.height - 4, xFirst, "start");
    if (xLast) label(p.width - p.right, p.height - 4, xLast, "end");
    return (value) => bottom - (top > 0 ? (value / top) * (bottom - p.top) : 0);
  }

  // Drawn at the size it is shown, so text and dots are not stretched.
  function measure(svg) {
    const shown = Math.round(svg.getBoundingClientRect().width);
    PLOT.width = shown >= 200 ? shown : 600;
  }

  function empty(svg, text) {
    measure(svg);
    svg.replaceChildren();
    svg.setAttribute("viewBox", "0 0 " + PLOT.width + " " + PLOT.height);
    svg.setAttribute("data-points", "0");
    const t = svgEl("text", { x: PLOT.width / 2, y: PLOT.height / 2, class: "label", "text-anchor": "middle" });
    t.textContent = text;
    svg.appendChild(t);
  }

  // A duration short enough for the y axis ("850 ms", "42 s", "21 min", "3.5 h").
  function shortDuration(ms) {
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return Math.round(ms / 1000) + " s";
    if (ms < 3600000) return Math.round(ms / 60000) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }
  duration.axis = shortDuration;

  // Bars: one <rect class="bar"> per point (`format.axis`, when set,
  // writes the top value on the y axis, `format` each point's title). `points` are
  // {value, label, outcome}, oldest first.
  function barChart(svg, points, format, xFirst, xLast, none) {
    if (!points.length) return empty(svg, none);
    measure(svg);
    const top = Math.max(...points.map((p) => p.value));
    const y = frame(svg, top, (format.axis || format)(top), xFirst, xLast);
    const slot = (PLOT.width - PLOT.left - PLOT.right) / points.length;
    points.forEach((point, i) => {
      const yTop = y(point.value);
      const h = Math.max(1, PLOT.height - PLOT.bottom - yTop);
      const bar = svgEl("rect", {
        x: (PLOT.left + i * slot + slot * 0.1).toFixed(2), y: (PLOT.height - PLOT.bottom - h).toFixed(2),
        width: Math.max(0.5, slot * 0.8).toFixed(2), height: h.toFixed(2),
        class: "bar " + outcomeClass(point.outcome),
      });
      svg.appendChild(withTitle(bar, point.label + ": " + format(point.value)));
    });
    svg.setAttribute("data-points", String(points.length));
  }

  // A line through one <circle class="point"> per point, evenly spaced.
  function lineChart(svg, points, format, xFirst, xLast, none) {
    if (!points.length) return empty(svg, none);
    measure(svg);
    const top = Math.max(...points.map((p) => p.value));
    const y = frame(svg, top, (format.axis || format)(top), xFirst, xLast);
    const span = PLOT.width - PLOT.left - PLOT.right;
    const x = (i) => PLOT.left + (points.length === 1 ? span / 2 : (i / (points.length - 1)) * span);
    const path = points.map((p, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p.value).toFixed(1)).join(" ");
    svg.appendChild(svgEl("path", { d: path, class: "line" }));
    points.forEach((point, i) => {
      const dot = svgEl("circle", {
        cx: x(i).toFixed(1), cy: y(point.value).toFixed(1), r: 2.5,
        class: "point " + (point.outcome ? outcomeClass(point.outcome) : ""),
      });
      svg.appendChild(withTitle(dot, point.label + ": " + format(point.value)));
    });
    svg.setAttribute("data-points", String(points.length));
  }
