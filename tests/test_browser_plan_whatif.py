"""The contact-plan what-if dashboard as a person sees it: Voila in headless Debian chromium.

Voila serves ``notebooks/dashboards/plan_whatif.ipynb`` on the small demo store. The test
reads the tiles, types a smaller budget into the budget slider, then closes the call
centre (capacity 0), and checks that the tiles, the chart and the shadow prices follow —
against :class:`crmkit.dashboards.PlanWhatIfApp` driven here on the same store. It saves
``test-artifacts/plan_whatif.png`` (and the timings) to look at.
"""

from __future__ import annotations

import time

import pytest
from _browser import ARTIFACTS, BROWSER_MARKS, timings_recorder, voila_server

FIRST_RENDER_TIMEOUT_MS = 150_000  # kernel start, imports, eligibility, candidates, two solves
CHANGE_TIMEOUT_MS = 60_000

pytestmark = BROWSER_MARKS
voila = voila_server("plan_whatif")
timings = timings_recorder("plan_whatif")

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def app(demo_store):
    """The same app, driven here: what the page should show after each change."""
    from crmkit.dashboards import PlanWhatIfApp

    return PlanWhatIfApp(str(demo_store))


def tile(page, key: str):
    return page.locator(f'[data-kpi="{key}"] .crmkit-kpi-number')


def set_slider(page, index: int, value) -> None:
    """Type a value into a slider's readout (one change, as a person typing it would make)."""
    readout = page.locator(".crmkit-plan-controls .widget-readout").nth(index)
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def number(text: str) -> float:
    return float(text.replace("£", "").replace(",", "").replace("−", "-"))


def expect_same(page, key: str, want: str) -> None:
    """The tile shows exactly ``want``: the optimiser's result is a function of the inputs
    (plans remembered per input, warm start from the first solve of a structure, not the
    previous one), so the kernel behind the page and the app here make the same plan."""
    expect(tile(page, key)).to_have_text(want, timeout=CHANGE_TIMEOUT_MS)


def assert_clean(page) -> None:
    text = page.locator("body").inner_text()
    for bad in ("Traceback", "Error", "Exception", "There was an error"):
        assert bad not in text, f"the page shows {bad!r}:\n{text[:2000]}"
    assert not page.locator(".crmkit-message.crmkit-error").count()


def test_plan_whatif_follows_the_sliders(page, voila, app, timings):
    timings["server_start_s"] = round(voila.start_seconds, 2)
    t0 = time.perf_counter()
    page.goto(voila.url, wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
    try:
        expect(tile(page, "profit")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS // 2)
        timings["reloads"] = 0
    except AssertionError:  # a fresh kernel that never answers: reload once (see test_browser.py)
        timings["reloads"] = 1
        page.reload(wait_until="commit", timeout=FIRST_RENDER_TIMEOUT_MS)
        expect(tile(page, "profit")).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
    chart = page.locator(".crmkit-chart-volumes .js-plotly-plot .main-svg").first
    expect(chart).to_be_visible(timeout=CHANGE_TIMEOUT_MS)
    timings["first_render_s"] = round(time.perf_counter() - t0, 2)

    # opens on the same plan the app makes here
    expect(page.locator("h1")).to_have_text("Contact plan: what if?")
    opening = dict(app.tile_text)
    expect(tile(page, "profit")).to_have_text(opening["profit"], timeout=CHANGE_TIMEOUT_MS)  # a fresh solve: exact
    expect(tile(page, "contacts")).to_have_text(opening["contacts"])
    expect(tile(page, "cost")).to_have_text(opening["cost"])
    expect(page.locator(".crmkit-limit")).to_have_count(len(app.plan_.shadow_prices))
    bars = page.locator(".crmkit-chart-volumes .js-plotly-plot .bars .point")
    n_bars_open = bars.count()
    assert n_bars_open > 0

    # a smaller budget: fewer contacts, less profit, the budget binds with a price
    budget = round(app.inputs["budget"] * 0.4)
    app.set_inputs(budget=budget)
    t1 = time.perf_counter()
    set_slider(page, 0, budget)
    expect(tile(page, "cost")).not_to_have_text(opening["cost"], timeout=CHANGE_TIMEOUT_MS)
    timings["budget_change_s"] = round(time.perf_counter() - t1, 2)
    assert number(app.tile_text["profit"]) < number(opening["profit"])
    expect_same(page, "profit", app.tile_text["profit"])
    expect_same(page, "contacts", app.tile_text["contacts"])
    assert number(tile(page, "cost").inner_text()) <= budget
    expect(page.locator(".crmkit-limit-binding").first).to_contain_text("One more £1 of budget is worth")
    expect(page.locator(".crmkit-plan-change")).to_contain_text("less expected profit")

    # close the call centre: no call-centre bar in the chart any more
    app.set_inputs(call_capacity=0)
    t2 = time.perf_counter()
    before = tile(page, "contacts").inner_text()
    set_slider(page, 3, 0)
    expect(page.locator(".crmkit-limit").first).to_contain_text("call-centre call per day", timeout=CHANGE_TIMEOUT_MS)
    expect(tile(page, "contacts")).not_to_have_text(before, timeout=CHANGE_TIMEOUT_MS)
    timings["capacity_change_s"] = round(time.perf_counter() - t2, 2)
    expect_same(page, "contacts", app.tile_text["contacts"])
    expect_same(page, "profit", app.tile_text["profit"])
    ticks = page.locator(".crmkit-chart-volumes .js-plotly-plot .xtick text").all_text_contents()
    assert "Call centre" in ticks  # the axis keeps every channel …
    phone = app.plan_.volumes.query("channel == 'phone'")["contacts"].sum()
    assert phone == 0  # … and its bar is empty

    assert_clean(page)
    page.locator("h1").click()
    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate("document.querySelector('.crmkit-plan-whatif').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": int(height) + 120})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "plan_whatif.png"), full_page=True)
