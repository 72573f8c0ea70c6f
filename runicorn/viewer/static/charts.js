// Metric charts: one plotly chart per key, drawn from series the server already downsampled.
//
// The server sends per pixel the bucket's last point (the line) and its min and
// max (the band, so spikes in a million points stay visible), and the debiased
// EMA computed on the full series. Zooming asks the server again for the
// visible range at full resolution; double-click goes back to the whole run.

import { append, el, fmtValue, loadPlotly, replace } from "./dom.js";

const BAND_ALPHA = 0.18;

// Wall time is shown in local time: plotly draws date axes as UTC, so shift by the zone offset.
const zoneShiftMs = () => new Date().getTimezoneOffset() * 60000;
export const toAxis = (x, axis) => (axis === "time" ? x * 1000 - zoneShiftMs() : x);
export function fromAxis(value, axis) {
  if (axis !== "time") return Number(value);
  const ms = typeof value === "number" ? value : Date.parse(String(value).replace(" ", "T") + "Z");
  return (ms + zoneShiftMs()) / 1000;
}

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

// Plotly traces for one run's series of one key.
export function tracesFor(series, { label, colour, axis, band, smoothing }) {
  const xs = series.x.map((x) => toAxis(x, axis));
  const traces = [];
  if ((series.group || (band && series.downsampled)) && series.min) { // a group's band is its runs' spread
    traces.push({ x: xs, y: series.min, mode: "lines", line: { width: 0, color: colour }, hoverinfo: "skip",
      showlegend: false, type: "scatter" });
    traces.push({ x: xs, y: series.max, mode: "lines", line: { width: 0, color: colour }, fill: "tonexty",
      fillcolor: rgba(colour, BAND_ALPHA), hoverinfo: "skip", showlegend: false, type: "scatter" });
  }
  const smoothed = smoothing > 0 && series.smoothed;
  const markers = !series.downsampled && series.x.length <= 60;
  traces.push({ x: xs, y: series.y, name: label, type: "scatter", mode: markers ? "lines+markers" : "lines",
    line: { color: colour, width: smoothed ? 1 : 1.6 }, marker: { size: 4 }, opacity: smoothed ? 0.3 : 1,
    hoverinfo: smoothed ? "skip" : undefined, hovertemplate: smoothed ? undefined : `${label}: %{y}<extra></extra>` });
  if (smoothed) {
    traces.push({ x: xs, y: series.smoothed, name: `${label} (smoothed)`, type: "scatter", mode: "lines",
      line: { color: colour, width: 1.8 }, hovertemplate: `${label}: %{y} (smoothed)<extra></extra>` });
  }
  return traces;
}

export class ChartGrid {
  // onZoom(key, [x0, x1] | null): the user zoomed a chart (null: back to everything).
  constructor(container, { onZoom, synced = false }) {
    this.container = container;
    this.onZoom = onZoom;
    this.synced = synced;
    this.charts = new Map();
    this.syncing = false;
    loadPlotly().catch(() => {}); // start fetching plotly.js while the data is read; errors show per chart
  }

  // Show charts for these keys, in this order (existing charts are kept).
  setKeys(keys) {
    const wanted = new Set(keys);
    for (const [key, chart] of this.charts) {
      if (!wanted.has(key)) { purge(chart); chart.box.remove(); this.charts.delete(key); }
    }
    for (const key of keys) {
      let chart = this.charts.get(key);
      if (!chart) chart = this.create(key);
      this.container.appendChild(chart.box);
    }
  }

  create(key) {
    const plot = el("div", { class: "plot" });
    const note = el("div", { class: "chart-note muted" });
    const box = el("figure", { class: "chart", dataset: { key } }, el("figcaption", {}, key), plot, note);
    const chart = { key, box, plot, note, zoom: null, drawn: false };
    this.charts.set(key, chart);
    return chart;
  }

  width(key) {
    const chart = this.charts.get(key);
    return Math.max(200, Math.round((chart && chart.plot.clientWidth) || 600));
  }

  zoomOf(key) {
    const chart = this.charts.get(key);
    return chart ? chart.zoom : null;
  }

  resetZoom() {
    for (const chart of this.charts.values()) chart.zoom = null;
  }

  // entries: [{label, colour, series}] (one per run); options: {axis, logY, band, smoothing}.
  draw(key, entries, options, noteText) {
    const chart = this.charts.get(key);
    if (!chart) return Promise.resolve();
    const traces = entries.flatMap((entry) => tracesFor(entry.series, { ...options, label: entry.label, colour: entry.colour }));
    const xaxis = { type: options.axis === "time" ? "date" : "linear", automargin: true, zeroline: false };
    if (chart.zoom) { xaxis.range = chart.zoom.map((x) => toAxis(x, options.axis)); xaxis.autorange = false; }
    const layout = {
      margin: { l: 55, r: 12, t: 8, b: 32 }, height: 240, showlegend: false, hovermode: "x unified",
      xaxis, yaxis: { type: options.logY ? "log" : "linear", automargin: true, zeroline: false },
      uirevision: `${options.axis}-${options.logY}`, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
    const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
    chart.axis = options.axis;
    replace(chart.note, noteText || "");
    return loadPlotly().then((Plotly) => Plotly.react(chart.plot, traces, layout, config)).then(() => {
      if (!chart.drawn) this.listen(chart);
      chart.drawn = true;
      chart.box.dataset.drawn = String(Number(chart.box.dataset.drawn || 0) + 1);
    }).catch((error) => replace(chart.note, el("span", { class: "error" }, String(error.message || error))));
  }

  listen(chart) {
    chart.plot.on("plotly_relayout", (event) => {
      let range = null;
      if (event["xaxis.range[0]"] !== undefined) range = [event["xaxis.range[0]"], event["xaxis.range[1]"]];
      else if (Array.isArray(event["xaxis.range"])) range = event["xaxis.range"];
      else if (!event["xaxis.autorange"]) return;
      chart.zoom = range ? range.map((v) => fromAxis(v, chart.axis)) : null;
      this.onZoom(chart.key, chart.zoom);
    });
    if (!this.synced) return;
    chart.plot.on("plotly_hover", (event) => {
      if (this.syncing || !event.xvals) return;
      this.syncing = true;
      try {
        for (const other of this.charts.values()) {
          if (other !== chart && other.drawn) window.Plotly.Fx.hover(other.plot, { xval: event.xvals[0] });
        }
      } finally { this.syncing = false; }
    });
    chart.plot.on("plotly_unhover", () => {
      if (this.syncing) return;
      this.syncing = true;
      try {
        for (const other of this.charts.values()) if (other !== chart && other.drawn) window.Plotly.Fx.unhover(other.plot);
      } finally { this.syncing = false; }
    });
  }

  purge() {
    for (const chart of this.charts.values()) purge(chart);
    this.charts.clear();
  }
}

function purge(chart) {
  if (window.Plotly && chart.drawn) window.Plotly.purge(chart.plot);
}

// "1,000,000 points, 1,000 shown · last 0.43 · 2 not drawable"
export function noteFor(series, axis) {
  const parts = [`${series.count.toLocaleString("en-US")} points`];
  if (series.downsampled) parts.push(`${series.x.length.toLocaleString("en-US")} buckets shown (min–max band)`);
  if (series.last !== undefined && series.last !== null) parts.push(`last ${fmtValue(series.last)}`);
  if (series.range && axis === "step") parts.push(`steps ${fmtValue(series.range[0])}–${fmtValue(series.range[1])}`);
  if (series.skipped) parts.push(`${series.skipped} not drawable (NaN, ±inf or text)`);
  return parts.join(" · ");
}

// The controls above a grid: key filter, smoothing, x axis, log y, band. onChange(options) on every change.
export function chartControls(options, onChange) {
  const filter = el("input", { type: "search", class: "key-filter", placeholder: "Filter keys (regex)", value: options.filter,
    oninput: () => { options.filter = filter.value; onChange("filter"); } });
  const smoothValue = el("span", { class: "smooth-value" }, options.smoothing.toFixed(2));
  const smooth = el("input", { type: "range", class: "smoothing", min: 0, max: 0.99, step: 0.01, value: options.smoothing,
    "aria-label": "smoothing", oninput: () => { smoothValue.textContent = Number(smooth.value).toFixed(2); },
    onchange: () => { options.smoothing = Number(smooth.value); onChange("smoothing"); } });
  const axis = el("select", { class: "x-axis", onchange: () => { options.axis = axis.value; onChange("axis"); } },
    el("option", { value: "step", selected: options.axis === "step" }, "x: step"),
    el("option", { value: "time", selected: options.axis === "time" }, "x: wall time"));
  const logY = el("input", { type: "checkbox", class: "log-y", checked: options.logY,
    onchange: () => { options.logY = logY.checked; onChange("logY"); } });
  const band = el("input", { type: "checkbox", class: "band", checked: options.band,
    onchange: () => { options.band = band.checked; onChange("band"); } });
  return append(el("div", { class: "toolbar chart-controls" }), [filter,
    el("label", {}, "smoothing ", smooth, " ", smoothValue), axis,
    el("label", {}, logY, " log y"), el("label", {}, band, " min/max band")]);
}

// Keys that pass the filter: a regular expression, or plain text when it is not one.
export function filterKeys(keys, filter) {
  if (!filter) return keys;
  let test;
  try { const re = new RegExp(filter, "i"); test = (k) => re.test(k); } catch { test = (k) => k.toLowerCase().includes(filter.toLowerCase()); }
  return keys.filter(test);
}
