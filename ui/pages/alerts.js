// Alerts: alerting rules by group with their state (inactive, pending, firing), counts
// per state, filters, and each rule's active alerts (labels, state, active since, value).

import { h, replace, badge, labelBadges } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { ago, apiTime } from "../lib/format.js";
import { page, searchBox, toggles } from "./common.js";
import { ruleDefinition } from "./rules.js";

const KIND = { firing: "danger", pending: "warn", inactive: "ok" };

export async function render(main) {
  const states = new Set(["inactive", "pending", "firing"]);
  let query = "";
  let groups = [];
  const list = h("div.alert-groups");
  const counts = h("div.state-counts", { "aria-live": "polite" });
  const redraw = () => draw(list, counts, groups, states, query);
  await page(main, "Alerts", async (content) => {
    const r = await api("rules", { type: "alert" });
    groups = (r.data.groups || []).map((g) => ({ ...g, rules: (g.rules || []).filter((x) => x.type === "alerting") }))
      .filter((g) => g.rules.length);
    content.append(
      h("div.toolbar",
        toggles("Show alerting rules by state", [["inactive", "Inactive"], ["pending", "Pending"], ["firing", "Firing"]], states, redraw),
        searchBox("Filter by name or labels", (q) => {
          query = q;
          redraw();
        })),
      counts, list);
    redraw();
  });
}

function draw(list, counts, groups, states, q) {
  replace(list);
  const n = { inactive: 0, pending: 0, firing: 0 };
  for (const g of groups) for (const r of g.rules) n[r.state] = (n[r.state] || 0) + 1;
  replace(counts, badge(`${n.firing} firing`, "danger"), " ", badge(`${n.pending} pending`, "warn"), " ", badge(`${n.inactive} inactive`, "ok"));
  if (!groups.length) {
    list.append(h("p.empty", "No alerting rules."));
    return;
  }
  const now = Date.now();
  for (const g of groups) {
    const rules = g.rules.filter((r) => states.has(r.state) &&
      (!q || r.name.toLowerCase().includes(q) || JSON.stringify(r.labels || {}).toLowerCase().includes(q)));
    if (!rules.length) continue;
    const sec = h("section.card", h("h2.card-title", g.name, h("span.hint", ` ${g.file}`)));
    for (const r of rules) {
      const alerts = r.alerts || [];
      sec.append(h("details.section.alert-rule", { class: `state-${r.state}` },
        h("summary", h("span.pool-name", r.name), badge(r.state.toUpperCase(), KIND[r.state]), alerts.length ? h("span.hint", ` ${alerts.length} active`) : null),
        ruleDefinition(r),
        alerts.length ? h("div.table-wrap", h("table.data-table",
          h("thead", h("tr", h("th", { scope: "col" }, "Labels"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Active since"), h("th", { scope: "col" }, "Value"))),
          h("tbody", alerts.map((a) => h("tr",
            h("td", labelBadges(a.labels)),
            h("td", badge(a.state.toUpperCase(), KIND[a.state])),
            h("td.nowrap", { title: a.activeAt || "" }, a.activeAt ? ago(apiTime(a.activeAt), now) : "–"),
            h("td", a.value)))))) : null));
    }
    list.append(sec);
  }
}
