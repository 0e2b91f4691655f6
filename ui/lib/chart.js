// A self-contained time series chart on uPlot, shared by the query page and the
// dashboards: lines, stacked areas, or a heatmap of native histogram buckets; a legend
// whose entries toggle series; a tooltip with every visible series at the hovered time;
// drag to zoom. It depends only on the vendored uPlot and loads uPlot's CSS itself.
//
//   const chart = createChart(element, {
//     series: [{ metric: {__name__: "up", job: "a"}, values: [[t, "1"], …], histograms: [[t, {buckets}], …] }],
//     start, end, step,          // seconds: the x axis and the grid results are aligned to
//     mode: "lines" | "stacked" | "heatmap",
//     height: 300, yMin: null,
//     onZoom: (startS, endS) => …,   // after a drag selection
//   });
//   chart.update({…same options…}); chart.destroy();
//
// The root element carries data-series (the number of series drawn) and
// data-mode, so tests and callers can see what is shown.

import uPlot from "../vendor/uplot/uPlot.esm.js";

const CSS_URL = new URL("../vendor/uplot/uPlot.min.css", import.meta.url).href;
let cssLoaded = null;
function ensureCss() {
  if (cssLoaded) return cssLoaded;
  if ([...document.styleSheets].some((s) => s.href === CSS_URL)) {
    cssLoaded = Promise.resolve();
    return cssLoaded;
  }
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = CSS_URL;
  cssLoaded = new Promise((resolve) => {
    link.onload = resolve;
    link.onerror = resolve;
  });
  document.head.append(link);
  const style = document.createElement("style");
  style.textContent = CHART_CSS;
  document.head.append(style);
  return cssLoaded;
}

// Styles of the chart's own parts; colours come from CSS variables with fallbacks, so
// the page's theme restyles them.
const CHART_CSS = `
.hc-root { position: relative; width: 100%; min-width: 0; }
.hc-plot { position: relative; width: 100%; }
.hc-plot .uplot { width: 100%; font-family: inherit; }
.hc-tooltip { position: absolute; z-index: 5; pointer-events: none; max-width: min(90vw, 520px);
  background: var(--tooltip-bg, rgba(20,20,24,.94)); color: var(--tooltip-fg, #f4f4f5);
  border-radius: 6px; padding: 6px 8px; font-size: 12px; line-height: 1.35;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.hc-tooltip .hc-tt-time { font-weight: 600; margin-bottom: 4px; }
.hc-tooltip .hc-tt-row { display: flex; gap: 6px; align-items: baseline; white-space: nowrap; overflow: hidden; }
.hc-tooltip .hc-tt-name { overflow: hidden; text-overflow: ellipsis; flex: 1 1 auto; min-width: 0; }
.hc-tooltip .hc-tt-val { font-variant-numeric: tabular-nums; font-weight: 600; }
.hc-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; flex: none; }
.hc-legend { display: flex; flex-wrap: wrap; gap: 2px 4px; margin-top: 6px; max-height: 260px; overflow: auto; }
.hc-legend button { display: inline-flex; align-items: center; gap: 6px; border: 1px solid transparent;
  background: none; color: inherit; font: inherit; font-size: 12px; padding: 2px 6px; border-radius: 4px;
  cursor: pointer; text-align: left; max-width: 100%; }
.hc-legend button:hover { border-color: var(--border, #ccc); }
.hc-legend button[aria-pressed="false"] { opacity: .4; }
.hc-legend button span.hc-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hc-note { font-size: 12px; opacity: .75; margin: 4px 0; }
`;

// Distinct colours that read on light and dark backgrounds.
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#3b5bdb", "#f08c00", "#2f9e44", "#c2255c", "#7048e8", "#0c8599",
  "#e8590c", "#5c940d", "#a61e4d", "#1971c2",
];

export function colorFor(i) {
  return PALETTE[i % PALETTE.length];
}

// 'up{job="a"}' for a metric's labels.
export function seriesLabel(metric) {
  const m = metric || {};
  const name = m.__name__ || "";
  const rest = Object.keys(m).filter((k) => k !== "__name__").sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`);
  return rest.length || !name ? `${name}{${rest.join(", ")}}` : name;
}

export function parseSampleValue(v) {
  if (typeof v === "number") return isFinite(v) ? v : null;
  if (v === "+Inf" || v === "-Inf" || v === "NaN") return null;
  const x = parseFloat(v);
  return isFinite(x) ? x : null;
}

function fmtValue(v) {
  if (v == null) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e15 || a < 1e-4)) return v.toExponential(3);
  return String(parseFloat(v.toPrecision(6)));
}

function fmtAxis(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a === 0) return "0";
  for (const [n, p] of [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= n) return `${parseFloat((v / n).toPrecision(4))}${p}`;
  }
  if (a >= 1) return String(parseFloat(v.toPrecision(4)));
  for (const [n, p] of [[1e-3, "m"], [1e-6, "µ"], [1e-9, "n"]]) {
    if (a >= n) return `${parseFloat((v / n).toPrecision(4))}${p}`;
  }
  return v.toExponential(1);
}

const pad = (n) => String(n).padStart(2, "0");
function fmtTime(s) {
  const d = new Date(s * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

// Time axis labels in UTC, 24-hour: the date appears where it changes.
function timeTicks(_u, splits, _axis, _space, incr) {
  let lastDay = null;
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    let text;
    if (incr >= 86400) text = day;
    else if (incr < 60) text = `${hm}:${pad(d.getUTCSeconds())}`;
    else text = hm;
    if (incr < 86400 && day !== lastDay) text = `${text}\n${day.slice(5)}`;
    lastDay = day;
    return text;
  });
}

function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

// Aligns series onto the step grid: [xs, ys per series].
function alignData(opts) {
  const { start, end, step } = opts;
  const n = Math.max(1, Math.floor((end - start) / step + 1e-9) + 1);
  const xs = new Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const index = (t) => Math.round((t - start) / step);
  const ys = opts.series.map((s) => {
    const y = new Array(n).fill(null);
    for (const [t, v] of s.values || []) {
      const i = index(t);
      if (i >= 0 && i < n) y[i] = parseSampleValue(v);
    }
    // Native histograms in line mode: their count.
    for (const [t, hist] of s.histograms || []) {
      const i = index(t);
      if (i >= 0 && i < n) y[i] = parseSampleValue(hist.count);
    }
    return y;
  });
  return { xs, ys };
}

// Cumulative sums of the visible series (hidden ones stay null), and the bands between.
function stackData(ys, visible) {
  const n = ys.length ? ys[0].length : 0;
  const acc = new Array(n).fill(0);
  const out = [];
  const bands = [];
  let prev = -1;
  ys.forEach((y, i) => {
    if (!visible[i]) {
      out.push(new Array(n).fill(null));
      return;
    }
    out.push(y.map((v, j) => (v == null ? null : (acc[j] += v))));
    if (prev >= 0) bands.push({ series: [i + 1, prev + 1], fill: colorFor(i) + "55" });
    prev = i;
  });
  return { stacked: out, bands, first: ys.findIndex((_, i) => visible[i]) };
}

// Native histogram buckets over time as rows (the union of bucket bounds) × steps.
function heatmapData(opts, which) {
  const { xs } = alignData({ ...opts, series: [] });
  const s = opts.series[which];
  const rowsByKey = new Map();
  const cells = [];
  const start = opts.start;
  const step = opts.step;
  for (const [t, hist] of (s && s.histograms) || []) {
    const i = Math.round((t - start) / step);
    if (i < 0 || i >= xs.length) continue;
    for (const [, lo, hi, count] of hist.buckets || []) {
      const key = `${lo}|${hi}`;
      if (!rowsByKey.has(key)) rowsByKey.set(key, { lo: parseFloat(lo), hi: parseFloat(hi), label: hi });
      cells.push({ i, key, v: parseFloat(count) });
    }
  }
  const rows = [...rowsByKey.entries()].sort((a, b) => a[1].hi - b[1].hi || a[1].lo - b[1].lo);
  const rowIndex = new Map(rows.map(([k], r) => [k, r]));
  let max = 0;
  for (const c of cells) if (isFinite(c.v) && c.v > max) max = c.v;
  return { xs, rows: rows.map(([, r]) => r), cells: cells.map((c) => ({ ...c, r: rowIndex.get(c.key) })), max };
}

function heatColor(frac) {
  // From a pale yellow to a deep red through orange.
  const f = Math.max(0, Math.min(1, frac));
  const stops = [[255, 245, 200], [254, 178, 76], [240, 59, 32], [128, 0, 38]];
  const x = f * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const t = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function createChart(container, initial) {
  const root = el("div", "hc-root");
  const plotEl = el("div", "hc-plot");
  const note = el("div", "hc-note");
  note.hidden = true;
  const legend = el("div", "hc-legend");
  legend.setAttribute("role", "group");
  legend.setAttribute("aria-label", "Series (click to show only one, Ctrl+click to toggle)");
  const tooltip = el("div", "hc-tooltip");
  tooltip.hidden = true;
  root.append(note, plotEl, legend);
  container.append(root);

  let opts = null;
  let u = null;
  let visible = [];
  let heatSeries = 0;
  let data = null;
  let destroyed = false;
  const ready = ensureCss();

  function size() {
    const w = Math.max(200, Math.floor(plotEl.clientWidth || container.clientWidth || 600));
    return { width: w, height: opts.height || 300 };
  }

  function axes(root) {
    const stroke = cssVar(root, "--chart-axis", "#666");
    const grid = cssVar(root, "--chart-grid", "rgba(128,128,128,.18)");
    return [
      {
        stroke,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: timeTicks,
        space: 60,
      },
      {
        stroke,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: (_, splits) => splits.map(fmtAxis),
        size: 60,
      },
    ];
  }

  function tzDate(ts) {
    return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  }

  function buildLines() {
    const mode = opts.mode === "stacked" ? "stacked" : "lines";
    const { xs, ys } = alignData(opts);
    data = { xs, ys };
    let plotted = ys;
    let bands = [];
    let first = 0;
    if (mode === "stacked") {
      const st = stackData(ys, visible);
      plotted = st.stacked;
      bands = st.bands;
      first = st.first;
    }
    const series = [{}];
    opts.series.forEach((s, i) => {
      const color = colorFor(i);
      series.push({
        label: seriesLabel(s.metric),
        stroke: color,
        width: 1.5,
        show: visible[i],
        spanGaps: false,
        points: { show: (u, si) => xs.length < 60 || ys[si - 1].filter((v) => v != null).length < 3, size: 4 },
        fill: mode === "stacked" && i === first ? color + "55" : undefined,
        value: (_, v) => fmtValue(v),
      });
    });
    const axs = axes(root);
    const yRange = (_u, min, max) => {
      if (min == null || max == null) return [0, 1];
      let lo = opts.yMin != null ? opts.yMin : min;
      let hi = max;
      if (mode === "stacked" && lo > 0) lo = 0;
      if (lo >= hi) {
        const d = Math.abs(hi) * 0.1 || 1;
        return [opts.yMin != null ? lo : hi - d, hi + d];
      }
      const pad = (hi - lo) * 0.05;
      // Pad below unless that would cross zero for all-positive data.
      if (opts.yMin == null) lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;
      return [lo, hi + pad];
    };
    return {
      config: {
        ...size(),
        series,
        bands,
        axes: axs,
        tzDate,
        legend: { show: false },
        cursor: { drag: { x: true, y: false }, points: { size: 6 } },
        scales: { x: { time: true, range: () => [opts.start, opts.end] }, y: { range: yRange } },
        hooks: hooks(),
      },
      plotData: [xs, ...plotted],
    };
  }

  function buildHeatmap() {
    const hm = heatmapData(opts, heatSeries);
    data = { xs: hm.xs, heat: hm };
    const rows = hm.rows.length;
    const axs = axes(root);
    axs[1] = {
      ...axs[1],
      splits: () => {
        const every = Math.max(1, Math.ceil(rows / 8));
        const out = [];
        for (let r = 0; r < rows; r += every) out.push(r + 1);
        return out;
      },
      values: (_, splits) => splits.map((r) => {
        const row = hm.rows[r - 1];
        return row ? fmtAxis(row.hi) : "";
      }),
      size: 64,
    };
    const draw = (u) => {
      const ctx = u.ctx;
      const step = opts.step;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      for (const c of hm.cells) {
        if (!(c.v > 0)) continue;
        const t = hm.xs[c.i];
        const x0 = u.valToPos(t - step / 2, "x", true);
        const x1 = u.valToPos(t + step / 2, "x", true);
        const y0 = u.valToPos(c.r, "y", true);
        const y1 = u.valToPos(c.r + 1, "y", true);
        ctx.fillStyle = heatColor(Math.sqrt(c.v / (hm.max || 1)));
        ctx.fillRect(Math.floor(x0), Math.floor(y1), Math.max(1, Math.ceil(x1 - x0)), Math.max(1, Math.ceil(y0 - y1)));
      }
      ctx.restore();
    };
    const h = hooks();
    h.draw = [draw];
    return {
      config: {
        ...size(),
        series: [{}, { label: "buckets", stroke: "transparent", points: { show: false }, paths: () => null }],
        axes: axs,
        tzDate,
        legend: { show: false },
        cursor: { drag: { x: true, y: false }, points: { show: false } },
        scales: { x: { time: true, range: () => [opts.start - opts.step / 2, opts.end + opts.step / 2] }, y: { range: () => [0, Math.max(1, rows)] } },
        hooks: h,
      },
      plotData: [hm.xs, hm.xs.map(() => null)],
    };
  }

  function hooks() {
    return {
      setCursor: [(u) => showTooltip(u)],
      setSelect: [(u) => {
        if (u.select.width < 5 || !opts.onZoom) return;
        const a = u.posToVal(u.select.left, "x");
        const b = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        opts.onZoom(a, b);
      }],
    };
  }

  function showTooltip(u) {
    const idx = u.cursor.idx;
    if (idx == null || u.cursor.left < 0) {
      tooltip.hidden = true;
      return;
    }
    const t = data.xs[idx];
    tooltip.replaceChildren(el("div", "hc-tt-time", fmtTime(t)));
    const rows = [];
    if (opts.mode === "heatmap") {
      const hm = data.heat;
      const r = Math.floor(u.posToVal(u.cursor.top, "y"));
      const row = hm.rows[r];
      const cell = row && hm.cells.find((c) => c.i === idx && c.r === r);
      if (row) rows.push({ color: heatColor(cell ? Math.sqrt(cell.v / (hm.max || 1)) : 0), name: `bucket (${row.lo}, ${row.hi}]`, v: cell ? cell.v : 0 });
    } else {
      data.ys.forEach((y, i) => {
        if (!visible[i] || y[idx] == null) return;
        rows.push({ color: colorFor(i), name: seriesLabel(opts.series[i].metric), v: y[idx] });
      });
      rows.sort((a, b) => b.v - a.v);
    }
    if (!rows.length) {
      tooltip.hidden = true;
      return;
    }
    const max = 20;
    for (const r of rows.slice(0, max)) {
      const row = el("div", "hc-tt-row");
      const sw = el("span", "hc-swatch");
      sw.style.background = r.color;
      row.append(sw, el("span", "hc-tt-name", r.name), el("span", "hc-tt-val", fmtValue(r.v)));
      tooltip.append(row);
    }
    if (rows.length > max) tooltip.append(el("div", "hc-tt-more", `… and ${rows.length - max} more`));
    tooltip.hidden = false;
    // Keep it inside the plot: left or right of the cursor, whichever has room.
    const over = u.over;
    const ow = over.clientWidth;
    const oh = over.clientHeight;
    const tw = tooltip.offsetWidth;
    const th = tooltip.offsetHeight;
    let x = u.cursor.left + 14;
    if (x + tw > ow) x = Math.max(0, u.cursor.left - tw - 14);
    let y = Math.max(0, Math.min(u.cursor.top + 10, oh - th));
    tooltip.style.left = `${x}px`;
    tooltip.style.top = `${y}px`;
  }

  function renderLegend() {
    legend.replaceChildren();
    const heat = opts.mode === "heatmap";
    const max = 500;
    opts.series.slice(0, max).forEach((s, i) => {
      const b = el("button");
      b.type = "button";
      const name = seriesLabel(s.metric);
      const hasHist = (s.histograms || []).length > 0;
      if (heat && !hasHist) return;
      const pressed = heat ? i === heatSeries : visible[i];
      b.setAttribute("aria-pressed", String(pressed));
      b.title = heat ? `Show the buckets of ${name}` : `${name} — click: show only this series, Ctrl+click: toggle`;
      const sw = el("span", "hc-swatch");
      sw.style.background = heat ? heatColor(0.6) : colorFor(i);
      b.append(sw, el("span", "hc-name", name));
      b.addEventListener("click", (e) => toggle(i, e.ctrlKey || e.metaKey));
      legend.append(b);
    });
    if (opts.series.length > max) legend.append(el("span", "hc-note", `… ${opts.series.length - max} more series not listed`));
  }

  function toggle(i, multi) {
    if (opts.mode === "heatmap") {
      heatSeries = i;
      rebuild();
      return;
    }
    if (multi) {
      visible[i] = !visible[i];
    } else {
      const onlyThis = visible[i] && visible.every((v, j) => j === i || !v);
      visible = visible.map((_, j) => onlyThis || j === i);
    }
    if (opts.mode === "stacked") {
      rebuild();
    } else {
      visible.forEach((v, j) => {
        if (u.series[j + 1].show !== v) u.setSeries(j + 1, { show: v });
      });
      renderLegend();
    }
  }

  function rebuild() {
    if (destroyed) return;
    if (u) {
      u.destroy();
      u = null;
    }
    const heat = opts.mode === "heatmap";
    if (heat) {
      const withHist = opts.series.findIndex((s) => (s.histograms || []).length > 0);
      if (!((opts.series[heatSeries] || {}).histograms || []).length) heatSeries = Math.max(0, withHist);
      note.hidden = withHist >= 0;
      note.textContent = withHist >= 0 ? "" : "No native histograms in this result: the heatmap shows native histogram buckets.";
    } else {
      note.hidden = true;
    }
    const { config, plotData } = heat ? buildHeatmap() : buildLines();
    u = new uPlot(config, plotData, plotEl);
    u.over.append(tooltip);
    u.over.addEventListener("mouseleave", () => {
      tooltip.hidden = true;
    });
    root.dataset.series = String(heat ? (note.hidden ? 1 : 0) : opts.series.length);
    root.dataset.mode = opts.mode || "lines";
    renderLegend();
  }

  function update(next) {
    const sameSeries = opts && next.series === opts.series;
    opts = { mode: "lines", height: 300, yMin: null, ...next };
    if (!sameSeries) {
      visible = opts.series.map(() => true);
      heatSeries = 0;
    }
    ready.then(rebuild);
  }

  const ro = new ResizeObserver(() => {
    if (u && !destroyed) {
      const s = size();
      if (s.width !== u.width || s.height !== u.height) u.setSize(s);
    }
  });
  ro.observe(plotEl);
  const onTheme = () => ready.then(rebuild);
  window.addEventListener("hearth-theme", onTheme);

  update(initial);

  return {
    element: root,
    ready: () => ready,
    update,
    destroy() {
      destroyed = true;
      ro.disconnect();
      window.removeEventListener("hearth-theme", onTheme);
      if (u) u.destroy();
      root.remove();
    },
  };
}
