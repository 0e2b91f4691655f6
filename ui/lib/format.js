// Formatting shared by the pages and the chart: Prometheus durations, times, numbers,
// label sets.

const UNITS = [
  ["y", 365 * 24 * 3600 * 1000],
  ["w", 7 * 24 * 3600 * 1000],
  ["d", 24 * 3600 * 1000],
  ["h", 3600 * 1000],
  ["m", 60 * 1000],
  ["s", 1000],
  ["ms", 1],
];

// "1h30m" → 5400000; null when it is not a duration.
export function parseDuration(text) {
  const s = String(text || "").trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  const re = /(\d+)(ms|y|w|d|h|m|s)/gy;
  let total = 0;
  let m;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    total += parseInt(m[1], 10) * UNITS.find((u) => u[0] === m[2])[1];
    end = re.lastIndex;
  }
  return end === s.length && end > 0 ? total : null;
}

// 5400000 → "1h30m" (Prometheus' model.Duration form).
export function formatDuration(ms) {
  if (!ms) return "0s";
  let rest = Math.abs(Math.round(ms));
  let out = ms < 0 ? "-" : "";
  for (const [u, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * size;
    }
  }
  return out;
}

// A duration in seconds for people: "1.234s", "56ms", "2m 3s".
export function humanDuration(seconds) {
  if (seconds == null || isNaN(seconds)) return "";
  const ms = seconds * 1000;
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 0)}ms`;
  if (seconds < 60) return `${seconds.toFixed(3)}s`;
  const parts = [];
  let s = Math.floor(seconds);
  for (const [u, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    const n = Math.floor(s / size);
    if (n) parts.push(`${n}${u}`);
    s -= n * size;
  }
  return parts.join(" ");
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// "2024-05-01 12:00:00" in UTC or local time.
export function formatTime(ms, utc = true) {
  const d = new Date(ms);
  if (isNaN(d)) return "";
  return utc
    ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Reads "2024-05-01 12:00:00" (UTC), RFC 3339, or Unix seconds; NaN otherwise.
export function parseTime(text) {
  const s = String(text || "").trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1000;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m && !m[8]) {
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), Math.round(parseFloat(m[7] || "0") * 1000));
  }
  return Date.parse(s);
}

// "3.2s ago", "in 5m" relative to now.
export function ago(ms, now = Date.now()) {
  if (!ms || isNaN(ms)) return "never";
  const diff = (now - ms) / 1000;
  const abs = Math.abs(diff);
  let text;
  if (abs < 1) text = `${Math.round(abs * 1000)}ms`;
  else if (abs < 60) text = `${abs.toFixed(1)}s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)}m ${Math.floor(abs % 60)}s`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)}h ${Math.floor((abs % 3600) / 60)}m`;
  else text = `${Math.floor(abs / 86400)}d ${Math.floor((abs % 86400) / 3600)}h`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

// RFC 3339 from the API → ms (0 for Go's zero time).
export function apiTime(s) {
  if (!s || s.startsWith("0001-01-01")) return 0;
  return Date.parse(s);
}

// A sample value for tables and tooltips: as the API gave it (Go's format).
export function formatValue(v) {
  if (typeof v === "string") return v;
  if (v == null || isNaN(v)) return String(v);
  if (!isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}

// Axis ticks: short, SI-prefixed numbers.
export function formatAxis(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a === 0) return "0";
  const si = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [n, p] of si) if (a >= n) return `${trim(v / n)}${p}`;
  if (a >= 1) return trim(v);
  const small = [[1e-3, "m"], [1e-6, "µ"], [1e-9, "n"]];
  for (const [n, p] of small) if (a >= n) return `${trim(v / n)}${p}`;
  return v.toExponential(1);
}
function trim(x) {
  return String(parseFloat(x.toPrecision(4)));
}

// Bytes for the TSDB page.
export function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${i ? x.toFixed(1) : x} ${units[i]}`;
}

// {__name__="up", job="a"} → 'up{job="a"}'.
export function seriesName(metric) {
  const m = metric || {};
  const name = m.__name__ || "";
  const rest = Object.keys(m)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`);
  return rest.length || !name ? `${name}{${rest.join(", ")}}` : name;
}

export function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
