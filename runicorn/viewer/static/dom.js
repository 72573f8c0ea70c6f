// DOM building, fetching and formatting shared by every page.
//
// Run data is user data (an alias may be "<img src=x onerror=...>"), so the page
// never parses it as HTML: el() puts strings in as text nodes and attributes are
// set one by one. No HTML string ever reaches the DOM.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "disabled" || name === "selected") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

// Children may be nodes, strings (always text, never markup), arrays of them, or null (skipped).
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function replace(node, ...children) {
  return append(clear(node), ...children);
}

// JSON from the viewer's API. With an etag, a 304 answer gives {notModified: true}.
export async function getJSON(url, etag) {
  const headers = etag ? { "If-None-Match": etag } : {};
  const response = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
  if (response.status === 304) return { notModified: true, etag };
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return { data: body, etag: response.headers.get("ETag") };
}

// plotly.js (from the installed plotly package, 4.8 MB) is loaded only by pages with charts, once.
let plotly = null;
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { plotly = null; reject(new Error("plotly.js did not load (/vendor/plotly.min.js): charts cannot be drawn")); };
      document.head.appendChild(script);
    });
  }
  return plotly;
}

export async function fetchJSON(url) {
  return (await getJSON(url)).data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const api = {
  run: (id) => `/api/runs/${encodeURIComponent(id)}`,
  object: (id, params) => `/api/objects/${encodeURIComponent(id)}${query(params || {})}`,
};

export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${s}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value.toLocaleString("en-US");
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-4 || abs >= 1e6) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function fmtBytes(count) {
  if (count === null || count === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} B`;
}

export function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, title: `status: ${status}` }, status);
}

export function runLabel(run) {
  return run.alias ? `${run.alias}` : run.id;
}

export function errorBox(error) {
  return el("p", { class: "error" }, String(error && error.message ? error.message : error));
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// A value for a table cell: text, with the full value as a tooltip when it is long.
export function cell(value) {
  const text = fmtValue(value);
  return el("td", { title: text.length > 40 ? text : null }, text.length > 120 ? `${text.slice(0, 117)}…` : text);
}

// Stable colours: a run keeps its colour on every chart of a page (its index in the selection).
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#393b79", "#e7969c", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
  "#756bb1", "#636363"];

export function colourOf(index) {
  return PALETTE[index % PALETTE.length];
}
