// Rules: every rule group with its file, interval and last evaluation, and each rule's
// definition, health, last error, last evaluation and evaluation time.

import { h, badge, labelBadges, alertBox } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { ago, apiTime, humanDuration, formatDuration } from "../lib/format.js";
import { page, queryLink } from "./common.js";

const HEALTH = { ok: "ok", err: "danger", unknown: "neutral" };

export function ruleDefinition(r) {
  const lines = [];
  if (r.type === "alerting") {
    lines.push(h("div", h("span.yaml-key", "alert: "), h("strong", r.name)));
  } else {
    lines.push(h("div", h("span.yaml-key", "record: "), h("strong", r.name)));
  }
  lines.push(h("div", h("span.yaml-key", "expr: "), queryLink(r.query)));
  if (r.type === "alerting" && r.duration) lines.push(h("div", h("span.yaml-key", "for: "), formatDuration(r.duration * 1000)));
  if (r.type === "alerting" && r.keepFiringFor) lines.push(h("div", h("span.yaml-key", "keep_firing_for: "), formatDuration(r.keepFiringFor * 1000)));
  if (r.labels && Object.keys(r.labels).length) lines.push(h("div", h("span.yaml-key", "labels: "), labelBadges(r.labels)));
  if (r.type === "alerting" && r.annotations && Object.keys(r.annotations).length) {
    lines.push(h("div", h("span.yaml-key", "annotations:"),
      h("dl.annotations", Object.entries(r.annotations).flatMap(([k, v]) => [h("dt", k), h("dd", v)]))));
  }
  return h("div.rule-def", lines);
}

export async function render(main) {
  await page(main, "Rules", async (content) => {
    const r = await api("rules");
    const groups = r.data.groups || [];
    if (!groups.length) {
      content.append(h("p.empty", "No rule groups. Add rule_files to the configuration."));
      return;
    }
    const now = Date.now();
    for (const g of groups) {
      const last = apiTime(g.lastEvaluation);
      const tbody = h("tbody");
      for (const rule of g.rules || []) {
        const le = apiTime(rule.lastEvaluation);
        tbody.append(h("tr",
          h("td", ruleDefinition(rule), rule.lastError ? alertBox("error", "Error:", rule.lastError) : null),
          h("td", badge(rule.health, HEALTH[rule.health] || "neutral"), rule.type === "alerting" ? h("div", badge(rule.state, rule.state === "firing" ? "danger" : rule.state === "pending" ? "warn" : "ok")) : null),
          h("td.nowrap", { title: rule.lastEvaluation }, le ? ago(le, now) : "never"),
          h("td.nowrap", humanDuration(rule.evaluationTime))));
      }
      content.append(h("details.section.rule-group", { open: true },
        h("summary",
          h("span.pool-name", g.name),
          h("span.hint", `${g.file} · every ${formatDuration(g.interval * 1000)} · last evaluation ${last ? ago(last, now) : "never"} · took ${humanDuration(g.evaluationTime)}`)),
        h("div.table-wrap", h("table.data-table.rules-table",
          h("thead", h("tr", h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "Health"), h("th", { scope: "col" }, "Last evaluation"), h("th", { scope: "col" }, "Evaluation time"))),
          tbody))));
    }
  });
}
