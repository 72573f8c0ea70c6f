// One run: its header, and tabs for charts, log, images, config and summary, environment and assets.

import { api, append, el, errorBox, fetchJSON, fmtDuration, fmtTime, getJSON, query, replace,
  statusBadge } from "./dom.js";
import { ChartGrid, chartControls, filterKeys, noteFor } from "./charts.js";
import { configTab, environmentTab, imagesTab, logTab } from "./runtabs.js";
import { assetsTab } from "./assets.js";
import { primaryText } from "./runs.js";

const TABS = [["charts", "Charts"], ["log", "Log"], ["images", "Images"], ["config", "Config & summary"],
  ["environment", "Environment"], ["assets", "Assets"]];
const POLL_MS = 2000;

export function runPage(main, runId, params) {
  let stopped = false, detailTimer = null, tabHandle = null, detail = null;
  const head = el("section", { class: "run-head" }, el("p", { class: "muted" }, "Loading run…"));
  const nav = el("nav", { class: "tabs" });
  const body = el("section", { class: "tab-body" });
  append(main, head, nav, body);
  let tab = TABS.some(([name]) => name === params.get("tab")) ? params.get("tab") : "charts";

  const live = () => detail && detail.status === "running";
  const ctx = { runId, live, stopped: () => stopped };

  async function loadDetail() {
    clearTimeout(detailTimer);
    try {
      const first = detail === null;
      detail = (await fetchJSON(api.run(runId)));
      if (stopped) return;
      renderHead(detail);
      if (first) showTab(tab);
      if (live()) detailTimer = setTimeout(loadDetail, 5000);
    } catch (error) {
      if (!stopped) replace(head, errorBox(error), el("p", {}, el("a", { href: "#/runs" }, "Back to the runs")));
    }
  }

  function renderHead(run) {
    document.title = `${run.alias || run.id} · Runicorn`;
    const facts = [["path", run.path], ["created", fmtTime(run.created_at)], ["duration", fmtDuration(run.duration)],
      ["primary", primaryText(run.primary_metric)], ["host", run.host]];
    replace(head,
      el("h1", {}, statusBadge(run.status), " ", el("span", { class: "run-title" }, run.alias || run.id),
        run.alias ? el("span", { class: "muted small" }, ` ${run.id}`) : null, run.pin ? " 📌" : ""),
      el("p", { class: "facts" }, facts.filter(([, v]) => v).map(([k, v]) => el("span", {}, el("b", {}, `${k} `), v)),
        run.tags.map((t) => el("span", { class: "chip" }, t))),
      run.error ? el("p", { class: "error" }, `${run.error.type || "error"}: ${run.error.message || ""}`) : null,
      run.problems.length ? el("details", { class: "warning" }, el("summary", {}, `${run.problems.length} problem(s) reading this run`),
        el("ul", {}, run.problems.map((p) => el("li", {}, p)))) : null,
      el("p", {}, el("a", { href: `#/compare?runs=${encodeURIComponent(run.id)}` }, "Compare with other runs…")));
  }

  function showTab(name) {
    tab = name;
    if (tabHandle && tabHandle.stop) tabHandle.stop();
    history.replaceState(null, "", `#/run/${encodeURIComponent(runId)}${name === "charts" ? "" : `?tab=${name}`}`);
    replace(nav, TABS.map(([key, label]) => el("a", { href: "#", class: key === name ? "active" : null, dataset: { tab: key },
      onclick: (event) => { event.preventDefault(); showTab(key); } }, label)));
    replace(body);
    const render = { charts: chartsTab, log: logTab, images: imagesTab, config: configTab, environment: environmentTab,
      assets: assetsTab }[name];
    tabHandle = render(body, ctx, detail);
  }

  loadDetail();
  return { stop() { stopped = true; clearTimeout(detailTimer); if (tabHandle && tabHandle.stop) tabHandle.stop(); } };
}

// The charts of one run: every metric key, one request for all of them, polled with an ETag while live.
function chartsTab(body, ctx) {
  const options = { filter: "", smoothing: 0, axis: "step", logY: false, band: true };
  let stopped = false, timer = null, etag = null, last = null, wasLive = false;
  const gridBox = el("div", { class: "chart-grid", id: "charts" });
  const textKeys = el("div", { class: "muted small" });
  const status = el("p", { class: "muted" }, "Reading the metrics…");
  const grid = new ChartGrid(gridBox, { onZoom: (key) => fetchKey(key) });
  append(body, chartControls(options, (what) => {
    if (what === "filter") return show(last);
    if (what === "axis") grid.resetZoom();
    etag = null; fetchAll();
  }), status, gridBox, textKeys);

  const seriesUrl = (extra) => `${api.run(ctx.runId)}/series` + query({ x: options.axis, smooth: options.smoothing || "",
    width: grid.width([...grid.charts.keys()][0]) || 800, ...extra });
  const draw = (key, series) => grid.draw(key, [{ label: key, colour: "#1f77b4", series }], options, noteFor(series, options.axis));

  function show(data) {
    if (!data) return;
    const keys = Object.keys(data.series);
    const drawable = keys.filter((k) => data.series[k].count > data.series[k].skipped);
    const text = keys.filter((k) => !drawable.includes(k));
    const visible = filterKeys(drawable, options.filter);
    grid.setKeys(visible);
    status.textContent = keys.length ? `${visible.length} of ${drawable.length} charts` + (ctx.live() ? " · live" : "")
      : "This run logged no metrics yet.";
    replace(textKeys, text.length ? `Text values (not charted): ${text.map((k) => `${k} = ${data.series[k].last}`).join(", ")}` : "");
    for (const key of visible) {
      if (grid.zoomOf(key)) fetchKey(key);
      else draw(key, data.series[key]);
    }
  }

  async function fetchAll(poll = false) {
    clearTimeout(timer);
    try {
      const result = await getJSON(seriesUrl({}), poll ? etag : null);
      if (stopped) return;
      if (!result.notModified) { etag = result.etag; last = result.data; show(last); }
    } catch (error) {
      if (!stopped) replace(status, errorBox(error));
    }
    if (stopped) return;
    // Poll while the run is live, and once more after it ended, for the rows its finish flushed.
    if (ctx.live() || wasLive) timer = setTimeout(() => fetchAll(true), POLL_MS);
    wasLive = ctx.live();
  }

  async function fetchKey(key) {
    const zoom = grid.zoomOf(key);
    if (!zoom) { if (last && last.series[key]) draw(key, last.series[key]); return; }
    try {
      const result = await getJSON(seriesUrl({ key, x0: zoom[0], x1: zoom[1], width: grid.width(key) }));
      if (!stopped && result.data.series[key]) draw(key, result.data.series[key]);
    } catch (error) {
      if (!stopped) replace(status, errorBox(error));
    }
  }

  fetchAll();
  return { stop() { stopped = true; clearTimeout(timer); grid.purge(); } };
}
