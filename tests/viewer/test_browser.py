"""End to end in headless Chromium (Debian's package, driven by Playwright): the pages a user clicks through.

The server runs in a thread on a free loopback port over the sample root. Every
wait is for a condition on the page, never a sleep; screenshots of each step are
saved under the pytest tmp path (their folder is printed with -s). A page error,
a Content-Security-Policy violation or a JavaScript dialog (the XSS alias firing)
fails the test that caused it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

import runicorn as rn
from viewer_support import LOSS, XSS

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y "
                                "chromium); `playwright install` cannot download a browser here")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample):
    from runicorn.api import Api
    from runicorn.viewer.server import make_server

    port = free_port()
    uvicorn_server, _ = make_server(Api(sample.root), host="127.0.0.1", port=port)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the viewer did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer-screenshots")
    print(f"\nscreenshots in {folder}")
    return folder


@pytest.fixture
def page(browser, shots, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if "Content Security Policy" in msg.text else None)
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    page.screenshot(path=str(shots / f"{request.node.name}-end.png"), full_page=True)
    context.close()
    assert problems == []


def chart(page, key):
    return page.locator(f'.chart[data-key="{key}"]')


def hover_at_step(page, key, step):
    """Move the real mouse over a chart where x = step (plotly's own axis maps it to a pixel)."""
    plot = chart(page, key).locator(".js-plotly-plot")
    offset = plot.evaluate("(gd, step) => [gd._fullLayout.xaxis._offset + gd._fullLayout.xaxis.l2p(step),"
                           " gd._fullLayout.yaxis._offset + gd._fullLayout.yaxis._length / 2]", step)
    box = plot.bounding_box()
    page.mouse.move(box["x"] + offset[0], box["y"] + offset[1])


def test_runs_table_filter_and_the_markup_alias(page, server, sample, shots):
    page.goto(f"{server}/#/runs")
    rows = page.locator("#runs-table tbody tr")
    sync_api.expect(rows).to_have_count(5)
    sync_api.expect(page.locator("#runs-summary")).to_contain_text("1–5 of 5 runs")
    for status in ("crashed", "damaged", "failed", "finished"):
        sync_api.expect(page.locator(f"#runs-table .status-{status}").first).to_be_visible()
    xss_link = page.locator(f'tr[data-run="{sample.ids["xss"]}"] a.run-link')
    sync_api.expect(xss_link).to_have_text(XSS)  # shown as text
    assert page.locator("img[src=x]").count() == 0 and page.locator("#runs-table b").count() == 0
    page.screenshot(path=str(shots / "runs.png"), full_page=True)
    page.fill("#filter-text", "seed")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("seed-1")
    assert "q=seed" in page.url  # the filter is in the address
    page.fill("#filter-text", "")
    page.select_option("#filter-status", "crashed")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("killed")
    page.select_option("#filter-status", "")
    page.locator(".path-tree a", has_text="nlp").first.click()
    sync_api.expect(rows).to_have_count(3)
    page.screenshot(path=str(shots / "runs-filtered.png"), full_page=True)


def test_run_page_hover_smoothing_and_tabs(page, server, sample, shots):
    page.goto(f"{server}/#/runs")
    page.locator("a.run-link", has_text="seed-1").click()
    sync_api.expect(chart(page, "loss")).to_have_attribute("data-drawn", "1")
    sync_api.expect(chart(page, "loss").locator(".chart-note")).to_contain_text("6 points")
    hover_at_step(page, "loss", 2)
    sync_api.expect(chart(page, "loss").locator(".hoverlayer")).to_contain_text(str(LOSS[2]))  # the logged 0.4375
    page.screenshot(path=str(shots / "run-hover.png"))
    page.locator(".smoothing").evaluate("(input) => { input.value = 0.5;"
                                        " input.dispatchEvent(new Event('input')); input.dispatchEvent(new Event('change')); }")
    plot = chart(page, "loss").locator(".js-plotly-plot")
    page.wait_for_function("(gd) => gd.data.some((t) => t.name === 'loss (smoothed)')", arg=plot.element_handle())
    state = 0.0
    for i, y in enumerate(LOSS[:3]):
        state = 0.5 * state + 0.5 * y
    smoothed = plot.evaluate("(gd) => gd.data.find((t) => t.name === 'loss (smoothed)').y[2]")
    assert smoothed == pytest.approx(state / (1 - 0.5 ** 3))  # computed by the server on the full series
    hover_at_step(page, "loss", 2)
    sync_api.expect(chart(page, "loss").locator(".hoverlayer")).to_contain_text("(smoothed)")
    page.screenshot(path=str(shots / "run-smoothed.png"))
    page.fill(".key-filter", "^val")
    sync_api.expect(page.locator(".chart")).to_have_count(1)
    page.locator(".tabs a", has_text="Log").click()
    sync_api.expect(page.locator("#log-text")).to_contain_text("epoch 2 loss=0.4375")
    page.locator(".tabs a", has_text="Images").click()
    sync_api.expect(page.locator(".image-strip img")).to_have_js_property("complete", True)
    assert page.locator(".image-strip img").evaluate("(img) => img.naturalWidth") == 8
    page.locator(".tabs a", has_text="Config").click()
    sync_api.expect(page.locator("#summary-table")).to_contain_text("<script>alert(2)</script>")
    page.locator(".tabs a", has_text="Assets").click()
    page.locator(".tree a", has_text="pkg/").first.click()
    page.locator("a.file-link", has_text="model.py").click()
    sync_api.expect(page.locator("#file-view pre")).to_contain_text("return x * 2")
    page.screenshot(path=str(shots / "run-assets.png"), full_page=True)


def test_compare_overlays_runs_with_stable_colours(page, server, sample, shots):
    page.goto(f"{server}/#/runs")
    for name in ("alpha", "xss"):
        page.locator(f'tr[data-run="{sample.ids[name]}"] input[type=checkbox]').check()
    page.locator("#compare-selected").click()
    sync_api.expect(page.locator("#compare-charts")).to_have_attribute("data-complete", "1")
    sync_api.expect(page.locator("#compare-charts .chart")).to_have_count(2)
    colours = page.evaluate("""() => [...document.querySelectorAll('#compare-charts .js-plotly-plot')].map(
        (gd) => Object.fromEntries(gd.data.filter((t) => t.name).map((t) => [t.name, t.line.color])))""")
    assert colours[0] == colours[1] and len(set(colours[0].values())) == 2  # one colour per run, on every chart
    assert set(colours[0]) == {"seed-1", XSS}
    hover_at_step(page, "loss", 3)
    sync_api.expect(chart(page, "val_acc").locator(".hoverlayer")).to_contain_text("0.8")  # the synced cursor
    sync_api.expect(page.locator("#compare-config tbody tr")).to_have_count(1)  # only differences: lr
    page.locator("#only-differences").uncheck()
    sync_api.expect(page.locator("#compare-config tbody tr")).to_have_count(4)
    page.locator("#show-code-diff").click()
    sync_api.expect(page.locator(".compare-code pre.diff")).to_contain_text("return x * 3")
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_compare_groups_runs_into_one_mean_line_with_a_band(page, server, sample, shots):
    ids = ",".join(sample.ids[name] for name in ("alpha", "xss"))
    page.goto(f"{server}/#/compare?runs={ids}")
    sync_api.expect(page.locator("#compare-charts")).to_have_attribute("data-complete", "1")
    page.locator("#group-by").select_option("config.opt.name")  # both runs use adam: one group of two
    sync_api.expect(page.locator("#compare-status")).to_contain_text("1 group of 2 runs")
    sync_api.expect(page.locator("#compare-charts")).to_have_attribute("data-complete", "1")
    traces = chart(page, "loss").locator(".js-plotly-plot").evaluate(
        "(gd) => gd.data.map((t) => ({name: t.name || null, fill: t.fill || null}))")
    assert [t["name"] for t in traces if t["name"]] == ["opt.name=adam (2 runs)"]
    assert any(t["fill"] == "tonexty" for t in traces)  # the runs' min-max band
    hover_at_step(page, "loss", 3)
    # loss at step 3: 0.3 (seed-1) and 0.7 (the other run): the group's mean is 0.5
    sync_api.expect(chart(page, "loss").locator(".hoverlayer")).to_contain_text("0.5")
    page.screenshot(path=str(shots / "compare-groups.png"), full_page=True)
    page.locator("#group-by").select_option("")
    sync_api.expect(page.locator("#compare-charts")).to_have_attribute("data-complete", "1")
    names = chart(page, "loss").locator(".js-plotly-plot").evaluate("(gd) => gd.data.map((t) => t.name).filter(Boolean)")
    assert set(names) == {"seed-1", XSS}


def test_a_live_run_updates_without_reloading(page, server, sample, shots):
    run = rn.init(path="live/browser", storage=str(sample.root), alias="live-one")
    try:
        for step in range(3):
            run.log({"acc": step / 10}, step=step)
        run.log_text("started")
        page.goto(f"{server}/#/run/{run.id}")
        note = chart(page, "acc").locator(".chart-note")
        sync_api.expect(note).to_contain_text("3 points")
        sync_api.expect(page.locator(".run-head .status-running")).to_be_visible()
        for step in range(3, 8):
            run.log({"acc": step / 10}, step=step)  # flushed by the SDK within a second
        sync_api.expect(note).to_contain_text("8 points")
        sync_api.expect(note).to_contain_text("last 0.7")
        page.screenshot(path=str(shots / "live.png"))
    finally:
        run.finish()
