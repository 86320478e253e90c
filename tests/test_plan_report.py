"""The contact_plan report renders on the small demo store, its numbers are crmkit.plan's,
its export files are written where it says, and it shows no personal data."""

from __future__ import annotations

import html
import re

import nbformat
import pandas as pd
import pytest

import crmkit.plan as pl
from crmkit import io, report, segment
from crmkit.dashboards._widgets import format_money
from crmkit.privacy import scan_pii


@pytest.fixture(scope="module")
def rendered(demo_store, tmp_path_factory):
    export = tmp_path_factory.mktemp("export")
    run = report.run_report(
        "contact_plan", {"source": str(demo_store), "export_dir": str(export), "budget": 60.0, "holdout_share": 0.2},
        reports_dir=tmp_path_factory.mktemp("reports"), progress=False,
    )
    page = run.html_path.read_text(encoding="utf-8") if run.html_path and run.html_path.exists() else ""
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)))
    return run, page, re.sub(r"\s+", " ", text), export


@pytest.fixture(scope="module")
def expected(demo_store):
    """The same analysis through the API."""
    data = io.load(demo_store).data
    start = data.interactions["at"].max().normalize() + pd.Timedelta(days=1)
    policy = pl.ContactPolicy.default().with_changes(budget=60.0)
    fatigue = pl.fatigue_curve(data)
    el = pl.eligibility(data, policy, start, horizon_days=7)
    cand = pl.candidates(data, policy, start, horizon_days=7, eligibility=el)
    segment_of = segment.segment_customers(data, start - pd.Timedelta(days=1), method="rfm").to_frame()["segment"]
    plan = pl.optimize(cand, policy, eligibility=el, holdout_share=0.2, stratify=segment_of, start_date=start,
                       horizon_days=7, greedy=False)
    return data, start, fatigue, el, plan


def test_report_runs_without_errors(rendered):
    run, page, text, _ = rendered
    assert run.ok, run.error
    nb = nbformat.read(run.notebook_path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    for heading in ("The contact rules", "Contact pressure now", "Fatigue: does the next contact still pay?",
                    "Who can be contacted", "The optimised plan", "How good is the plan?", "What limits the plan",
                    "Customers left out, and why", "The holdout", "The files for marketing automation"):
        assert heading in text, heading
    assert page.count('class="plotly-graph-div"') >= 3  # pressure by segment, fatigue curve, volumes


def test_numbers_are_the_apis(rendered, expected):
    _, _, text, _ = rendered
    data, start, fatigue, el, plan = expected
    assert f"The plan starts on {start:%d %b %Y}" in text
    assert f"(fatigue rate k = {fatigue.k:.2f}" in text or f"(k = {fatigue.k:.2f}" in text
    assert f"raises the chance of a response by {fatigue.u0:.1%}" in text
    ok = el.counts.set_index("reason").loc["eligible"]
    assert f"{int(ok['pairs']):,} ({ok['pairs'] / el.counts['pairs'].sum():.0%}) may be contacted" in text
    targets = plan.rows[plan.rows["group"] == "target"]
    held = int((plan.rows["group"] == "holdout").sum())
    assert f"{len(targets):,} contacts to {targets['customer_id'].nunique():,} customers are planned" in text
    assert f"{held:,} selected customers are held out" in text
    assert f"expected to earn {format_money(plan.expected_profit, '£')} of incremental profit" in text
    assert f"gap {plan.gap:.3%}" in text
    for sentence in plan.shadow_prices["sentence"]:
        assert sentence in text
    for r in plan.holdout.itertuples():
        assert re.search(rf"{re.escape(r.offer)} {r.n_target:,} {r.n_holdout:,} {r.share:.1%}", text), r.offer


def test_export_files_are_where_the_report_says(rendered, expected):
    _, _, text, export = rendered
    plan = expected[4]
    csv = pd.read_csv(export / "contact_plan.csv")
    assert list(csv.columns) == ["customer_id", "offer", "channel", "planned_date", "group", "expected_value"]
    assert len(csv) == len(plan.rows) and (export / "contact_plan.parquet").exists()
    assert f"Written: contact_plan.csv and contact_plan.parquet in the folder {export.name} ({len(plan.rows):,} rows" in text
    assert "without personal contact fields" in text


def test_report_shows_no_personal_data(rendered, expected):
    run, page, _, export = rendered
    customers = expected[0].customers
    assert scan_pii(page, known=customers).empty
    nb = nbformat.read(run.notebook_path, as_version=4)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if "window.Plotly = Plotly" not in str(o))
    assert scan_pii(outputs, known=customers).empty
    assert scan_pii((export / "contact_plan.csv").read_text(), known=customers).empty
    # the scan is able to fail on this page
    planted = page.replace("The holdout", "The holdout " + str(customers["email"].dropna().iloc[0]), 1)
    assert not scan_pii(planted, known=customers).empty
