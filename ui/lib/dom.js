// A tiny DOM helper: h("div.card#id", {attrs, on: {click}}, ...children).
// Strings become text nodes (never HTML), arrays are flattened, null/false are skipped.

export function h(tag, attrs, ...children) {
  if (attrs == null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(tag) || [null, tag, ""];
  const el = document.createElement(m[1] || "div");
  for (const part of (m[2] || "").match(/[.#][\w-]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "class") {
      for (const c of String(v).split(/\s+/)) if (c) el.classList.add(c);
    } else if (k === "style" && typeof v === "object") {
      Object.assign(el.style, v);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k in el && typeof v !== "string" && k !== "list") {
      el[k] = v;
    } else if (k === "value" || k === "checked" || k === "selected") {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// A labelled text input / select / checkbox wrapped with its visible label.
export function field(label, control) {
  return h("label.field", h("span.field-label", label), control);
}

let idSeq = 0;
export function uid(prefix = "h") {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// Runs fn at most once per animation frame / after `ms` of quiet.
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// An alert box: kind is "error", "warning" or "info".
export function alertBox(kind, title, ...body) {
  return h(`div.alert.alert-${kind}`, { role: kind === "error" ? "alert" : "status" },
    title ? h("strong", title) : null, title && body.length ? " " : null, ...body);
}

// A collapsible section using <details>, open by default.
export function section(title, open, ...body) {
  return h("details.section", { open }, h("summary", title), ...body);
}

// A badge such as UP / DOWN / firing.
export function badge(text, kind) {
  return h(`span.badge.badge-${kind || "neutral"}`, text);
}

// A list of label badges {a="b"}.
export function labelBadges(labels, skipName) {
  const names = Object.keys(labels || {}).sort();
  return h("span.labels", names
    .filter((n) => !(skipName && n === "__name__"))
    .map((n) => h("span.label-badge", `${n}="${labels[n]}"`)));
}
