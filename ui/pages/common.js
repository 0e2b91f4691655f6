// Helpers the status pages share: a titled page with a loading state, key/value tables,
// lazily rendered long lists.

import { h, replace, alertBox } from "../lib/dom.js";

// Renders `title`, then whatever `fill(content)` adds; errors become an alert.
export async function page(main, title, fill, ...tools) {
  const content = h("div.page-content", h("p.loading", "Loading…"));
  replace(main, h("div.page-head", h("h1", title), ...tools), content);
  try {
    replace(content);
    await fill(content);
  } catch (e) {
    replace(content, alertBox("error", "Error loading data:", e.message || String(e)));
  }
  return content;
}

export function kvTable(rows, caption) {
  return h("table.data-table.kv-table",
    caption ? h("caption", caption) : null,
    h("tbody", rows.map(([k, v]) => h("tr", h("th", { scope: "row" }, k), h("td", v)))));
}

// Appends rows produced by `make(item)` in chunks of `chunk`, with a "Show more" button.
export function lazyRows(tbody, items, make, chunk = 200, colspan = 1) {
  let shown = 0;
  let moreRow = null;
  const more = () => {
    moreRow?.remove();
    const next = items.slice(shown, shown + chunk);
    shown += next.length;
    const frag = document.createDocumentFragment();
    for (const it of next) {
      const r = make(it);
      if (Array.isArray(r)) frag.append(...r);
      else frag.append(r);
    }
    tbody.append(frag);
    if (shown < items.length) {
      moreRow = h("tr.more-row", h("td", { colspan },
        h("button.btn", { type: "button", on: { click: more } }, `Show ${Math.min(chunk, items.length - shown)} more (${items.length - shown} left)`)));
      tbody.append(moreRow);
    }
  };
  more();
}

// A search box that calls `onChange(text)` after typing stops.
export function searchBox(label, onChange) {
  let t = null;
  const input = h("input.input.search", { type: "search", placeholder: label, "aria-label": label });
  input.addEventListener("input", () => {
    clearTimeout(t);
    t = setTimeout(() => onChange(input.value.trim().toLowerCase()), 150);
  });
  return input;
}

// A row of toggle buttons (aria-pressed) for filters such as health states.
export function toggles(label, options, selected, onChange) {
  const group = h("div.segmented", { role: "group", "aria-label": label });
  for (const [value, text] of options) {
    const b = h("button.seg", { type: "button", "aria-pressed": String(selected.has(value)) }, text);
    b.addEventListener("click", () => {
      if (selected.has(value)) selected.delete(value);
      else selected.add(value);
      b.setAttribute("aria-pressed", String(selected.has(value)));
      onChange(selected);
    });
    group.append(b);
  }
  return group;
}

export function labelsText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}="${v}"`).join(" ");
}

export function queryLink(expr, text) {
  const p = new URLSearchParams({ "g0.expr": expr, "g0.tab": "table" });
  return h("a.expr-link", { href: `query?${p}` }, text || expr);
}
