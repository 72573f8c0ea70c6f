"""W7: the web viewer, measured from outside as a user meets it: a server process and headless Chromium.

Data (phase "build"): stores of `small_runs` and `large_runs` runs × 10 steps, one run with a
`long_points`-point metric, and `compare_runs` runs × `compare_metrics` metrics × `compare_steps` steps.
Ours writes them through the SDK. The peer (0.7.2) cannot in reasonable time (its run.log slows down as a
run grows: a million calls would take hours, and rn.init costs ~0.35 s), so its stores hold the same values
in its own files: one run is written through its SDK and then copied under new ids (runs stores), or its
events.jsonl is extended with lines in the SDK's own format (long metrics). Its viewer syncs its SQLite
index from the folders at start; "start until every run is listed" reports that.

Each measuring phase starts the side's own `runicorn viewer` (its CLI, its venv) on a free loopback port:
- runs: the runs page in Chromium until the first rows show; the server's answer for the first page
  (ours: /api/runs?limit=50&tree=1; the peer's page: /api/runs, every run) cold (first request after start)
  and warm, with bytes;
- chart: the run page of the 1,000,000-point run in Chromium until its chart is drawn (server cold), then the
  chart's answer (ours: /api/runs/ID/series; the peer's: /metrics_step?downsample=1000) warm, and cold after
  a restart;
- compare: the compare page of the 20 runs until every chart is drawn (ours: #/compare?runs=...; the peer:
  /?compare=..., until its 20 metric answers arrived and a canvas per metric exists), and the 20 series
  answers one after another.
Chromium is driven by Playwright from the harness's interpreter (`browser_python`): the peer's venv has no
Playwright, and both sides must be timed by the same driver. "n/a" says why where a figure cannot be taken.
"""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from common import many_runs

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PATH = "bench/w7"


# -- data -------------------------------------------------------------------------------------------------


def build(params, report):
    work = Path(params.workdir)
    for count in (params.small_runs, params.large_runs):
        with report.timed(f"build: {count:,} runs × 10 steps"):
            many_runs(params.side, work / f"runs_{count}", count, PATH)
    with report.timed(f"build: one run of {params.long_points:,} points"):
        long_store(params.side, work / "long", 1, 1, params.long_points)
    with report.timed(f"build: {params.compare_runs} runs × {params.compare_metrics} metrics × "
                      f"{params.compare_steps:,} steps"):
        long_store(params.side, work / "compare", params.compare_runs, params.compare_metrics, params.compare_steps)


def long_store(side, root, runs, metrics, steps):
    import runicorn as rn

    keys = [f"m{k}" for k in range(metrics)] if metrics > 1 else ["loss"]
    for r in range(runs):
        run = rn.init(path=f"{PATH}/long", storage=str(root), alias=f"long{r}")
        if side == "ours":
            for step in range(steps):
                run.log({key: value(r, k, step) for k, key in enumerate(keys)}, step=step)
            run.finish()
            continue
        run.log({key: value(r, k, 0) for k, key in enumerate(keys)}, step=0)
        run.finish()
        events = next(p for p in (root / "runs").rglob("events.jsonl") if json.loads(
            (p.parent / "meta.json").read_text()).get("alias") == f"long{r}")
        now = time.time()
        with open(events, "a") as out:  # the same lines its run.log writes
            for step in range(1, steps):
                data = {key: value(r, k, step) for k, key in enumerate(keys)}
                data.update(global_step=step, time=now + step * 1e-3)
                out.write(json.dumps({"ts": now + step * 1e-3, "type": "metrics", "data": data}) + "\n")


def value(run, metric, step):
    return ((step * 7919 + run * 104729 + metric * 1299709) % 10007) / 10007 + 1.0 / (1 + step / 1000)


# -- the server ---------------------------------------------------------------------------------------------


class Viewer:
    """The side's own `runicorn viewer`, started as its CLI does, on a free loopback port."""

    def __init__(self, side, root):
        self.side, self.root = side, root
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        cli = str(Path(sys.executable).parent / "runicorn")
        args = ([cli, "--storage", str(root), "viewer", "--port", str(self.port)] if side == "ours" else
                [cli, "viewer", "--storage", str(root), "--port", str(self.port), "--log-level", "WARNING"])
        started = time.perf_counter()
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=sys.stderr, start_new_session=True)
        while True:
            try:
                get(self.base + ("/api/info" if side == "ours" else "/api/health"))
                break
            except OSError:
                if self.process.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"{side} viewer did not start")
                time.sleep(0.05)
        self.start_seconds = time.perf_counter() - started

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def get(url):
    """(seconds, bytes) of one GET, body read in full."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - started, body


def timed_get(report, name, url):
    seconds, body = get(url)
    report.add(name, seconds, "s")
    report.add(f"{name}, bytes", len(body), "bytes")
    return body


def peer_wait_listed(viewer, count, report, label):
    """The peer lists runs from its SQLite index, filled from the folders by a thread at start."""
    started = time.perf_counter()
    while len(json.loads(get(viewer.base + "/api/runs")[1])) < count:
        if time.perf_counter() - started > 1200:
            report.add(label, "error: not every run listed after 1200 s")
            return
        time.sleep(0.5)
    report.add(label, viewer.start_seconds + time.perf_counter() - started, "s")


@contextmanager
def serving(params, root, runs, report, label):
    """The side's viewer over ``root``, stopped afterwards; the peer's is waited for until it lists ``runs``."""
    viewer = Viewer(params.side, root)
    try:
        if params.side == "peer":
            peer_wait_listed(viewer, runs, report, label)
        yield viewer
    finally:
        viewer.stop()


def run_ids(viewer):
    if viewer.side == "ours":
        return [row["id"] for row in json.loads(get(viewer.base + "/api/runs?limit=500&order=asc")[1])["rows"]]
    return [row["id"] for row in sorted(json.loads(get(viewer.base + "/api/runs")[1]), key=lambda r: r["alias"])]


# -- the browser --------------------------------------------------------------------------------------------


def browser(params, report, name, url, wait):
    """Time a page in headless Chromium until `wait` holds, in a child of the harness's interpreter."""
    chromium = shutil.which("chromium")
    if chromium is None:
        report.add(name, "n/a: chromium is not installed")
        return
    spec = json.dumps({"url": url, "wait": wait, "chromium": chromium})
    done = subprocess.run([params.browser_python, __file__, "--browser", spec], capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr.strip() or "no output").splitlines()
        report.add(name, f"error: {lines[-1][:160]}")
        return
    result = json.loads(done.stdout)
    report.add(name, result["seconds"], "s")
    report.add(f"{name}, bytes received", result["bytes"], "bytes")


def drive_browser(spec):
    """`--browser SPEC`: open the page, wait for the condition, print {"seconds", "bytes"}."""
    from playwright.sync_api import sync_playwright

    wait = spec["wait"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=spec["chromium"], args=BROWSER_ARGS)
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        requests = []
        page.on("requestfinished", lambda request: requests.append(request))
        answers = []
        page.on("response", lambda r: answers.append(r.url) if wait.get("responses_matching", "\0") in r.url else None)
        started = time.perf_counter()
        page.goto(spec["url"])
        if "selector" in wait:
            page.wait_for_selector(wait["selector"], state="attached")
        else:  # the peer: its data answers arrived and its canvases exist (echarts draws on the next frames)
            page.wait_for_function(f"() => document.querySelectorAll('canvas').length >= {wait['canvases']}")
            while len(answers) < wait["responses"]:
                page.wait_for_timeout(20)
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        seconds = time.perf_counter() - started
        received = sum(request.sizes()["responseBodySize"] for request in requests)
        chromium.close()
    print(json.dumps({"seconds": seconds, "bytes": received}))


# -- the measuring phases -----------------------------------------------------------------------------------


def runs_page(params, report):
    for count in (params.small_runs, params.large_runs):
        root = Path(params.workdir) / f"runs_{count}"
        label = f"{count:,} runs"
        viewer = Viewer(params.side, root)
        try:
            if params.side == "peer":
                peer_wait_listed(viewer, count, report, f"{label}: start until every run is listed")
                browser(params, report, f"{label}: runs page in Chromium until the first rows show", viewer.base + "/",
                        {"selector": ".ant-table-row"})
                timed_get(report, f"{label}: runs page data, server (warm; /api/runs, every run)",
                          viewer.base + "/api/runs")
            else:
                report.add(f"{label}: start until every run is listed", viewer.start_seconds, "s")
                browser(params, report, f"{label}: runs page in Chromium until the first rows show",
                        viewer.base + "/#/runs", {"selector": "#runs-table tbody tr"})
                timed_get(report, f"{label}: runs page data, server (warm; first 50 rows + path tree)",
                          viewer.base + "/api/runs?limit=50&tree=1")
        finally:
            viewer.stop()


def chart_url(viewer, run_id):
    if viewer.side == "ours":
        return f"{viewer.base}/api/runs/{run_id}/series?width=1000"
    return f"{viewer.base}/api/runs/{run_id}/metrics_step?downsample=1000"


def one_chart(params, report):
    root = Path(params.workdir) / "long"
    label = f"{params.long_points:,}-point chart"
    with serving(params, root, 1, report, "long run: start until listed") as viewer:
        (run_id,) = run_ids(viewer)
        if params.side == "ours":
            browser(params, report, f"{label}: run page in Chromium until drawn (server cold)",
                    f"{viewer.base}/#/run/{run_id}", {"selector": '.chart[data-drawn]'})
        else:
            browser(params, report, f"{label}: run page in Chromium until drawn (server cold)",
                    f"{viewer.base}/runs/{run_id}", {"canvases": 1, "responses": 1,
                                                     "responses_matching": "/metrics_step"})
        timed_get(report, f"{label}: server answer (warm)", chart_url(viewer, run_id))
    with serving(params, root, 1, report, "long run: start until listed (again)") as viewer:
        timed_get(report, f"{label}: server answer (cold: first request after start)", chart_url(viewer, run_id))


def compare(params, report):
    root = Path(params.workdir) / "compare"
    label = f"compare {params.compare_runs} runs × {params.compare_metrics} metrics × {params.compare_steps:,} steps"
    with serving(params, root, params.compare_runs, report, "compare runs: start until listed") as viewer:
        ids = run_ids(viewer)
        if params.side == "ours":
            browser(params, report, f"{label}: in Chromium until every chart is drawn",
                    f"{viewer.base}/#/compare?runs={','.join(ids)}", {"selector": '#compare-charts[data-complete="1"]'})
        else:
            browser(params, report, f"{label}: in Chromium until every chart is drawn",
                    f"{viewer.base}/?compare={','.join(ids)}",
                    {"canvases": params.compare_metrics, "responses": len(ids), "responses_matching": "/metrics_step"})
    with serving(params, root, params.compare_runs, report, "compare runs: start until listed (again)") as viewer:
        started, received = time.perf_counter(), 0
        for run_id in ids:  # what the page asks for, one run after another, server cold
            received += len(get(chart_url(viewer, run_id) if params.side == "ours" else
                                f"{viewer.base}/api/runs/{run_id}/metrics_step")[1])
        report.add(f"{label}: the {len(ids)} series answers, server cold", time.perf_counter() - started, "s")
        report.add(f"{label}: the {len(ids)} series answers, bytes", received, "bytes")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--browser":
        drive_browser(json.loads(sys.argv[2]))
        sys.exit(0)
    from common import run_phases

    run_phases({"build": build, "runs": runs_page, "chart": one_chart, "compare": compare})
