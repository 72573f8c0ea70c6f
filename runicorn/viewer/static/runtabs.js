// The run page's text tabs: the log with a live tail, images with a step slider, config and summary, environment.

import { api, append, cell, el, errorBox, fetchJSON, fmtBytes, fmtValue, getJSON, query, replace } from "./dom.js";

const POLL_MS = 2000;

// The text log: its tail at first (older text on request), then what the run appends while it is live.
export function logTab(body, ctx) {
  let stopped = false, timer = null, next = null, etag = null, wasLive = false;
  const pre = el("pre", { class: "log", id: "log-text" });
  const follow = el("input", { type: "checkbox", checked: true });
  const earlier = el("button", { class: "secondary", hidden: true, onclick: () => loadAll() }, "Show the whole log");
  const note = el("span", { class: "muted" });
  append(body, el("div", { class: "toolbar" }, el("label", {}, follow, " follow"), earlier, note), pre);

  function add(text) {
    if (!text) return;
    pre.appendChild(document.createTextNode(text));
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const result = await getJSON(`${api.run(ctx.runId)}/log` + query({ offset: next }), etag);
      if (stopped) return;
      if (!result.notModified) {
        const data = result.data;
        etag = result.etag;
        if (next === null || data.reset) { replace(pre); earlier.hidden = !data.earlier; }
        add(data.text);
        next = data.next;
        note.textContent = `${data.size.toLocaleString("en-US")} characters` + (ctx.live() ? " · live" : "");
        if (!data.size) note.textContent = "The run wrote no text log (run.log_text, capture_console=True, logging).";
        if (data.next < data.size) { timer = setTimeout(poll, 0); return; } // more than one chunk waiting
      }
    } catch (error) {
      if (!stopped) replace(pre, errorBox(error));
    }
    if (!stopped && (ctx.live() || wasLive)) timer = setTimeout(poll, POLL_MS);
    wasLive = ctx.live();
  }

  async function loadAll() {
    clearTimeout(timer);
    replace(pre);
    earlier.hidden = true;
    next = 0; etag = null;
    poll();
  }

  poll();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

// Images by key, each with a slider over the steps it was logged at; bytes come from the store by object id.
export function imagesTab(body, ctx) {
  const holder = el("div", { class: "images" }, el("p", { class: "muted" }, "Reading images…"));
  append(body, holder);
  fetchJSON(`${api.run(ctx.runId)}/images`).then((data) => {
    const keys = Object.keys(data.keys);
    if (!keys.length) { replace(holder, el("p", { class: "muted" }, "This run logged no images (run.log_image).")); return; }
    replace(holder, keys.map((key) => imageStrip(key, data.keys[key])));
  }).catch((error) => replace(holder, errorBox(error)));
  return { stop() {} };
}

function imageStrip(key, images) {
  const img = el("img", { alt: key, class: "logged-image" });
  const label = el("div", { class: "muted small" });
  const slider = el("input", { type: "range", min: 0, max: images.length - 1, value: images.length - 1, step: 1,
    "aria-label": `step of ${key}`, oninput: () => show(Number(slider.value)) });
  function show(index) {
    const image = images[index];
    const type = ["png", "jpeg", "jpg", "gif", "webp", "bmp"].includes(String(image.format).toLowerCase())
      ? String(image.format).toLowerCase() : "png";
    img.src = api.object(image.id, { type });
    label.textContent = `step ${fmtValue(image.step)} (${index + 1} of ${images.length})` +
      (image.width ? ` · ${image.width}×${image.height}` : "") + (image.caption ? ` · ${image.caption}` : "");
  }
  show(images.length - 1);
  return el("figure", { class: "image-strip", dataset: { key } }, el("figcaption", {}, key), img,
    images.length > 1 ? slider : null, label);
}

function flatten(value, prefix = "", out = []) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out.push([prefix, value]);
  return out;
}

export function keyValueTable(object, id) {
  const rows = flatten(object || {});
  if (!rows.length) return el("p", { class: "muted" }, "nothing recorded");
  return el("table", { class: "grid kv", id }, el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), cell(v)))));
}

// Config (arguments and extra values, and the config files stored with them) and the summary.
export function configTab(body, ctx, detail) {
  const config = detail.config || {};
  const values = { ...(config.args || {}), ...(config.extra || {}) };
  const files = (config.config_files || []).map((file) => {
    const id = String(file.id || "").replace(/^blake3:/, "");
    return el("li", {}, file.path || file.name, ` (${fmtBytes(file.size)}) `,
      el("a", { href: api.object(id, { download: file.name || file.path }) }, "download"));
  });
  append(body, el("div", { class: "two-columns" },
    el("section", {}, el("h2", {}, "Config"), keyValueTable(values, "config-table"),
      files.length ? [el("h3", {}, "Config files"), el("ul", {}, files)] : null),
    el("section", {}, el("h2", {}, "Summary"), keyValueTable(detail.summary, "summary-table"),
      detail.git ? [el("h3", {}, "Git"), keyValueTable(detail.git)] : null,
      detail.argv ? [el("h3", {}, "Command"), el("pre", { class: "code" }, detail.argv.join(" "))] : null)));
  return { stop() {} };
}

// The environment the run recorded with capture_env=True: Python, platform, hardware, and packages.
export function environmentTab(body, ctx, detail) {
  const env = detail.environment;
  if (!env) {
    append(body, el("p", { class: "muted" }, "This run recorded no environment (rn.init(..., capture_env=True))."));
    return { stop() {} };
  }
  const { packages, ...rest } = env;
  append(body, el("section", {}, el("h2", {}, "Environment"), keyValueTable(rest, "environment-table")));
  if (packages && typeof packages === "object") {
    const entries = Array.isArray(packages) ? packages.map((p) => [p.name || fmtValue(p), p.version || ""]) : Object.entries(packages);
    const table = el("tbody");
    const filter = el("input", { type: "search", placeholder: "Filter packages", oninput: () => fill() });
    const fill = () => {
      const needle = filter.value.toLowerCase();
      replace(table, entries.filter(([name]) => String(name).toLowerCase().includes(needle))
        .map(([name, version]) => el("tr", {}, el("td", {}, name), el("td", {}, fmtValue(version)))));
    };
    fill();
    append(body, el("section", {}, el("h2", {}, `Packages (${entries.length})`), filter,
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, "package"), el("th", {}, "version"))), table)));
  }
  return { stop() {} };
}
