// The PromQL editor: a textarea over a highlighted copy of its text, with completion of
// metric names, functions, aggregations, keywords, label names, label values and
// durations from the server's API. Enter runs the query, Shift+Enter adds a line,
// Ctrl+Space opens completion, arrows/Enter/Tab/Escape drive the list.

import { h, uid } from "./dom.js";
import { tokenize, completionContext, AGGREGATIONS, KEYWORDS, DURATIONS, signature } from "./promql.js";
import * as apiLib from "./api.js";

const MAX_ITEMS = 60;

export function highlight(pre, text, caret) {
  pre.replaceChildren();
  const addMarker = () => {
    const m = document.createElement("span");
    m.className = "caret-marker";
    pre.append(m);
    return m;
  };
  let marker = null;
  for (const t of tokenize(text)) {
    if (caret != null && marker == null && caret >= t.start && caret < t.end) {
      // Split the token at the caret so the marker sits exactly there.
      if (caret > t.start) pre.append(span(t.type, text.slice(t.start, caret)));
      marker = addMarker();
      pre.append(span(t.type, text.slice(caret, t.end)));
    } else {
      pre.append(span(t.type, t.text));
    }
  }
  if (caret != null && marker == null) marker = addMarker();
  // A trailing newline needs a character after it to take up a line.
  pre.append(document.createTextNode(text.endsWith("\n") || !text ? " " : ""));
  return marker;
}

function span(type, text) {
  if (type === "ws") return document.createTextNode(text);
  const s = document.createElement("span");
  s.className = `tok-${type}`;
  s.textContent = text;
  return s;
}

function rank(items, prefix) {
  if (!prefix) return items;
  const p = prefix.toLowerCase();
  const starts = [];
  const contains = [];
  for (const it of items) {
    const l = it.label.toLowerCase();
    if (l.startsWith(p)) starts.push(it);
    else if (l.includes(p)) contains.push(it);
  }
  return starts.concat(contains);
}

async function candidates(ctx) {
  switch (ctx.kind) {
    case "metric": {
      const [names, meta, fns] = await Promise.all([
        apiLib.metricNames().catch(() => []),
        apiLib.metadata().catch(() => ({})),
        apiLib.functions().catch(() => []),
      ]);
      const out = [];
      for (const n of names) {
        const m = (meta[n] || [])[0];
        out.push({ label: n, kind: "metric", detail: m ? `${m.type}${m.help ? " · " + m.help : ""}` : "metric", insert: n });
      }
      for (const a of AGGREGATIONS) out.push({ label: a, kind: "aggregation", detail: "aggregation", insert: `${a}()`, back: 1 });
      for (const f of fns) {
        if (AGGREGATIONS.includes(f.name)) continue;
        out.push({ label: f.name, kind: "function", detail: signature(f), insert: `${f.name}()`, back: 1 });
      }
      return rank(out, ctx.prefix);
    }
    case "keyword": {
      const kws = ["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "@"];
      return rank(kws.map((k) => ({ label: k, kind: "keyword", detail: "keyword", insert: k })), ctx.prefix);
    }
    case "label": {
      const names = await apiLib.labelNames(ctx.metric || "").catch(() => []);
      return rank(names.filter((n) => n !== "__name__" || !ctx.metric).map((n) => ({ label: n, kind: "label", detail: "label name", insert: n })), ctx.prefix);
    }
    case "value": {
      const values = await apiLib.labelValues(ctx.label, ctx.metric || "").catch(() => []);
      const q = ctx.quote || '"';
      return rank(values.map((v) => {
        const esc = q === "`" ? v : v.replace(/\\/g, "\\\\").replace(new RegExp(q, "g"), `\\${q}`);
        return { label: v, kind: "value", detail: `value of ${ctx.label}`, insert: `${q}${esc}${q}` };
      }), ctx.prefix);
    }
    case "duration":
      return rank(DURATIONS.map((d) => ({ label: d, kind: "duration", detail: "duration", insert: d })), ctx.prefix);
    default:
      return [];
  }
}

export function createEditor({ value = "", onExecute, onChange, label = "Expression", placeholder = "Expression (press Shift+Enter for newlines)" } = {}) {
  const listId = uid("completions");
  const pre = h("pre.editor-highlight", { "aria-hidden": "true" });
  const ta = h("textarea.editor-input", {
    rows: 1,
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    placeholder,
    "aria-label": label,
    "aria-autocomplete": "list",
    "aria-controls": listId,
    "aria-expanded": "false",
    role: "combobox",
  });
  ta.value = value;
  const list = h("ul.completions", { id: listId, role: "listbox", "aria-label": "Completions", hidden: true });
  const wrap = h("div.editor", pre, ta, list);

  let items = [];
  let active = 0;
  let ctx = null;
  let seq = 0;

  function sync() {
    highlight(pre, ta.value, null);
    ta.style.height = "auto";
    ta.style.height = `${Math.max(ta.scrollHeight, pre.scrollHeight)}px`;
    pre.scrollTop = ta.scrollTop;
  }

  function close() {
    list.hidden = true;
    ta.setAttribute("aria-expanded", "false");
    ta.removeAttribute("aria-activedescendant");
    items = [];
  }

  function renderList() {
    list.replaceChildren();
    if (!items.length) {
      close();
      return;
    }
    items.forEach((it, i) => {
      const li = h("li", {
        id: `${listId}-${i}`,
        role: "option",
        "aria-selected": String(i === active),
        class: `completion completion-${it.kind}`,
        on: {
          mousedown: (e) => {
            e.preventDefault();
            accept(i);
          },
        },
      }, h("span.completion-kind", { "aria-hidden": "true" }, it.kind[0].toUpperCase()), h("span.completion-label", it.label), h("span.completion-detail", it.detail));
      list.append(li);
    });
    list.hidden = false;
    ta.setAttribute("aria-expanded", "true");
    ta.setAttribute("aria-activedescendant", `${listId}-${active}`);
    // Place the list under the caret.
    const marker = highlight(pre, ta.value, ta.selectionStart);
    const top = marker.offsetTop + marker.offsetHeight - ta.scrollTop + 4;
    const left = Math.min(marker.offsetLeft, Math.max(0, wrap.clientWidth - 320));
    list.style.top = `${top}px`;
    list.style.left = `${Math.max(0, left)}px`;
    list.children[active]?.scrollIntoView({ block: "nearest" });
  }

  async function open(explicit) {
    const pos = ta.selectionStart;
    if (pos !== ta.selectionEnd) return close();
    const c = completionContext(ta.value, pos);
    const auto = c.kind === "label" || c.kind === "value" || c.kind === "duration" || c.prefix;
    if (c.kind === "none" || (!explicit && !auto)) return close();
    const mine = ++seq;
    const found = await candidates(c);
    if (mine !== seq) return;
    // Nothing to offer, or only what is already typed.
    const list2 = found.slice(0, MAX_ITEMS);
    if (!list2.length || (list2.length === 1 && list2[0].label === c.prefix && !explicit)) return close();
    ctx = c;
    items = list2;
    active = 0;
    renderList();
  }

  function accept(i) {
    const it = items[i];
    if (!it || !ctx) return;
    const v = ta.value;
    let to = ctx.to;
    // Replace a label value's closing quote too when the string was already closed.
    if (ctx.kind === "value" && ctx.open && v[to] === ctx.quote) to += 1;
    const before = v.slice(0, ctx.from);
    const after = v.slice(to);
    ta.value = before + it.insert + after;
    const caret = before.length + it.insert.length - (it.back || 0);
    ta.setSelectionRange(caret, caret);
    close();
    sync();
    onChange?.(ta.value);
    ta.focus();
  }

  ta.addEventListener("input", () => {
    sync();
    onChange?.(ta.value);
    open(false);
  });
  ta.addEventListener("scroll", () => {
    pre.scrollTop = ta.scrollTop;
  });
  ta.addEventListener("blur", () => setTimeout(close, 150));
  ta.addEventListener("keydown", (e) => {
    const openList = !list.hidden && items.length;
    if (openList && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      for (const [i, li] of [...list.children].entries()) li.setAttribute("aria-selected", String(i === active));
      ta.setAttribute("aria-activedescendant", `${listId}-${active}`);
      list.children[active]?.scrollIntoView({ block: "nearest" });
      return;
    }
    if (openList && (e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
      e.preventDefault();
      accept(active);
      return;
    }
    if (openList && e.key === "Escape") {
      e.preventDefault();
      close();
      return;
    }
    if (e.key === " " && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      open(true);
      return;
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      close();
      onExecute?.(ta.value);
    }
  });
  ta.addEventListener("click", () => {
    if (!list.hidden) open(false);
  });

  requestAnimationFrame(sync);
  sync();

  return {
    element: wrap,
    textarea: ta,
    getValue: () => ta.value,
    setValue(v) {
      ta.value = v;
      sync();
    },
    focus: () => ta.focus(),
    complete: () => open(true),
  };
}
