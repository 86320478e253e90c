"""The dashboards' state, without a browser (tests/test_browser.py shows what a person sees).

Expected numbers are computed here independently: with pandas on a hand-built world,
and with SQL straight on the DuckDB store for the demo world.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from _oracle import sql_kpis

from crmkit import dashboards
from crmkit.dashboards import OverviewApp
from crmkit.errors import ParameterError, SourceError
from crmkit.schema import CRMData

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def tiny() -> CRMData:
    """Four customers in three regions (one without a region); one order has two lines."""
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "first_name": ["Adaline", "Bodhild", "Cyprienne", "Dorotheus"],
            "email": ["adaline@example.org", "bodhild@example.org", "cyprienne@example.org", "dorotheus@example.org"],
            "created_at": pd.to_datetime(["2023-12-01", "2024-01-10", "2024-02-01", "2024-03-01"]),
            "region": pd.array(["North", "South", "North", None], dtype="string"),
        }
    )
    transactions = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o2", "o3", "o4", "o5", "o6", "o7"],
            "customer_id": ["c1", "c1", "c1", "c2", "c3", "c3", "c4", "c2"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-05 09:00",
                    "2024-02-03 15:00",
                    "2024-02-03 15:00",
                    "2024-02-09 11:30",
                    "2024-03-31 23:59",
                    "2024-06-30 18:00",
                    "2024-04-15 10:00",
                    "2024-07-01 00:00",
                ]
            ),
            "amount": [10.0, 20.0, 5.5, 7.25, 100.0, 40.0, 12.0, 3.0],
        }
    )
    return CRMData(customers=customers, transactions=transactions)


def expected_kpis(data: CRMData, region=None, start=None, end=None) -> dict:
    """The four tile numbers, computed directly with pandas (end date = whole day)."""
    tx = data.transactions
    if region is not None:
        ids = data.customers.loc[data.customers["region"] == region, "customer_id"]
        tx = tx[tx["customer_id"].isin(ids)]
    if start is not None:
        tx = tx[tx["ordered_at"] >= pd.Timestamp(start)]
    if end is not None:
        tx = tx[tx["ordered_at"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    orders = tx["order_id"].nunique()
    revenue = float(tx["amount"].sum())
    return {
        "active_customers": tx["customer_id"].nunique(),
        "orders": orders,
        "revenue": revenue,
        "avg_order_value": revenue / orders if orders else math.nan,
    }


def assert_kpis(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    assert actual["active_customers"] == expected["active_customers"]
    assert actual["orders"] == expected["orders"]
    assert actual["revenue"] == pytest.approx(expected["revenue"], rel=1e-12)
    if math.isnan(expected["avg_order_value"]):
        assert math.isnan(actual["avg_order_value"])
    else:
        assert actual["avg_order_value"] == pytest.approx(expected["avg_order_value"], rel=1e-12)


def shown_html(app: OverviewApp) -> str:
    """All text the page shows: HTML widgets, control options and the chart's JSON."""
    import ipywidgets as widgets

    parts = []
    stack = [app.widget]
    while stack:
        w = stack.pop()
        if isinstance(w, widgets.HTML):
            parts.append(w.value)
        if isinstance(w, widgets.Dropdown):
            parts.extend(map(str, w.options))
        stack.extend(getattr(w, "children", ()))
    parts.append(app.figure.to_json())
    return "\n".join(parts)


# --------------------------------------------------------------------------- the app on hand-built data
def test_opens_on_all_regions_and_the_whole_period(tiny):
    app = OverviewApp(data=tiny)
    assert app.filters == {"region": None, "start": pd.Timestamp("2024-01-05").date(), "end": pd.Timestamp("2024-07-01").date()}
    assert app.regions == ["North", "South"]
    assert_kpis(app.kpis, expected_kpis(tiny))
    assert app.kpis["orders"] == 7  # o2 has two lines but is one order
    assert app.message is None


def test_region_and_date_range_match_pandas(tiny):
    app = OverviewApp(data=tiny)
    app.set_filters(region="North", start="2024-02-01", end="2024-03-31")
    expected = expected_kpis(tiny, "North", "2024-02-01", "2024-03-31")
    assert_kpis(app.kpis, expected)
    # o2 (two lines, c1) and o4 (c3, at 23:59 on the end date, which counts)
    assert app.kpis == {"active_customers": 2, "orders": 2, "revenue": 125.5, "avg_order_value": 62.75}
    assert app.tile_text == {
        "active_customers": "2",
        "orders": "2",
        "revenue": "£126",
        "avg_order_value": "£62.75",
    }
    # the chart shows the same window, month by month
    fig = app.figure
    assert list(fig.data[0].y) == [25.5, 100.0]
    assert [pd.Timestamp(x).strftime("%Y-%m") for x in fig.data[0].x] == ["2024-02", "2024-03"]
    assert fig.layout.title.text == "Revenue by month — North"
    assert fig.layout.yaxis.title.text == "Revenue (£)"


@pytest.mark.parametrize(
    "filters",
    [
        {"region": "South"},
        {"region": "North", "start": "2024-06-30", "end": "2024-06-30"},
        {"region": None, "start": "2024-04-01", "end": None},
        {"region": None, "start": None, "end": "2024-02-03"},
    ],
)
def test_changing_filters_changes_the_numbers_to_the_right_values(tiny, filters):
    app = OverviewApp(data=tiny)
    before = app.kpis
    app.set_filters(**filters)
    expected = expected_kpis(tiny, filters.get("region"), filters.get("start"), filters.get("end"))
    assert_kpis(app.kpis, expected)
    assert app.kpis != before
    tiles = shown_html(app)
    for text in app.tile_text.values():
        assert text in tiles


def test_widgets_drive_the_state_as_a_person_would(tiny):
    app = OverviewApp(data=tiny)
    app.region_picker.value = "South"
    assert_kpis(app.kpis, expected_kpis(tiny, "South"))
    app.start_picker.value = pd.Timestamp("2024-07-01").date()
    assert_kpis(app.kpis, expected_kpis(tiny, "South", "2024-07-01", "2024-07-01"))
    assert app.kpis["revenue"] == 3.0
    app.reset_button.click()
    assert_kpis(app.kpis, expected_kpis(tiny))
    assert app.filters["region"] is None


def test_an_empty_selection_shows_zeros_and_a_message(tiny):
    app = OverviewApp(data=tiny)
    app.set_filters(region="South", start="2025-01-01", end="2025-12-31")
    assert app.kpis["active_customers"] == 0 and app.kpis["orders"] == 0 and app.kpis["revenue"] == 0
    assert math.isnan(app.kpis["avg_order_value"])
    assert app.tile_text == {"active_customers": "0", "orders": "0", "revenue": "£0", "avg_order_value": "–"}
    assert app.message_kind == "info"
    assert "No orders for South between 01 Jan 2025 and 31 Dec 2025" in app.message
    assert list(app.figure.data[0].y) == []
    assert app.figure.layout.annotations[0].text == "No orders in this selection"
    # and the next valid selection clears the message
    app.set_filters(start=None, end=None)
    assert app.message is None and app.kpis["orders"] == 2


def test_start_after_end_is_explained_not_raised(tiny):
    app = OverviewApp(data=tiny)
    app.set_filters(start="2024-05-01", end="2024-02-01")
    assert app.message_kind == "error"
    assert "start date (01 May 2024) is after the end date (01 Feb 2024)" in app.message
    assert app.kpis["orders"] == 0


def test_an_unknown_region_is_a_parameter_error(tiny):
    app = OverviewApp(data=tiny)
    with pytest.raises(ParameterError, match="'All regions', 'North', 'South'.*'Atlantis'"):
        app.set_filters(region="Atlantis")
    with pytest.raises(ParameterError, match="start: expected a date"):
        app.set_filters(start="not a date")


def test_other_currencies_are_shown_with_their_code(tiny):
    app = OverviewApp(data=tiny, currency="CHF")
    app.set_filters(region="North", start="2024-02-01", end="2024-03-31")
    assert app.tile_text["revenue"] == "126 CHF"
    assert app.tile_text["avg_order_value"] == "62.75 CHF"
    assert app.figure.layout.yaxis.title.text == "Revenue (CHF)"


def test_no_personal_data_is_shown(tiny):
    app = OverviewApp(data=tiny)
    text = shown_html(app)
    for column in ("first_name", "email"):
        for value in tiny.customers[column]:
            assert value not in text
    for customer_id in tiny.customers["customer_id"]:
        assert f'"{customer_id}"' not in text


def test_the_app_renders_itself_in_a_notebook(tiny):
    import ipywidgets as widgets

    app = OverviewApp(data=tiny)
    assert isinstance(app.widget, widgets.VBox)
    assert callable(app._ipython_display_)
    text = shown_html(app)
    assert "Customer overview" in text
    for label in ("Active customers", "Orders", "Revenue", "Average order value"):
        assert label in text
    assert 'data-kpi="revenue"' in text
    assert "OverviewApp(region='All regions'" in repr(app)


# --------------------------------------------------------------------------- errors in the page
def test_a_missing_store_is_a_message_in_the_page(tmp_path):
    missing = tmp_path / "nowhere" / "crmkit.duckdb"
    app = OverviewApp(missing)
    assert app.data_ is None
    assert app.message == f"No data store found at {missing}; run `crmkit demo` first (or point the dashboard at your data)."
    box = app._message_box.value
    assert "crmkit-error" in box and "<code>crmkit demo</code>" in box and "Traceback" not in box
    assert all(v == "0" or v in ("£0", "–") for v in app.tile_text.values())
    assert app.region_picker.disabled and app.start_picker.disabled
    assert app._tiles_box.layout.display == "none" and app._chart_box.layout.display == "none"


def test_the_default_store_follows_crmkit_store(tmp_path, monkeypatch):
    missing = tmp_path / "elsewhere.duckdb"
    monkeypatch.setenv("CRMKIT_STORE", str(missing))
    app = OverviewApp()
    assert str(missing) in app.message


def test_an_unreadable_store_is_a_message_too(tmp_path):
    bad = tmp_path / "broken.duckdb"
    bad.write_text("this is not a DuckDB file")
    app = OverviewApp(bad)
    assert app.data_ is None
    assert app.message_kind == "error"
    assert app.message.startswith(f"Could not load the data from {bad}")


# --------------------------------------------------------------------------- the demo world from its store
@pytest.fixture(scope="module")
def demo_app(demo_store):
    return OverviewApp(demo_store)


def test_demo_store_whole_period(demo_app, demo_store):
    demo_app.reset_filters()
    assert demo_app.message is None
    assert len(demo_app.regions) >= 2
    assert_kpis(demo_app.kpis, sql_kpis(demo_store))


@pytest.mark.parametrize("period", [(None, None), ("2024-01-01", "2024-06-30"), ("2025-03-15", "2025-03-15")])
def test_demo_store_every_region_and_period_matches_sql(demo_app, demo_store, period):
    start, end = period
    for region in demo_app.regions:
        demo_app.set_filters(region=region, start=start, end=end)
        assert_kpis(demo_app.kpis, sql_kpis(demo_store, region, start, end))
    # the regions add up to the whole (every demo customer has a region)
    demo_app.set_filters(region=None)
    assert_kpis(demo_app.kpis, sql_kpis(demo_store, None, start, end))


def test_demo_store_chart_adds_up_to_the_revenue_tile(demo_app):
    demo_app.set_filters(region=demo_app.regions[0], start="2024-01-01", end="2024-12-31")
    ys = list(demo_app.figure.data[0].y)
    assert len(ys) == 12
    assert sum(ys) == pytest.approx(demo_app.kpis["revenue"])


def test_demo_store_shows_no_personal_data(demo_app, demo_store):
    import duckdb

    con = duckdb.connect(str(demo_store), read_only=True)
    try:
        emails = [r[0] for r in con.execute("SELECT email FROM customers WHERE email IS NOT NULL LIMIT 500").fetchall()]
    finally:
        con.close()
    text = shown_html(demo_app)
    assert emails and not any(e in text for e in emails)


def test_a_filter_change_is_quick(demo_app):
    demo_app.set_filters(region=demo_app.regions[-1], start="2024-01-01", end="2025-06-30")
    assert demo_app.last_refresh_seconds_ < 2.0


# --------------------------------------------------------------------------- serving
def test_list_dashboards_names_the_notebooks():
    assert "overview" in dashboards.list_dashboards()
    assert dashboards.notebook_path("overview") == REPO / "notebooks" / "dashboards" / "overview.ipynb"


def test_voila_command_binds_localhost_and_strips_sources():
    cmd = dashboards.voila_command("overview", 8871)
    assert cmd[:3] == [sys.executable, "-m", "voila"]
    assert Path(cmd[3]) == REPO / "notebooks" / "dashboards" / "overview.ipynb"
    assert "--Voila.ip=127.0.0.1" in cmd
    assert "--strip_sources=True" in cmd
    assert "--no-browser" in cmd
    assert "--port=8871" in cmd
    assert "--show_tracebacks=False" in cmd
    assert not any(a.startswith("--preheat") for a in cmd)
    assert dashboards.dashboard_url("overview", 8871) == "http://127.0.0.1:8871/"


def test_an_unknown_dashboard_lists_the_known_ones():
    with pytest.raises(ParameterError, match="expected one of .*overview.*found 'sales'"):
        dashboards.voila_command("sales", 8866)
    with pytest.raises(ParameterError):
        dashboards.serve("sales")
    with pytest.raises(ParameterError, match="port"):
        dashboards.voila_command("overview", 0)


def test_the_source_reaches_voila_through_crmkit_store(tmp_path):
    store = tmp_path / "client.duckdb"
    store.touch()
    env = dashboards.dashboard_env(store, base={"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "CRMKIT_STORE": str(store.resolve())}
    assert "CRMKIT_STORE" not in dashboards.dashboard_env(None, base={})
    with pytest.raises(SourceError, match="crmkit demo"):
        dashboards.voila_command("overview", 8866, source=tmp_path / "missing.duckdb")


def test_dashboard_notebook_is_committed_clean():
    path = dashboards.notebook_path("overview")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert 2 <= len(nb.cells) <= 4
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    for cell in nb.cells:
        assert cell.cell_type == "code"
        assert cell.outputs == [] and cell.execution_count is None
        assert "def " not in cell.source and "class " not in cell.source
    assert "crmkit.dashboards.OverviewApp(" in nb.cells[1].source
    assert nb.cells[-1].source.strip() == "app"
    # every parameter line is `name: type = value  # what it means`
    for line in nb.cells[0].source.splitlines():
        if line and not line.startswith("#"):
            assert ": " in line and " = " in line and "  # " in line, line


def test_importing_dashboards_stays_light():
    code = (
        "import sys, json, crmkit.dashboards as d; d.list_dashboards(); "
        "print(json.dumps({m: m in sys.modules for m in ('plotly', 'ipywidgets', 'pandas', 'duckdb')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == {"plotly": False, "ipywidgets": False, "pandas": False, "duckdb": False}
