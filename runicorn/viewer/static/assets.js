// The assets tab: browse the stored code tree and every outputs version, view files and diffs, download.
// Everything is read from the store by object id: the server never opens a path named by the page.

import { api, append, el, errorBox, fetchJSON, fmtBytes, fmtTime, fmtValue, query, replace } from "./dom.js";

export function assetsTab(body, ctx) {
  const holder = el("div", {}, el("p", { class: "muted" }, "Reading the manifest…"));
  const viewer = el("section", { class: "file-view", id: "file-view" });
  append(body, holder, viewer);
  fetchJSON(`${api.run(ctx.runId)}/assets`).then((data) => render(holder, viewer, data))
    .catch((error) => replace(holder, errorBox(error)));
  return { stop() {} };
}

function render(holder, viewer, data) {
  const assets = data.assets;
  const parts = [];
  const code = (assets.code || [])[0];
  if (code) {
    const browser = el("div");
    parts.push(el("section", { class: "asset" }, el("h2", {}, "Code snapshot"),
      el("p", { class: "muted" }, `${fmtValue(code.files)} files, ${fmtBytes(code.bytes)}` +
        (code.workspace ? ` from ${code.workspace}` : "") + (code.skipped && code.skipped.length ? ` · ${code.skipped.length} skipped` : "")),
      browser));
    treeBrowser(browser, viewer, code.id, "code");
  } else {
    parts.push(el("section", { class: "asset" }, el("h2", {}, "Code snapshot"),
      el("p", { class: "muted" }, "No code snapshot (rn.init(..., snapshot_code=True) records one).")));
  }
  for (const diff of assets.code_diff || []) {
    parts.push(el("p", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); showFile(viewer, diff.id, "git diff HEAD"); } },
      "Show the uncommitted changes (git diff HEAD) recorded with the snapshot")));
  }
  if (data.outputs_versions.length) parts.push(outputsSection(viewer, data.outputs_versions));
  for (const role of ["dataset", "pretrained"]) {
    const entries = assets[role] || [];
    if (!entries.length) continue;
    parts.push(el("section", { class: "asset" }, el("h2", {}, role === "dataset" ? "Datasets" : "Pretrained weights"),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ["name", "source", "files", "bytes", "stored", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, entries.map((entry) => referenceRow(viewer, entry))))));
  }
  if (data.dropped.length) {
    parts.push(el("section", { class: "asset" }, el("h2", {}, "Dropped by retention"),
      el("ul", {}, data.dropped.map((d) => el("li", {}, `${d.role} ${d.name}: ${d.reason} (${fmtTime(d.at)})`)))));
  }
  if (data.images) parts.push(el("p", { class: "muted" }, `${data.images} images (see the Images tab).`));
  replace(holder, parts);
}

function referenceRow(viewer, entry) {
  const fingerprint = entry.fingerprint || {};
  const source = entry.uri || entry.path || entry.resolved_path || "";
  let action = null;
  if (entry.id && entry.type === "tree") {
    const box = el("div");
    action = el("a", { href: "#", onclick: (e) => { e.preventDefault(); replace(box); treeBrowser(box, viewer, entry.id, entry.name); } }, "browse");
    return [el("tr", {}, el("td", {}, entry.name), el("td", {}, source), el("td", {}, fmtValue(fingerprint.files)),
      el("td", {}, fmtBytes(fingerprint.bytes)), el("td", {}, "yes"), el("td", {}, action)), el("tr", {}, el("td", { colspan: 6 }, box))];
  }
  if (entry.id) action = el("a", { href: api.object(entry.id, { download: entry.name }) }, "download");
  return el("tr", {}, el("td", {}, entry.name), el("td", {}, source), el("td", {}, fmtValue(fingerprint.files)),
    el("td", {}, fmtBytes(fingerprint.bytes)), el("td", {}, entry.id ? "yes" : "reference only"), el("td", {}, action));
}

function outputsSection(viewer, versions) {
  const browser = el("div", { class: "outputs-browser" });
  const open = (index) => {
    replace(browser);
    const version = versions[index];
    const previous = versions.slice(0, index).reverse().find((v) => v.available);
    append(browser, el("h3", {}, `Version ${version.number}` + (version.step !== null ? ` (step ${version.step})` : "")));
    treeBrowser(browser, viewer, version.id, `outputs v${version.number}`, previous ? previous.id : null,
      previous ? `v${previous.number}` : null);
  };
  const rows = versions.map((v, index) => el("tr", {},
    el("td", {}, String(v.number)), el("td", {}, fmtValue(v.step)), el("td", {}, fmtTime(v.at)),
    el("td", {}, fmtValue(v.files)), el("td", {}, v.no_root_because || "kept"),
    el("td", {}, v.available ? el("a", { href: "#", onclick: (e) => { e.preventDefault(); open(index); } }, "browse") : "collected by gc")));
  const latest = versions.map((v) => v.available).lastIndexOf(true);
  const section = el("section", { class: "asset" }, el("h2", {}, `Outputs (${versions.length} versions)`),
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ["version", "step", "archived", "files", "state", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)), browser);
  if (latest >= 0) open(latest);
  return section;
}

// A folder browser over a stored tree; `previousRoot` (an earlier outputs version) enables "diff".
export function treeBrowser(box, viewer, rootId, title, previousRoot = null, previousLabel = null) {
  let path = [];
  const crumbs = el("div", { class: "crumbs" });
  const table = el("table", { class: "grid tree" });
  append(box, crumbs, table);

  async function load() {
    replace(crumbs, el("a", { href: "#", onclick: (e) => { e.preventDefault(); path = []; load(); } }, title),
      path.map((part, i) => [" / ", el("a", { href: "#", onclick: (e) => { e.preventDefault(); path = path.slice(0, i + 1); load(); } }, part)]));
    try {
      const data = await fetchJSON(`/api/trees/${encodeURIComponent(rootId)}` + query({ path: path.join("/") }));
      const entries = [...data.entries].sort((a, b) => (a.kind === "dir") === (b.kind === "dir") ? 0 : a.kind === "dir" ? -1 : 1);
      replace(table, el("thead", {}, el("tr", {}, ["name", "size", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, entries.map((entry) => entryRow(entry))));
    } catch (error) {
      replace(table, el("tbody", {}, el("tr", {}, el("td", {}, errorBox(error)))));
    }
  }

  function entryRow(entry) {
    const full = [...path, entry.name].join("/");
    if (entry.kind === "dir") {
      return el("tr", { class: "dir" }, el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); path = [...path, entry.name]; load(); } },
        `${entry.name}/`)), el("td", {}, fmtBytes(entry.size)), el("td", {}));
    }
    if (entry.kind === "symlink") return el("tr", {}, el("td", {}, `${entry.name} → ${entry.target}`), el("td", {}, ""), el("td", {}, "symlink"));
    const actions = [el("a", { href: api.object(entry.id, { download: entry.name }) }, "download")];
    if (previousRoot) {
      actions.push(" · ", el("a", { href: "#", onclick: (e) => { e.preventDefault(); diffWithPrevious(entry, full); } }, `diff with ${previousLabel}`));
    }
    return el("tr", {}, el("td", {}, el("a", { href: "#", class: "file-link", onclick: (e) => { e.preventDefault(); showFile(viewer, entry.id, full); } },
      entry.name), entry.exec ? el("span", { class: "muted small" }, " (executable)") : null), el("td", {}, fmtBytes(entry.size)), el("td", {}, actions));
  }

  async function diffWithPrevious(entry, full) {
    let oldId = null;
    try {
      const folder = await fetchJSON(`/api/trees/${encodeURIComponent(previousRoot)}` + query({ path: path.join("/") }));
      const match = folder.entries.find((e) => e.name === entry.name && e.kind === "file");
      oldId = match ? match.id : null;
    } catch { oldId = null; } // the folder did not exist in the earlier version: the file was added
    showDiff(viewer, oldId, entry.id, full);
  }

  load();
}

export async function showFile(viewer, id, name) {
  replace(viewer, el("h3", {}, name), el("p", { class: "muted" }, "Reading…"));
  try {
    const data = await fetchJSON(`/api/objects/${encodeURIComponent(id)}/text`);
    replace(viewer, el("h3", {}, name, " ", el("a", { class: "small", href: api.object(id, { download: name }) }, "download"),
      el("span", { class: "muted small" }, ` ${fmtBytes(data.size)} · ${id.slice(0, 12)}`)),
    data.text !== null ? el("pre", { class: "code" }, data.text) : el("p", { class: "muted" }, data.not_shown));
    viewer.scrollIntoView({ block: "nearest" });
  } catch (error) {
    replace(viewer, errorBox(error));
  }
}

export function diffBlock(patch) {
  return el("pre", { class: "code diff" }, patch.split("\n").map((line) => el("span", {
    class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : null }, `${line}\n`)));
}

async function showDiff(viewer, oldId, newId, name) {
  replace(viewer, el("h3", {}, `diff ${name}`), el("p", { class: "muted" }, "Reading…"));
  try {
    const data = await fetchJSON("/api/diff" + query({ a: oldId || "", b: newId, name }));
    replace(viewer, el("h3", {}, `diff ${name}`), data.patch === null ? el("p", { class: "muted" }, data.not_shown)
      : data.patch === "" ? el("p", { class: "muted" }, "identical") : diffBlock(data.patch));
  } catch (error) {
    replace(viewer, errorBox(error));
  }
}
