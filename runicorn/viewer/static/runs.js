// The runs page: the path tree beside a table that is filtered, sorted and paged by the server.

import { append, cell, debounce, el, errorBox, fetchJSON, fmtDuration, fmtTime, fmtValue, query, replace,
  statusBadge } from "./dom.js";

const SELECTION_KEY = "runicorn.selected";
const STATUSES = ["running", "finished", "failed", "interrupted", "crashed", "damaged"];
const COLUMNS = [["status", "Status"], ["alias", "Run"], ["path", "Path"], [null, "Tags"], ["primary", "Primary metric"],
  ["created", "Created"], ["duration", "Duration"]];
const REFRESH_MS = 5000;

export function selectedRuns() {
  try { return JSON.parse(sessionStorage.getItem(SELECTION_KEY) || "[]"); } catch { return []; }
}

function setSelected(ids) {
  sessionStorage.setItem(SELECTION_KEY, JSON.stringify(ids));
}

export function runsPage(main, params) {
  const state = {
    q: params.get("q") || "", path: params.get("path") || "", status: params.get("status") || "",
    tag: params.get("tag") || "", sort: params.get("sort") || "created", order: params.get("order") || "desc",
    offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
    columns: (params.get("columns") || "").split(",").filter(Boolean),
  };
  let stopped = false, timer = null, generation = 0;

  const text = el("input", { id: "filter-text", type: "search", placeholder: "Filter: id, alias, path or tag",
    value: state.q, oninput: debounce(() => { state.q = text.value.trim(); state.offset = 0; load(); }, 250) });
  const status = el("select", { id: "filter-status", onchange: () => { state.status = status.value; state.offset = 0; load(); } },
    el("option", { value: "" }, "any status"), STATUSES.map((s) => el("option", { value: s, selected: s === state.status }, s)));
  const tag = el("input", { id: "filter-tag", type: "search", placeholder: "tag", value: state.tag,
    oninput: debounce(() => { state.tag = tag.value.trim(); state.offset = 0; load(); }, 250) });
  const compareButton = el("button", { id: "compare-selected", onclick: () => {
    const ids = selectedRuns();
    if (ids.length) location.hash = `#/compare?runs=${ids.map(encodeURIComponent).join(",")}`;
  } });
  const clearButton = el("button", { class: "secondary", onclick: () => { setSelected([]); load(); } }, "Clear selection");
  const picker = el("div", { class: "column-picker", hidden: true });
  const columnsButton = el("button", { class: "secondary", onclick: () => togglePicker() }, "Columns…");
  const tree = el("nav", { class: "path-tree", "aria-label": "Run paths" });
  const summary = el("p", { class: "muted", id: "runs-summary" });
  const tableHolder = el("div", { class: "table-scroll" });
  const pager = el("div", { class: "pager" });

  append(main, el("div", { class: "runs-layout" },
    el("aside", {}, el("h2", {}, "Paths"), tree),
    el("section", { class: "runs-main" },
      el("div", { class: "toolbar" }, text, status, tag, columnsButton, compareButton, clearButton),
      picker, summary, tableHolder, pager)));

  function saveAddress() {
    const search = query({ q: state.q, path: state.path, status: state.status, tag: state.tag,
      sort: state.sort === "created" ? "" : state.sort, order: state.order === "desc" ? "" : state.order,
      offset: state.offset || "", limit: state.limit === 50 ? "" : state.limit, columns: state.columns.join(",") });
    history.replaceState(null, "", `#/runs${search}`);
  }

  function updateCompareButton() {
    const count = selectedRuns().length;
    compareButton.textContent = `Compare (${count})`;
    compareButton.disabled = count < 1;
  }

  async function load(withTree = false) {
    clearTimeout(timer);
    saveAddress();
    const mine = ++generation;
    const url = "/api/runs" + query({ q: state.q, path: state.path, status: state.status, tag: state.tag,
      sort: state.sort, order: state.order, offset: state.offset, limit: state.limit,
      columns: state.columns.join(","), tree: withTree ? 1 : "" });
    try {
      const data = await fetchJSON(url);
      if (stopped || mine !== generation) return;
      if (data.paths) renderTree(data.paths);
      renderTable(data);
      if (data.rows.some((row) => row.status === "running")) timer = setTimeout(() => load(), REFRESH_MS);
    } catch (error) {
      if (!stopped) replace(tableHolder, errorBox(error));
    }
  }

  function renderTree(paths) {
    const root = { children: new Map(), runs: 0 };
    for (const { path, runs } of paths) {
      let node = root;
      root.runs += runs;
      let prefix = "";
      for (const part of path.split("/")) {
        prefix = prefix ? `${prefix}/${part}` : part;
        if (!node.children.has(part)) node.children.set(part, { name: part, path: prefix, children: new Map(), runs: 0 });
        node = node.children.get(part);
        node.runs += runs;
      }
    }
    const link = (label, path, runs) => el("a", { href: "#", class: path === state.path ? "current" : null,
      onclick: (event) => { event.preventDefault(); state.path = path; state.offset = 0; load(true); } },
      label, el("span", { class: "count" }, ` ${runs}`));
    const branch = (node) => el("ul", {}, [...node.children.values()].map((child) => {
      if (!child.children.size) return el("li", {}, link(child.name, child.path, child.runs));
      const open = state.path === child.path || state.path.startsWith(`${child.path}/`) || node === root;
      return el("li", {}, el("details", { open }, el("summary", {}, link(child.name, child.path, child.runs)), branch(child)));
    }));
    replace(tree, el("ul", {}, el("li", {}, link("All runs", "", root.runs))), branch(root));
  }

  function header(key, label) {
    if (!key) return el("th", {}, label);
    const active = state.sort === key;
    const arrow = active ? (state.order === "desc" ? " ▼" : " ▲") : "";
    return el("th", { class: active ? "sorted" : null }, el("a", { href: "#", onclick: (event) => {
      event.preventDefault();
      state.order = active && state.order === "desc" ? "asc" : "desc";
      state.sort = key; state.offset = 0; load();
    } }, label + arrow));
  }

  function renderTable(data) {
    const chosen = new Set(selectedRuns());
    const headRow = el("tr", {}, el("th", {}, ""), COLUMNS.map(([key, label]) => header(key, label)),
      state.columns.map((column) => header(column, column)));
    const rows = data.rows.map((run) => el("tr", { dataset: { run: run.id } },
      el("td", {}, el("input", { type: "checkbox", checked: chosen.has(run.id), "aria-label": `select ${run.id}`,
        onchange: (event) => {
          const ids = selectedRuns().filter((id) => id !== run.id);
          if (event.target.checked) ids.push(run.id);
          setSelected(ids); updateCompareButton();
        } })),
      el("td", { title: run.problems.join("\n") || null }, statusBadge(run.status), run.pinned ? " 📌" : ""),
      el("td", {}, el("a", { class: "run-link", href: `#/run/${encodeURIComponent(run.id)}` }, run.alias || run.id),
        run.alias ? el("div", { class: "muted small" }, run.id) : null),
      el("td", {}, el("a", { href: "#", onclick: (event) => { event.preventDefault(); state.path = run.path; state.offset = 0; load(true); } }, run.path)),
      el("td", {}, run.tags.map((t) => el("a", { class: "chip", href: "#", onclick: (event) => {
        event.preventDefault(); state.tag = t; tag.value = t; state.offset = 0; load(); } }, t))),
      el("td", {}, primaryText(run.primary_metric)),
      el("td", {}, fmtTime(run.created_at)),
      el("td", {}, fmtDuration(run.duration)),
      state.columns.map((column) => cell(run.columns[column]))));
    replace(tableHolder, el("table", { id: "runs-table", class: "grid" }, el("thead", {}, headRow), el("tbody", {}, rows)));
    const last = Math.min(data.offset + data.rows.length, data.total);
    summary.textContent = data.total ? `${data.offset + 1}–${last} of ${data.total.toLocaleString("en-US")} runs` : "No runs match.";
    if (data.problems && data.problems.length) append(summary, el("span", { class: "warning" }, ` · ${data.problems.join("; ")}`));
    replace(pager,
      el("button", { class: "secondary", disabled: data.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, "‹ Previous"),
      el("button", { class: "secondary", disabled: last >= data.total, onclick: () => { state.offset += state.limit; load(); } }, "Next ›"),
      el("select", { onchange: (event) => { state.limit = Number(event.target.value); state.offset = 0; load(); } },
        [25, 50, 100, 200, 500].map((n) => el("option", { value: n, selected: n === state.limit }, `${n} a page`))));
    updateCompareButton();
  }

  async function togglePicker() {
    if (!picker.hidden) { picker.hidden = true; return; }
    picker.hidden = false;
    replace(picker, el("p", { class: "muted" }, "Reading config and summary keys…"));
    try {
      const found = await fetchJSON("/api/columns" + query({ path: state.path }));
      const box = (column) => el("label", {}, el("input", { type: "checkbox", checked: state.columns.includes(column),
        onchange: (event) => {
          state.columns = event.target.checked ? [...state.columns, column] : state.columns.filter((c) => c !== column);
          load();
        } }), ` ${column}`);
      replace(picker,
        el("div", {}, el("h3", {}, "Config"), found.config.length ? found.config.map((k) => box(`config.${k}`)) : el("p", { class: "muted" }, "none")),
        el("div", {}, el("h3", {}, "Summary"), found.summary.length ? found.summary.map((k) => box(`summary.${k}`)) : el("p", { class: "muted" }, "none")));
    } catch (error) {
      replace(picker, errorBox(error));
    }
  }

  load(true);
  return { stop() { stopped = true; clearTimeout(timer); } };
}

export function primaryText(metric) {
  if (!metric) return "–";
  const arrow = metric.mode === "min" ? "↓" : "↑";
  if (metric.best === null || metric.best === undefined) return `${metric.name} ${arrow} –`;
  return `${metric.name} ${arrow} ${fmtValue(metric.best)} @${metric.step}`;
}
