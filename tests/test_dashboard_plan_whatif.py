"""The contact-plan what-if dashboard's state, without a browser (tests/test_browser_plan_whatif.py
shows what a person sees). Expected numbers come from crmkit.plan called directly."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import crmkit.plan as pl
from crmkit.dashboards import PlanWhatIfApp
from crmkit.dashboards._widgets import format_count, format_money
from crmkit.errors import ParameterError
from crmkit.privacy import scan_pii

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "dashboards" / "plan_whatif.ipynb"


@pytest.fixture(scope="module")
def app(small_world):
    return PlanWhatIfApp(data=small_world.data, budget=80)


@pytest.fixture(scope="module")
def direct(small_world, app):
    """The same plan from crmkit.plan directly: eligibility, candidates, optimize."""
    data = small_world.data
    policy = pl.ContactPolicy.default()
    as_of = data.interactions["at"].max().normalize() + pd.Timedelta(days=1)
    el = pl.eligibility(data, policy, as_of, horizon_days=7)
    cand = pl.candidates(data, policy, as_of, horizon_days=7, eligibility=el, include_capped=True)
    return data, policy, as_of, el, cand


def _page_text(app) -> str:
    parts = [app._header.value, app._message_box.value, app._change.value, app._limits.value]
    parts += [t.value for t in app._tiles.values()]
    parts += [json.dumps(o["data"], default=str) for o in app._volumes_out.outputs]
    return "\n".join(parts)


def test_opens_on_the_plan_crmkit_plan_makes(app, direct):
    _, policy, as_of, el, cand = direct
    assert app.message is None and app.plan_ is not None
    assert app.as_of_ == as_of
    assert app.inputs == {"budget": 80.0, "email_cap": 3, "monthly_cap": 8, "call_capacity": 2000}
    plan = pl.optimize(cand, policy, budget=80.0, eligibility=el, start_date=as_of, greedy=False, tol=1e-3)
    assert app.plan_.objective == pytest.approx(plan.objective, rel=1e-6)
    k = app.kpis
    targets = plan.rows[plan.rows["group"] == "target"]
    assert k["contacts"] == len(targets)
    assert k["cost"] == pytest.approx(targets["cost"].sum()) and k["cost"] <= 80.0 + 1e-9
    assert app.tile_text["profit"] == format_money(plan.expected_profit, "£")
    assert app.tile_text["contacts"] == format_count(len(targets))
    # the chart is a plotly bundle of contacts per channel stacked by offer, matching the volumes
    fig = app._volumes_out.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert sum(sum(t["y"]) for t in fig["data"]) == k["contacts"]
    # the slider ranges are built from the unconstrained plan
    assert app.budget_slider.max >= app.unconstrained_cost_


def test_a_smaller_budget_re_optimises(app):
    before = app.kpis
    before_rows = app.plan_.to_frame()
    app.set_inputs(budget=30)
    after = app.kpis
    assert after["cost"] <= 30 + 1e-9 and after["profit"] < before["profit"]
    sp = app.plan_.shadow_prices.set_index("constraint")
    budget_row = sp[sp.index.str.startswith("budget")]
    assert bool(budget_row["binding"].iloc[0]) and budget_row["shadow_price"].iloc[0] > 0
    assert "One more £1 of budget is worth" in app._limits.value
    assert "less</b> expected profit" in app._change.value
    app.set_inputs(budget=80)
    # back to the opening budget: exactly the plan shown before (same inputs → same plan)
    for key in ("profit", "contacts", "cost", "gap"):
        assert app.kpis[key] == before[key], key
    pd.testing.assert_frame_equal(app.plan_.to_frame(), before_rows)


def test_caps_hold_for_every_customer(app, direct):
    data, policy, _, el, _ = direct
    app.set_inputs(email_cap=1, monthly_cap=2)
    rows = app.plan_.rows
    changed = policy.with_changes(caps={("email", "7D"): 1, ("all", "month"): 2})
    allowed, allowed_all = el.allowed_under(changed)
    allowed = pd.DataFrame(allowed, index=el.allowed.index, columns=el.allowed.columns)
    allowed_all = pd.Series(allowed_all, index=el.allowed.index)
    weight = rows.merge(policy.offers[["offer", "weight"]], on="offer")
    per_channel = weight.groupby(["customer_id", "channel"])["weight"].sum()
    for (cid, ch), w in per_channel.items():
        assert w <= allowed.loc[cid, ch] + 1e-9
    per_customer = weight.groupby("customer_id")["weight"].sum()
    assert (per_customer <= allowed_all.reindex(per_customer.index) + 1e-9).all()
    # consent: every planned customer × channel has a granted consent
    cons = data.consents.assign(customer_id=data.consents["customer_id"].astype(str))
    granted = cons[cons["granted"].astype(bool)].set_index(["customer_id", "channel"]).index
    planned = pd.MultiIndex.from_frame(rows[["customer_id", "channel"]].astype(str))
    assert planned.isin(granted).all()
    app.set_inputs(email_cap=0)
    assert not (app.plan_.rows["channel"] == "email").any()
    app.set_inputs(email_cap=3, monthly_cap=8)


def test_call_centre_capacity(app):
    app.set_inputs(call_capacity=0)
    assert not (app.plan_.rows["channel"] == "phone").any()
    app.set_inputs(call_capacity=1)
    calls = app.plan_.rows[app.plan_.rows["channel"] == "phone"]
    assert len(calls) <= 7  # 1 a day over the 7-day horizon, targets and holdout alike
    assert calls.groupby("planned_date").size().max() <= 1
    app.set_inputs(call_capacity=2000)


def test_an_impossible_policy_is_a_message_not_a_traceback(small_world):
    base = pl.ContactPolicy.default()
    frames = base.to_frames()
    frames["offers"].loc[frames["offers"]["offer"] == "£10 voucher", "min_volume"] = 1_000_000
    policy = pl.ContactPolicy.from_frames(frames)
    app = PlanWhatIfApp(data=small_world.data, policy=policy, budget=50)
    assert app.plan_ is None and app.message_kind == "error"
    assert "No plan meets these settings" in app.message and "£10 voucher" in app.message
    assert 'role="alert"' in app._message_box.value and "Traceback" not in app._message_box.value
    assert app.tile_text["profit"] == "–"
    assert app._results.layout.display == "none"


def test_bad_inputs_are_named(app):
    with pytest.raises(ParameterError, match="email_cap: expected a number from 0"):
        app.set_inputs(email_cap=-1)
    with pytest.raises(ParameterError, match="budget"):
        app.set_inputs(budget="lots")


def test_a_missing_store_is_a_message(tmp_path):
    app = PlanWhatIfApp(str(tmp_path / "nowhere.duckdb"))
    assert app.plan_ is None and app.message_kind == "error"
    assert "crmkit demo" in app.message
    assert all(s.disabled for s in app._sliders)


def test_the_page_shows_no_personal_data(app, small_world):
    app.set_inputs(budget=60)
    text = _page_text(app)
    assert scan_pii(text, known=small_world.data.customers).empty
    # the scan is able to fail on this page
    email = str(small_world.data.customers["email"].dropna().iloc[0])
    assert not scan_pii(text + email, known=small_world.data.customers).empty
    # no customer ids either
    assert not any(cid in text for cid in app.plan_.rows["customer_id"].head(50))
    app.set_inputs(budget=80)


def test_the_notebook_is_thin():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert len(nb.cells) == 3 and "parameters" in nb.cells[0].metadata.get("tags", [])
    assert "PlanWhatIfApp(" in nb.cells[1].source and nb.cells[2].source.strip() == "app"
    assert not any("def " in c.source or "class " in c.source for c in nb.cells)


def test_solve_time_is_recorded(app):
    app.set_inputs(budget=70)
    assert 0 < app.last_solve_seconds_ and np.isfinite(app.prepare_seconds_)
    app.set_inputs(budget=80)
