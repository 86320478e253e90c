"""The segment explorer as a person sees it: Voila in headless Debian chromium.

Voila serves ``notebooks/dashboards/segment_explorer.ipynb`` on the small demo store. The
test reads the tiles, switches the method to the RFM grid and back to k-means with four
segments, picks a segment and downloads its customer ids through the page's link, and
checks what it sees against SQL on the store and against crmkit.segment called here. It
saves ``test-artifacts/segment_explorer.png`` (and the timings) to look at.
"""

from __future__ import annotations

import time

import pytest
from _browser import ARTIFACTS, BROWSER_MARKS, timings_recorder, voila_server

FIRST_RENDER_TIMEOUT_MS = 150_000  # kernel start, imports, features at two dates, first fit
CHANGE_TIMEOUT_MS = 60_000

pytestmark = BROWSER_MARKS
voila = voila_server("segment_explorer")
timings = timings_recorder("segment_explorer")

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def expected(demo_store):
    """What the page should show, from SQL on the store and crmkit.segment called here."""
    import duckdb

    import crmkit.io
    import crmkit.segment as segment

    con = duckdb.connect(str(demo_store), read_only=True)
    try:
        buyers = con.execute("SELECT count(DISTINCT customer_id) FROM transactions").fetchone()[0]
        customers = con.execute("SELECT customer_id FROM customers").fetchnumpy()["customer_id"]
    finally:
        con.close()
    with crmkit.io.connect(demo_store) as engine:
        features = segment.segmentation_features(engine)
    auto = segment.segment_customers(features, method="kmeans", k="auto", n_bootstrap=0)
    rfm = segment.segment_customers(features, method="rfm")
    four = segment.segment_customers(features, method="kmeans", k=4, n_bootstrap=0)
    return {"buyers": buyers, "customers": set(map(str, customers)), "auto": auto, "rfm": rfm, "four": four}


def tile(page, key: str):
    return page.locator(f'[data-kpi="{key}"] .crmkit-kpi-number')


def control(page, index: int):
    return page.locator(".crmkit-seg-controls select").nth(index)


def sizes_labels(page) -> list[str]:
    texts = page.locator(".crmkit-chart-sizes .js-plotly-plot .yaxislayer-above .ytick text").all_text_contents()
    return [t for t in texts if t]


def open_dashboard(page, url: str, timings: dict) -> None:
    """Open the page and wait for the tiles; reload once if a fresh kernel never answers (see test_browser.py)."""
    page.goto(url, wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
    try:
        expect(tile(page, "segments")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS // 2)
        timings["reloads"] = 0
    except AssertionError:
        timings["reloads"] = 1
        page.reload(wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
        expect(tile(page, "segments")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)


def assert_clean(page) -> None:
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Error", "Exception", "There was an error"):
        assert bad not in text, f"the page shows {bad!r}:\n{text[:2000]}"
    assert not page.locator(".crmkit-message.crmkit-error").count()


def test_segment_explorer_follows_the_choices_and_downloads_ids(page, voila, expected, timings, tmp_path):
    timings["server_start_s"] = round(voila.start_seconds, 2)
    t0 = time.perf_counter()
    open_dashboard(page, voila.url, timings)
    expect(page.locator(".crmkit-chart-sizes .js-plotly-plot .main-svg").first).to_be_visible(timeout=CHANGE_TIMEOUT_MS)
    timings["first_render_s"] = round(time.perf_counter() - t0, 2)

    # opens on k-means with k chosen automatically, every buyer segmented
    expect(page.locator("h1")).to_have_text("Segment explorer")
    expect(tile(page, "customers")).to_have_text(f"{expected['buyers']:,}", timeout=CHANGE_TIMEOUT_MS)
    auto = expected["auto"]
    expect(tile(page, "segments")).to_have_text(str(len(auto.segment_names)))
    assert sizes_labels(page)  # the size chart has its segment labels
    expect(page.locator(".crmkit-chart-profile .js-plotly-plot .main-svg").first).to_be_visible()
    expect(page.locator(".crmkit-chart-migration .js-plotly-plot .main-svg").first).to_be_visible()
    expect(page.locator(".crmkit-migration-text")).to_contain_text("the customer base")

    # the RFM grid: its named segments, no stability figure (fixed rules), k disabled
    t1 = time.perf_counter()
    control(page, 0).select_option(label="RFM grid")
    rfm_names = expected["rfm"].segment_names
    expect(tile(page, "segments")).to_have_text(str(len(rfm_names)), timeout=CHANGE_TIMEOUT_MS)
    expect(tile(page, "stability")).to_have_text("fixed rules", timeout=CHANGE_TIMEOUT_MS)
    expect(control(page, 1)).to_be_disabled()
    timings["method_change_s"] = round(time.perf_counter() - t1, 2)
    expect(page.locator(".crmkit-chart-sizes .js-plotly-plot .ytick text", has_text="Champions").first).to_be_visible(
        timeout=CHANGE_TIMEOUT_MS
    )

    # back to k-means, four segments: four segments in the chart (two bars each)
    control(page, 0).select_option(label="k-means")
    t2 = time.perf_counter()
    control(page, 1).select_option(label="4")
    expect(tile(page, "segments")).to_have_text("4", timeout=CHANGE_TIMEOUT_MS)
    expect(page.locator(".crmkit-chart-sizes .js-plotly-plot .bars .point")).to_have_count(8, timeout=CHANGE_TIMEOUT_MS)
    timings["k_change_s"] = round(time.perf_counter() - t2, 2)
    four = expected["four"].summary().query("segment_id != 0")
    top = four["value_share"].max()
    expect(tile(page, "top_value")).to_have_text(f"{top:.0%}")

    # pick the last segment: the detail follows, and the link downloads exactly its ids
    picker = page.locator(".crmkit-seg-picker select")
    last = four.iloc[-1]
    picker.select_option(label=f"{last['segment']} ({int(last['segment_id'])})")
    expect(page.locator(".crmkit-segment-detail")).to_contain_text(str(last["segment"]), timeout=CHANGE_TIMEOUT_MS)
    expect(page.locator(".crmkit-chart-detail .gtitle").first).to_have_text(
        f"{last['segment']} against the average customer", timeout=CHANGE_TIMEOUT_MS
    )
    link = page.locator("a.crmkit-download")
    expect(link).to_have_attribute("data-count", str(int(last["customers"])), timeout=CHANGE_TIMEOUT_MS)
    with page.expect_download(timeout=CHANGE_TIMEOUT_MS) as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith(f"segment-{int(last['segment_id'])}-")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    lines = target.read_text(encoding="utf-8").strip().split("\n")
    assert lines[0] == "customer_id"  # ids only: one column, no personal fields
    ids = lines[1:]
    assert len(ids) == int(last["customers"]) and set(ids) <= expected["customers"]
    assert ids == list(expected["four"].customer_ids(int(last["segment_id"])))

    assert_clean(page)
    page.locator("h1").click()
    ARTIFACTS.mkdir(exist_ok=True)
    # Voila scrolls inside its own container: make the window as tall as the dashboard to picture all of it
    height = page.evaluate("document.querySelector('.crmkit-segment-explorer').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": int(height) + 120})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "segment_explorer.png"), full_page=True)
