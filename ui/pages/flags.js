// Command-line flags, filterable.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { page, searchBox } from "./common.js";

export async function render(main) {
  await page(main, "Command-line flags", async (content) => {
    const r = await api("status/flags");
    const rows = Object.entries(r.data).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => ({
      k, v, tr: h("tr", h("th", { scope: "row" }, h("code", `--${k}`)), h("td", h("code", v))),
    }));
    const tbody = h("tbody", rows.map((x) => x.tr));
    content.append(
      h("div.toolbar", searchBox("Filter flags", (q) => {
        for (const x of rows) x.tr.hidden = !!q && !`${x.k} ${x.v}`.toLowerCase().includes(q);
      })),
      h("div.table-wrap", h("table.data-table.kv-table", h("thead", h("tr", h("th", { scope: "col" }, "Flag"), h("th", { scope: "col" }, "Value"))), tbody)));
  });
}
