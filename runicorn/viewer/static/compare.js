// Compare: several runs overlaid per metric (one colour per run on every chart, a synced cursor), or
// grouped (by path or a config value: one mean line and min–max band per group, computed by the server),
// config and summary side by side with "only differences", and the code diff of two runs.

import { api, append, colourOf, el, errorBox, fetchJSON, fmtValue, getJSON, query, replace, runLabel,
  statusBadge } from "./dom.js";
import { ChartGrid, chartControls, filterKeys } from "./charts.js";
import { diffBlock } from "./assets.js";

const PARALLEL = 2; // series requests in flight: the server reads one timeline per request
const POLL_MS = 3000;

export function comparePage(main, params) {
  const ids = [...new Set((params.get("runs") || "").split(",").filter(Boolean))];
  if (!ids.length) {
    append(main, el("h1", {}, "Compare runs"), el("p", {}, "Tick runs in the ", el("a", { href: "#/runs" }, "runs table"),
      " and press Compare."));
    return { stop() {} };
  }
  let stopped = false, timer = null, runs = [];
  const options = { filter: "", smoothing: 0, axis: "step", logY: false, band: false, groupBy: "" };
  const data = new Map(); // run id -> {series, etag}
  let groups = null; // when grouped: {list: [{label, runs, series, zoomed}], etag}
  const dirty = new Set();
  let frame = null;
  const head = el("section", { class: "compare-head" }, el("p", { class: "muted" }, "Loading runs…"));
  const status = el("p", { class: "muted", id: "compare-status" });
  const gridBox = el("div", { class: "chart-grid", id: "compare-charts" });
  const grid = new ChartGrid(gridBox, { synced: true, onZoom: (key) => refetchKey(key) });
  const tables = el("section", { class: "compare-tables" });
  const code = el("section", { class: "compare-code" });
  const reload = () => { data.clear(); groups = null; gridBox.dataset.complete = ""; loadSeries(); };
  const groupBy = el("select", { id: "group-by", "aria-label": "group runs by", onchange: () => {
    options.groupBy = groupBy.value; grid.resetZoom(); grid.setKeys([]); reload();
  } }, el("option", { value: "" }, "no grouping"));
  append(main, head, append(chartControls(options, (what) => {
    if (what === "filter" || what === "logY" || what === "band") { layoutKeys(); return; }
    if (what === "axis") grid.resetZoom();
    reload();
  }), el("label", {}, "group by ", groupBy)), status, gridBox, tables, code);

  const colour = (id) => colourOf(ids.indexOf(id));
  const labelOf = (id) => { const run = runs.find((r) => r.id === id); return run ? runLabel(run) : id; };
  const seriesUrl = (id, extra) => `${api.run(id)}/series` + query({ x: options.axis, smooth: options.smoothing || "",
    width: grid.width([...grid.charts.keys()][0]), ...extra });

  const drawable = (s) => s && s.count > s.skipped && s.x.length > 0;

  function keysOfAll() {
    const keys = new Set();
    const sources = groups ? groups.list : [...data.values()];
    for (const { series } of sources) {
      for (const [key, s] of Object.entries(series)) if (drawable(s)) keys.add(key);
    }
    return [...keys].sort();
  }

  function layoutKeys() {
    const visible = filterKeys(keysOfAll(), options.filter);
    grid.setKeys(visible);
    visible.forEach((key) => dirty.add(key));
    schedule();
  }

  // Redraw the charts that got new data, at most once per animation frame.
  function schedule() {
    if (frame !== null) return;
    frame = requestAnimationFrame(() => {
      frame = null;
      const keys = [...dirty];
      dirty.clear();
      const drawn = keys.map((key) => grid.draw(key, entriesFor(key), options, noteOf(key)));
      Promise.all(drawn).then(() => {
        if (!stopped && (groups || data.size === ids.length) && !dirty.size) gridBox.dataset.complete = "1";
      });
    });
  }

  function noteOf(key) {
    if (!groups) return `${entriesFor(key).length} of ${ids.length} runs`;
    const shown = entriesFor(key).length;
    return `${shown} group${shown === 1 ? "" : "s"} of ${ids.length} runs · the mean of each group, its min–max band`;
  }

  function entriesFor(key) {
    if (groups) {
      return groups.list.map((group, index) => ({ group, index })).filter(({ group }) => drawable(group.series[key]))
        .map(({ group, index }) => ({ label: `${group.label} (${group.runs.length} run${group.runs.length === 1 ? "" : "s"})`,
          colour: colourOf(index), series: group.zoomed[key] || group.series[key] }));
    }
    return ids.filter((id) => data.has(id) && drawable(data.get(id).series[key]))
      .map((id) => ({ label: labelOf(id), colour: colour(id), series: data.get(id).zoomed[key] || data.get(id).series[key] }));
  }

  async function fetchRun(id, poll) {
    const previous = data.get(id);
    const result = await getJSON(seriesUrl(id, {}), poll && previous ? previous.etag : null);
    if (stopped || result.notModified) return;
    data.set(id, { series: result.data.series, etag: result.etag, zoomed: previous ? previous.zoomed : {} });
    status.textContent = `${data.size} of ${ids.length} runs read`;
    layoutKeys();
  }

  const groupsUrl = (extra) => "/api/compare/groups" + query({ runs: ids.join(","), by: options.groupBy, x: options.axis,
    smooth: options.smoothing || "", width: grid.width([...grid.charts.keys()][0]), ...extra });

  async function fetchGroups(poll) {
    const result = await getJSON(groupsUrl({}), poll && groups ? groups.etag : null);
    if (stopped || result.notModified) return;
    groups = { list: result.data.groups.map((group) => ({ ...group, zoomed: {} })), etag: result.etag };
    status.textContent = `${groups.list.length} group${groups.list.length === 1 ? "" : "s"} of ${ids.length} runs by ${options.groupBy}`;
    layoutKeys();
  }

  async function loadSeries(poll = false) {
    clearTimeout(timer);
    if (options.groupBy) {
      try { await fetchGroups(poll); } catch (error) { if (!stopped) append(status, errorBox(error)); }
      if (!stopped && runs.some((r) => r.status === "running")) timer = setTimeout(() => loadSeries(true), POLL_MS);
      return;
    }
    const queue = poll ? runs.filter((r) => r.status === "running").map((r) => r.id) : [...ids];
    const worker = async () => {
      while (queue.length && !stopped) {
        const id = queue.shift();
        try { await fetchRun(id, poll); } catch (error) { if (!stopped) append(status, errorBox(error)); }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    if (!stopped && runs.some((r) => r.status === "running")) timer = setTimeout(() => loadSeries(true), POLL_MS);
  }

  async function refetchKey(key) {
    const zoom = grid.zoomOf(key);
    if (groups) {
      const list = groups.list;
      try {
        const result = zoom ? await getJSON(groupsUrl({ key, x0: zoom[0], x1: zoom[1], width: grid.width(key) })) : null;
        if (stopped || groups === null || groups.list !== list) return;
        list.forEach((group, i) => { if (zoom) group.zoomed[key] = result.data.groups[i].series[key]; else delete group.zoomed[key]; });
      } catch (error) { append(status, errorBox(error)); }
      dirty.add(key);
      schedule();
      return;
    }
    for (const id of ids) {
      const entry = data.get(id);
      if (!entry || !entry.series[key]) continue;
      if (!zoom) { delete entry.zoomed[key]; continue; }
      try {
        const result = await getJSON(seriesUrl(id, { key, x0: zoom[0], x1: zoom[1], width: grid.width(key) }));
        if (stopped) return;
        entry.zoomed[key] = result.data.series[key];
      } catch (error) { append(status, errorBox(error)); }
    }
    dirty.add(key);
    schedule();
  }

  function renderHead() {
    const without = (id) => ids.filter((x) => x !== id).map(encodeURIComponent).join(",");
    replace(head, el("h1", {}, `Compare ${ids.length} runs`), el("ul", { class: "run-chips" }, runs.map((run) => el("li", {},
      el("span", { class: "swatch", dataset: { colour: colour(run.id) } }), " ",
      el("a", { href: `#/run/${encodeURIComponent(run.id)}` }, runLabel(run)), " ", statusBadge(run.status), " ",
      el("a", { class: "muted", href: `#/compare?runs=${without(run.id)}`, title: "remove from the comparison" }, "×")))));
    head.querySelectorAll(".swatch").forEach((swatch) => { swatch.style.background = swatch.dataset.colour; });
  }

  function offerGroupings(compare) {
    const rows = [...compare.config.filter((row) => row.differs), ...compare.config.filter((row) => !row.differs)];
    const keys = rows.map((row) => row.key); // keys whose values differ first: those split the runs
    append(groupBy, el("option", { value: "path" }, "path"),
      keys.map((key) => el("option", { value: `config.${key}` }, `config ${key}`)));
  }

  function renderTables(compare) {
    const only = el("input", { type: "checkbox", checked: true, id: "only-differences", onchange: () => fill() });
    const holder = el("div");
    const fill = () => replace(holder, ["config", "summary"].map((part) => {
      const rows = compare[part].filter((row) => !only.checked || row.differs);
      return el("section", {}, el("h2", {}, part === "config" ? "Config" : "Summary"),
        rows.length ? el("table", { class: "grid compare-table", id: `compare-${part}` },
          el("thead", {}, el("tr", {}, el("th", {}, "key"), compare.runs.map((run) => el("th", { class: "run-col", dataset: { colour: colour(run.id) } }, runLabel(run))))),
          el("tbody", {}, rows.map((row) => el("tr", { class: row.differs ? "differs" : null }, el("th", {}, row.key),
            row.values.map((value, i) => el("td", {}, row.present[i] ? fmtValue(value) : "–"))))))
          : el("p", { class: "muted" }, only.checked ? "no differences" : "nothing recorded"));
    }));
    fill();
    replace(tables, el("label", {}, only, " only differences"), holder);
    only.addEventListener("change", paint);
    paint();
  }

  function paint() {
    tables.querySelectorAll("th.run-col").forEach((th) => { th.style.borderBottomColor = th.dataset.colour; });
  }

  function renderCode() {
    if (ids.length < 2) return;
    const pick = (index) => el("select", {}, runs.map((run, i) => el("option", { value: run.id, selected: i === index }, runLabel(run))));
    const a = pick(0), b = pick(1);
    const out = el("div");
    const show = async () => {
      replace(out, el("p", { class: "muted" }, "Reading both code snapshots from the store…"));
      try {
        const diff = await fetchJSON("/api/compare/code" + query({ a: a.value, b: b.value }));
        if (!diff.available) { replace(out, el("p", { class: "muted" }, "One of the runs has no code snapshot.")); return; }
        const list = (title, paths) => paths.length ? el("p", {}, el("b", {}, `${title}: `), paths.join(", ")) : null;
        replace(out, list("added", diff.added), list("removed", diff.removed), list("changed", diff.changed),
          !diff.added.length && !diff.removed.length && !diff.changed.length ? el("p", { class: "muted" }, "The code is identical.") : null,
          Object.entries(diff.patches).map(([path, patch]) => [el("h3", {}, path), diffBlock(patch)]));
      } catch (error) { replace(out, errorBox(error)); }
    };
    replace(code, el("h2", {}, "Code diff"), el("div", { class: "toolbar" }, a, " → ", b,
      el("button", { id: "show-code-diff", onclick: show }, "Show the code diff")), out);
  }

  fetchJSON("/api/compare" + query({ runs: ids.join(",") })).then((compare) => {
    if (stopped) return;
    runs = compare.runs;
    renderHead();
    offerGroupings(compare);
    renderTables(compare);
    renderCode();
    loadSeries();
  }).catch((error) => replace(head, errorBox(error)));

  return { stop() { stopped = true; clearTimeout(timer); if (frame !== null) cancelAnimationFrame(frame); grid.purge(); } };
}
