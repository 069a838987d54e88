  // Shared by the overview and the collection view. Every text from the
  // server goes through textContent or setAttribute, never an HTML parser:
  // names, errors and configs are data, not markup.
  const POLL_MS = 1000;
  const RUNNING = new Set(["crawling", "finalizing"]);
  // The SVG namespace, from an <svg> of the document itself (the page names no URL).
  const SVG_NS = document.getElementById("chart-items").namespaceURI;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEl(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const key in attributes) node.setAttribute(key, String(attributes[key]));
    return node;
  }

  // Sets a node's text only when it changed: with 1,000 rows polled every
  // second, untouched nodes cost the browser nothing.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // The same for an attribute, a class and the hidden flag: writing even an
  // unchanged value makes the browser check the styles again.
  function setAttr(node, name, value) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }

  function setClass(node, className) {
    if (node.className !== className) node.className = className;
  }

  function setHidden(node, hidden) {
    if (node.hidden !== hidden) node.hidden = hidden;
  }

  function setTitle(node, title) {
    if (title) {
      if (node.title !== title) node.title = title;
    } else if (node.hasAttribute("title")) {
      node.removeAttribute("title");
    }
  }

  function number(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "—";
  }

  // A time from the server as milliseconds since the epoch: `/status` gives
  // some as numbers (milliseconds), the history as RFC 3339 text.
  function millis(value) {
    if (typeof value === "number") return value;
    if (typeof value === "string") {
      const at = Date.parse(value);
      return Number.isNaN(at) ? null : at;
    }
    return null;
  }

  function ago(ms, now) {
    const seconds = Math.round(((now || Date.now()) - ms) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 90) return seconds + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  }

  function relative(ms) {
    const seconds = Math.round((ms - Date.now()) / 1000);
    if (seconds <= 0) return "due now";
    if (seconds < 90) return "in " + seconds + " s";
    if (seconds < 5400) return "in " + Math.round(seconds / 60) + " min";
    return "in " + (seconds / 3600).toFixed(1) + " h";
  }

  function duration(ms) {
    if (typeof ms !== "number" || ms < 0) return "—";
    if (ms < 1000) return Math.round(ms) + " ms";
    const s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(Math.round(s % 60)).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.round((s % 3600) / 60)).padStart(2, "0") + " min";
  }

  function localTime(ms) {
    return ms === null ? "—" : new Date(ms).toLocaleString();
  }

  // `stale_after_secs` as words for a tooltip.
  function staleText(s) {
    if (!s.stale) return "";
    const after = typeof s.stale_after_secs === "number" ? duration(s.stale_after_secs * 1000) : "its limit";
    return "no successful run for more than " + after;
  }

  // The view in the URL's fragment: `#c=NAME` is one collection (the link
  // an alert carries), otherwise `q` (filter), `sort` and `dir` keep the
  // overview as it was left, so a link or a reload shows the same view.
  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    return {
      collection: params.get("c"),
      filter: params.get("q") || "",
      sort: params.get("sort"),
      descending: params.get("dir") === "desc",
    };
  }

  function overviewHash(view) {
    const params = new URLSearchParams();
    if (view.filter) params.set("q", view.filter);
    if (view.sort) {
      params.set("sort", view.sort);
      if (view.descending) params.set("dir", "desc");
    }
    const text = params.toString();
    return text ? "#" + text : "#";
  }

  function collectionHash(name) {
    return "#c=" + encodeURIComponent(name);
  }

  async function fetchJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }
