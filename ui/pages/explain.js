// The Explain tab: the query's syntax tree (from /api/v1/parse_query) as nested nodes,
// each with a plain-language description of what it does.

import { h } from "../lib/dom.js";
import { formatDuration } from "../lib/format.js";

const FUNCTION_DOCS = {
  abs: "the absolute value of each sample",
  absent: "1 if the vector has no elements, nothing otherwise",
  absent_over_time: "1 if the range has no samples, nothing otherwise",
  avg_over_time: "the average of the samples in each range",
  ceil: "each value rounded up",
  changes: "how many times each series' value changed within the range",
  clamp: "each value clamped between a minimum and a maximum",
  clamp_max: "each value clamped to a maximum",
  clamp_min: "each value clamped to a minimum",
  count_over_time: "the number of samples in each range",
  delta: "the difference between the first and last value of each range (gauges)",
  deriv: "the per-second derivative of each range by linear regression (gauges)",
  exp: "e raised to each value",
  floor: "each value rounded down",
  histogram_count: "the observation count of each native histogram",
  histogram_fraction: "the fraction of observations between two bounds",
  histogram_quantile: "the φ-quantile of each histogram (classic buckets by 'le', or native)",
  histogram_sum: "the sum of observations of each native histogram",
  histogram_avg: "the average observation of each native histogram",
  holt_winters: "smoothed values by double exponential smoothing",
  increase: "the increase of each counter over the range, extrapolated to the range's edges",
  irate: "the per-second rate from the last two samples of each range (counters)",
  label_join: "a new label joined from the values of other labels",
  label_replace: "a label set from a regular expression match on another label",
  last_over_time: "the most recent sample in each range",
  ln: "the natural logarithm of each value",
  log2: "the binary logarithm of each value",
  log10: "the decimal logarithm of each value",
  max_over_time: "the largest sample in each range",
  min_over_time: "the smallest sample in each range",
  predict_linear: "the value predicted some seconds ahead by linear regression",
  quantile_over_time: "the φ-quantile of the samples in each range",
  rate: "the per-second average rate of increase of each counter over the range, with counter resets handled",
  resets: "the number of counter resets within each range",
  round: "each value rounded to the nearest integer (or multiple)",
  scalar: "the single element's value as a scalar, or NaN",
  sort: "the elements sorted by value, ascending",
  sort_desc: "the elements sorted by value, descending",
  sqrt: "the square root of each value",
  stddev_over_time: "the standard deviation of the samples in each range",
  sum_over_time: "the sum of the samples in each range",
  time: "the evaluation time in seconds since the epoch",
  timestamp: "the timestamp of each sample",
  vector: "the scalar as a vector without labels",
};

const AGG_DOCS = {
  sum: "sums", avg: "averages", min: "takes the minimum of", max: "takes the maximum of",
  count: "counts", group: "groups (value 1)", stddev: "takes the standard deviation of",
  stdvar: "takes the standard variance of", topk: "keeps the k largest of", bottomk: "keeps the k smallest of",
  quantile: "takes the φ-quantile of", count_values: "counts series per value of", limitk: "keeps k of",
  limit_ratio: "keeps a ratio of",
};

function matcherText(m) {
  return `${m.name}${m.type}${JSON.stringify(m.value)}`;
}

function selectorText(n) {
  const ms = (n.matchers || []).filter((m) => !(m.name === "__name__" && n.name));
  let s = `${n.name || ""}${ms.length || !n.name ? `{${ms.map(matcherText).join(", ")}}` : ""}`;
  return s;
}

function modifiers(n) {
  const parts = [];
  if (n.offset) parts.push(`offset ${formatDuration(n.offset)}`);
  if (n.timestamp != null) parts.push(`@ ${n.timestamp / 1000}`);
  if (n.startOrEnd) parts.push(`@ ${n.startOrEnd}()`);
  return parts.length ? " " + parts.join(" ") : "";
}

function describe(n) {
  switch (n.type) {
    case "vectorSelector": {
      const ms = (n.matchers || []).filter((m) => m.name !== "__name__");
      return [selectorText(n) + modifiers(n),
        `Selects the series${n.name ? ` of metric ${n.name}` : ""}${ms.length ? ` whose labels match ${ms.map(matcherText).join(", ")}` : ""}: at each evaluation time, the latest sample within the lookback delta${n.offset ? `, ${formatDuration(n.offset)} earlier` : ""}${n.timestamp != null ? `, pinned to time ${n.timestamp / 1000}` : ""}.`];
    }
    case "matrixSelector": {
      const v = n.vectorSelector || n;
      return [`${selectorText(v)}[${formatDuration(n.range)}]${modifiers(v)}`,
        `Selects, for each series${v.name ? ` of ${v.name}` : ""}, the samples of the last ${formatDuration(n.range)} at each evaluation time${v.offset ? `, ${formatDuration(v.offset)} earlier` : ""} (a range vector).`];
    }
    case "aggregation": {
      const grp = n.grouping && n.grouping.length ? ` ${n.without ? "without" : "by"} (${n.grouping.join(", ")})` : n.without ? " without ()" : "";
      const how = n.without
        ? `keeping every label except ${n.grouping.join(", ") || "none"}`
        : n.grouping && n.grouping.length ? `per distinct ${n.grouping.join(", ")}` : "into one series";
      return [`${n.op}${grp}`, `${(AGG_DOCS[n.op] || `applies ${n.op} to`)[0].toUpperCase()}${(AGG_DOCS[n.op] || `applies ${n.op} to`).slice(1)} the input series, ${how}.`];
    }
    case "binaryExpr": {
      const m = n.matching;
      let match = "";
      if (m) {
        const on = m.on ? `on(${(m.labels || []).join(", ")})` : m.labels && m.labels.length ? `ignoring(${m.labels.join(", ")})` : "";
        const card = m.card === "many-to-one" ? `group_left(${(m.include || []).join(", ")})` : m.card === "one-to-many" ? `group_right(${(m.include || []).join(", ")})` : "";
        match = [on, card].filter(Boolean).join(" ");
      }
      const title = `${n.op}${n.bool ? " bool" : ""}${match ? " " + match : ""}`;
      let text = `Applies ${n.op} to its two sides`;
      if (m && m.card !== "many-to-many" && (m.on || (m.labels || []).length || m.card !== "one-to-one")) {
        text += m.on ? `, matching elements on ${(m.labels || []).join(", ") || "no labels"}` : `, matching elements on all labels except ${(m.labels || []).join(", ")}`;
        if (m.card === "many-to-one") text += "; many elements on the left may match one on the right";
        if (m.card === "one-to-many") text += "; many elements on the right may match one on the left";
      } else if (m && m.card === "many-to-many") {
        text += " as a set operation";
      }
      if (["==", "!=", ">", "<", ">=", "<="].includes(n.op)) text += n.bool ? ", giving 0 or 1" : ", keeping the elements for which it holds";
      return [title, text + "."];
    }
    case "call": {
      const f = n.func || {};
      return [`${f.name}()`, `Computes ${FUNCTION_DOCS[f.name] || `${f.name} of its arguments`}.`];
    }
    case "subquery":
      return [`[${formatDuration(n.range)}:${n.step ? formatDuration(n.step) : ""}]${modifiers(n)}`,
        `Evaluates the inner expression over the last ${formatDuration(n.range)} at ${n.step ? `steps of ${formatDuration(n.step)}` : "the default evaluation interval"}, giving a range vector.`];
    case "numberLiteral":
      return [String(n.val), "A number."];
    case "stringLiteral":
      return [JSON.stringify(n.val), "A string."];
    case "parenExpr":
      return ["( … )", "Parentheses."];
    case "unaryExpr":
      return [`${n.op} …`, `Applies unary ${n.op} to each value.`];
    default:
      return [n.type, ""];
  }
}

function children(n) {
  switch (n.type) {
    case "aggregation":
      return [n.param, n.expr].filter(Boolean);
    case "binaryExpr":
      return [n.lhs, n.rhs];
    case "call":
      return n.args || [];
    case "subquery":
    case "parenExpr":
    case "unaryExpr":
      return [n.expr];
    default:
      return [];
  }
}

function node(n) {
  const [title, text] = describe(n);
  const kids = children(n);
  return h("li.tree-node",
    h("div.tree-item",
      h("code.tree-title", { class: `node-${n.type}` }, title),
      h("span.tree-desc", text)),
    kids.length ? h("ul.tree", kids.map(node)) : null);
}

export function explainTree(ast, formatted) {
  return h("div.explain",
    h("h3", "Formatted expression"),
    h("pre.formatted", formatted),
    h("h3", "How it is evaluated"),
    h("ul.tree.tree-root", { "aria-label": "Expression tree" }, node(ast)));
}
