// The Prometheus HTTP API, relative to the page (so a route prefix or a reverse proxy's
// path works unchanged): api("query", {query}) → {data, warnings, infos}.

export class ApiError extends Error {
  constructor(message, errorType, status) {
    super(message);
    this.errorType = errorType || "";
    this.status = status || 0;
  }
}

// GET for short requests, POST (form) when the parameters are long, as upstream's UI.
export async function api(path, params = {}, { signal, method } = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
    else body.append(k, String(v));
  }
  const qs = body.toString();
  const usePost = method === "POST" || (method !== "GET" && qs.length > 1500);
  const url = `api/v1/${path}` + (!usePost && qs ? `?${qs}` : "");
  let resp;
  try {
    resp = await fetch(url, usePost
      ? { method: "POST", body, signal, headers: { "Content-Type": "application/x-www-form-urlencoded" } }
      : { signal, cache: "no-store" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(`cannot reach the server: ${e.message}`, "network");
  }
  const text = await resp.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (_) {
    throw new ApiError(`${resp.status} ${resp.statusText}: ${text.trim().slice(0, 300)}`, "http", resp.status);
  }
  if (json.status !== "success") {
    throw new ApiError(json.error || `HTTP ${resp.status}`, json.errorType, resp.status);
  }
  return { data: json.data, warnings: json.warnings || [], infos: json.infos || [] };
}

// Cached metadata for completion and the metrics explorer (refetched after a minute).
const cache = new Map();
export function cached(key, fn, ttlMs = 60000) {
  const hit = cache.get(key);
  const now = Date.now();
  if (hit && now - hit.at < ttlMs) return hit.promise;
  const promise = fn().catch((e) => {
    cache.delete(key);
    throw e;
  });
  cache.set(key, { at: now, promise });
  return promise;
}

export const metricNames = () =>
  cached("names", () => api("label/__name__/values").then((r) => r.data || []));
export const metadata = () =>
  cached("metadata", () => api("metadata").then((r) => r.data || {}));
export const labelNames = (match) =>
  cached(`labels:${match || ""}`, () =>
    api("labels", match ? { "match[]": match } : {}).then((r) => r.data || []));
export const labelValues = (name, match) =>
  cached(`values:${name}:${match || ""}`, () =>
    api(`label/${encodeURIComponent(name)}/values`, match ? { "match[]": match } : {}).then((r) => r.data || []));
export const functions = () =>
  cached("functions", async () => {
    const r = await fetch("assets/functions.json");
    return r.ok ? r.json() : [];
  }, 1e12);
