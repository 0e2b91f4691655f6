// The UI's entry point: picks the page by the last path segment (every page is the same
// index.html), marks the navigation, runs the theme switch and the "starting up" banner.

import { h, replace, alertBox } from "./lib/dom.js";

const PAGES = {
  query: ["./pages/query.js", "Query"],
  alerts: ["./pages/alerts.js", "Alerts"],
  rules: ["./pages/rules.js", "Rules"],
  targets: ["./pages/targets.js", "Targets"],
  "service-discovery": ["./pages/sd.js", "Service discovery"],
  "tsdb-status": ["./pages/tsdb.js", "TSDB status"],
  status: ["./pages/status.js", "Runtime & build information"],
  flags: ["./pages/flags.js", "Command-line flags"],
  config: ["./pages/config.js", "Configuration"],
  "alertmanager-discovery": ["./pages/alertmanagers.js", "Alertmanager discovery"],
};

function pageName() {
  const seg = location.pathname.replace(/\/+$/, "").split("/").pop();
  return PAGES[seg] ? seg : "query";
}

// --- theme -------------------------------------------------------------------------
function setTheme(t) {
  document.documentElement.dataset.theme = t;
  const btn = document.getElementById("theme-toggle");
  if (btn) {
    const other = t === "dark" ? "light" : "dark";
    btn.setAttribute("aria-label", `Switch to ${other} theme`);
    btn.title = `Switch to ${other} theme`;
  }
  window.dispatchEvent(new CustomEvent("hearth-theme", { detail: t }));
}

function initTheme() {
  setTheme(document.documentElement.dataset.theme === "dark" ? "dark" : "light");
  document.getElementById("theme-toggle")?.addEventListener("click", () => {
    const t = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    try {
      localStorage.setItem("hearth.theme", t);
    } catch (_) {
      // private mode: the choice lasts for this page only
    }
    setTheme(t);
  });
}

// --- readiness -----------------------------------------------------------------------
async function waitReady(banner) {
  banner.hidden = false;
  replace(banner, alertBox("info", "Starting up.", "The server is replaying its write-ahead log; pages fill in when it is ready."));
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const r = await fetch("-/ready", { cache: "no-store" });
      if (r.ok) break;
      // Open before readiness, as upstream: show how far the replay has come.
      const w = await fetch("api/v1/status/walreplay", { cache: "no-store" });
      if (w.ok) {
        const { min, max, current } = (await w.json()).data;
        if (max > 0) {
          const done = Math.max(0, current - min);
          const total = max - min + 1;
          replace(banner, alertBox("info", "Starting up.", `Replaying the write-ahead log: segment ${done} of ${total}.`));
        }
      }
    } catch (_) {
      // not up yet
    }
  }
  banner.hidden = true;
}

async function main() {
  initTheme();
  const name = pageName();
  const [module, title] = PAGES[name];
  for (const a of document.querySelectorAll("nav a[data-page]")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
  }
  const base = document.title;
  document.title = name === "query" ? base : `${title} – ${base}`;
  const main = document.getElementById("main");
  if (document.body.dataset.ready === "false") {
    await waitReady(document.getElementById("banner"));
  }
  try {
    const page = await import(module);
    replace(main);
    await page.render(main, { title });
  } catch (e) {
    replace(main, h("h1", title), alertBox("error", "Error:", e.message || String(e)));
  }
}

main();
