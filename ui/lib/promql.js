// PromQL for the editor: a forgiving tokenizer that classifies every character (for
// highlighting: metric names, label names, functions, keywords, strings, numbers,
// durations, operators, comments) and the completion context at the cursor.

export const AGGREGATIONS = [
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
  "bottomk", "topk", "quantile", "limitk", "limit_ratio",
];
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
export const KEYWORDS = [
  "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
  "and", "or", "unless", "atan2", "start", "end", "anchored", "smoothed", "fill",
  "fill_left", "fill_right",
];
const KW = new Set(KEYWORDS);
const AGG = new Set(AGGREGATIONS);

const DURATION = /^(\d+(\.\d+)?(ms|[smhdwy]))+$/;

// Tokens: {type, text, start, end}. Types: ws, comment, string, number, duration,
// metric, label, fn, agg, kw, op, paren, brace, bracket, comma, error.
export function tokenize(src) {
  const out = [];
  let i = 0;
  let braceDepth = 0;
  let groupingParen = 0; // > 0 while inside "by (…)" and friends
  let parenDepth = 0;
  let pendingGrouping = false;
  let bracketDepth = 0;
  const push = (type, start, end) => out.push({ type, text: src.slice(start, end), start, end });
  while (i < src.length) {
    const c = src[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < src.length && /\s/.test(src[i])) i++;
      push("ws", start, i);
      continue;
    }
    if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      push("comment", start, i);
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\" && c !== "`") i++;
        i++;
      }
      if (i < src.length) i++;
      push("string", start, i);
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(src[i + 1] || ""))) {
      const m = /^(0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)/.exec(src.slice(i));
      const len = m ? m[0].length : 1;
      i += len;
      push(DURATION.test(src.slice(start, i)) ? "duration" : "number", start, i);
      continue;
    }
    if (/[A-Za-z_:]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_:.]/.test(src[i])) i++;
      // Dots are not part of names outside braces.
      let word = src.slice(start, i);
      const dot = word.indexOf(".");
      if (braceDepth === 0 && dot > 0) {
        i = start + dot;
        word = word.slice(0, dot);
      }
      let type;
      const next = src.slice(i).match(/^\s*(\S)/);
      const nextChar = next ? next[1] : "";
      if (braceDepth > 0 || groupingParen > 0) type = "label";
      else if (/^(inf|nan)$/i.test(word)) type = "number";
      else if (AGG.has(word) && (nextChar === "(" || /^\s*(by|without)\b/.test(src.slice(i)))) type = "agg";
      else if (GROUPING.has(word)) {
        type = "kw";
        pendingGrouping = true;
      } else if (KW.has(word)) type = "kw";
      else if (nextChar === "(") type = "fn";
      else type = "metric";
      push(type, start, i);
      continue;
    }
    if (c === "{") {
      braceDepth++;
      i++;
      push("brace", start, i);
      continue;
    }
    if (c === "}") {
      braceDepth = Math.max(0, braceDepth - 1);
      i++;
      push("brace", start, i);
      continue;
    }
    if (c === "(") {
      parenDepth++;
      if (pendingGrouping) groupingParen = parenDepth;
      pendingGrouping = false;
      i++;
      push("paren", start, i);
      continue;
    }
    if (c === ")") {
      if (groupingParen === parenDepth) groupingParen = 0;
      parenDepth = Math.max(0, parenDepth - 1);
      i++;
      push("paren", start, i);
      continue;
    }
    if (c === "[" || c === "]") {
      bracketDepth += c === "[" ? 1 : -1;
      i++;
      push("bracket", start, i);
      continue;
    }
    if (c === ",") {
      i++;
      push("comma", start, i);
      continue;
    }
    const op = /^(==|!=|=~|!~|<=|>=|[-+*/%^<>=@:])/.exec(src.slice(i));
    if (op) {
      i += op[0].length;
      push("op", start, i);
      continue;
    }
    i++;
    push("error", start, i);
  }
  return out;
}

// What to complete at `pos`:
//   {kind: "metric"|"label"|"value"|"duration"|"none", prefix, from, to, metric, label, quote}
// `from`..`to` is the text a completion replaces.
export function completionContext(src, pos) {
  const before = src.slice(0, pos);
  const toks = tokenize(before);
  const last = toks[toks.length - 1];
  // Inside an unterminated string: a label value when it follows a matcher operator.
  const unterminated = (t) => t.text.length < 2 || t.text[t.text.length - 1] !== t.text[0];
  if (last && last.type === "string" && last.end === pos && unterminated(last)) {
    const quote = last.text[0];
    const sig = toks.slice(0, -1).filter((t) => t.type !== "ws");
    const op = sig[sig.length - 1];
    const lbl = sig[sig.length - 2];
    if (op && op.type === "op" && /^(=|!=|=~|!~)$/.test(op.text) && lbl && lbl.type === "label") {
      return { kind: "value", label: lbl.text, metric: metricBefore(sig, sig.length - 2), prefix: last.text.slice(1), from: last.start, to: pos, quote, open: true };
    }
    return { kind: "none" };
  }
  if (last && last.type === "comment") return { kind: "none" };
  const word = last && /^(metric|label|fn|agg|kw|number|duration)$/.test(last.type) && last.end === pos ? last : null;
  const prefix = word ? word.text : "";
  const from = word ? word.start : pos;
  const sig = toks.filter((t) => t.type !== "ws");
  const prevIdx = word ? sig.length - 2 : sig.length - 1;
  const prev = sig[prevIdx];
  // Depth bookkeeping up to the cursor.
  let brace = 0;
  let bracket = 0;
  let grouping = false;
  let pendingGrouping = false;
  let paren = 0;
  let groupingParen = 0;
  for (const t of sig.slice(0, word ? -1 : undefined)) {
    if (t.text === "{") brace++;
    else if (t.text === "}") brace = Math.max(0, brace - 1);
    else if (t.text === "[") bracket++;
    else if (t.text === "]") bracket = Math.max(0, bracket - 1);
    else if (t.type === "kw" && GROUPING.has(t.text)) pendingGrouping = true;
    else if (t.text === "(") {
      paren++;
      if (pendingGrouping) groupingParen = paren;
      pendingGrouping = false;
    } else if (t.text === ")") {
      if (groupingParen === paren) groupingParen = 0;
      paren = Math.max(0, paren - 1);
    } else pendingGrouping = false;
  }
  grouping = groupingParen > 0;
  if (bracket > 0) return { kind: "duration", prefix, from, to: pos };
  if (brace > 0) {
    if (prev && prev.type === "op" && /^(=|!=|=~|!~)$/.test(prev.text)) {
      const lbl = sig[prevIdx - 1];
      if (lbl && lbl.type === "label") {
        return { kind: "value", label: lbl.text, metric: metricBefore(sig, prevIdx - 1), prefix: "", from: pos, to: pos, quote: '"', open: false };
      }
      return { kind: "none" };
    }
    if (!prev || prev.text === "{" || prev.text === ",") {
      return { kind: "label", prefix, from, to: pos, metric: metricBefore(sig, prevIdx + 1) };
    }
    return { kind: "none" };
  }
  if (grouping) {
    if (!prev || prev.text === "(" || prev.text === ",") return { kind: "label", prefix, from, to: pos, metric: "" };
    return { kind: "none" };
  }
  if (prev && (prev.type === "metric" || prev.type === "label" || prev.text === "}" || prev.text === "]" || prev.type === "number" || prev.type === "string" || prev.type === "duration") && !word) {
    // After a complete operand: an operator or keyword comes next.
    return { kind: "keyword", prefix, from, to: pos };
  }
  if (prev && prev.type === "kw" && prev.text === "offset") return { kind: "duration", prefix, from, to: pos };
  if (!word && prev && prev.type === "paren" && prev.text === ")") return { kind: "keyword", prefix, from, to: pos };
  if (word && /^(number|duration)$/.test(word.type)) return { kind: "none" };
  return { kind: "metric", prefix, from, to: pos };
}

// The metric name of the selector whose `{` precedes index `idx` of `sig`.
function metricBefore(sig, idx) {
  let depth = 0;
  for (let i = idx; i >= 0; i--) {
    const t = sig[i];
    if (!t) continue;
    if (t.text === "}") depth++;
    if (t.text === "{") {
      if (depth === 0) {
        const m = sig[i - 1];
        if (m && m.type === "metric") return m.text;
        // {__name__="x"} form
        for (let j = i + 1; j < sig.length - 2; j++) {
          if (sig[j].text === "__name__" && sig[j + 1].text === "=" && sig[j + 2].type === "string") {
            return sig[j + 2].text.slice(1, -1);
          }
        }
        return "";
      }
      depth--;
    }
  }
  return "";
}

export const DURATIONS = ["1m", "5m", "10m", "30m", "1h", "6h", "12h", "1d", "1w"];

// The signature of a function from /assets/functions.json: "rate(range-vector) → vector".
export function signature(f) {
  const names = { vector: "instant-vector", matrix: "range-vector", scalar: "scalar", string: "string" };
  let args = f.args.map((a) => names[a] || a);
  if (f.variadic > 0 && args.length) {
    const n = args.length;
    args = args.map((a, i) => (i >= n - 1 ? `[${a}]` : a));
  } else if (f.variadic < 0 && args.length) {
    args[args.length - 1] = `${args[args.length - 1]}…`;
  }
  return `${f.name}(${args.join(", ")}) → ${names[f.returnType] || f.returnType}`;
}
