// Service discovery: per scrape pool, every discovered target's labels before
// relabeling beside the labels it ended up with, or "Dropped".

import { h, replace, labelBadges, badge } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { page, lazyRows, searchBox, labelsText } from "./common.js";

export async function render(main) {
  let pools = new Map();
  let counts = {};
  let query = "";
  const list = h("div.pools");
  const summary = h("p.hint", { "aria-live": "polite" });
  const showDropped = h("input", { type: "checkbox", checked: true, id: "sd-show-dropped" });
  const redraw = () => draw(list, summary, pools, counts, query, showDropped.checked);
  showDropped.addEventListener("change", redraw);
  await page(main, "Service discovery", async (content) => {
    const r = await api("targets");
    pools = new Map();
    const add = (t, active) => {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push({ t, active });
    };
    for (const t of r.data.activeTargets || []) add(t, true);
    for (const t of r.data.droppedTargets || []) add(t, false);
    counts = r.data.droppedTargetCounts || {};
    for (const p of Object.keys(counts)) if (!pools.has(p)) pools.set(p, []);
    content.append(
      h("div.toolbar",
        searchBox("Filter by labels", (q) => {
          query = q;
          redraw();
        }),
        h("label.check", showDropped, " Show dropped targets")),
      summary, list);
    redraw();
  });
}

function draw(list, summary, pools, counts, q, showDropped) {
  replace(list);
  const names = [...pools.keys()].sort();
  let total = 0;
  for (const n of names) total += pools.get(n).length;
  // Open pools while their first rows fit a rendering budget; the rest open on a click.
  let budget = 400;
  for (const name of names) {
    const all = pools.get(name);
    const active = all.filter((x) => x.active).length;
    const dropped = Math.max(all.length - active, counts[name] || 0);
    const items = all.filter((x) => (showDropped || x.active) &&
      (!q || labelsText(x.t.discoveredLabels).toLowerCase().includes(q) || labelsText(x.t.labels).toLowerCase().includes(q)));
    if (!items.length && q) continue;
    const body = h("div.pool-body");
    const open = budget > 0;
    budget -= Math.min(items.length, 200);
    const det = h("details.section.pool", { open, dataset: { pool: name } },
      h("summary", h("span.pool-name", name), h("span.pool-count", `${active} active / ${active + dropped} discovered`)),
      body);
    let done = false;
    const fill = () => {
      if (done) return;
      done = true;
      const tbody = h("tbody");
      body.append(h("div.table-wrap", h("table.data-table.sd-table",
        h("thead", h("tr", h("th", { scope: "col" }, "Discovered labels"), h("th", { scope: "col" }, "Target labels"))),
        tbody)));
      if (!items.length) tbody.append(h("tr", h("td", { colspan: 2 }, dropped ? `${dropped} dropped targets (not kept: see keep_dropped_targets)` : "No targets")));
      lazyRows(tbody, items, ({ t, active: a }) => h("tr",
        h("td", { "data-label": "Discovered labels" }, labelBadges(t.discoveredLabels)),
        h("td", { "data-label": "Target labels" }, a ? labelBadges(t.labels) : badge("Dropped", "neutral"))), 200, 2);
    };
    if (det.open) fill();
    det.addEventListener("toggle", () => det.open && fill());
    list.append(det);
  }
  summary.textContent = `${total} discovered targets in ${names.length} scrape pools`;
  if (!names.length) list.append(h("p.empty", "Nothing discovered."));
}
