// Runtime and build information.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { apiTime, ago } from "../lib/format.js";
import { page, kvTable } from "./common.js";

const RUNTIME_NAMES = {
  startTime: "Start time",
  CWD: "Working directory",
  hostname: "Hostname",
  serverTime: "Server time",
  reloadConfigSuccess: "Configuration reload",
  lastConfigTime: "Last successful configuration reload",
  corruptionCount: "WAL corruptions",
  goroutineCount: "Goroutines (threads)",
  GOMAXPROCS: "GOMAXPROCS",
  GOMEMLIMIT: "GOMEMLIMIT",
  GOGC: "GOGC",
  GODEBUG: "GODEBUG",
  storageRetention: "Storage retention",
};

const BUILD_NAMES = {
  version: "Version",
  revision: "Revision",
  branch: "Branch",
  buildUser: "Build user",
  buildDate: "Build date",
  goVersion: "Compiler version",
};

function show(v, k) {
  if (k === "reloadConfigSuccess") return v ? "Successful" : "Unsuccessful";
  if ((k === "startTime" || k === "lastConfigTime" || k === "serverTime") && typeof v === "string") {
    const ms = apiTime(v);
    return ms ? `${v} (${ago(ms)})` : v;
  }
  return String(v);
}

export async function render(main) {
  await page(main, "Runtime & build information", async (content) => {
    const [rt, bi] = await Promise.all([api("status/runtimeinfo"), api("status/buildinfo")]);
    content.append(
      h("section.card", h("h2.card-title", "Runtime information"),
        kvTable(Object.entries(rt.data).map(([k, v]) => [RUNTIME_NAMES[k] || k, show(v, k)]))),
      h("section.card", h("h2.card-title", "Build information"),
        kvTable(Object.entries(bi.data).map(([k, v]) => [BUILD_NAMES[k] || k, show(v, k)]))));
  });
}
