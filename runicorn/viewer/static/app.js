// The single-page app: routes by the part of the address after "#", one page at a time.
//
//   #/runs?q=&path=&status=&tag=&sort=&order=&offset=&columns=   the runs table
//   #/run/<id>?tab=charts|log|images|config|environment|assets    one run
//   #/compare?runs=<id>,<id>,...                                   several runs
//
// A page is a function (main, params) -> {stop()}; stop() ends its polling when
// the user navigates away. Pages keep their own state in the address with
// history.replaceState, so a reload or a shared link shows the same view.

import { clear, fetchJSON } from "./dom.js";
import { runsPage, selectedRuns } from "./runs.js";
import { runPage } from "./run.js";
import { comparePage } from "./compare.js";

const main = document.getElementById("main");
let current = null;

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/runs";
  const [path, search] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search || "") };
}

function route() {
  if (current && current.stop) current.stop();
  current = null;
  clear(main);
  const { parts, params } = parseHash();
  const page = parts[0] || "runs";
  document.body.dataset.page = page;
  if (page === "run" && parts[1]) current = runPage(main, parts[1], params);
  else if (page === "compare") current = comparePage(main, params);
  else current = runsPage(main, params);
}

document.getElementById("nav-compare").addEventListener("click", (event) => {
  const chosen = selectedRuns();
  if (chosen.length && !location.hash.startsWith("#/compare")) {
    event.preventDefault();
    location.hash = `#/compare?runs=${chosen.map(encodeURIComponent).join(",")}`;
  }
});

window.addEventListener("hashchange", route);

fetchJSON("/api/info").then((info) => {
  const storage = document.getElementById("storage");
  storage.textContent = `${info.storage} · read-only · runicorn ${info.runicorn_version}`;
}).catch(() => {});

route();
