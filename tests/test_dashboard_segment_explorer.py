"""The segment explorer's state, without a browser (tests/test_browser_segment_explorer.py
shows what a person sees). Expected numbers come from crmkit.segment called directly."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from crmkit import segment
from crmkit.dashboards import SegmentExplorerApp
from crmkit.errors import ParameterError
from crmkit.schema import pii_columns

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "dashboards" / "segment_explorer.ipynb"


@pytest.fixture(scope="module")
def app(small_world):
    return SegmentExplorerApp(data=small_world.data, method="kmeans", k=4, n_bootstrap=3)


@pytest.fixture(scope="module")
def features(app):
    return app.features_at(app.as_of_)


def test_opens_on_the_chosen_segmentation(app, features, small_world):
    assert app.message is None
    expected = segment.segment_customers(features, method="kmeans", k=4, n_bootstrap=0)
    got = app.summary
    pd.testing.assert_frame_equal(
        got[["segment_id", "segment", "customers"]], expected.summary()[["segment_id", "segment", "customers"]]
    )
    assert got["customers"].sum() == len(small_world.data.customers)
    assert app.tile_text["segments"] == "4"
    assert app.tile_text["customers"] == f"{expected.n_segmented:,}"
    top = expected.summary().query("segment_id != 0")["value_share"].max()
    assert app.tile_text["top_value"] == f"{top:.0%}"
    assert re.fullmatch(r"\d\.\d\d", app.tile_text["stability"])
    # the charts are drawn as plotly mime bundles, not captured output
    for out in (app._sizes_out, app._profile_out, app._migration_out, app._detail_out):
        assert "application/vnd.plotly.v1+json" in out.outputs[0]["data"]


def test_the_migration_is_since_the_comparison_date(app, small_world):
    m = app.migration_
    assert m.to_date == app.as_of_ and (m.to_date - m.from_date).days == 365
    f = m.flows
    assert f["base_before"] + f["new"] + f["returned"] == f["lapsed"] + f["base_after"]
    app.set_options(compare_days=182)
    assert (app.migration_.to_date - app.migration_.from_date).days == 182
    app.set_options(compare_days=365)


def test_choices_refit_and_rfm_disables_k(app):
    app.set_options(method="rfm")
    assert app.k_picker.disabled and app.features_picker.disabled
    assert set(app.summary["segment"]) <= set(segment.RFM_RULES["segment"]) | {segment.NO_ORDERS}
    assert app.tile_text["stability"] == "fixed rules"
    app.set_options(method="kmeans", k=3, features="rfm")
    assert not app.k_picker.disabled
    assert app.tile_text["segments"] == "3"
    assert app.segmentation_.features == ("days_since_last_order", "orders", "revenue")
    with pytest.raises(ParameterError, match="method: expected one of"):
        app.set_options(method="dbscan")
    app.set_options(method="kmeans", k=4, features="behaviour")


def test_a_picked_segment_is_shown_and_its_ids_downloaded(app, small_world):
    seg = app.segmentation_
    last = seg.profile.segments["segment_id"].iloc[-1]
    app.select_segment(int(last))
    assert app.selected_ == last and app.segment_picker.value == last
    ids = seg.customer_ids(int(last))
    csv = app.download_csv()
    lines = csv.strip().split("\n")
    assert lines[0] == "customer_id" and lines[1:] == list(ids)
    # the link carries the same file, and nothing personal
    href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', app._download.value).group(1)
    assert base64.b64decode(href).decode("utf-8") == csv
    assert f'data-count="{len(ids)}"' in app._download.value
    customers = small_world.data.customers.set_index("customer_id")
    personal = {str(v) for c in pii_columns("customers") if c in customers for v in customers.loc[ids, c].dropna()}
    assert personal and not any(p in csv for p in personal)
    name = seg.profile.segments.set_index("segment_id").loc[last, "segment"]
    assert name in app._detail_text.value
    with pytest.raises(ParameterError, match="segment: expected one of"):
        app.select_segment("no such segment")


def test_a_missing_store_is_explained_not_raised(tmp_path):
    app = SegmentExplorerApp(tmp_path / "absent.duckdb")
    assert app.message_kind == "error" and "No data store found" in app.message
    assert app.method_picker.disabled and app.segmentation_ is None
    assert app.tile_text["segments"] == "–"
    assert "Traceback" not in app._message_box.value


def test_the_store_is_read_on_its_engine(demo_store):
    app = SegmentExplorerApp(demo_store, method="rfm")
    assert app.message is None and app.segmentation_ is not None
    assert app.summary["customers"].sum() == 2_000


def test_the_dashboard_notebook_is_small_and_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert 2 <= len(nb.cells) <= 4
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "SegmentExplorerApp" in code[1].source and code[-1].source.strip() == "app"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
