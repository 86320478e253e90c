"""Exports of the contact plan: CSV / Parquet for marketing automation (formula-safe, no personal
data unless asked) and the DuckDB store (campaigns + campaign_members, read back by crmkit.io)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import crmkit.plan as pl
from crmkit.errors import ParameterError

COLUMNS = ["customer_id", "offer", "channel", "planned_date", "group", "expected_value"]


@pytest.fixture(scope="module")
def demo_plan(small_world):
    data = small_world.data
    policy = pl.ContactPolicy.default()
    el = pl.eligibility(data, policy, "2025-06-30")
    cand = pl.candidates(data, policy, "2025-06-30", eligibility=el)
    return pl.optimize(cand, policy, budget=60.0, eligibility=el, holdout_share=0.2, random_state=3, greedy=False)


def test_csv_and_parquet_have_the_agreed_columns_and_no_personal_data(demo_plan, tmp_path):
    csv = pd.read_csv(demo_plan.to_csv(tmp_path / "plan.csv"), dtype=str)
    assert list(csv.columns) == COLUMNS
    assert len(csv) == len(demo_plan.rows)
    assert set(csv["group"]) == {"target", "holdout"}
    pq = pd.read_parquet(demo_plan.to_parquet(tmp_path / "plan.parquet"))
    assert list(pq.columns) == COLUMNS
    assert np.allclose(pq["expected_value"].to_numpy(float), demo_plan.rows["expected_value"].to_numpy(float))
    assert not any("@" in str(v) for v in csv.to_numpy().ravel())


def test_contact_fields_only_when_asked(demo_plan, small_world, tmp_path):
    out = pd.read_csv(demo_plan.to_csv(tmp_path / "c.csv", contact_fields=True, data=small_world.data), dtype=str)
    assert {"email", "phone", "first_name", "last_name"} <= set(out.columns)
    cust = small_world.data.customers.set_index("customer_id")
    first = out.iloc[0]
    assert first["email"].lstrip("'") == cust.loc[first["customer_id"], "email"]
    with pytest.raises(ParameterError, match="data="):
        demo_plan.to_csv(tmp_path / "x.csv", contact_fields=True)


def test_formula_injection_is_neutralised(tmp_path):
    policy = pl.ContactPolicy(
        pd.DataFrame({"channel": ["email"], "cost_per_contact": [0.0], "capacity_per_day": [np.nan]}),
        pd.DataFrame({"scope": [], "kind": [], "window": [], "max_weight": []}),
        pd.DataFrame({"event": [], "days": []}),
        pd.DataFrame({"offer": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "plain"], "weight": [1.0] * 3,
                      "min_volume": [np.nan] * 3, "max_volume": [np.nan] * 3, "channels": ["*"] * 3}),
        max_offers_per_customer=3,
    )
    cand = pd.DataFrame({"customer_id": ["+cmd|' /C calc'!A0", "-2+3", "ok"], "offer": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "plain"],
                         "channel": "email", "expected_value": [1.0, 2.0, 3.0], "cost": 0.0})
    plan = pl.optimize(cand, policy, start_date="2025-07-01", holdout_share=0.0)
    assert len(plan.rows) == 3
    out = pd.read_csv(plan.to_csv(tmp_path / "p.csv"), dtype=str)
    out = out.set_index(out["expected_value"].astype(float))
    assert out.loc[1.0, "offer"] == "'=HYPERLINK(\"http://x\")"
    assert out.loc[2.0, "offer"] == "'@SUM(A1)" and out.loc[2.0, "customer_id"] == "'-2+3"
    assert out.loc[1.0, "customer_id"] == "'+cmd|' /C calc'!A0"
    assert out.loc[3.0, "offer"] == "plain" and out.loc[3.0, "customer_id"] == "ok"
    pq = pd.read_parquet(plan.to_parquet(tmp_path / "p.parquet"))
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in pq[["customer_id", "offer"]].to_numpy().ravel())


def test_to_store_writes_campaigns_the_readout_can_read(demo_plan, demo_store, tmp_path):
    from crmkit import io

    store = tmp_path / "copy.duckdb"
    shutil.copy(demo_store, store)
    before = io.load(store).data
    base = demo_plan.to_store(store, campaign_id="PLAN-TEST")
    assert base == "PLAN-TEST"
    result = io.load(store)
    data = result.data
    new = data.campaigns[data.campaigns["campaign_id"].str.startswith("PLAN-TEST-")]
    cells = demo_plan.rows.groupby(["offer", "channel"]).size()
    assert len(new) == len(cells)
    assert len(data.campaigns) == len(before.campaigns) + len(new)
    mem = data.campaign_members[data.campaign_members["campaign_id"].str.startswith("PLAN-TEST-")]
    assert len(mem) == len(demo_plan.rows)
    assert (mem["group"] == "control").sum() == (demo_plan.rows["group"] == "holdout").sum()
    assert mem.loc[mem["group"] == "control", "contacted_at"].isna().all()
    assert mem.loc[mem["group"] == "treatment", "contacted_at"].notna().all()
    # members join to their campaign's offer and channel
    j = mem.merge(new, on="campaign_id")
    back = j.groupby(["offer", "channel"]).size()
    assert back.sort_index().to_dict() == cells.sort_index().to_dict()
    with pytest.raises(ParameterError, match="already holds"):
        demo_plan.to_store(store, campaign_id="PLAN-TEST")


def test_plan_functions_read_a_store_path_like_loaded_data(demo_store):
    """A DuckDB store path (or any source crmkit.io.load reads) works where CRMData does."""
    from crmkit import io

    policy = pl.ContactPolicy.default()
    data = io.load(demo_store).data
    from_path = pl.eligibility(str(demo_store), policy, "2026-01-01")
    from_data = pl.eligibility(data, policy, "2026-01-01")
    pd.testing.assert_frame_equal(from_path.counts, from_data.counts)
    pd.testing.assert_frame_equal(
        pl.candidates(demo_store, policy, "2026-01-01", eligibility=from_path),
        pl.candidates(data, policy, "2026-01-01", eligibility=from_data),
    )
    pd.testing.assert_frame_equal(
        pl.contact_pressure(demo_store, "2026-01-01"), pl.contact_pressure(data, "2026-01-01")
    )
