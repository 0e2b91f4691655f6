// The configuration as loaded (secrets hidden), with a copy button.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { page } from "./common.js";

export async function render(main) {
  let yaml = "";
  const copy = h("button.btn", {
    type: "button",
    on: {
      click: async (e) => {
        try {
          await navigator.clipboard.writeText(yaml);
          e.currentTarget.textContent = "Copied";
        } catch (_) {
          e.currentTarget.textContent = "Copy failed";
        }
      },
    },
  }, "Copy to clipboard");
  await page(main, "Configuration", async (content) => {
    const r = await api("status/config");
    yaml = r.data.yaml;
    content.append(h("pre.config", { tabindex: "0", "aria-label": "Configuration YAML" }, h("code", yaml)));
  }, copy);
}
