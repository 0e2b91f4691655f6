// TSDB status: the head block's statistics and the cardinality tops.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { formatTime } from "../lib/format.js";
import { page, kvTable } from "./common.js";

function top(title, rows, nameCol, valueCol) {
  return h("section.card",
    h("h2.card-title", title),
    rows && rows.length
      ? h("div.table-wrap", h("table.data-table",
        h("thead", h("tr", h("th", { scope: "col" }, nameCol), h("th.num", { scope: "col" }, valueCol))),
        h("tbody", rows.map((r) => h("tr", h("td.series", r.name), h("td.num", r.value.toLocaleString("en-US")))))))
      : h("p.empty", "No data"));
}

export async function render(main) {
  await page(main, "TSDB status", async (content) => {
    const r = await api("status/tsdb");
    const d = r.data;
    const hs = d.headStats || {};
    const t = (ms) => (ms && Math.abs(ms) < 9e15 ? `${formatTime(ms)} UTC` : "–");
    content.append(
      h("section.card", h("h2.card-title", "Head block"),
        kvTable([
          ["Number of series", (hs.numSeries ?? 0).toLocaleString("en-US")],
          ["Number of chunks", (hs.chunkCount ?? 0).toLocaleString("en-US")],
          ["Number of label pairs", (hs.numLabelPairs ?? 0).toLocaleString("en-US")],
          ["Current min time", t(hs.minTime)],
          ["Current max time", t(hs.maxTime)],
        ])),
      h("div.grid-2",
        top("Top series count by metric name", d.seriesCountByMetricName, "Metric name", "Series count"),
        top("Top label names with value count", d.labelValueCountByLabelName, "Label name", "Value count"),
        top("Top label names with high memory usage", d.memoryInBytesByLabelName, "Label name", "Bytes"),
        top("Top series count by label value pairs", d.seriesCountByLabelValuePair, "Label pair", "Series count")));
  });
}
