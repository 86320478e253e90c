"""The overview dashboard as a person sees it: Voila in headless Debian chromium.

Voila serves ``notebooks/dashboards/overview.ipynb`` on the small demo store; the test
reads the KPI tiles, changes the region and the dates with the page's controls, and
checks the tiles against numbers computed here by SQL on the store. It saves
``test-artifacts/overview.png`` (and the timings it measured) to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from _browser import ARTIFACTS, BROWSER_MARKS, timings_recorder, voila_server
from _oracle import sql_kpis

FIRST_RENDER_TIMEOUT_MS = 120_000  # kernel start + imports + load: ~10–20 s on 2 cores, more when busy
CHANGE_TIMEOUT_MS = 30_000

pytestmark = BROWSER_MARKS
voila = voila_server("overview")
timings = timings_recorder("overview")

expect = pytest.importorskip("playwright.sync_api").expect


# --------------------------------------------------------------------------- expected numbers
def regions_of(store: Path) -> list[str]:
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute(
            "SELECT region, count(*) FROM customers WHERE region IS NOT NULL GROUP BY region ORDER BY 2 DESC, 1"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def shown(page, key: str):
    return page.locator(f'[data-kpi="{key}"] .crmkit-kpi-number')


def number(text: str) -> float:
    """'£747,012' -> 747012.0"""
    return float(re.sub(r"[^0-9.\-]", "", text))


def expect_tiles(page, kpis: dict) -> None:
    """Every tile shows the expected number, as a person reads it (rounded as shown)."""
    expect(shown(page, "active_customers")).to_have_text(f"{kpis['active_customers']:,}", timeout=CHANGE_TIMEOUT_MS)
    expect(shown(page, "orders")).to_have_text(f"{kpis['orders']:,}", timeout=CHANGE_TIMEOUT_MS)
    expect(shown(page, "revenue")).to_have_text(f"£{kpis['revenue']:,.0f}", timeout=CHANGE_TIMEOUT_MS)
    expect(shown(page, "avg_order_value")).to_have_text(f"£{kpis['avg_order_value']:,.2f}", timeout=CHANGE_TIMEOUT_MS)
    # and the numbers, read back, are the right ones (not only the right format)
    assert number(shown(page, "revenue").inner_text()) == pytest.approx(kpis["revenue"], abs=0.5)
    assert number(shown(page, "avg_order_value").inner_text()) == pytest.approx(kpis["avg_order_value"], abs=0.005)


def chart_title(page) -> str:
    return page.locator(".crmkit-chart .js-plotly-plot .gtitle").first.text_content()


def assert_clean(page) -> None:
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Error", "Exception", "There was an error"):
        assert bad not in text, f"the page shows {bad!r}:\n{text[:2000]}"
    assert not page.locator(".crmkit-message.crmkit-error").count()
    spinner = page.locator("#loading, .voila-spinner-color1")
    assert not spinner.count() or not spinner.first.is_visible()


def open_dashboard(page, url: str, timings: dict) -> None:
    """Open the page and wait for the tiles, reloading once if the first kernel never answers.

    With voila 0.5.13 + ipykernel 7 a fresh kernel now and then stays idle at
    "Executing 1 of 3" (Voila and kernel both waiting; seen on a busy 2-core machine).
    A reload gets a new kernel, as a person would; the reload is counted in the timings.
    """
    page.goto(url, wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
    try:
        expect(shown(page, "revenue")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS // 2)
        timings["reloads"] = 0
    except AssertionError:
        timings["reloads"] = 1
        page.reload(wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
        expect(shown(page, "revenue")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)


# --------------------------------------------------------------------------- the test
def test_overview_follows_region_and_dates(page, voila, demo_store, timings):
    timings["server_start_s"] = round(voila.start_seconds, 2)
    t0 = time.perf_counter()
    open_dashboard(page, voila.url, timings)
    expect(page.locator(".crmkit-chart .js-plotly-plot .main-svg").first).to_be_visible(timeout=CHANGE_TIMEOUT_MS)
    timings["first_render_s"] = round(time.perf_counter() - t0, 2)

    # opens on all regions and the whole period
    expect(page.locator("h1")).to_have_text("Customer overview")
    whole = sql_kpis(demo_store)
    expect_tiles(page, whole)
    assert chart_title(page) == "Revenue by month — All regions"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview-all-regions.png"), full_page=True)

    # a region: the numbers change, to that region's numbers
    region = regions_of(demo_store)[0]
    t1 = time.perf_counter()
    page.locator(".crmkit-filters select").select_option(label=region)
    in_region = sql_kpis(demo_store, region)
    assert in_region["revenue"] < whole["revenue"]
    expect_tiles(page, in_region)
    timings["region_change_s"] = round(time.perf_counter() - t1, 2)
    expect(page.locator(".crmkit-chart .js-plotly-plot .gtitle").first).to_have_text(
        f"Revenue by month — {region}", timeout=CHANGE_TIMEOUT_MS
    )

    # a date range, typed into the two date pickers
    dates = page.locator(".crmkit-filters input[type=date]")
    t2 = time.perf_counter()
    dates.nth(0).fill("2024-01-01")
    expect_tiles(page, sql_kpis(demo_store, region, "2024-01-01", None))
    dates.nth(1).fill("2024-06-30")
    first_half = sql_kpis(demo_store, region, "2024-01-01", "2024-06-30")
    expect_tiles(page, first_half)
    timings["date_change_s"] = round(time.perf_counter() - t2, 2)
    assert first_half["revenue"] < in_region["revenue"]
    # six monthly bars for six months
    expect(page.locator(".crmkit-chart .js-plotly-plot .bars .point")).to_have_count(6, timeout=CHANGE_TIMEOUT_MS)

    assert_clean(page)
    page.locator("h1").click()  # leave no date field focused in the picture
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    # back to every region: the numbers follow again
    page.locator(".crmkit-filters select").select_option(label="All regions")
    expect_tiles(page, sql_kpis(demo_store, None, "2024-01-01", "2024-06-30"))


def test_missing_store_is_explained_in_the_page(page, tmp_path, timings):
    from crmkit import dashboards

    missing = tmp_path / "no-store-here.duckdb"
    missing.touch()  # exists while Voila starts (the CLI checks it) …
    with dashboards.start("overview", source=missing, timeout=120) as server:
        missing.unlink()  # … and is gone when the page opens
        page.goto(server.url, wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
        box = page.locator(".crmkit-message.crmkit-error")
        try:
            expect(box).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS // 2)
        except AssertionError:  # see open_dashboard
            page.reload(wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
            expect(box).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
        expect(box).to_contain_text(f"No data store found at {missing.resolve()}; run crmkit demo first")
        text = page.locator("body").inner_text()
        assert "Traceback" not in text
        expect(page.locator(".crmkit-filters select")).to_be_disabled()
        expect(page.locator('[data-kpi="revenue"]')).to_be_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overview-missing-store.png"), full_page=True)
