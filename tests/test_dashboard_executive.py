"""The executive dashboard's state, without a browser (tests/test_browser_executive.py shows the page).

Expected numbers come from crmkit's own tested functions (kpi_table, funnel,
service_levels) and, for the tiles, from SQL on the store (tests/_oracle.py).
"""

from __future__ import annotations

import math

import nbformat
import pandas as pd
import pytest
from _oracle import sql_kpis

from crmkit import dashboards, kpis, sales
from crmkit.dashboards import ExecutiveApp
from crmkit.dashboards.executive import COMPARISONS, PERIODS
from crmkit.errors import ParameterError
from crmkit.schema import CRMData


def shown_html(app: ExecutiveApp) -> str:
    import ipywidgets as widgets

    parts, stack = [], [app.widget]
    while stack:
        w = stack.pop()
        if isinstance(w, widgets.HTML):
            parts.append(w.value)
        if isinstance(w, widgets.Dropdown):
            parts.extend(map(str, w.options))
        if isinstance(w, widgets.Output):
            parts.extend(str(o) for o in w.outputs)
        stack.extend(getattr(w, "children", ()))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def app(demo_store):
    return ExecutiveApp(demo_store)


def test_opens_on_the_last_quarter_against_a_year_earlier(app, demo_store):
    assert app.message is None and app.data_ is not None
    assert (app.period_.label, app.comparison_.label) == ("Oct – Dec 2025", "Oct – Dec 2024")
    oracle = sql_kpis(demo_store, None, "2025-10-01", "2025-12-31")
    assert app.kpis["revenue"]["period"] == pytest.approx(oracle["revenue"])
    assert app.kpis["orders"]["period"] == oracle["orders"]
    assert app.kpis["active_customers"]["period"] == oracle["active_customers"]
    before = sql_kpis(demo_store, None, "2024-10-01", "2024-12-31")
    assert app.kpis["revenue"]["comparison"] == pytest.approx(before["revenue"])
    assert app.tile_text["revenue"] == f"£{oracle['revenue']:,.0f}"
    assert app.tile_text["avg_order_value"] == f"£{oracle['avg_order_value']:,.2f}"


@pytest.mark.parametrize("period", list(PERIODS))
@pytest.mark.parametrize("comparison", list(COMPARISONS))
def test_every_choice_shows_the_kpi_table_of_its_periods(app, period, comparison):
    app.set_period(period, comparison=comparison)
    p, c = app.period_, app.comparison_
    expected = kpis.kpi_table(app.data_, p, c)
    for key in ("revenue", "active_customers", "new_customers", "retention_rate", "avg_order_value", "orders"):
        for which in ("period", "comparison"):
            got, want = app.kpis[key][which], expected.value(key, which)
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want), (period, key, which)
    if comparison == "Same period last year":
        assert c.start == p.start - pd.DateOffset(years=1)
    else:
        assert c.end == p.start - pd.Timedelta(days=1)
    if period == "Year to date":
        assert p.start == pd.Timestamp("2025-01-01") and p.end == pd.Timestamp("2025-12-31")
    html = shown_html(app)
    for text in app.tile_text.values():
        assert text in html
    assert f"{p.label} against {c.label}" in html


def test_arrows_and_colours_follow_the_change(app):
    app.set_period("Last 12 months", comparison="Same period last year")
    html = shown_html(app)
    rev = app.kpis["revenue"]
    arrow = "▲" if rev["change"] > 0 else "▼"
    assert f"{arrow} {'+' if rev['change_pct'] > 0 else '−'}{abs(rev['change_pct']):.1%}" in html
    # churn is not a tile, but retention is: in points
    ret = app.kpis["retention_rate"]
    assert f"{abs(ret['change']) * 100:.1f} pts" in html


def test_funnel_and_sla_tiles_follow_the_period(app):
    app.set_period("Last 6 months")
    f = sales.funnel(app.data_, as_of=app.period_.end, created_between=(app.period_.start, app.period_.end))
    assert app.funnel_.summary()["entered"].tolist() == f.summary()["entered"].tolist()
    fig = app.figures["funnel"]
    assert list(fig.data[0].x) == f.summary()["entered"].tolist()
    s = sales.service_levels(app.data_, as_of=app.period_.end, opened_between=(app.period_.start, app.period_.end)).summary()
    pd.testing.assert_frame_equal(app.sla, s)
    html = shown_html(app)
    for row in s[s["priority"] != "all"].itertuples():
        assert f'data-kpi="sla_{row.priority}"' in html
        assert f"{row.share_within_sla:.0%}" in html and f"range {row.ci_low:.0%} – {row.ci_high:.0%}" in html
    # the quarter has fewer opportunities than the half year
    app.set_period("Last quarter")
    assert app.funnel_.summary()["entered"].iloc[0] < f.summary()["entered"].iloc[0]


def test_the_forecast_band_and_its_backtest_are_shown(app):
    f = app.forecast
    assert f is not None and len(f.forecast) == app.horizon == 6
    band = [t for t in app.figures["forecast"].data if t.fill == "toself"]
    assert len(band) == 1
    assert max(band[0].y) == pytest.approx(f.forecast["upper"].max())
    html = shown_html(app)
    total, low, high = f.total(3)
    assert f"£{total:,.0f}" in html and f"range £{low:,.0f} – £{high:,.0f}" in html
    assert f"Back-test error {f.backtest_mape:.1%}" in html
    assert app.active_forecast.backtest_mape >= 0


def test_no_personal_data_and_no_owner_names(app):
    import duckdb

    con = duckdb.connect(str(app.source), read_only=True)
    try:
        emails = [r[0] for r in con.execute("SELECT email FROM customers WHERE email IS NOT NULL LIMIT 300").fetchall()]
        owners = [r[0] for r in con.execute("SELECT DISTINCT owner FROM opportunities WHERE owner IS NOT NULL").fetchall()]
        ids = [r[0] for r in con.execute("SELECT customer_id FROM customers LIMIT 300").fetchall()]
    finally:
        con.close()
    html = shown_html(app)
    assert emails and owners
    assert not [e for e in emails if e in html]
    assert not [o for o in owners if o in html]
    assert not [i for i in ids if f'"{i}"' in html]


def test_a_missing_store_and_missing_tables_are_explained(tmp_path, small_world):
    missing = tmp_path / "nowhere.duckdb"
    app = ExecutiveApp(missing)
    assert app.data_ is None and app.message_kind == "error"
    assert app.message == f"No data store found at {missing}; run `crmkit demo` first (or point the dashboard at your data)."
    assert app.period_picker.disabled and app._body.layout.display == "none"
    # only customers and transactions: KPIs and the forecast work, funnel and SLA say what is missing
    d = small_world.data
    lean = ExecutiveApp(data=CRMData(customers=d.customers, transactions=d.transactions))
    assert lean.message is None and lean.funnel_ is None and lean.sla is None
    html = shown_html(lean)
    assert "No opportunities table in the data." in html and "No tickets table in the data." in html
    with pytest.raises(ParameterError, match="period: expected one of"):
        lean.set_period("Last decade")
    with pytest.raises(ParameterError, match="comparison"):
        ExecutiveApp(data=d, comparison="Last week")


def test_the_dashboard_notebook_is_clean_and_listed():
    assert "executive" in dashboards.list_dashboards()
    nb = nbformat.read(dashboards.notebook_path("executive"), as_version=4)
    nbformat.validate(nb)
    assert 2 <= len(nb.cells) <= 4
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    for cell in nb.cells:
        assert cell.cell_type == "code" and cell.outputs == [] and cell.execution_count is None
        assert "def " not in cell.source and "class " not in cell.source
    assert "crmkit.dashboards.ExecutiveApp(" in nb.cells[1].source and nb.cells[-1].source.strip() == "app"
    for line in nb.cells[0].source.splitlines():
        if line and not line.startswith("#"):
            assert ": " in line and " = " in line and "  # " in line, line
