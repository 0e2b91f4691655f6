// The query page: one or more panels, each an editor with Table, Graph and Explain
// tabs. The page state lives in the URL with upstream's parameter names
// (g0.expr, g0.tab, g0.range_input, g0.end_input, g0.res_type, g0.res_density,
// g0.res_step, g0.display_mode, …; the old UI's g0.tab=0/1, g0.stacked and
// g0.step_input are read too), so links are shareable and old bookmarks work.

import { h, replace, alertBox, uid } from "../lib/dom.js";
import { api, ApiError, metricNames, metadata } from "../lib/api.js";
import { parseDuration, formatDuration, formatTime, parseTime, humanDuration, formatValue } from "../lib/format.js";
import { createEditor } from "../lib/editor.js";
import { createChart } from "../lib/chart.js";
import { explainTree } from "./explain.js";

const RANGES = [
  "1s", "10s", "1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "2d", "1w", "2w", "4w", "8w", "1y",
].map(parseDuration);
const DENSITY = { low: 100, medium: 250, high: 750 };
const TABLE_LIMIT = 1000;
const GRAPH_LIMIT = 1000;

function newPanel() {
  return {
    id: uid("panel"),
    expr: "",
    tab: "table",
    range: 3600 * 1000,
    endTime: null,
    resolution: { type: "auto", density: "medium" },
    displayMode: "lines",
    yAxisMin: null,
    showTree: false,
    showExemplars: false,
  };
}

export function decodePanels(search) {
  const p = new URLSearchParams(search);
  const panels = [];
  for (let i = 0; p.has(`g${i}.expr`); i++) {
    const panel = newPanel();
    const get = (k) => p.get(`g${i}.${k}`);
    const has = (k) => p.has(`g${i}.${k}`);
    panel.expr = get("expr") || "";
    if (has("tab")) {
      const t = get("tab");
      panel.tab = t === "0" || t === "graph" ? "graph" : t === "explain" ? "explain" : "table";
    }
    if (has("show_tree")) panel.showTree = get("show_tree") === "1";
    if (has("stacked")) panel.displayMode = get("stacked") === "1" ? "stacked" : "lines";
    if (has("display_mode") && ["lines", "stacked", "heatmap"].includes(get("display_mode"))) panel.displayMode = get("display_mode");
    if (has("y_axis_min")) panel.yAxisMin = get("y_axis_min") === "" ? null : parseFloat(get("y_axis_min"));
    if (has("show_exemplars")) panel.showExemplars = get("show_exemplars") === "1";
    if (has("range_input")) panel.range = parseDuration(get("range_input")) || panel.range;
    for (const k of ["end_input", "moment_input"]) {
      if (has(k) && get(k)) {
        const t = parseTime(get(k));
        if (!isNaN(t)) panel.endTime = t;
      }
    }
    if (has("step_input") && parseInt(get("step_input"), 10) > 0) {
      panel.resolution = { type: "fixed", step: parseInt(get("step_input"), 10) * 1000 };
    }
    const rt = get("res_type");
    if (rt === "auto" && ["low", "medium", "high"].includes(get("res_density"))) {
      panel.resolution = { type: "auto", density: get("res_density") };
    } else if ((rt === "fixed" || rt === "custom") && parseFloat(get("res_step")) > 0) {
      panel.resolution = { type: rt, step: parseFloat(get("res_step")) * 1000 };
    }
    panels.push(panel);
  }
  return panels;
}

export function encodePanels(panels) {
  const p = new URLSearchParams();
  panels.forEach((x, i) => {
    const add = (k, v) => p.append(`g${i}.${k}`, v);
    add("expr", x.expr);
    add("show_tree", x.showTree ? "1" : "0");
    add("tab", x.tab);
    if (x.endTime != null) {
      add("end_input", formatTime(x.endTime));
      add("moment_input", formatTime(x.endTime));
    }
    add("range_input", formatDuration(x.range));
    if (x.resolution.type === "auto") {
      add("res_type", "auto");
      add("res_density", x.resolution.density);
    } else {
      add("res_type", x.resolution.type);
      add("res_step", String(x.resolution.step / 1000));
    }
    add("display_mode", x.displayMode);
    if (x.yAxisMin != null) add("y_axis_min", String(x.yAxisMin));
    add("show_exemplars", x.showExemplars ? "1" : "0");
  });
  return p;
}

export function effectiveStep(panel) {
  if (panel.resolution.type !== "auto") return Math.max(1, panel.resolution.step / 1000);
  const n = DENSITY[panel.resolution.density] || DENSITY.medium;
  return Math.max(1, Math.floor(panel.range / 1000 / n));
}

export async function render(main) {
  let panels = decodePanels(location.search);
  if (!panels.length) panels = [newPanel()];
  const list = h("div.panels");
  const save = () => {
    const qs = encodePanels(panels).toString();
    history.replaceState(null, "", `${location.pathname}?${qs}`);
  };
  const views = [];
  const addPanel = (panel, run) => {
    const view = panelView(panel, {
      save,
      remove: () => {
        const i = panels.indexOf(panel);
        if (i < 0) return;
        panels.splice(i, 1);
        views.splice(i, 1)[0].destroy();
        if (!panels.length) addPanel(newPanel(), false);
        save();
      },
      canRemove: () => panels.length > 1,
    });
    views.push(view);
    list.append(view.element);
    if (run) view.execute();
    return view;
  };
  replace(main,
    h("h1.visually-hidden", "Query"),
    list,
    h("div.add-panel",
      h("button.btn", {
        type: "button",
        on: {
          click: () => {
            const p = newPanel();
            panels.push(p);
            addPanel(p, false).focus();
            save();
          },
        },
      }, "+ Add query")));
  panels.forEach((p) => addPanel(p, !!p.expr.trim()));
  if (panels.length === 1 && !panels[0].expr) views[0].focus();
}

function panelView(panel, { save, remove, canRemove }) {
  const root = h("section.panel", { "aria-label": "Query panel" });
  let controller = null;
  let chart = null;
  let lastResult = null;

  const editor = createEditor({
    value: panel.expr,
    onChange: (v) => {
      panel.expr = v;
      save();
    },
    onExecute: () => execute(),
  });
  const explorerBtn = h("button.btn.icon-btn", { type: "button", "aria-label": "Open metrics explorer", title: "Metrics explorer", on: { click: () => openMetricsExplorer(editor, (v) => { panel.expr = v; save(); }) } }, "⋮≡");
  const formatBtn = h("button.btn.icon-btn", { type: "button", "aria-label": "Format expression", title: "Format expression", on: { click: formatExpr } }, "{ }");
  const removeBtn = h("button.btn.icon-btn", { type: "button", "aria-label": "Remove query", title: "Remove query", on: { click: () => remove() } }, "✕");
  const execBtn = h("button.btn.btn-primary", { type: "button", on: { click: () => execute() } }, "Execute");
  const status = h("div.query-status", { "aria-live": "polite" });
  const messages = h("div.query-messages");

  const tabs = ["table", "graph", "explain"];
  const tabIds = Object.fromEntries(tabs.map((t) => [t, uid(`tab-${t}`)]));
  const tabBtns = {};
  const tablist = h("div.tabs", { role: "tablist", "aria-label": "Result view" },
    tabs.map((t) => (tabBtns[t] = h("button.tab", {
      type: "button",
      role: "tab",
      id: tabIds[t],
      "aria-selected": String(panel.tab === t),
      tabindex: panel.tab === t ? "0" : "-1",
      on: {
        click: () => selectTab(t),
        keydown: (e) => {
          if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
          const i = (tabs.indexOf(t) + (e.key === "ArrowRight" ? 1 : 2)) % 3;
          tabBtns[tabs[i]].focus();
          selectTab(tabs[i]);
        },
      },
    }, t[0].toUpperCase() + t.slice(1)))));
  const body = h("div.tab-body", { role: "tabpanel" });

  root.append(
    h("div.editor-row", editor.element, h("div.editor-buttons", explorerBtn, formatBtn, canRemove() ? removeBtn : null, execBtn)),
    h("div.tab-row", tablist, status),
    messages,
    body,
  );

  function selectTab(t) {
    if (panel.tab === t) return;
    panel.tab = t;
    for (const x of tabs) {
      tabBtns[x].setAttribute("aria-selected", String(x === t));
      tabBtns[x].tabIndex = x === t ? 0 : -1;
    }
    save();
    execute();
  }

  async function formatExpr() {
    if (!panel.expr.trim()) return;
    try {
      const r = await api("format_query", { query: panel.expr });
      editor.setValue(r.data);
      panel.expr = r.data;
      save();
    } catch (e) {
      replace(messages, alertBox("error", "Error formatting:", e.message));
    }
  }

  // --- table ----------------------------------------------------------------------------
  function timeControls(onChange, withRange) {
    const endInput = h("input.input.time-input", {
      type: "text",
      "aria-label": withRange ? "End time (UTC)" : "Evaluation time (UTC)",
      placeholder: withRange ? "End time: now" : "Evaluation time: now",
      value: panel.endTime != null ? formatTime(panel.endTime) : "",
    });
    const setEnd = (t) => {
      panel.endTime = t;
      endInput.value = t == null ? "" : formatTime(t);
      save();
      onChange();
    };
    endInput.addEventListener("change", () => {
      const v = endInput.value.trim();
      if (!v) return setEnd(null);
      const t = parseTime(v);
      if (isNaN(t)) {
        endInput.setAttribute("aria-invalid", "true");
        return;
      }
      endInput.removeAttribute("aria-invalid");
      setEnd(t);
    });
    const shift = (dir) => {
      const base = panel.endTime ?? Date.now();
      const by = withRange ? panel.range / 2 : panel.range / 4;
      setEnd(Math.round(base + dir * by));
    };
    const group = h("div.control-group",
      h("button.btn.icon-btn", { type: "button", "aria-label": "Earlier", title: "Earlier", on: { click: () => shift(-1) } }, "‹"),
      endInput,
      h("button.btn.icon-btn", { type: "button", "aria-label": "Later", title: "Later", on: { click: () => shift(1) } }, "›"),
      h("button.btn", { type: "button", "aria-label": "Set time to now", title: "Now", on: { click: () => setEnd(null) } }, "Now"));
    if (!withRange) return h("div.controls", group);

    const rangeInput = h("input.input.range-input", { type: "text", "aria-label": "Range", value: formatDuration(panel.range), size: 6 });
    const setRange = (ms) => {
      panel.range = ms;
      rangeInput.value = formatDuration(ms);
      rangeInput.removeAttribute("aria-invalid");
      save();
      updateStepHint();
      onChange();
    };
    rangeInput.addEventListener("change", () => {
      const ms = parseDuration(rangeInput.value);
      if (!ms) {
        rangeInput.setAttribute("aria-invalid", "true");
        return;
      }
      setRange(ms);
    });
    const stepRange = (dir) => {
      const i = RANGES.findIndex((r) => r >= panel.range);
      let next;
      if (dir < 0) next = RANGES[Math.max(0, (i < 0 ? RANGES.length : i) - 1)];
      else next = RANGES[Math.min(RANGES.length - 1, i < 0 ? RANGES.length - 1 : RANGES[i] === panel.range ? i + 1 : i)];
      setRange(next);
    };
    const rangeGroup = h("div.control-group",
      h("button.btn.icon-btn", { type: "button", "aria-label": "Shorter range", title: "Shorter range", on: { click: () => stepRange(-1) } }, "−"),
      rangeInput,
      h("button.btn.icon-btn", { type: "button", "aria-label": "Longer range", title: "Longer range", on: { click: () => stepRange(1) } }, "+"));

    const resSelect = h("select.input", { "aria-label": "Resolution" },
      h("option", { value: "auto:low" }, "Auto: low res"),
      h("option", { value: "auto:medium" }, "Auto: medium res"),
      h("option", { value: "auto:high" }, "Auto: high res"),
      h("option", { value: "fixed" }, "Fixed step"));
    resSelect.value = panel.resolution.type === "auto" ? `auto:${panel.resolution.density}` : "fixed";
    const stepInput = h("input.input.step-input", {
      type: "text",
      "aria-label": "Step (seconds or duration)",
      placeholder: "step",
      size: 5,
      hidden: panel.resolution.type === "auto",
      value: panel.resolution.type === "auto" ? "" : formatDuration(panel.resolution.step),
    });
    const stepHint = h("span.hint");
    function updateStepHint() {
      stepHint.textContent = panel.resolution.type === "auto" ? `step ${formatDuration(effectiveStep(panel) * 1000)}` : "";
    }
    updateStepHint();
    resSelect.addEventListener("change", () => {
      const v = resSelect.value;
      if (v.startsWith("auto:")) {
        panel.resolution = { type: "auto", density: v.slice(5) };
        stepInput.hidden = true;
      } else {
        panel.resolution = { type: "fixed", step: effectiveStep(panel) * 1000 };
        stepInput.hidden = false;
        stepInput.value = formatDuration(panel.resolution.step);
      }
      updateStepHint();
      save();
      onChange();
    });
    stepInput.addEventListener("change", () => {
      const ms = parseDuration(stepInput.value);
      if (!ms) {
        stepInput.setAttribute("aria-invalid", "true");
        return;
      }
      stepInput.removeAttribute("aria-invalid");
      panel.resolution = { type: "fixed", step: ms };
      save();
      onChange();
    });

    const modes = [["lines", "Unstacked"], ["stacked", "Stacked"], ["heatmap", "Heatmap"]];
    const modeGroup = h("div.segmented", { role: "radiogroup", "aria-label": "Display mode" },
      modes.map(([m, label]) => h("button.seg", {
        type: "button",
        role: "radio",
        "aria-checked": String(panel.displayMode === m),
        on: {
          click: (e) => {
            panel.displayMode = m;
            for (const b of e.currentTarget.parentNode.children) b.setAttribute("aria-checked", String(b === e.currentTarget));
            save();
            if (chart && lastResult) drawGraph(lastResult);
          },
        },
      }, label)));
    return h("div.controls", rangeGroup, group, h("div.control-group", resSelect, stepInput, stepHint), modeGroup);
  }

  function renderTable(res) {
    const { resultType, result } = res.data;
    const wrap = h("div.table-wrap");
    if (resultType === "scalar" || resultType === "string") {
      wrap.append(h("table.data-table", h("tbody", h("tr", h("th", { scope: "row" }, resultType), h("td.value", formatValue(result[1]))))));
      return wrap;
    }
    if (!result.length) {
      wrap.append(h("p.empty", "Empty query result"));
      return wrap;
    }
    const tbody = h("tbody");
    const table = h("table.data-table", h("thead", h("tr", h("th", { scope: "col" }, "Series"), h("th", { scope: "col" }, resultType === "matrix" ? "Values @ time" : "Value"))), tbody);
    const rowsFor = (items) => items.map((s) => h("tr",
      h("td.series", seriesNode(s.metric)),
      h("td.value", resultType === "matrix" ? matrixCell(s) : s.histogram ? histogramCell(s.histogram[1]) : formatValue(s.value[1]))));
    const shown = result.slice(0, TABLE_LIMIT);
    tbody.append(...rowsFor(shown));
    wrap.append(table);
    if (result.length > TABLE_LIMIT) {
      const more = h("div.more",
        `Showing ${TABLE_LIMIT} of ${result.length} series. `,
        h("button.btn", { type: "button", on: { click: () => {
          tbody.append(...rowsFor(result.slice(TABLE_LIMIT)));
          more.remove();
        } } }, "Show all"));
      wrap.append(more);
    }
    return wrap;
  }

  // 'name{a="b"}' with the parts coloured as the editor colours them.
  function seriesNode(metric) {
    const m = metric || {};
    const names = Object.keys(m).filter((k) => k !== "__name__").sort();
    const out = [];
    if (m.__name__) out.push(h("span.tok-metric.series-name", m.__name__));
    if (names.length || !m.__name__) {
      out.push("{");
      names.forEach((k, i) => {
        if (i) out.push(", ");
        out.push(h("span.tok-label", k), "=", h("span.tok-string", JSON.stringify(m[k])));
      });
      out.push("}");
    }
    return out;
  }

  function matrixCell(s) {
    const lines = (s.values || []).map(([t, v]) => `${formatValue(v)} @${t}`);
    for (const [t, hist] of s.histograms || []) lines.push(`{count: ${hist.count}, sum: ${hist.sum}} @${t}`);
    return h("div.matrix-values", lines.map((l) => h("div", l)));
  }

  function histogramCell(hist) {
    const buckets = (hist.buckets || []).map(([b, lo, hi, c]) => {
      const left = b === 3 || b === 1 ? "[" : "(";
      const right = b === 3 || b === 0 ? "]" : ")";
      return h("tr", h("td", `${left}${lo}, ${hi}${right}`), h("td", c));
    });
    return h("details.histogram",
      h("summary", `count: ${hist.count}, sum: ${hist.sum}, ${buckets.length} buckets`),
      h("table.mini-table", h("thead", h("tr", h("th", "Bucket"), h("th", "Count"))), h("tbody", buckets)));
  }

  // --- graph ------------------------------------------------------------------------------
  function drawGraph(res) {
    const { result } = res.data;
    const series = result.slice(0, GRAPH_LIMIT);
    const opts = {
      series,
      start: res.start,
      end: res.end,
      step: res.step,
      mode: panel.displayMode,
      height: window.innerWidth < 600 ? 240 : 320,
      yMin: panel.yAxisMin,
      onZoom: (a, b) => {
        panel.endTime = Math.round(b * 1000);
        panel.range = Math.max(1000, Math.round((b - a) * 1000));
        save();
        execute();
      },
    };
    if (chart) chart.update(opts);
    return opts;
  }

  // --- execution -----------------------------------------------------------------------------
  async function execute() {
    const expr = editor.getValue();
    panel.expr = expr;
    save();
    controller?.abort();
    if (chart) {
      chart.destroy();
      chart = null;
    }
    lastResult = null;
    replace(messages);
    const t = panel.tab;
    const controls = t === "graph" ? timeControls(() => execute(), true) : t === "table" ? timeControls(() => execute(), false) : null;
    const content = h("div.result");
    replace(body, controls, content);
    if (!expr.trim()) {
      replace(status);
      content.append(h("p.empty", t === "explain" ? "Enter an expression to explain it." : "No query yet: enter an expression and press Enter or Execute."));
      return;
    }
    if (t === "explain") {
      replace(status);
      try {
        const tree = await api("parse_query", { query: expr });
        const formatted = await api("format_query", { query: expr }).catch(() => null);
        content.append(explainTree(tree.data, formatted ? formatted.data : expr));
      } catch (e) {
        content.append(alertBox("error", "Error:", e.message));
      }
      return;
    }
    controller = new AbortController();
    const signal = controller.signal;
    replace(status, h("span.spinner", { "aria-hidden": "true" }), " Loading…");
    execBtn.disabled = true;
    const started = performance.now();
    const endMs = panel.endTime ?? Date.now();
    try {
      let res;
      if (t === "graph") {
        const step = effectiveStep(panel);
        const end = endMs / 1000;
        const start = end - panel.range / 1000;
        res = await api("query_range", { query: expr, start, end, step, stats: "true" }, { signal });
        res.start = start;
        res.end = end;
        res.step = step;
      } else {
        res = await api("query", { query: expr, time: endMs / 1000, stats: "true" }, { signal });
      }
      const took = performance.now() - started;
      lastResult = res;
      showMessages(res);
      showStats(res, took, t === "graph" ? res.step : null);
      if (t === "graph") {
        if (res.data.resultType !== "matrix") {
          content.append(alertBox("warning", "", `The graph needs a range result, this query gives a ${res.data.resultType}.`));
          return;
        }
        if (!res.data.result.length) {
          content.append(h("p.empty", "Empty query result"));
          return;
        }
        if (res.data.result.length > GRAPH_LIMIT) {
          content.append(alertBox("warning", "", `Showing the first ${GRAPH_LIMIT} of ${res.data.result.length} series.`));
        }
        const box = h("div.graph");
        content.append(box);
        chart = createChart(box, drawGraph(res));
      } else {
        content.append(renderTable(res));
      }
    } catch (e) {
      if (e.name === "AbortError") return;
      replace(status);
      content.append(alertBox("error", "Error executing query:", e instanceof ApiError ? e.message : String(e.message || e)));
    } finally {
      if (!signal.aborted) execBtn.disabled = false;
    }
  }

  function showMessages(res) {
    for (const w of res.warnings) messages.append(alertBox("warning", "Warning:", w));
    for (const i of res.infos) messages.append(alertBox("info", "Info:", i));
  }

  function showStats(res, tookMs, step) {
    const parts = [`Load time: ${Math.round(tookMs)}ms`];
    if (step != null) parts.push(`Resolution: ${formatDuration(step * 1000)}`);
    const r = res.data.result;
    if (Array.isArray(r) && res.data.resultType !== "scalar" && res.data.resultType !== "string") parts.push(`Result series: ${r.length}`);
    const st = res.data.stats;
    if (st && st.timings) parts.push(`Evaluation: ${humanDuration(st.timings.evalTotalTime)}`);
    if (st && st.samples) parts.push(`Samples: ${st.samples.totalQueryableSamples} (peak ${st.samples.peakSamples})`);
    replace(status, h("span.stats", parts.join(" · ")));
  }

  return {
    element: root,
    execute,
    focus: () => editor.focus(),
    destroy() {
      controller?.abort();
      chart?.destroy();
      root.remove();
    },
  };
}

// --- metrics explorer ---------------------------------------------------------------------
async function openMetricsExplorer(editor, onInsert) {
  const search = h("input.input", { type: "search", placeholder: "Search metric names and help", "aria-label": "Search metrics" });
  const list = h("div.explorer-list", { role: "list" });
  const count = h("p.hint", "Loading…");
  const dialog = h("dialog.modal", { "aria-label": "Metrics explorer" },
    h("div.modal-head", h("h2", "Metrics explorer"), h("button.btn.icon-btn", { type: "button", "aria-label": "Close", on: { click: () => dialog.close() } }, "✕")),
    search, count, list);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  search.focus();
  let names = [];
  let meta = {};
  try {
    [names, meta] = await Promise.all([metricNames(), metadata().catch(() => ({}))]);
  } catch (e) {
    replace(list, alertBox("error", "Error:", e.message));
    return;
  }
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const words = q.split(/\s+/).filter(Boolean);
    const shown = names.filter((n) => {
      const m = (meta[n] || [])[0];
      const hay = `${n} ${m ? m.help : ""}`.toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    count.textContent = `${shown.length} of ${names.length} metrics`;
    replace(list, shown.slice(0, 500).map((n) => {
      const m = (meta[n] || [])[0];
      return h("button.explorer-item", {
        type: "button",
        role: "listitem",
        on: {
          click: () => {
            const ta = editor.textarea;
            const a = ta.selectionStart;
            const b = ta.selectionEnd;
            editor.setValue(ta.value.slice(0, a) + n + ta.value.slice(b));
            ta.setSelectionRange(a + n.length, a + n.length);
            onInsert(editor.getValue());
            dialog.close();
            editor.focus();
          },
        },
      }, h("span.metric-name", n), m ? h("span.badge.badge-neutral", m.type) : null, m && m.help ? h("span.metric-help", m.help) : null);
    }));
  };
  search.addEventListener("input", draw);
  draw();
}

