// Targets: every active target grouped by scrape pool, with health, last scrape, scrape
// duration, last error, and its labels after relabeling (the labels before relabeling
// one click away). Filter by health and by text. Long pools render in chunks.

import { h, replace, badge, labelBadges } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { ago, apiTime, humanDuration } from "../lib/format.js";
import { page, lazyRows, searchBox, toggles, labelsText } from "./common.js";

const HEALTH_KIND = { up: "ok", down: "danger", unknown: "neutral" };

export async function render(main) {
  const health = new Set(["up", "down", "unknown"]);
  let query = "";
  let pools = new Map();
  let openAll = null;
  const list = h("div.pools");
  const summary = h("p.hint", { "aria-live": "polite" });
  const redraw = () => draw(list, summary, pools, health, query, openAll);
  const tools = h("div.toolbar",
    toggles("Show targets by health", [["up", "Up"], ["down", "Down"], ["unknown", "Unknown"]], health, redraw),
    searchBox("Filter by endpoint or labels", (q) => {
      query = q;
      redraw();
    }),
    h("button.btn", { type: "button", on: { click: () => { openAll = false; redraw(); openAll = null; } } }, "Collapse all"),
    h("button.btn", { type: "button", on: { click: () => { openAll = true; redraw(); openAll = null; } } }, "Expand all"));
  await page(main, "Targets", async (content) => {
    const r = await api("targets", { state: "active" });
    pools = new Map();
    for (const t of r.data.activeTargets || []) {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    content.append(tools, summary, list);
    redraw();
  });
}

function matches(t, q) {
  if (!q) return true;
  return t.scrapeUrl.toLowerCase().includes(q) || labelsText(t.labels).toLowerCase().includes(q);
}

function draw(list, summary, pools, health, q, openAll) {
  replace(list);
  let total = 0;
  let shown = 0;
  const names = [...pools.keys()].sort();
  for (const name of names) total += pools.get(name).length;
  // Open pools while their first rows fit a rendering budget; the rest open on a click.
  let budget = 400;
  for (const name of names) {
    const all = pools.get(name);
    const targets = all.filter((t) => health.has(t.health) && matches(t, q));
    shown += targets.length;
    if (!targets.length && (q || health.size < 3)) continue;
    const up = all.filter((t) => t.health === "up").length;
    const open = openAll ?? budget > 0;
    budget -= Math.min(targets.length, 200);
    const body = h("div.pool-body");
    const det = h("details.section.pool", { open, dataset: { pool: name } },
      h("summary",
        h("span.pool-name", name),
        h("span.pool-count", { class: up === all.length ? "ok" : up === 0 ? "danger" : "warn" }, `${up} / ${all.length} up`),
        healthBar(all)),
      body);
    let rendered = false;
    const fill = () => {
      if (rendered) return;
      rendered = true;
      body.append(targetTable(targets));
    };
    if (open) fill();
    det.addEventListener("toggle", () => det.open && fill());
    list.append(det);
  }
  summary.textContent = `${shown} of ${total} targets in ${names.length} scrape pools`;
  if (!names.length) list.append(h("p.empty", "No targets. Add scrape_configs to the configuration."));
}

function healthBar(targets) {
  const n = targets.length || 1;
  const count = (s) => targets.filter((t) => t.health === s).length;
  const bar = h("span.health-bar", { "aria-hidden": "true" });
  for (const [s, cls] of [["up", "ok"], ["unknown", "neutral"], ["down", "danger"]]) {
    const c = count(s);
    if (c) bar.append(h(`span.hb-${cls}`, { style: { width: `${(100 * c) / n}%` } }));
  }
  return bar;
}

function targetTable(targets) {
  const tbody = h("tbody");
  const table = h("table.data-table.targets-table",
    h("thead", h("tr",
      h("th", { scope: "col" }, "Endpoint"),
      h("th", { scope: "col" }, "Labels"),
      h("th", { scope: "col" }, "Last scrape"),
      h("th", { scope: "col" }, "Duration"),
      h("th", { scope: "col" }, "State"))),
    tbody);
  const now = Date.now();
  lazyRows(tbody, targets, (t) => {
    const last = apiTime(t.lastScrape);
    const row = h("tr", { class: `target target-${t.health}` },
      h("td.endpoint", h("a", { href: t.scrapeUrl, rel: "noreferrer" }, t.scrapeUrl)),
      h("td.labels-cell",
        labelBadges(t.labels),
        h("details.discovered",
          h("summary", "Labels before relabeling"),
          labelBadges(t.discoveredLabels))),
      h("td.nowrap", { title: t.lastScrape, "data-label": "Last scrape" }, last ? ago(last, now) : "never", h("div.hint", `every ${t.scrapeInterval}`)),
      h("td.nowrap", { "data-label": "Duration" }, last ? humanDuration(t.lastScrapeDuration) : "–", h("div.hint", `timeout ${t.scrapeTimeout}`)),
      h("td", { "data-label": "State" }, badge(t.health.toUpperCase(), HEALTH_KIND[t.health])));
    if (!t.lastError) return row;
    return [row, h("tr.error-row", h("td", { colspan: 5 }, h("div.target-error", { role: "note" }, h("strong", "Error: "), t.lastError)))];
  }, 200, 5);
  return h("div.table-wrap", table);
}
