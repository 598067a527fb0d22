// The dashboard's one script (reconciler/interfaces/ui): live updates, filters, bake
// countdowns and, where enabled, actions. The pages work without it (server-rendered,
// filters as a GET form); it only saves reloads. No framework, no build step.
"use strict";
(function () {
  const body = document.body;
  const live = document.getElementById("live");
  const indicator = document.getElementById("live-indicator");
  const TOKEN = "reconciler-ui-token";
  let refreshing = null;
  let again = false;

  // -- live updates: the server says "change", we fetch the live part of this page --
  function partialUrl() {
    const url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    return url.toString();
  }

  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      try {
        const response = await fetch(partialUrl(), { headers: { Accept: "text/html" } });
        if (!response.ok) { return; }
        const html = await response.text();
        const open = new Set([...live.querySelectorAll("details[open]")].map((d) => d.id));
        live.innerHTML = html;
        open.forEach((id) => { const d = document.getElementById(id); if (d) { d.open = true; } });
        live.dataset.key = response.headers.get("X-Dashboard-Key") || "";
        applyFilters();
        tick();
      } finally {
        refreshing = null;
        if (again) { again = false; refresh(); }
      }
    })();
    return refreshing;
  }

  function listen() {
    if (!window.EventSource) { return; }
    const source = new EventSource(body.dataset.events);
    source.addEventListener("open", () => { indicator.className = "live on"; });
    source.addEventListener("error", () => { indicator.className = "live off"; });
    source.addEventListener("change", (event) => {
      indicator.className = "live on";
      if (event.data !== live.dataset.key) { refresh(); }
    });
  }

  // -- filters: the same rules as the server's ?namespace=&state=&q= ---------------
  const filters = document.getElementById("filters");

  function applyFilters() {
    if (!filters) { return; }
    const ns = filters.elements.namespace.value;
    const state = filters.elements.state.value;
    const text = filters.elements.q.value.trim().toLowerCase();
    let shown = 0;
    live.querySelectorAll("#rollouts tbody tr[data-key]").forEach((row) => {
      const visible = (!ns || row.dataset.namespace === ns) &&
        (!state || row.dataset.state === state) &&
        (!text || row.dataset.key.toLowerCase().includes(text));
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    const count = document.getElementById("shown-count");
    if (count) { count.textContent = String(shown); }
    live.querySelectorAll("[data-state-filter]").forEach((chip) => {
      chip.classList.toggle("selected", chip.dataset.stateFilter === state);
    });
  }

  function filtersChanged() {
    applyFilters();
    const url = new URL(window.location.href);
    for (const name of ["namespace", "state", "q"]) {
      const value = filters.elements[name].value.trim();
      if (value) { url.searchParams.set(name, value); } else { url.searchParams.delete(name); }
    }
    url.searchParams.delete("partial");
    window.history.replaceState(null, "", url.toString());
  }

  if (filters) {
    filters.addEventListener("input", filtersChanged);
    filters.addEventListener("submit", (event) => { event.preventDefault(); filtersChanged(); });
    live.addEventListener("click", (event) => {
      const chip = event.target.closest("[data-state-filter]");
      if (!chip) { return; }
      event.preventDefault();
      const select = filters.elements.state;
      const wanted = chip.dataset.stateFilter;
      select.value = select.value === wanted ? "" : wanted;
      filtersChanged();
    });
  }

  // -- bake countdowns ----------------------------------------------------------------
  function left(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (h) { return `${h}h${pad(m)}m left`; }
    if (m) { return `${m}m${pad(s)}s left`; }
    return `${s}s left`;
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-ends]").forEach((el) => {
      el.textContent = left(Date.parse(el.dataset.ends) - now);
    });
  }

  // -- actions (only where the server enables them) ------------------------------------
  const notice = document.getElementById("notice");

  function say(text, kind) {
    notice.hidden = false;
    notice.replaceChildren();
    const line = document.createElement("div");
    line.className = kind;
    line.textContent = text;
    notice.appendChild(line);
  }

  function signedIn() {
    const form = document.getElementById("signin");
    if (!form) { return; }
    const token = window.sessionStorage.getItem(TOKEN);
    form.classList.toggle("in", Boolean(token));
    form.querySelector(".who").hidden = !token;
  }

  async function act(button) {
    const token = window.sessionStorage.getItem(TOKEN);
    if (!token) { say("Sign in with a token first (top right).", "error"); return; }
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) { return; }
    const [namespace, name] = button.dataset.rollout.split("/");
    const url = `/ui/api/rollouts/${encodeURIComponent(namespace)}/` +
      `${encodeURIComponent(name)}/${button.dataset.action}`;
    button.disabled = true;
    say(`${button.textContent.trim()}: ${button.dataset.action === "approve" ? "recording the approval" : "writing the commit"}…`, "working");
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign(button.dataset.tag ? { tag: button.dataset.tag } : {},
          button.dataset.step ? { step: Number(button.dataset.step) } : {})),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        const sha = answer.commit ? ` (${answer.commit.slice(0, 12)})` : "";
        say(`${answer.outcome}${sha}: ${answer.message}`, "done");
        refresh();
      } else {
        if (response.status === 401) { window.sessionStorage.removeItem(TOKEN); signedIn(); }
        say(`Refused (${response.status}): ${answer.detail || response.statusText}`, "error");
      }
    } finally {
      button.disabled = false;
    }
  }

  if (body.dataset.actions === "on") {
    const form = document.getElementById("signin");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = form.elements.token.value.trim();
      if (token) { window.sessionStorage.setItem(TOKEN, token); }
      form.elements.token.value = "";
      signedIn();
    });
    document.getElementById("signout").addEventListener("click", () => {
      window.sessionStorage.removeItem(TOKEN);
      signedIn();
    });
    document.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) { act(button); }
    });
    signedIn();
  }

  applyFilters();
  tick();
  window.setInterval(tick, 1000);
  listen();
}());
