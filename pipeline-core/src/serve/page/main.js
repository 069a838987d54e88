  // Polling, the admin token and the route (`#c=NAME` or the overview).
  const TOKEN_KEY = "pipeline.adminToken";
  const adminEnabled = document.body.dataset.admin === "on";
  let token = adminEnabled ? loadToken() : null;
  let polling = false;

  function loadToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }
  function storeToken(value) {
    token = value;
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives until the page closes */ }
    showAdmin();
    for (const row of rows.values()) renderAction(row);
  }
  function showAdmin() {
    document.getElementById("admin").hidden = !adminEnabled || !!token;
    document.getElementById("admin-on").hidden = !adminEnabled || !token;
  }

  function say(text, bad) {
    const message = document.getElementById("message");
    message.textContent = text;
    message.className = bad ? "bad" : "";
  }

  async function poll() {
    // A tab nobody looks at costs nothing; it catches up when shown.
    if (polling || document.hidden) return;
    polling = true;
    const updated = document.getElementById("updated");
    try {
      const response = await fetch("status", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      await refreshSparklines();
      if (detail.name !== null) await pollCollection();
      else renderGroups(await fetchJson("status/children").catch(() => []));
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      updated.className = "muted";
    } catch (e) {
      updated.textContent = "cannot reach the server (" + e.message + ")";
      updated.className = "offline";
    } finally {
      polling = false;
    }
  }

  async function runNow(name, button) {
    button.disabled = true;
    try {
      const response = await fetch("collections/" + encodeURIComponent(name) + "/run", {
        method: "POST",
        headers: { "Authorization": "Bearer " + token },
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) {
        storeToken(null);
        say("The admin token was refused; enter it again.", true);
      } else if (response.ok) {
        say(body.started ? name + ": started." : name + ": already running.", false);
      } else {
        say(name + ": " + (body.error || "HTTP " + response.status), true);
      }
    } catch (e) {
      say(name + ": " + e.message, true);
    }
    poll();
  }

  function route() {
    const hash = readHash();
    if (hash.collection !== null) {
      openCollection(hash.collection);
    } else {
      closeCollection();
      showOverview(hash);
    }
  }

  document.getElementById("admin").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    const value = input.value.trim();
    input.value = "";
    if (value) { storeToken(value); say("", false); }
  });
  document.getElementById("forget").addEventListener("click", () => storeToken(null));
  document.getElementById("runs-more").addEventListener("click", () => {
    detail.allRuns = true;
    detail.runsKey = null;
    pollCollection();
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", poll);
  // Charts are drawn at their shown width: redraw the history after a resize.
  window.addEventListener("resize", () => { detail.runsKey = null; });

  setupOverview();
  showAdmin();
  route();
  poll();
  setInterval(poll, POLL_MS);
