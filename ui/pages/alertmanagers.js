// Alertmanager discovery: the Alertmanagers alerts are sent to, and those dropped.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { page } from "./common.js";

function list(title, items) {
  return h("section.card", h("h2.card-title", `${title} (${items.length})`),
    items.length ? h("ul.plain", items.map((a) => h("li", h("code", a.url)))) : h("p.empty", "None"));
}

export async function render(main) {
  await page(main, "Alertmanager discovery", async (content) => {
    const r = await api("alertmanagers");
    content.append(list("Active Alertmanagers", r.data.activeAlertmanagers || []), list("Dropped Alertmanagers", r.data.droppedAlertmanagers || []));
  });
}
